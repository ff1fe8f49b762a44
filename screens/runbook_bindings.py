"""The runbook screen's keys and its command palette: the same actions, by key and by title."""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Iterable

from textual.app import SystemCommand
from textual.binding import Binding

from screens.actions import ACTION_TITLES

if TYPE_CHECKING:
    from runbook.flow.engine import Runbook

RUNBOOK_BINDINGS = [
    Binding("r", "run", "Run", id="step.run", tooltip=ACTION_TITLES["run"][1]),
    Binding("v", "verify", "Verify", id="step.verify", tooltip=ACTION_TITLES["verify"][1]),
    Binding("p", "plan", "Plan", id="step.plan", tooltip=ACTION_TITLES["plan"][1]),
    Binding("u", "undo", "Undo", id="step.undo", tooltip=ACTION_TITLES["undo"][1]),
    Binding("d", "done", "Done", id="step.done", tooltip=ACTION_TITLES["done"][1]),
    Binding("s", "skip", "Skip", id="step.skip", tooltip=ACTION_TITLES["skip"][1]),
    Binding("a", "note", "Note", id="step.note", tooltip=ACTION_TITLES["note"][1]),
    Binding("c", "copy", "Copy", id="step.copy", tooltip=ACTION_TITLES["copy"][1]),
    Binding("n", "next", "Next", id="step.next", tooltip=ACTION_TITLES["next"][1]),
    Binding("t", "drive", "Drive", id="session.drive", tooltip=ACTION_TITLES["drive"][1]),
    Binding("x", "stop", "Stop", id="step.stop", tooltip="stop the running step after its current remote call"),
    Binding("question_mark,f1", "help", "Help", id="app.help", key_display="?"),
    Binding("o", "reopen", "Reopen", id="step.reopen", show=False),
    Binding("space", "tick", "Tick", id="step.tick", show=False),
    Binding("z", "zoom", "Zoom", id="view.zoom", show=False, tooltip=ACTION_TITLES["zoom"][1]),
    Binding("H", "handover", "Hand over", id="session.handover", show=False,
            tooltip=ACTION_TITLES["handover"][1]),
    Binding("V", "verify_all", "Verify all", id="session.verify_all", show=False),
    Binding("escape", "back", "Sessions", id="session.back", show=False),
    Binding("k", "checks", "Checks", id="session.checks", show=False, tooltip=ACTION_TITLES["checks"][1]),
    Binding("j", "journal", "Journal", id="session.journal", show=False, tooltip=ACTION_TITLES["journal"][1]),
    Binding("b", "backout", "Back-out", id="session.backout", show=False, tooltip=ACTION_TITLES["backout"][1]),
    Binding("e", "report", "Export", id="session.report", show=False, tooltip=ACTION_TITLES["report"][1]),
    Binding("P", "proof", "Device proof", id="session.proof", show=False, tooltip=ACTION_TITLES["proof"][1]),
]


def palette_commands(book: Runbook | None, selected: str | None, attempt: Callable[[str], None],
                     go_to: Callable[[str], None]) -> Iterable[SystemCommand]:
    """The command palette: every action by its title (`attempt` runs it or says why not), then each step."""
    key = selected or "-"
    for action, (title, help_text) in ACTION_TITLES.items():
        yield SystemCommand(f"{title} ({key})" if "selected" in title else title, help_text,
                            lambda action=action: attempt(action))
    if book is not None:
        for instance in book.instances:
            yield SystemCommand(f"Go to step {instance.key}", instance.title,
                                lambda key=instance.key: go_to(key), False)

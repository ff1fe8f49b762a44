"""The runbook screen's keys: the binding table, and which of its actions apply now (and why not)."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from textual import events
from textual.app import SystemCommand
from textual.binding import Binding

from screens import actions
from screens.actions import ACTION_TITLES
from screens.runbook_work import driver_left
from screens.widgets.step_list import StepList

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


class ActionGate:
    """`check_action`, key presses and the command palette of the runbook screen, all asking `why_not`."""

    path: Path
    book: Runbook | None
    following: str | None
    busy: str | None
    from_start: bool
    selected: str | None
    driving: bool

    def why_not(self, action: str) -> str | None:
        """None when `action` can run now, else the reason (shown when it is asked for anyway)."""
        if action == "drive":
            return None if self.following is not None and driver_left(self.path) else "only when the driver left"
        return actions.why_not(action, self.book, self.selected, driving=self.driving, busy=self.busy)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "stop":
            return bool(self.busy)
        if self.busy and action in actions.ENGINE_ACTIONS:
            return False  # hidden while busy, so 80 columns still show x Stop and ^q Quit
        if (action in actions.DRIVING_ACTIONS or action == "tick") and self.following is not None:
            return False  # a follower's footer offers what a follower can do; the key still says why not
        if action == "drive":
            return True if self.why_not(action) is None else False
        if action == "back":
            return self.from_start
        if action not in ACTION_TITLES:
            return True
        return True if self.why_not(action) is None else None

    def on_key(self, event: events.Key) -> None:
        """A key whose action does not apply now says why, instead of doing nothing."""
        for binding in self._bindings.key_to_bindings.get(event.key, []):
            if binding.action in ACTION_TITLES and (reason := self.why_not(binding.action)):
                event.stop()
                event.prevent_default()
                self.notify(reason, title=ACTION_TITLES[binding.action][0], severity="warning", markup=False,
                            timeout=4)
                return

    def attempt(self, action: str) -> None:
        """From the command palette: run the action, or say why it cannot run now."""
        reason = self.why_not(action)
        if reason:
            self.notify(reason, title=ACTION_TITLES[action][0], severity="warning", markup=False)
            return
        getattr(self, f"action_{action}")()

    def palette_commands(self) -> Iterable[SystemCommand]:
        key = self.selected or "-"
        for action, (title, help_text) in ACTION_TITLES.items():
            yield SystemCommand(f"{title} ({key})" if "selected" in title else title, help_text,
                                lambda action=action: self.attempt(action))
        if self.book is not None:
            for instance in self.book.instances:
                yield SystemCommand(f"Go to step {instance.key}", instance.title,
                                    lambda key=instance.key: self.query_one(StepList).select_key(key), False)

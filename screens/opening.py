"""The runbook screen's layout, and the screens the app shows in its place while that screen's code loads.

The runbook screen needs the engine and the procedure (steps/), which take longer to load than Textual takes to
draw a few frames. The step list needs neither: a session read with its kept outline (runbook.flow.outline, what
`runbook status` reads) has every step's key, title, track and state. So the first frame says what is opened, the
next one already lists the steps, laid out by the same function and drawn by the same StepList with the same rows
(screens/step_rows.py), and the runbook screen then replaces it: the operator sees the detail, the status line
and the keys arrive around a list that stays where it is and looks the same. Where no outline can be trusted (none
kept, made from other params or by other code, a session that cannot be read now), the first frame stays until
the runbook screen comes, as before.

`runbook demo` builds its session behind these frames: they list the steps of a fresh rehearsal of its scenario
(runbook.lab.rehearsal_outline), each pending or not applicable, as the session will be created.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.widgets import Static

from runbook.errors import RunbookError
from screens import step_rows
from screens.steady_screen import SteadyScreen
from screens.widgets.step_list import StepList

if TYPE_CHECKING:
    from textual.widget import Widget

    from runbook.flow.view import SessionView


def runbook_layout(top: Content, chain: str, steps: StepList, detail: Widget, status: Content, footer: Widget,
                   note: Content | None = None) -> ComposeResult:
    """The runbook screen's widgets, in place: this screen and the one it is replaced by lay out alike."""
    yield Static(top, id="topbar")
    handover = Static(note or "", id="handover-note")
    if note is not None:  # hidden by the stylesheet until there is one
        handover.display = True
    yield handover
    with Horizontal(id="body"):
        with Vertical(id="left"):
            yield Static(Content(chain), id="chain")
            yield steps
        yield detail
    yield Static(status, id="statusbar")
    yield footer


def handover_note(last: dict[str, Any] | None) -> Content | None:
    """A handover nobody has acted on since (the journal's newest entry): the next driver reads it first."""
    from runbook.pair.handover import HANDOVER, describe_pending

    if last is None or last.get("action") != HANDOVER:
        return None
    return Content("\n".join(describe_pending(last)))  # operator text: plain, never markup


class Outlined:
    """What is shown of a session (or of the rehearsal about to be made) before it opens: its steps and states."""

    def __init__(self, view: SessionView, name: str, lab: bool, doing: str, until: str,
                 note: Content | None = None) -> None:
        self.view, self.name, self.lab, self.note = view, name, lab, note
        self.doing, self.until = doing, until  # in the top line where the runbook screen says who drives; why keys wait

    def status_line(self) -> Content:
        return Content.assemble(("keys work once ", "$text-muted"), (self.until, "$text-muted"))

    def top_line(self) -> Content:
        settled, total = step_rows.settled_count(self.view)
        rehearsal = " (lab)" if self.lab else ""
        return Content.assemble((self.name, "bold"),
                                f" · {self.view.outline.topology}{rehearsal} · {settled}/{total} settled · ",
                                (self.doing, "$text-muted"))


def outline_session(path: Path) -> Outlined | None:
    """The session at `path` with its kept outline, or None when the outline is missing or out of date (or the
    session cannot be read now: the runbook screen says why)."""
    from runbook.flow import outline as outlines
    from runbook.flow.view import SessionView
    from runbook.record import store

    try:
        session = store.load(path)
        outline = outlines.read_kept(path, session.params)
        if outline is None:
            return None
        view = SessionView(path, session, _not_loaded, outline=outline)
        note = handover_note(view.journal.last())
    except (RunbookError, OSError, ValueError):
        return None
    return Outlined(view, path.stem, bool(session.lab), "opening…", "the session is open", note)


def outline_rehearsal(view: SessionView) -> Outlined:
    """The fresh rehearsal `runbook demo` is about to make (runbook.lab.rehearsal_outline.fresh_view)."""
    return Outlined(view, "rehearsal", True, "preparing the lab…",
                    "the rehearsal lab (simulated domain and Windows hosts) is built")


def _not_loaded() -> Any:
    raise RuntimeError("the first frame reads the kept outline, never the procedure")


class OutlineScreen(SteadyScreen[None]):
    """A line saying what is opened; or, given the outline, the runbook screen's layout with the step list alone
    (the detail, the status line and the keys come with the runbook screen)."""

    def __init__(self, waiting: str, outlined: Outlined | None = None) -> None:
        super().__init__()
        self.waiting, self.outlined = waiting, outlined
        self.steps = StepList(id="steps")
        self._start: str | None = None

    @property
    def steps_shown(self) -> bool:
        return self.outlined is not None

    @property
    def moved_to(self) -> str | None:
        """The step the operator moved the cursor to before the runbook screen came (it starts there too)."""
        selected = self.steps.selected_key if self.outlined is not None else None
        return selected if selected != self._start else None

    def compose(self) -> ComposeResult:
        outlined = self.outlined
        if outlined is None:
            yield Static(self.waiting, markup=False)
            return
        self.compose_size_classes()
        self._start = step_rows.start_key(outlined.view)
        self.steps.show(step_rows.step_rows(outlined.view), select=self._start)
        # The footer's bar without its keys: Textual's Footer mounts each key a frame later (the runbook screen's
        # keys come with it anyway).
        yield from runbook_layout(outlined.top_line(), outlined.view.outline.chain, self.steps,
                                  Static("", id="detail"), outlined.status_line(), Static("", id="keys-pending"),
                                  outlined.note)

    def on_mount(self) -> None:
        if self.outlined is not None:
            self.steps.scroll_to_highlight()
            self.steps.focus()

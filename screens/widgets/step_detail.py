"""The right-hand side: the selected step's why, live plan, last verify, manual checklist and log.

The log holds only the step's newest journal entries (a page), reads older pages when it is scrolled to its top,
and takes new entries as one more block at its end: a step with 50,000 entries opens as fast as an empty one.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.widgets import Static

from runbook.flow.catalogue import ManualItem, StepInstance
from runbook.flow.changes import Plan
from runbook.flow.engine import Runbook
from runbook.record import journal_tail
from runbook.record.journal_tail import JournalSummary
from screens import step_rows, view
from screens.widgets.checklist import Checklist, Tick

NOT_PLANNED = "press p to compute the plan (it reads the live state, changing nothing)"
NOTHING_JOURNALED = "(nothing journaled for this step yet)"
LOG_PAGE = 200  # entries read at a time: many screens of the log pane, a few milliseconds of reading


@dataclass
class PlanView:
    """What the plan section shows: a computed plan, an error, 'computing', or nothing yet."""

    plan: Plan | None = None
    error: str | None = None
    computing: bool = False


class StepDetail(Vertical):
    @dataclass
    class Ticked(Message):
        key: str
        index: int
        ticked: bool

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.instance: StepInstance | None = None
        self.items: list[ManualItem] = []
        self._checklist_shown: tuple[Any, ...] | None = None
        self._log = LogWindow()
        self._extra_log: list[str] = []  # this process's lines below the journal's, until the journal moves on
        self.driving = False

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="detail-scroll"):
            yield Static("", id="step-head")
            yield Static("", id="step-status")
            yield Static("", id="step-plan")
            yield Static("", id="step-verify")
            yield Static("", id="step-why")
        checklist = Checklist(id="checklist")
        checklist.border_title = "checklist · space ticks · c copies"
        yield checklist
        with VerticalScroll(id="log") as log:
            log.border_title = "log"

    def on_mount(self) -> None:
        self.watch(self.query_one("#log", VerticalScroll), "scroll_y", self._log_scrolled, init=False)

    # -- showing -------------------------------------------------------------------------------------------
    def show(self, book: Runbook, instance: StepInstance, plan: PlanView, journal: JournalSummary, *,
             driving: bool, blocked: Sequence[str] = ()) -> None:
        self.instance, self.driving = instance, driving
        record = book.record(instance.key)
        mark, style = step_rows.glyph(book, instance.key)
        modes = ", ".join(instance.spec.modes)
        self.query_one("#step-head", Static).update(Content.assemble(
            (mark, style), " ", (instance.key, "bold"), "  ", (instance.title, "bold"), "\n",
            (view.state_word(book, instance.key), style or "bold"), (" · ", "$text-muted"), modes,
            (" · on ", "$text-muted"), instance.target.label))
        self._show_status(book, instance, blocked)
        self._show_plan(instance, plan)
        stale = step_rows.stale_mismatch(book, instance.key)
        self._set("#step-verify", _block("Verify", view.verify_lines(record.verified, stale=stale))
                  if record.verified else None)
        why = [instance.why] + list(instance.spec.detail(book.params))
        self._set("#step-why", _block("Why", [(line, "") for line in why]))
        self._show_checklist(book, instance)
        self._follow_log(journal, instance.key)

    def _show_status(self, book: Runbook, instance: StepInstance, blocked: Sequence[str]) -> None:
        record = book.record(instance.key)
        lines: list[tuple[str, str]] = []
        if record.error:
            lines.append((f"error: {record.error}", "bold $error"))
        for fault in blocked:  # an open check fault: running or marking this step would not make it work
            lines.append((f"blocked by {fault}", "bold $error"))
        if blocked:
            lines.append(("k shows each fault with its fix and runs the checks again", "$text-muted"))
        if (waits := book.waiting_for(instance)) and not instance.not_applicable:
            lines.append(("waits for: " + ", ".join(waits), "$warning"))
        if instance.not_applicable:
            lines.append((f"does not apply: {instance.not_applicable}", "$text-muted"))
        elif record.note:
            lines.append((f"note: {record.note}", "$text-muted"))
        if record.by and record.updated:
            lines.append((f"last change: {record.by}, {view.clock_time(record.updated)} UTC", "$text-muted"))
        self._set("#step-status", _lines(lines) if lines else None)

    def _set(self, selector: str, content: Content | None) -> None:
        widget = self.query_one(selector, Static)
        widget.update(content or Content(""))
        widget.display = content is not None

    def _show_plan(self, instance: StepInstance, plan: PlanView) -> None:
        if instance.not_applicable or instance.spec.automation is None:
            self._set("#step-plan", None)
        elif plan.computing:
            self._set("#step-plan", _block("Plan (live)", [("reading the live state…", "$text-muted")]))
        elif plan.error:
            self._set("#step-plan", _block("Plan (live)", [(f"could not plan: {plan.error}", "$error")]))
        elif plan.plan is not None:
            lines = [(line, "bold $error" if line.startswith("POINT OF NO RETURN") else "")
                     for line in plan.plan.lines()]
            self._set("#step-plan", _block("Plan (live)", lines))
        else:
            self._set("#step-plan", _block("Plan", [(NOT_PLANNED, "$text-muted")]))

    def _show_checklist(self, book: Runbook, instance: StepInstance) -> None:
        checklist = self.query_one(Checklist)
        items = [] if instance.not_applicable else instance.manual(book.params)
        ticks = {int(k): Tick(by=v.get("by")) for k, v in book.record(instance.key).ticks.items() if k.isdigit()}
        shown = (instance.key, tuple(items), tuple(sorted((k, t.by) for k, t in ticks.items())))
        if shown == self._checklist_shown:
            return
        same_step = self._checklist_shown is not None and self._checklist_shown[0] == instance.key
        self._checklist_shown, self.items = shown, items
        checklist.show(items, ticks, keep_highlight=same_step)
        checklist.display = bool(items)
        checklist.set_class(instance.spec.automation is not None, "-secondary")

    def follow_log(self, journal: JournalSummary, key: str) -> None:
        """New entries of `key` since the log was last drawn (while a step runs)."""
        self._follow_log(journal, key)

    def _follow_log(self, journal: JournalSummary, key: str) -> None:
        log = self._log
        if key != log.key or journal.path != log.path or journal.size < log.end:  # another step, or a new file
            page = journal_tail.step_page(journal.path, key, LOG_PAGE, end=journal.size)
            log.key, log.path, log.start, log.end = key, journal.path, page.start, journal.size
            self._reset_log(view.journal_lines(page.entries, key))
        elif journal.size > log.end:
            entries = journal_tail.step_entries(journal.path, key, start=log.end, end=journal.size)
            log.end = journal.size
            if entries:
                self._append_log(view.journal_lines(entries, key))

    def _reset_log(self, lines: list[str]) -> None:
        pane = self.query_one("#log", VerticalScroll)
        pane.remove_children()  # its scroll position goes back to 0: not the operator reaching the top
        self._log.shown = False
        self._extra_log = []
        self._log.empty = not lines
        pane.mount(_log_block(lines or [NOTHING_JOURNALED]))
        self._scroll_log_end()

    def _append_log(self, lines: list[str]) -> None:
        """New journal lines: one more block at the end. This process's own lines make way for them, as the
        journal now says what happened."""
        pane = self.query_one("#log", VerticalScroll)
        if self._log.empty:
            pane.remove_children()
            self._log.empty = False
        else:
            pane.query(".-extra").remove()
        self._extra_log = []
        pane.mount(_log_block(lines))
        self._scroll_log_end()

    def log_line(self, line: str) -> None:
        """Output of this process that the journal does not carry (a verify's findings, a refusal)."""
        self._extra_log.append(line)
        self.query_one("#log", VerticalScroll).mount(_log_block([line], extra=True))
        self._scroll_log_end()

    def _scroll_log_end(self) -> None:
        self.call_after_refresh(self._log_at_end)  # once the new text is laid out

    def _log_at_end(self) -> None:
        self.query_one("#log", VerticalScroll).scroll_end(animate=False)
        self._log.shown = True

    def _log_scrolled(self, old: float, new: float) -> None:
        """At the top of the log, the page of older entries goes above what is shown, which stays in view."""
        log = self._log
        if new > 0 or old <= 0 or not log.shown or not log.start or log.key is None or log.path is None:
            return
        page = journal_tail.step_page(log.path, log.key, LOG_PAGE, end=log.start)
        log.start = page.start
        lines = view.journal_lines(page.entries, log.key)
        if not lines:
            return
        pane = self.query_one("#log", VerticalScroll)
        block = _log_block(lines)
        pane.mount(block, before=0)
        self.call_after_refresh(lambda: pane.scroll_to(y=block.outer_size.height, animate=False))

    # -- reading -------------------------------------------------------------------------------------------
    def highlighted_item(self) -> ManualItem | None:
        checklist = self.query_one(Checklist)
        if not self.items:
            return None
        index = checklist.highlighted if checklist.highlighted is not None else 0
        return self.items[index] if index < len(self.items) else None

    def copy_text(self) -> str | None:
        """The command of the highlighted item, else the step's first command, else the item's own text."""
        item = self.highlighted_item()
        if item and item.command:
            return item.command
        first = next((i.command for i in self.items if i.command), None)
        if first and not self.query_one(Checklist).has_focus:
            return first
        return item.text if item else None

    def tick_highlighted(self) -> bool:
        """Tick (or untick) the checklist's highlighted item whatever pane has the focus; False: no checklist."""
        checklist = self.query_one(Checklist)
        if not checklist.display or not self.items:
            return False
        checklist.action_tick()
        return True

    def on_checklist_toggled(self, event: Checklist.Toggled) -> None:
        event.stop()
        if self.instance is not None:
            self.post_message(self.Ticked(self.instance.key, event.index, event.ticked))

    def untoggle(self, index: int, ticked: bool) -> None:
        """Put a tick back the way the session has it (read-only view, or the engine refused)."""
        self.query_one(Checklist).set_tick(index, ticked)
        self._checklist_shown = None

    def forget_checklist(self) -> None:
        """The ticks on screen may not be the session's (a tick the engine refused): the next `show` redraws."""
        self._checklist_shown = None

@dataclass
class LogWindow:
    """Which part of which journal the log shows: [start, end) in bytes, for one step."""

    key: str | None = None
    path: Path | None = None
    start: int = 0  # where the oldest shown entry begins: older pages end there (0: none older)
    end: int = 0  # how far the journal was read
    empty: bool = True  # only the "nothing journaled" line is shown
    shown: bool = False  # laid out and scrolled to its end: only then does reaching the top ask for older entries


def _log_block(lines: list[str], *, extra: bool = False) -> Static:
    # Plain text only: journal notes and remote output keep their brackets.
    return Static(Content("\n".join(lines)), classes="log-block -extra" if extra else "log-block")


def _lines(lines: list[tuple[str, str]]) -> Content:
    parts: list[str | tuple[str, str]] = []
    for index, (text, style) in enumerate(lines):
        parts.append((text, style) if style else text)
        if index < len(lines) - 1:
            parts.append("\n")
    return Content.assemble(*parts)


def _block(title: str, lines: list[tuple[str, str]]) -> Content:
    return Content.assemble((title, "bold $text-primary"), "\n", _lines(lines))

"""The right-hand side: the selected step's why, live plan, last verify, manual checklist and log."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.widgets import Static

from runbook.catalogue import ManualItem, StepInstance
from runbook.changes import Plan
from runbook.engine import Runbook
from screens import view
from screens.widgets.checklist import Checklist, Tick

NOT_PLANNED = "press p to compute the plan (it reads the live state, changing nothing)"


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
        self._log_shown: list[str] | None = None
        self._extra_log: list[str] = []
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
            yield Static("", id="log-text")

    # -- showing -------------------------------------------------------------------------------------------
    def show(self, book: Runbook, instance: StepInstance, plan: PlanView, entries: list[dict[str, Any]], *,
             driving: bool, blocked: Sequence[str] = ()) -> None:
        self.instance, self.driving = instance, driving
        record = book.record(instance.key)
        mark, style = view.glyph(book, instance.key)
        modes = ", ".join(instance.spec.modes)
        self.query_one("#step-head", Static).update(Content.assemble(
            (mark, style), " ", (instance.key, "bold"), "  ", (instance.title, "bold"), "\n",
            (view.state_word(book, instance.key), style or "bold"), (" · ", "$text-muted"), modes,
            (" · on ", "$text-muted"), instance.target.label))
        self._show_status(book, instance, blocked)
        self._show_plan(instance, plan)
        stale = view.stale_mismatch(book, instance.key)
        self._set("#step-verify", _block("Verify", view.verify_lines(record.verified, stale=stale))
                  if record.verified else None)
        why = [instance.why] + list(instance.spec.detail(book.params))
        self._set("#step-why", _block("Why", [(line, "") for line in why]))
        self._show_checklist(book, instance)
        self._show_log(view.journal_lines(entries, instance.key) or ["(nothing journaled for this step yet)"])

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

    def _show_log(self, lines: list[str]) -> None:
        if lines == self._log_shown:
            return
        self._log_shown = lines
        self._extra_log = []
        self._render_log()

    def log_line(self, line: str) -> None:
        """Output of this process that the journal does not carry (a verify's findings, a refusal)."""
        self._extra_log.append(line)
        self._render_log()

    def _render_log(self) -> None:
        # Plain text only: journal notes and remote output keep their brackets.
        lines = (self._log_shown or []) + self._extra_log
        self.query_one("#log-text", Static).update(Content("\n".join(lines)))
        log = self.query_one("#log", VerticalScroll)
        self.call_after_refresh(lambda: log.scroll_end(animate=False))  # once the new text is laid out

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

def _lines(lines: list[tuple[str, str]]) -> Content:
    parts: list[str | tuple[str, str]] = []
    for index, (text, style) in enumerate(lines):
        parts.append((text, style) if style else text)
        if index < len(lines) - 1:
            parts.append("\n")
    return Content.assemble(*parts)


def _block(title: str, lines: list[tuple[str, str]]) -> Content:
    return Content.assemble((title, "bold $text-primary"), "\n", _lines(lines))

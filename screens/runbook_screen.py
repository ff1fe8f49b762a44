"""The runbook screen: the step list on the left, the selected step on the right, every action on a key.

The screen renders and routes keys; the session and every operation on it belong to its SessionController, whose
workers' messages arrive here: each handler hands the message to the controller, then shows what changed.
"""
from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Iterable

from textual import events
from textual.app import ComposeResult, SystemCommand
from textual.binding import BindingType
from textual.content import Content
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Static

from runbook.flow import chain
from runbook.flow.completion import completion
from runbook.flow.engine import Runbook
from runbook.flow.states import State
from runbook.record.journal_tail import JournalSummary
from screens import actions, step_rows, view
from screens.actions import ACTION_TITLES
from screens.app import RunbookApp, app_of
from screens.help import help_content
from screens.messages import (
    ActionCancelled,
    ActionDone,
    ActionFailed,
    BusyChanged,
    OpenFailed,
    PlanReady,
    SessionOpened,
)
from screens.modals import ErrorModal, InfoModal, failed_modal, resume_modal
from screens.opening import handover_note, runbook_layout
from screens.runbook_bindings import RUNBOOK_BINDINGS, palette_commands
from screens.runbook_dialogs import SessionDialogs
from screens.session_controller import SessionController, driver_left
from screens.steady_screen import SteadyScreen
from screens.widgets.footer import KeysFooter
from screens.widgets.step_detail import PlanView, StepDetail
from screens.widgets.step_list import StepList

__all__ = ["ACTION_TITLES", "RunbookScreen"]


class RunbookScreen(SteadyScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [*RUNBOOK_BINDINGS]

    def __init__(self, path: Path, *, takeover: bool = False, from_start: bool = False,
                 opened: SessionOpened | OpenFailed | None = None,  # opened: by the app, else by this screen
                 select: str | None = None) -> None:  # select: where the cursor starts, else the start step
        super().__init__()
        self.path, self.from_start = path, from_start
        self._opened, self._select = opened, select
        self.dialogs = SessionDialogs(self)
        self.session = SessionController(self, path, takeover=takeover, questions=self.dialogs)
        self._plan_timer: Timer | None = None
        # Held, not queried: `selected` answers each binding's check_action on every refresh of the keys.
        self._steps = StepList(id="steps")

    @property
    def runbook_app(self) -> RunbookApp:
        return app_of(self)

    # What the screen shows is the controller's state; the app asks `busy` before it quits.
    @property
    def book(self) -> Runbook | None:
        return self.session.book

    @property
    def busy(self) -> str | None:
        return self.session.busy

    @property
    def selected(self) -> str | None:
        return self._steps.selected_key

    def compose(self) -> ComposeResult:
        self.compose_size_classes()
        yield from runbook_layout(Content(f"opening {self.path.stem}…"), "", self._steps, StepDetail(id="detail"),
                                  Content(""), KeysFooter(compact=True, show_command_palette=False))

    def on_mount(self) -> None:
        opened, self._opened = self._opened, None
        if isinstance(opened, SessionOpened):  # shown before this screen is first drawn: drawn once, with the steps
            self.on_session_opened(opened)
        elif opened is not None:
            self.on_open_failed(opened)
        else:
            self.session.open()
        self.set_interval(self.runbook_app.config.poll_seconds, self._poll)

    def on_unmount(self) -> None:
        self.runbook_app.asker.cancel_pending()
        self.session.close()

    # -- showing the session -----------------------------------------------------------------------------------
    def refresh_view(self, select: str | None = None) -> None:
        book = self.book
        if book is None:
            return
        self.query_one("#topbar", Static).update(view.top_line(book, self.path.stem, driving=self.session.driving,
                                                               done=self.session.done))
        self.query_one("#chain", Static).update(Content(chain.chain_line(book.params)))
        self._refresh_handover_note()
        self.query_one(StepList).show(step_rows.step_rows(book), select=select)
        self._refresh_detail()
        self._refresh_status()
        self.refresh_bindings()

    def _refresh_detail(self) -> None:
        if self.book is None or (key := self.selected) is None:
            return
        session = self.session
        self.query_one(StepDetail).show(self.book, self.book.instance(key), session.plans.get(key, PlanView()),
                                        session.journal, driving=session.driving, blocked=session.blocked.get(key, []))
        self._keep_focus_on_screen()

    def _keep_focus_on_screen(self) -> None:
        """A pane that went away (no checklist for this step, the list while zoomed) takes the focus with it:
        the list, or the detail while zoomed, gets it."""
        focused = self.focused
        if focused is not None and all(node.display for node in focused.ancestors_with_self
                                       if isinstance(node, Widget)):
            return
        (self.query_one(StepList) if self.query_one("#left").display else self.query_one("#detail-scroll")).focus()

    def _refresh_handover_note(self) -> None:
        note, shown = self.query_one("#handover-note", Static), handover_note(self.session.journal.last)
        note.display = shown is not None
        if shown is not None:
            note.update(shown)

    def _refresh_status(self) -> None:
        session = self.session
        key = self.selected
        plan = session.plans.get(key) if key else None
        self.query_one("#statusbar", Static).update(view.status_line(
            self.book, key, driving=session.driving, busy=self.busy, waiting=session.waiting,
            following=session.following,
            driver_left=session.following is not None and driver_left(self.path), resuming=session.resuming,
            plan_failed=plan is not None and plan.error is not None, done=session.done,
            checks=session.journal.checks))

    def busy_changed(self) -> None:
        self._refresh_status()
        self.refresh_bindings()

    def on_step_list_step_highlighted(self, event: StepList.StepHighlighted) -> None:
        shown = self.query_one(StepDetail).instance
        if event.key != self.selected or (shown is not None and shown.key == event.key):
            return  # the cursor moved on since (its own message follows), or the view was drawn for this step
        self._refresh_detail()
        self._refresh_status()
        self.refresh_bindings()
        self._schedule_plan(event.key)

    def _schedule_plan(self, key: str) -> None:
        if self._plan_timer is not None:
            self._plan_timer.stop()
        if self.session.wants_plan(key):
            self._plan_timer = self.set_timer(0.25, lambda: self._start_plan(key))

    def _start_plan(self, key: str) -> None:
        if self.book is None or self.selected != key:
            return
        self.session.plan(key)
        self._refresh_detail()

    # -- which keys apply now: one answer (`why_not`) for the footer, the keys and the palette ------------------
    def why_not(self, action: str) -> str | None:
        return self.session.why_not(action, self.selected)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return actions.offered(action, self.why_not, busy=self.busy, following=self.session.following,
                               from_start=self.from_start)

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
        return palette_commands(self.book, self.selected, self.attempt, self.query_one(StepList).select_key)

    # -- actions -------------------------------------------------------------------------------------------
    def action_run(self) -> None:
        if (key := self.selected) and not self.why_not("run"):
            self.session.run(key)

    def action_verify(self) -> None:
        if (key := self.selected) and not self.why_not("verify"):
            self.session.verify(key)

    def action_proof(self) -> None:
        if not self.why_not("proof"):
            self.session.device_proof()

    def action_verify_all(self) -> None:
        if not self.why_not("verify_all"):
            self.session.verify_all()

    def action_plan(self) -> None:
        if (key := self.selected) and not self.why_not("plan"):
            self.session.plan_afresh(key)
            self._start_plan(key)

    def action_undo(self) -> None:
        if (key := self.selected) and not self.why_not("undo"):
            self.session.undo(key)

    def action_done(self) -> None:
        if (key := self.selected) and not self.why_not("done"):
            self.dialogs.done(key)

    def action_skip(self) -> None:
        if (key := self.selected) and not self.why_not("skip"):
            self.dialogs.skip(key)

    def action_reopen(self) -> None:
        if (key := self.selected) and not self.why_not("reopen"):
            self.dialogs.reopen(key)

    def action_note(self) -> None:
        if not self.why_not("note"):
            self.dialogs.note(self.selected)

    def action_tick(self) -> None:
        if not self.query_one(StepDetail).tick_highlighted():
            self.notify(f"{self.selected} has no checklist", title="tick", severity="warning", timeout=3)

    def action_copy(self) -> None:
        text = self.query_one(StepDetail).copy_text()
        if text:
            self.app.copy_to_clipboard(text)
            shown = text if len(text) <= 60 else text[:57] + "…"
            self.notify(shown, title="copied to the clipboard (OSC 52)", markup=False)

    def action_next(self) -> None:
        if self.book is None:
            return
        instance = self.book.next_pending()
        if instance is None:
            done = self.session.done or completion(self.book, self.session.journal.checks)
            self.notify("every step is settled: the change is complete" if done.complete else
                        f"every step is settled, but the change is not complete: {done.reasons[0]}",
                        title="next pending", markup=False)
            return
        self.query_one(StepList).select_key(instance.key)
        self.query_one(StepList).focus()

    # -- the checks view and the change record: screens of their own ----------------------------------------
    # Each imported when first asked for: loading their code (checks, report model, back-out) delays the steps.
    def action_checks(self) -> None:
        if self.book is not None and not self.why_not("checks"):
            from screens.checks_screen import ChecksScreen

            self.app.push_screen(ChecksScreen(self.book, self.session.engine_lock),
                                 lambda journal: self._finished(journal, replan=False) if journal else None)

    def action_journal(self) -> None:
        if self.book is not None:
            from screens.record_screens import JournalScreen

            self.app.push_screen(JournalScreen(self.book))

    def action_backout(self) -> None:
        if self.book is not None:
            from screens.record_screens import BackoutScreen

            self.app.push_screen(BackoutScreen(self.book))

    def action_report(self) -> None:
        if self.book is not None:
            from screens.report_export import ReportModal

            self.app.push_screen(ReportModal(self.book),
                                 lambda path: self.notify(str(path), title="report written", markup=False)
                                 if path else None)

    def action_help(self) -> None:
        self.app.push_screen(InfoModal("Help", help_content()))

    def action_zoom(self) -> None:
        """At 80×24 the why and the log are a few rows each: the step list steps aside until z is pressed again."""
        self.toggle_class("-zoomed")
        if not self.has_class("-zoomed"):
            self.query_one(StepList).focus()  # back where the operator moves from step to step
        self.call_after_refresh(self._keep_focus_on_screen)  # once the styles say what is hidden

    def action_stop(self) -> None:
        self.dialogs.stop()

    def action_drive(self) -> None:
        if not self.why_not("drive"):
            self.dialogs.drive()

    def action_handover(self) -> None:
        if not self.why_not("handover"):
            self.dialogs.hand_over()

    def action_back(self) -> None:
        if self.from_start and not self.busy:
            self.session.close()
            self.app.pop_screen()

    # -- worker results --------------------------------------------------------------------------------------
    def on_session_opened(self, message: SessionOpened) -> None:
        self.session.opened(message)
        # The first time, the view is drawn once, for the step the cursor starts on.
        select, self._select = self._select, None
        if not message.reloaded and (select is None or all(step.key != select for step in message.book.outline.steps)):
            select = step_rows.start_key(message.book)
        self.refresh_view(select=None if message.reloaded else select)
        if not message.reloaded:
            self._select_start()
        if (interrupted := self.session.offer_resume()) is not None:
            key, found = interrupted
            self.app.push_screen(resume_modal(key, found), lambda yes: self.action_verify() if yes else None)
        if self.selected:
            self._schedule_plan(self.selected)

    def _select_start(self) -> None:
        steps = self.query_one(StepList)
        steps.scroll_to_highlight()
        steps.focus()

    def on_open_failed(self, message: OpenFailed) -> None:
        self.session.open_failed()
        self.app.push_screen(ErrorModal("Cannot open the session", message.message,
                                        advice="Nothing was changed. The CLI shows the same session: runbook status "
                                               + self.path.stem), lambda _: self._after_open_failure())

    def _after_open_failure(self) -> None:
        if self.from_start:
            self.app.pop_screen()
        else:
            self.app.exit(1)

    def on_busy_changed(self, message: BusyChanged) -> None:
        self.session.now_doing(message.text, message.waiting)

    def on_action_done(self, message: ActionDone) -> None:
        quiet = message.action in ("tick", "note")  # the checklist and the log show these already
        self._finished(message.journal, replan=not quiet)
        if message.action == "handover":  # the lock is released: from now on this view follows
            self.session.open(drive=False, reloaded=True)
        if not quiet:
            self.notify(message.summary, title=message.action, markup=False, timeout=3)
        detail = self.query_one(StepDetail)
        if message.action in ("verify", "verify-all", "device proof"):
            detail.log_line(f"-- {message.summary}")
            for line in message.lines:
                detail.log_line(f"   {line}")
        if message.action == "verify-all" and "drift" in message.summary:
            self.app.push_screen(ErrorModal("Drift", message.summary + "\n\n" + "\n".join(message.lines),
                                            advice="r re-applies the difference; u undoes what this session set."))

    def on_action_failed(self, message: ActionFailed) -> None:
        self._finished(message.journal)
        if message.action == "tick" and message.key == self.selected:
            self.query_one(StepDetail).forget_checklist()  # the refused tick is still drawn: draw the session's
            self._refresh_detail()
        step_failed = message.action in ("run", "undo") and self.book is not None and message.key is not None \
            and self.book.record(message.key).state == State.FAILED
        self.app.push_screen(failed_modal(message.action, message.key, message.message, step_failed=step_failed))

    def on_action_cancelled(self, message: ActionCancelled) -> None:
        self._finished(None)
        self.notify(message.message, title="cancelled", severity="warning", markup=False)

    def _finished(self, journal: JournalSummary | None, *, replan: bool = True) -> None:
        self.session.finished(journal, replan=replan)  # replan: the live state may have moved
        self.refresh_view()
        if self.selected:
            self._schedule_plan(self.selected)

    def on_plan_ready(self, message: PlanReady) -> None:
        self.session.planned(message)
        if message.key == self.selected:
            self._refresh_detail()
            self._refresh_status()

    def on_step_detail_ticked(self, message: StepDetail.Ticked) -> None:
        if not self.session.driving:
            self.query_one(StepDetail).untoggle(message.index, not message.ticked)
            self.notify("read-only: another operator drives this session", severity="warning")
            return
        self.session.tick(message.key, message.index, message.ticked)

    # -- follow mode -----------------------------------------------------------------------------------------
    def _poll(self) -> None:
        if self.book is not None and self.busy:
            # While a step applies, its log shows each journaled change as it lands (the journal's new bytes).
            if (key := self.selected) is not None:
                self.query_one(StepDetail).follow_log(self.session.advance_journal(), key)
            return
        if (warning := self.session.poll()) is not None:
            self.notify(warning, severity="warning")

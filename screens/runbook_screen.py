"""The runbook screen: the step list on the left, the selected step on the right, every action on a key."""
from __future__ import annotations

import threading
from pathlib import Path

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import Screen
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Footer, Static

from runbook.checks.runs import blocking_faults
from runbook.flow import chain
from runbook.flow.completion import Completion, completion
from runbook.flow.engine import Runbook
from runbook.flow.states import IN_PLACE, State
from runbook.pair.handover import HANDOVER, describe_pending, lock_view
from runbook.record import store
from runbook.record.journal_tail import JournalSummary
from runbook.record.recovery import interrupted_note
from screens import view
from screens.actions import ACTION_TITLES
from screens.app import app_of
from screens.checks_screen import ChecksScreen
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
from screens.modals import ConfirmModal, ErrorModal, InfoModal, TextModal, resume_modal
from screens.record_screens import BackoutScreen, JournalScreen
from screens.report_export import ReportModal
from screens.runbook_bindings import RUNBOOK_BINDINGS, ActionGate
from screens.runbook_work import EngineWork, driver_left, session_stamps
from screens.widgets.step_detail import PlanView, StepDetail
from screens.widgets.step_list import StepList
from steps.checks import CHECKS

__all__ = ["ACTION_TITLES", "RunbookScreen"]


class RunbookScreen(ActionGate, EngineWork, Screen[None]):
    BINDINGS = RUNBOOK_BINDINGS

    def __init__(self, path: Path, *, takeover: bool = False, from_start: bool = False) -> None:
        super().__init__()
        self.path, self.takeover, self.from_start = path, takeover, from_start
        self.book: Runbook | None = None
        self.following: str | None = None
        self.journal = JournalSummary(store.journal_path(path))  # its check runs and newest entry, not its lines
        self.plans: dict[str, PlanView] = {}
        self.busy: str | None = None
        self.live_plan = False
        self.engine_lock = threading.Lock()
        self._stamps: tuple = ()
        self._plan_timer: Timer | None = None
        self._offered_resume = False
        self.resuming = False
        self.blocked: dict[str, list[str]] = {}  # per step: the open check faults that block it
        self.done: Completion | None = None  # computed once per refresh

    def compose(self) -> ComposeResult:
        yield Static(Content(f"opening {self.path.stem}…"), id="topbar")
        yield Static("", id="handover-note")
        with Horizontal(id="body"):
            with Vertical(id="left"):
                yield Static("", id="chain")
                yield StepList(id="steps")
            yield StepDetail(id="detail")
        yield Static("", id="statusbar")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.open_session()
        self.set_interval(app_of(self).config.poll_seconds, self._poll)

    def on_unmount(self) -> None:
        app_of(self).asker.cancel_pending()
        self.close_book()

    def close_book(self) -> None:
        if self.book is not None:
            app_of(self).forget_book(self.book)
            self.book.close()

    # -- the selected step ---------------------------------------------------------------------------------
    @property
    def driving(self) -> bool:
        return self.book is not None and self.book.lock is not None

    @property
    def selected(self) -> str | None:
        return self.query_one(StepList).selected_key

    def refresh_view(self) -> None:
        book = self.book
        if book is None:
            return
        self.done = completion(book, self.journal.checks)
        self.blocked = blocking_faults(book, CHECKS, self.journal.checks)
        self.query_one("#topbar", Static).update(view.top_line(book, self.path.stem, driving=self.driving,
                                                               done=self.done))
        self.query_one("#chain", Static).update(Content(chain.chain_line(book.params)))
        self._refresh_handover_note()
        self.query_one(StepList).show(view.step_rows(book))
        self._refresh_detail()
        self._refresh_status()
        self.refresh_bindings()

    def _refresh_detail(self) -> None:
        if self.book is None or (key := self.selected) is None:
            return
        instance = self.book.instance(key)
        self.query_one(StepDetail).show(self.book, instance, self.plans.get(key, PlanView()), self.journal,
                                        driving=self.driving, blocked=self.blocked.get(key, []))
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
        """A handover nobody has acted on since (the journal's newest entry): the next driver reads it first."""
        note = self.query_one("#handover-note", Static)
        last = self.journal.last
        if last is None or last.get("action") != HANDOVER:
            note.display = False
            return
        note.update(Content("\n".join(describe_pending(last))))  # operator text: plain, never markup
        note.display = True

    def _refresh_status(self) -> None:
        left = self.following is not None and driver_left(self.path)
        key = self.selected
        plan = self.plans.get(key) if key else None
        self.query_one("#statusbar", Static).update(view.status_line(
            self.book, key, driving=self.driving, busy=self.busy, following=self.following,
            driver_left=left, resuming=self.resuming, plan_failed=plan is not None and plan.error is not None,
            done=self.done, checks=self.journal.checks))

    def on_step_list_step_highlighted(self, event: StepList.StepHighlighted) -> None:
        self._refresh_detail()
        self._refresh_status()
        self.refresh_bindings()
        self._schedule_plan(event.key)

    def _schedule_plan(self, key: str) -> None:
        if self._plan_timer is not None:
            self._plan_timer.stop()
        if self.live_plan and key not in self.plans and self._plannable(key):
            self._plan_timer = self.set_timer(0.25, lambda: self._start_plan(key))

    def _plannable(self, key: str) -> bool:
        if self.book is None:
            return False
        instance = self.book.instance(key)
        return instance.spec.automation is not None and not instance.not_applicable

    def _start_plan(self, key: str) -> None:
        if self.book is None or self.selected != key:
            return
        self.plans[key] = PlanView(computing=True)
        self._refresh_detail()
        self.plan_step(key)

    # -- actions -------------------------------------------------------------------------------------------
    def _start(self, text: str) -> None:
        self.busy, self.resuming = text, False
        self._refresh_status()
        self.refresh_bindings()

    def action_run(self) -> None:
        if (key := self.selected) and not self.why_not("run"):
            self._start(f"reading the live state for {key} (nothing changes before you confirm)")
            self.run_step(key)

    def action_verify(self) -> None:
        if (key := self.selected) and not self.why_not("verify"):
            self._start(f"verifying {key}")
            self.verify_step(key)

    def action_proof(self) -> None:
        if not self.why_not("proof"):
            self._start("proving a device can sync (with and without its certificate)")
            self.device_proof()

    def action_verify_all(self) -> None:
        if not self.why_not("verify_all"):
            self._start("verifying every done step")
            self.verify_all()

    def action_plan(self) -> None:
        if (key := self.selected) and not self.why_not("plan"):
            self.live_plan = True
            self.plans.pop(key, None)
            self._start_plan(key)

    def action_undo(self) -> None:
        if (key := self.selected) and not self.why_not("undo"):
            self._start(f"reading the live state for undoing {key} (nothing changes before you confirm)")
            self.undo_step(key)

    def action_done(self) -> None:
        if not (key := self.selected) or self.why_not("done") or self.book is None:
            return
        items = self.book.instance(key).manual(self.book.params)
        unticked = [f"{index + 1}. {item.text}" for index, item in enumerate(items)
                    if str(index) not in self.book.record(key).ticks]
        if unticked:  # a checklist half ticked is often a checklist half done: ask before recording it
            self.app.push_screen(ConfirmModal(f"{len(unticked)} of {len(items)} checklist items of {key} are not "
                                              "ticked. Record it done anyway?", unticked, yes="Record done",
                                              no="Back to the checklist", title="Unticked items"),
                                 lambda yes: self._ask_done_note(key) if yes else None)
        else:
            self._ask_done_note(key)

    def _ask_done_note(self, key: str) -> None:
        self._ask_text(f"Record {key} as done by hand", "Optional note (what you did, a ticket number); enter "
                       "verifies it read-only, then records it", lambda note: self._mark(key, "done", note or None))

    def action_skip(self) -> None:
        if (key := self.selected) and not self.why_not("skip"):
            self._ask_text(f"Skip {key}", "Why is it skipped? (journaled with your name)",
                           lambda note: self._mark(key, "skip", note), allow_empty=False)

    def action_reopen(self) -> None:
        if (key := self.selected) and not self.why_not("reopen"):
            self._ask_text(f"Reopen {key}", "Back to pending. Why? (journaled)",
                           lambda note: self._mark(key, "reopen", note or None))

    def _mark(self, key: str, how: str, note: str | None) -> None:
        self._start(f"verifying {key} (read-only) before recording it done" if how == "done" else
                    f"recording {key} {how}")
        self.mark_step(key, how, note)

    def action_note(self) -> None:
        key = self.selected
        if not self.why_not("note"):
            self._ask_text(f"Note on {key}" if key else "Note", "A note for the journal (and the step)",
                           lambda text: self.note_step(key, text) if text else None, allow_empty=False)

    def _ask_text(self, title: str, prompt: str, then, *, allow_empty: bool = True) -> None:
        self.app.push_screen(TextModal(title, prompt, allow_empty=allow_empty),
                             lambda text: then(text) if text is not None else None)

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
            done = self.done or completion(self.book, self.journal.checks)
            self.notify("every step is settled: the change is complete" if done.complete else
                        f"every step is settled, but the change is not complete: {done.reasons[0]}",
                        title="next pending", markup=False)
            return
        self.query_one(StepList).select_key(instance.key)
        self.query_one(StepList).focus()

    # -- the checks view and the change record: screens of their own ----------------------------------------
    def action_checks(self) -> None:
        if self.book is not None and not self.why_not("checks"):
            self.app.push_screen(ChecksScreen(self.book, self.engine_lock),
                                 lambda journal: self._finished(journal, replan=False) if journal else None)

    def action_journal(self) -> None:
        if self.book is not None:
            self.app.push_screen(JournalScreen(self.book))

    def action_backout(self) -> None:
        if self.book is not None:
            self.app.push_screen(BackoutScreen(self.book))

    def action_report(self) -> None:
        if self.book is not None:
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
        if not self.busy:
            return
        doing = self.busy
        self.app.push_screen(ConfirmModal(f"Stop {doing}?", [
            "It stops after the remote call in flight returns (each has a timeout).",
            "What it already changed stays recorded; the step shows as interrupted, and",
            "v verifies it before anything else may run.",
        ], yes="Stop", no="Let it finish", title="Stop"), lambda yes: self._stop(doing) if yes else None)

    def _stop(self, doing: str) -> None:
        if self.busy == doing and not self.stop_current():
            self.notify("it had already finished", title="stop")

    def action_drive(self) -> None:
        if self.why_not("drive"):
            return
        self.app.push_screen(ConfirmModal("Drive this session from here?", self.takeover_lines(), yes="Drive",
                                          title="Take the wheel"), self._drive_answer)

    def action_handover(self) -> None:
        if self.why_not("handover"):
            return
        self._ask_text("Hand over", "A note for the next driver: what is done, what is open, why (journaled). "
                       "This view then only follows.", self._hand_over, allow_empty=False)

    def _hand_over(self, note: str) -> None:
        if note.strip() and not self.why_not("handover"):
            self._start("handing over")
            self.hand_over(note)

    def takeover_lines(self) -> list[str]:
        """Who holds the lock now (holder, host, pid, last heartbeat), read just before asking."""
        held = lock_view(self.path)
        lines = held.lines() if held is not None else ["nobody holds the lock: the driver released it"]
        return lines + ["", "Taking the wheel is journaled with your name; the other view becomes read-only."]

    def _drive_answer(self, yes: bool | None) -> None:
        if yes:
            self.open_session(drive=True, takeover=True, reloaded=True)

    def action_back(self) -> None:
        if self.from_start and not self.busy:
            self.close_book()
            self.app.pop_screen()

    # -- worker results --------------------------------------------------------------------------------------
    def on_session_opened(self, message: SessionOpened) -> None:
        previous, self.book = self.book, message.book
        if previous is not None and previous is not message.book:
            app_of(self).forget_book(previous)
            previous.close()
        app_of(self).remember_book(message.book)
        self.following, self.journal = message.following, message.journal
        self.plans.clear()
        self.live_plan = self.live_plan or bool(message.book.session.lab)
        self._stamps = session_stamps(self.path)
        first = not message.reloaded
        self.refresh_view()
        if first:
            self._select_start()
        if self.driving and not self._offered_resume:
            self._offered_resume = True
            self._offer_resume()
        if self.selected:
            self._schedule_plan(self.selected)

    def _select_start(self) -> None:
        assert self.book is not None
        self.query_one(StepList).select_key(view.start_key(self.book))
        self.query_one(StepList).focus()
        self._refresh_detail()

    def _offer_resume(self) -> None:
        book = self.book
        assert book is not None
        interrupted = view.interrupted_keys(book)
        if interrupted:
            record = book.record(interrupted[0])
            found = record.note if record.state == State.INTERRUPTED else interrupted_note(record)
            self.app.push_screen(resume_modal(interrupted[0], found),
                                 lambda yes: self.action_verify() if yes else None)
        elif any(book.record(i.key).state in IN_PLACE for i in book.instances):
            self.resuming = True  # said once in the status line, until the operator moves on

    def on_open_failed(self, message: OpenFailed) -> None:
        self.app.push_screen(ErrorModal("Cannot open the session", message.message,
                                        advice="Nothing was changed. The CLI shows the same session: runbook status "
                                               + self.path.stem), lambda _: self._after_open_failure())

    def _after_open_failure(self) -> None:
        if self.from_start:
            self.app.pop_screen()
        else:
            self.app.exit(1)

    def on_busy_changed(self, message: BusyChanged) -> None:
        if self.busy:
            self._start(message.text)

    def on_action_done(self, message: ActionDone) -> None:
        quiet = message.action in ("tick", "note")  # the checklist and the log show these already
        self._finished(message.journal, replan=not quiet)
        if message.action == "handover":  # the lock is released: from now on this view follows
            self.open_session(drive=False, reloaded=True)
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
            self.query_one(StepDetail)._checklist_shown = None
            self._refresh_detail()
        subject = f"{message.action} {message.key}" if message.key else message.action
        advice = ""
        if message.action in ("run", "undo") and self.book is not None and message.key:
            if self.book.record(message.key).state == State.FAILED:
                advice = ("The step is now failed and the journal has the details. v shows what took; "
                          "u undoes what was recorded; r tries again; d records it done by hand.")
        self.app.push_screen(ErrorModal(f"{subject} failed", message.message, advice=advice))

    def on_action_cancelled(self, message: ActionCancelled) -> None:
        self._finished(None)
        self.notify(message.message, title="cancelled", severity="warning", markup=False)

    def _finished(self, journal: JournalSummary | None, *, replan: bool = True) -> None:
        self.busy = None
        if journal is not None:
            self.journal = journal
        if replan:  # the live state may have moved: plans are read again
            self.plans.clear()
        self._stamps = session_stamps(self.path)
        self.refresh_view()
        if self.selected:
            self._schedule_plan(self.selected)

    def on_plan_ready(self, message: PlanReady) -> None:
        self.plans[message.key] = PlanView(plan=message.plan, error=message.error)
        if message.key == self.selected:
            self._refresh_detail()
            self._refresh_status()

    def on_step_detail_ticked(self, message: StepDetail.Ticked) -> None:
        if not self.driving:
            self.query_one(StepDetail).untoggle(message.index, not message.ticked)
            self.notify("read-only: another operator drives this session", severity="warning")
            return
        self.tick_item(message.key, message.index, message.ticked)

    # -- follow mode -----------------------------------------------------------------------------------------
    def _follow_running(self) -> None:
        """While a step applies, its log shows each journaled change as it lands (read from the file's new bytes;
        the engine's worker writes, this only reads)."""
        key = self.selected
        if key is None:
            return
        self.journal = self.journal.advance()
        self.query_one(StepDetail).follow_log(self.journal, key)

    def _poll(self) -> None:
        if self.book is not None and self.busy:
            self._follow_running()
            return
        if self.book is None:
            return
        stamps = session_stamps(self.path)
        if stamps == self._stamps:
            return
        lock_changed = stamps[2] != self._stamps[2] if self._stamps else True
        self._stamps = stamps
        if self.following is not None:
            self.open_session(drive=False, reloaded=True)
        elif lock_changed and self.book.lock is not None and not self.book.lock.still_mine():
            self.notify("the session lock was taken over: this view is now read-only", severity="warning")
            self.book.lock.release()  # stops our heartbeat; the file is theirs now and stays
            self.book.lock = None
            self.open_session(drive=False, reloaded=True)

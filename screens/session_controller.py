"""The runbook screen's session controller: the open session and everything done to it, with no widget in sight.

It owns the Runbook, who drives, the journal summary, the plans read so far, what is running (`busy`) and the
operator's stop (the engine's cancel token). Each operation runs as a thread worker started through the screen it
serves; a worker never changes this state, it posts one message to that screen, whose handler hands it back here
(`opened`, `finished`, `planned`) on the UI thread and then renders. One lock serialises engine calls (a directory
or WinRM connection is not shared between threads); each kind of work has its own worker group.
"""
from __future__ import annotations

import threading
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Protocol

from runbook.checks.runs import blocking_faults
from runbook.errors import LockHeld, RunbookError
from runbook.flow.completion import Completion, completion
from runbook.flow.engine import Runbook
from runbook.flow.recovery import interrupted_note
from runbook.flow.states import IN_PLACE, State
from runbook.pair.handover import lock_view
from runbook.record import store
from runbook.record.journal_tail import JournalSummary
from runbook.record.lock import is_live, read_holder
from screens import actions, operations, step_rows
from screens.messages import (
    ActionCancelled,
    ActionDone,
    ActionFailed,
    BusyChanged,
    OpenFailed,
    PlanReady,
    SessionOpened,
)
from screens.widgets.step_detail import PlanView
from steps.checks import CHECKS

if TYPE_CHECKING:
    from textual.message import Message

    from screens.app import RunbookApp

Job = Callable[[Runbook], operations.Outcome]
Stamps = tuple[tuple[int, int] | None, ...]  # (mtime, size) of each file that follow mode watches


class SessionScreen(Protocol):
    """What the controller needs of the screen that shows it: Textual's worker and message API, the app's
    services, and word that `busy` changed."""

    @property
    def runbook_app(self) -> RunbookApp: ...

    def run_worker(self, work: Any, name: str | None = "", group: str = "default", description: str = "",
                   exit_on_error: bool = True, start: bool = True, exclusive: bool = False,
                   thread: bool = False) -> Any: ...

    def post_message(self, message: Message) -> bool: ...

    def busy_changed(self) -> None: ...


class Questions(Protocol):
    """What an operation may ask the operator from its worker; each blocks the worker until answered."""

    def confirm_change(self, question: str, lines: list[str], restart_host: str | None) -> bool: ...

    def reason_to_override(self, question: str, mismatches: list[str]) -> str | None: ...


class SessionController:
    def __init__(self, screen: SessionScreen, path: Path, *, questions: Questions, takeover: bool = False) -> None:
        self.screen, self.questions, self.path, self.takeover = screen, questions, path, takeover
        self.book: Runbook | None = None
        self.following: str | None = None  # who drives, while this view only follows
        self.journal = JournalSummary(store.journal_path(path))  # its check runs and newest entry, not its lines
        self.plans: dict[str, PlanView] = {}
        self.live_plan = False  # plans are read as steps are selected (a rehearsal, or once p was pressed)
        self.busy: str | None = None  # what the running operation is doing, in the operator's words
        self.waiting = False  # the running operation waits for the operator's answer: nothing runs meanwhile
        self.resuming = False  # said once in the status line, until the operator moves on
        self.done: Completion | None = None
        self.blocked: dict[str, list[str]] = {}  # per step: the open check faults that block it
        self.engine_lock = threading.Lock()
        self._stamps: Stamps = ()
        self._offered_resume = False
        self._opening = False  # an open's result is on its way: polling must not start another that overtakes it
        self._stoppable: Runbook | None = None  # the session whose engine operation `stop` may end

    @property
    def driving(self) -> bool:
        return self.book is not None and self.book.lock is not None

    def why_not(self, action: str, key: str | None) -> str | None:
        """None when `action` can run now on step `key`, else the reason (shown when it is asked for anyway)."""
        if action == "drive":
            return None if self.following is not None and driver_left(self.path) else "only when the driver left"
        return actions.why_not(action, self.book, key, driving=self.driving, busy=self.busy)

    # -- opening and closing ----------------------------------------------------------------------------------
    def open(self, *, drive: bool = True, takeover: bool | None = None, reloaded: bool = False) -> None:
        self._opening = True
        self.screen.run_worker(partial(self._open, drive, self.takeover if takeover is None else takeover, reloaded),
                               name="open_session", group="open", exclusive=True, thread=True, exit_on_error=False)

    def _open(self, drive: bool, takeover: bool, reloaded: bool) -> None:
        self.screen.post_message(open_session(self.screen.runbook_app, self.path, drive=drive, takeover=takeover,
                                              reloaded=reloaded, journal=self.journal))

    def opened(self, message: SessionOpened) -> None:
        """The open worker's result: this session replaces the one held before (whose lock is let go)."""
        app = self.screen.runbook_app
        self._opening = False
        previous, self.book = self.book, message.book
        if previous is not None and previous is not message.book:
            app.forget_book(previous)
            previous.close()
        app.remember_book(message.book)
        self.following, self.journal = message.following, message.journal
        self.plans.clear()
        self.live_plan = self.live_plan or bool(message.book.session.lab)
        self._settled()

    def offer_resume(self) -> tuple[str, str | None] | None:
        """Once, when this view first drives: the interrupted step to verify before anything else and what the
        journal records of it; else None (and `resuming` when steps are already in place)."""
        book = self.book
        if book is None or not self.driving or self._offered_resume:
            return None
        self._offered_resume = True
        interrupted = step_rows.interrupted_keys(book)
        if interrupted:
            record = book.record(interrupted[0])
            return interrupted[0], record.note if record.state == State.INTERRUPTED else interrupted_note(record)
        if any(book.record(i.key).state in IN_PLACE for i in book.instances):
            self.resuming = True
        return None

    def open_failed(self) -> None:
        self._opening = False

    def close(self) -> None:
        if self.book is not None:
            self.screen.runbook_app.forget_book(self.book)
            self.book.close()

    # -- watching the files: another driver, a takeover ------------------------------------------------------
    def poll(self) -> str | None:
        """Between operations: reload when another process moved the session, its journal or its lock. Returns
        a warning for the operator when our lock was taken over (this view then follows)."""
        if self.book is None or self.busy or self._opening:
            return None
        stamps = session_stamps(self.path)
        if stamps == self._stamps:
            return None
        lock_changed = stamps[2] != self._stamps[2] if self._stamps else True
        self._stamps = stamps
        if self.following is not None:
            self.open(drive=False, reloaded=True)
        elif lock_changed and self.book.lock is not None and not self.book.lock.still_mine():
            self.book.lock.release()  # stops our heartbeat; the file is theirs now and stays
            self.book.lock = None
            self.open(drive=False, reloaded=True)
            return "the session lock was taken over: this view is now read-only"
        return None

    def advance_journal(self) -> JournalSummary:
        """While an operation runs: the journal's entries since last read (the worker writes, this only reads)."""
        self.journal = self.journal.advance()
        return self.journal

    def takeover_lines(self) -> list[str]:
        """Who holds the lock now (holder, host, pid, last heartbeat), read just before asking."""
        held = lock_view(self.path)
        lines = held.lines() if held is not None else ["nobody holds the lock: the driver released it"]
        return lines + ["", "Taking the wheel is journaled with your name; the other view becomes read-only."]

    def unticked(self, key: str) -> tuple[list[str], int]:
        """The checklist items of `key` not ticked yet (numbered as shown), and how many items it has."""
        assert self.book is not None
        items = self.book.instance(key).manual(self.book.params)
        ticks = self.book.record(key).ticks
        return [f"{index + 1}. {item.text}" for index, item in enumerate(items) if str(index) not in ticks], len(items)

    # -- plans ------------------------------------------------------------------------------------------------
    def wants_plan(self, key: str) -> bool:
        """Whether selecting `key` should read its plan (live plans are on and none is held for it)."""
        if not self.live_plan or key in self.plans or self.book is None:
            return False
        instance = self.book.instance(key)
        return instance.spec.automation is not None and not instance.not_applicable

    def plan_afresh(self, key: str) -> None:
        """p: plans are read live from now on, and this one again."""
        self.live_plan = True
        self.plans.pop(key, None)

    def plan(self, key: str) -> None:
        self.plans[key] = PlanView(computing=True)
        self.screen.run_worker(partial(self._plan, key), name="plan_step", group="plan", exclusive=True,
                               thread=True, exit_on_error=False)

    def _plan(self, key: str) -> None:
        book = self.book
        if book is None:
            return
        try:
            with self.engine_lock:
                plan = book.plan(key)
        except RunbookError as exc:
            self.screen.post_message(PlanReady(key, None, str(exc)))
            return
        except Exception as exc:
            self.screen.post_message(PlanReady(key, None, f"unexpected error ({type(exc).__name__}: {exc})"))
            return
        self.screen.post_message(PlanReady(key, plan))

    def planned(self, message: PlanReady) -> None:
        self.plans[message.key] = PlanView(plan=message.plan, error=message.error)

    # -- operations -------------------------------------------------------------------------------------------
    def run(self, key: str) -> None:
        self._begin(f"reading the live state for {key} (nothing changes before you confirm)")
        confirm_for = self._confirm_for(f"running {key}: applying the confirmed change, then verifying it",
                                        f"your answer on {key}'s plan (read; nothing has changed yet)")
        self._work("run", key, partial(operations.run, key=key, confirm_for=confirm_for))

    def undo(self, key: str) -> None:
        self._begin(f"reading the live state for undoing {key} (nothing changes before you confirm)")
        confirm_for = self._confirm_for(f"undoing {key}: reverting, newest first",
                                        f"your answer on undoing {key} (read; nothing has changed yet)")
        self._work("undo", key, partial(operations.undo, key=key, confirm_for=confirm_for))

    def verify(self, key: str) -> None:
        self._begin(f"verifying {key}")
        self._work("verify", key, partial(operations.verify, key=key))

    def verify_all(self) -> None:
        self._begin("verifying every done step")
        self._work("verify-all", None, operations.verify_all)

    def device_proof(self) -> None:
        self._begin("proving a device can sync (with and without its certificate)")
        self._work("device proof", None, operations.device_proof)

    def mark(self, key: str, how: str, note: str | None) -> None:
        self._begin(f"verifying {key} (read-only) before recording it done" if how == "done" else
                    f"recording {key} {how}")
        self._work("mark", key, partial(operations.mark, key=key, how=how, note=note,
                                        override=self.questions.reason_to_override))

    def hand_over(self, note: str) -> None:
        self._begin("handing over")
        self._work("handover", None, partial(operations.hand_over, note=note))

    def tick(self, key: str, index: int, ticked: bool) -> None:
        """Quiet: the checklist shows it already, and ticking is not waited for (nor exclusive)."""
        self._work("tick", key, partial(operations.tick, key=key, index=index, ticked=ticked), exclusive=False)

    def add_note(self, key: str | None, text: str) -> None:
        self._work("note", key, partial(operations.add_note, key=key, text=text))

    def _begin(self, doing: str, *, waiting: bool = False) -> None:
        self.busy, self.waiting, self.resuming = doing, waiting, False
        self.screen.busy_changed()

    def now_doing(self, doing: str, waiting: bool = False) -> None:
        """A worker's BusyChanged: the operator is asked (waiting), then, once confirmed, the operation applies."""
        if self.busy:
            self._begin(doing, waiting=waiting)

    def _work(self, action: str, key: str | None, job: Job, *, exclusive: bool = True) -> None:
        self.screen.run_worker(partial(self._attempt, action, key, job), name=action, group=action,
                               exclusive=exclusive, thread=True, exit_on_error=False)

    def _attempt(self, action: str, key: str | None, job: Job) -> None:
        book = self.book
        if book is None:
            return
        post = self.screen.post_message
        try:
            with self.engine_lock:
                try:
                    self._stoppable = book
                    summary, lines = job(book)
                finally:
                    self._stoppable = None
                    book.ports.flush()  # the end of an operation: a rehearsal's lab is written once, here
        except KeyboardInterrupt:  # the operator's stop, delivered between two remote calls
            post(ActionCancelled(action, key, f"{key or action}: stopped by the operator; what it had changed is "
                                 "recorded, and it shows as interrupted: verify it first"))
            return
        except operations.Declined as exc:
            post(ActionCancelled(action, key, str(exc)))
            return
        except RunbookError as exc:
            post(ActionFailed(action, key, str(exc), self.journal.advance()))
            return
        except Exception as exc:
            post(ActionFailed(action, key, f"unexpected error ({type(exc).__name__}: {exc})", self.journal.advance()))
            return
        post(ActionDone(action, key, summary, lines, self.journal.advance()))

    def _confirm_for(self, doing: str, asking: str) -> operations.ConfirmFor:
        """The engine's confirm callback: the exact lines it will apply, asked by the screen (the host typed for a
        restart). While the question is up the status line says the read is over and the tool waits for the
        operator (it said "reading" until then); only once the operator said yes does it say the step runs."""
        def confirm_for(restart_host: str | None) -> operations.Confirm:
            def confirm(question: str, lines: list[str]) -> bool:
                self.screen.post_message(BusyChanged(asking, waiting=True))
                answer = bool(self.questions.confirm_change(question, lines, restart_host))
                if answer:
                    self.screen.post_message(BusyChanged(doing))
                return answer
            return confirm
        return confirm_for

    def stop(self) -> bool:
        """Interrupt the running engine operation at its next safe point (after the current remote call).

        The engine treats it like Ctrl+C in the CLI: the step becomes `interrupted`, its recorded changes stay,
        and it must be verified before anything else runs. False: nothing was running any more.
        """
        book = self._stoppable
        if book is None:
            return False
        # Cooperative: the step checks the token before its next remote call (runbook.flow.cancel); nothing is
        # injected into the worker thread, so a journal append or session save is never cut in half.
        book.cancel.cancel()
        return True

    def finished(self, journal: JournalSummary | None, *, replan: bool = True) -> None:
        """An operation's end (or the checks screen's): the journal moved on; the live state may have too."""
        self.busy, self.waiting = None, False
        if journal is not None:
            self.journal = journal
        if replan:
            self.plans.clear()
        self._settled()

    def _settled(self) -> None:
        self._stamps = session_stamps(self.path)
        if self.book is not None:
            self.done = completion(self.book, self.journal.checks)
            self.blocked = blocking_faults(self.book, CHECKS, self.journal.checks)


def session_stamps(path: Path) -> Stamps:
    """(mtime, size) of the session, its journal and its lock: follow mode reloads when any of them moves."""
    stamps: list[tuple[int, int] | None] = []
    for file in (path, store.journal_path(path), store.lock_path(path)):
        try:
            stat = file.stat()
            stamps.append((stat.st_mtime_ns, stat.st_size))
        except OSError:
            stamps.append(None)
    return tuple(stamps)


def driver_text(path: Path) -> str:
    """Who drives, in a few words (the full lock record is in `runbook status`)."""
    holder = read_holder(store.lock_path(path))
    if holder is None:
        return "nobody (the driver has left)"
    return holder.operator + ("" if is_live(holder) else " (lock gone stale)")


def driver_left(path: Path) -> bool:
    holder = read_holder(store.lock_path(path))
    return holder is None or not is_live(holder)


def open_session(app: RunbookApp, path: Path, *, drive: bool = True, takeover: bool = False, reloaded: bool = False,
                 journal: JournalSummary | None = None) -> SessionOpened | OpenFailed:
    """Open the session at `path` (driving it when its lock is free, else following), in a worker thread: the
    message that says how it went, for the screen that shows it. `journal`, on a reload, is the summary to advance."""
    try:
        config, factory = app.config, app.ports_factory()
        following = None
        book = None
        if drive:
            try:
                book = Runbook.open(path, config.catalogue, factory, drive=True, takeover=takeover, purpose="tui")
                assert book.lock is not None
                book.lock.start_heartbeat(config.heartbeat_seconds)
            except LockHeld as held:
                following = str(held)
        if book is None:
            book = Runbook.open(path, config.catalogue, factory, drive=False)
            following = driver_text(path)
        summary = journal.advance() if reloaded and journal is not None else JournalSummary(book.journal.path).advance()
        return SessionOpened(book, summary, following=following, reloaded=reloaded)
    except RunbookError as exc:
        return OpenFailed(str(exc))
    except Exception as exc:  # an unreadable file must still end in a message, never a traceback
        return OpenFailed(f"unexpected error opening {path} ({type(exc).__name__}: {exc})")

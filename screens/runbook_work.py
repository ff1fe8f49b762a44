"""The runbook screen's thread workers: every blocking engine call, each posting one message when it ends.

Workers never touch widgets. One lock serialises engine calls (a directory or
WinRM connection is not shared between threads); each kind of work has its own
worker group.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from textual import work
from textual.screen import ModalScreen

from runbook.errors import LockHeld, NotAvailable, Refused, RunbookError
from runbook.flow.engine import Runbook
from runbook.flow.states import IN_PLACE, State
from runbook.pair import handover
from runbook.record import journal_tail, store
from runbook.record.journal_tail import JournalSummary
from runbook.record.lock import is_live, read_holder
from screens.messages import (
    ActionCancelled,
    ActionDone,
    ActionFailed,
    BusyChanged,
    OpenFailed,
    PlanReady,
    SessionOpened,
)
from screens.modals import ConfirmModal, OverrideModal, PointOfNoReturnModal

if TYPE_CHECKING:
    from screens.app import RunbookApp

Work = Callable[[Runbook], "tuple[str, list[str]]"]


class EngineWork:
    """Mixed into RunbookScreen: `book`, `path`, `takeover` and `engine_lock` live there."""

    book: Runbook | None
    path: Path
    journal: JournalSummary  # what the screen shows of the journal: workers advance it past their own entries
    takeover: bool
    engine_lock: threading.Lock
    _stoppable: Runbook | None = None  # the session whose engine operation `stop` may end at its next safe point

    if TYPE_CHECKING:
        def post_message(self, message: Any) -> bool: ...

    @property
    def runbook_app(self) -> RunbookApp:
        return self.app  # type: ignore[attr-defined,no-any-return]

    # -- opening -------------------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, exit_on_error=False, group="open")
    def open_session(self, *, drive: bool = True, takeover: bool | None = None, reloaded: bool = False) -> None:
        config = self.runbook_app.config
        factory = self.runbook_app.ports_factory()
        try:
            following = None
            book = None
            if drive:
                try:
                    book = Runbook.open(self.path, config.catalogue, factory, drive=True,
                                        takeover=self.takeover if takeover is None else takeover, purpose="tui")
                    assert book.lock is not None
                    book.lock.start_heartbeat(config.heartbeat_seconds)
                except LockHeld as held:
                    following = str(held)
            if book is None:
                book = Runbook.open(self.path, config.catalogue, factory, drive=False)
                following = driver_text(self.path)
            journal = self.journal.advance() if reloaded else JournalSummary(book.journal.path).advance()
            self.post_message(SessionOpened(book, journal, following=following, reloaded=reloaded))
        except RunbookError as exc:
            self.post_message(OpenFailed(str(exc)))
        except Exception as exc:  # an unreadable file must still end in a message, never a traceback
            self.post_message(OpenFailed(f"unexpected error opening {self.path} ({type(exc).__name__}: {exc})"))

    # -- operations ----------------------------------------------------------------------------------------
    def _attempt(self, action: str, key: str | None, job: Work, declined: list[bool] | None = None) -> None:
        book = self.book
        if book is None:
            return
        try:
            with self.engine_lock:
                try:
                    self._stoppable = book
                    summary, lines = job(book)
                finally:
                    self._stoppable = None
                    book.ports.flush()  # the end of an operation: a rehearsal's lab is written once, here
        except KeyboardInterrupt:  # the operator's stop, delivered between two remote calls
            self.post_message(ActionCancelled(action, key, f"{key or action}: stopped by the operator; what it had "
                                              "changed is recorded, and it shows as interrupted: verify it first"))
            return
        except Refused as exc:
            if declined and declined[0]:
                self.post_message(ActionCancelled(action, key, str(exc)))
            else:
                self.post_message(ActionFailed(action, key, str(exc), self.journal.advance()))
            return
        except RunbookError as exc:
            self.post_message(ActionFailed(action, key, str(exc), self.journal.advance()))
            return
        except Exception as exc:
            self.post_message(ActionFailed(action, key, f"unexpected error ({type(exc).__name__}: {exc})",
                                           self.journal.advance()))
            return
        self.post_message(ActionDone(action, key, summary, lines, self.journal.advance()))

    def stop_current(self) -> bool:
        """Interrupt the running engine operation at its next safe point (after the current remote call).

        The engine treats it like Ctrl+C in the CLI: the step becomes `interrupted`, its recorded changes stay,
        and it must be verified before anything else runs.
        """
        book = self._stoppable
        if book is None:
            return False
        # Cooperative: the step checks the token before its next remote call (runbook.flow.cancel); nothing is injected
        # into the worker thread, so a journal append or session save is never cut in half.
        book.cancel.cancel()
        return True

    def _confirm(self, declined: list[bool], host: str | None, doing: str) -> Callable[[str, list[str]], bool]:
        """The engine's confirm callback: the exact lines it will apply, in a modal; typed host for restarts.
        Only once the operator said yes does the status line say the step is running."""
        def confirm(question: str, lines: list[str]) -> bool:
            modal: ModalScreen[bool] = PointOfNoReturnModal(question, lines, host) if host else \
                ConfirmModal(question, lines)
            answer = bool(self.runbook_app.asker.ask(modal))
            declined[0] = not answer
            if answer:
                self.post_message(BusyChanged(doing))
            return answer
        return confirm

    @work(thread=True, exclusive=True, exit_on_error=False, group="run")
    def run_step(self, key: str) -> None:
        declined = [False]

        def job(book: Runbook) -> tuple[str, list[str]]:
            preview = book.plan(key)
            host = _host(book, key) if preview.point_of_no_return else None
            outcome = book.run(key, confirm=self._confirm(declined, host, f"running {key}: applying the confirmed "
                                                          "change, then verifying it"), allow_restart=host is not None)
            if outcome.result == "already-in-place":
                return f"{key}: already in place, nothing changed", outcome.lines
            return f"{key}: done and verified", outcome.lines
        self._attempt("run", key, job, declined)

    @work(thread=True, exclusive=True, exit_on_error=False, group="undo")
    def undo_step(self, key: str) -> None:
        declined = [False]

        def job(book: Runbook) -> tuple[str, list[str]]:
            restarts = any(change.get("kind") == "iisreset" for change in book.record(key).changes)
            host = _host(book, key) if restarts else None
            book.undo(key, confirm=self._confirm(declined, host, f"undoing {key}: reverting, newest first"),
                      allow_restart=host is not None)
            return f"{key}: undone", []
        self._attempt("undo", key, job, declined)

    @work(thread=True, exclusive=True, exit_on_error=False, group="verify")
    def verify_step(self, key: str) -> None:
        def job(book: Runbook) -> tuple[str, list[str]]:
            pending = book.display_state(key) == State.PENDING
            result = book.verify(key)
            lines = [f.describe() for f in result.findings] + [f"note: {n}" for n in result.notes]
            if pending and not result.ok:  # nothing was done yet: a mismatch is expected, not an alarm
                return f"{key}: not in place yet (the step is still pending)", lines
            return f"{key}: {'in place' if result.ok else 'MISMATCH'}", lines
        self._attempt("verify", key, job)

    @work(thread=True, exclusive=True, exit_on_error=False, group="verify-all")
    def verify_all(self) -> None:
        """Every step that was run, marked or interrupted, at once (a farm's hosts in parallel)."""
        def job(book: Runbook) -> tuple[str, list[str]]:
            wanted = IN_PLACE | {State.FAILED, State.INTERRUPTED, State.UNDONE}
            before = {i.key: book.display_state(i.key) for i in book.instances}
            keys = [key for key, state in before.items() if state in wanted]
            if not keys:
                return "nothing to verify yet: no step was run or marked done", []
            lines, drift, known = [], [], []
            forced = _forced_marks(book)
            for key, result in book.verify_many(keys).items():
                if isinstance(result, NotAvailable):
                    lines.append(f"{key}: checked by hand only")
                elif isinstance(result, RunbookError):
                    lines.append(f"{key}: could not verify: {result}")
                else:
                    lines.append(f"{key}: {'in place' if result.ok else 'MISMATCH'}")
                    lines += [f"  {f.describe()}" for f in result.mismatches()]
                    if not result.ok and key in forced and before[key] == State.MANUAL_DONE:
                        lines.append(f"  recorded done anyway, knowing it disagreed: {forced[key]}")
                        known.append(key)
                    elif not result.ok and before[key] in IN_PLACE:
                        drift.append(key)
            summary = ("drift in " + ", ".join(drift) + ": changed outside this session") if drift else \
                (", ".join(known) + " still disagree, as when recorded done anyway") if known else \
                "every done step verified"
            return summary, lines
        self._attempt("verify-all", None, job)

    @work(thread=True, exclusive=True, exit_on_error=False, group="proof")
    def device_proof(self) -> None:
        """The last item of a change: a device with the test user's certificate syncs (journaled, as the CLI's)."""
        from runbook.commands.device import rehearsal_proof

        def job(book: Runbook) -> tuple[str, list[str]]:
            lines = rehearsal_proof(book)
            return lines[0], lines[1:]
        self._attempt("device proof", None, job)

    @work(thread=True, exclusive=True, exit_on_error=False, group="plan")
    def plan_step(self, key: str) -> None:
        book = self.book
        if book is None:
            return
        try:
            with self.engine_lock:
                plan = book.plan(key)
        except RunbookError as exc:
            self.post_message(PlanReady(key, None, str(exc)))
            return
        except Exception as exc:
            self.post_message(PlanReady(key, None, f"unexpected error ({type(exc).__name__}: {exc})"))
            return
        self.post_message(PlanReady(key, plan))

    @work(thread=True, exclusive=True, exit_on_error=False, group="mark")
    def mark_step(self, key: str, how: str, note: str | None) -> None:
        """Done runs the step's read-only verification here, off the UI thread; a mismatch asks for a reason."""
        declined = [False]

        def override(question: str, mismatches: list[str]) -> str | None:
            reason = self.runbook_app.asker.ask(OverrideModal(question, mismatches))
            declined[0] = not reason
            return reason

        def job(book: Runbook) -> tuple[str, list[str]]:
            try:
                return book.mark(key, how, note, override=override), []
            except Refused:
                if declined[0]:  # the engine's refusal names CLI options; here the answer was the operator's own
                    raise Refused(f"{key}: not marked done; the verification disagrees (see Verify)") from None
                raise
        self._attempt("mark", key, job, declined)

    @work(thread=True, exit_on_error=False, group="tick")
    def tick_item(self, key: str, index: int, ticked: bool) -> None:
        def job(book: Runbook) -> tuple[str, list[str]]:
            book.tick(key, index, ticked)
            return f"{key}: item {index + 1} {'ticked' if ticked else 'unticked'}", []
        self._attempt("tick", key, job)

    @work(thread=True, exclusive=True, exit_on_error=False, group="handover")
    def hand_over(self, note: str) -> None:
        """Journal the note and release the lock; the screen then reopens the session read-only."""
        def job(book: Runbook) -> tuple[str, list[str]]:
            handover.hand_over(book, note)
            return "handed over: the lock is released; this view now follows", []
        self._attempt("handover", None, job)

    @work(thread=True, exclusive=True, exit_on_error=False, group="note")
    def note_step(self, key: str | None, text: str) -> None:
        def job(book: Runbook) -> tuple[str, list[str]]:
            book.add_note(key, text)
            return "note journaled", []
        self._attempt("note", key, job)


def _forced_marks(book: Runbook) -> dict[str, str]:
    """Steps whose newest mark was recorded despite a mismatch, with the reason: not drift, nobody else did it."""
    forced: dict[str, str] = {}
    for entry in journal_tail.matching(book.journal.path, journal_tail.needle("mark_done"), _is_mark_done):
        if entry.get("step"):
            reason = (entry.get("details") or {}).get("forced")
            if reason:
                forced[entry["step"]] = str(reason)
            else:
                forced.pop(entry["step"], None)
    return forced


def _is_mark_done(entry: dict[str, Any]) -> bool:
    return entry.get("action") == "mark_done"


def _host(book: Runbook, key: str) -> str:
    target = book.instance(key).target
    return target.server.host if target.server else target.label


def session_stamps(path: Path) -> tuple[tuple[int, int] | None, ...]:
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

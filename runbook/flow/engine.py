"""The runbook engine: a session, its step instances, and every operation on them.

Synchronous and UI-free: the CLI calls it directly, the TUI from thread workers.
Each transition is checked against the one table in runbook.flow.states and
journaled (the journal is the record; runbook.record.recorder applies each entry to
the session in memory and writes the session file as a snapshot of it).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from runbook import clock
from runbook.errors import (
    BadInput,
    DriftError,
    ParamsError,
    Refused,
    RunbookError,
    StepFailed,
    TakenOver,
)
from runbook.flow import outline as outlines
from runbook.flow import recovery
from runbook.flow.automation import automation_of, chain_problems, checker_of
from runbook.flow.cancel import CancelToken
from runbook.flow.catalogue import StepInstance, StepSpec
from runbook.flow.change_kinds import kind_of, restart_of
from runbook.flow.changes import Change, Plan, Verification, revert_order
from runbook.flow.context import Ports, StepContext
from runbook.flow.states import IN_PLACE, Event, State, next_state
from runbook.flow.view import SessionView
from runbook.inputs.params import Params, load_params_file
from runbook.pair import two_person
from runbook.record import crashpoints, store
from runbook.record.journal import Journal
from runbook.record.lock import SessionLock, next_epoch
from runbook.record.recorder import Recorder
from runbook.record.session import Session, operator

PortsFactory = Callable[[Path, Session, Params], Ports]
Confirm = Callable[[str, list[str]], bool]  # (question, lines shown) -> go ahead?
Override = Callable[[str, list[str]], "str | None"]  # (question, mismatches) -> the operator's reason to go ahead


@dataclass
class Outcome:
    key: str
    result: str  # done | already-in-place | undone | failed | refused
    lines: list[str]


class Runbook(SessionView):
    """The view that drives: it holds the session's lock and every operation that changes the record."""

    def __init__(self, path: Path, session: Session, catalogue: list[StepSpec], ports_factory: PortsFactory,
                 lock: SessionLock | None = None):
        self.lock = lock
        super().__init__(path, session, catalogue,
                         Journal(store.journal_path(path), fence=self._fence, epoch=self._epoch))
        self.recorder = Recorder(path, session, self.journal, may_write=self._may_write)
        self._ports_factory = ports_factory
        self._ports: Ports | None = None
        self.cancel = CancelToken()  # the TUI's stop: checked before each remote call of the running operation

    # -- opening -------------------------------------------------------------------------------------------
    @classmethod
    def create(cls, path: Path, params_file: str, catalogue: list[StepSpec], ports_factory: PortsFactory,
               *, lab: dict[str, Any] | None = None) -> Runbook:
        if path.exists():
            raise BadInput(f"SESSION: {path} already exists; open it, or choose another name")
        params = load_params_file(params_file)
        session = Session(name=path.stem, params=params.data, lab=lab)
        book = cls(path, session, catalogue, ports_factory)
        broken = chain_problems(book.params, book.instances)
        if broken:  # before anything is written: a tool must never automate a chain that locks devices out
            raise ParamsError(broken)
        for instance in book.instances:
            record = session.record(instance.key)
            if instance.not_applicable:
                record.state, record.note = State.NOT_APPLICABLE, instance.not_applicable
        store.private_dir(path.parent)
        if book.journal.size() or book.journal.anchor_path.exists():
            raise BadInput(f"SESSION: {book.journal.path} already exists (a journal without its session): move it "
                           "aside or choose another name")
        book.recorder.commit(step=None, action="new", outcome="created",
                             details={"params_file": str(Path(params_file).resolve()), "topology": params.topology,
                                      "steps": [i.key for i in book.instances], "session": session.to_dict()})
        store.save(session, path)  # nobody drives it yet: the first snapshot is written here
        outlines.keep(path, session.params, book.outline)
        return book

    @classmethod
    def open(cls, path: Path, catalogue: list[StepSpec], ports_factory: PortsFactory, *, drive: bool,
             takeover: bool = False, purpose: str = "", reason: str | None = None) -> Runbook:
        session = store.load(path)
        lock = SessionLock(store.lock_path(path), purpose, epoch=lambda: next_epoch(store.journal_path(path))) \
            .acquire(takeover=takeover, reason=reason) if drive else None
        try:
            if lock is not None:  # what the previous driver wrote up to the moment the lock became ours
                Journal(store.journal_path(path)).barrier()
                session = store.load(path)
            book = cls(path, session, catalogue, ports_factory, lock)
            if lock is not None:
                book._after_acquire()
                if outlines.read_kept(path, session.params) is None:  # for `status`, which reads it
                    outlines.keep(path, session.params, book.outline)
        except BaseException:
            if lock:
                lock.release()
            raise
        return book

    def _after_acquire(self) -> None:
        assert self.lock is not None
        if self.lock.took_over is not None:
            self.journal.append(step=None, action="takeover", outcome="lock taken over",
                                details={"from": self.lock.took_over.describe(), "epoch": self.lock.epoch,
                                         **({"reason": self.lock.reason} if self.lock.reason else {})})
        if self.session.journal is None:  # a session written before the journal was the record: start it here
            self.recorder.commit(step=None, action="migrate", outcome="the journal now holds the whole record",
                                 details={"session": self.session.to_dict()})
        if self.session.recovered:
            why = self.session.recovered
            self.recorder.snapshot()  # the damaged file is moved aside, never overwritten
            kept = f"; the damaged file is kept as {self.session.kept_aside}" if self.session.kept_aside else ""
            self.notices = [f"{self.path}: {why}{kept}; written whole again"]
        for key, record in self.session.steps.items():
            if record.state == State.RUNNING:
                self.transition(key, Event.INTERRUPT, note=recovery.interrupted_note(record))

    def _fence(self) -> None:
        """Called under the journal's lock before each append: a driver whose lock was taken over stops here."""
        if self.lock is not None and not self.lock.still_mine():
            taken = [e for e in self.journal.recent() if e.get("action") == "takeover"
                     and (e.get("epoch") or 0) > (self.lock.epoch or 0)]
            by = f"{taken[-1]['operator']} at {taken[-1]['time']}" if taken else self.lock.taken_by()
            raise TakenOver(f"this session was taken over by {by}: this process stops writing (nothing more of it "
                            "is recorded); follow it with `runbook watch`")

    def _epoch(self) -> int | None:
        return self.lock.epoch if self.lock is not None else None

    def _may_write(self) -> bool:
        return self.lock is not None and self.lock.still_mine()

    def close(self) -> None:
        if self._ports is not None:
            self._ports.close()
            self._ports = None
        if self.lock is not None:
            if self.recorder.pending:
                self.recorder.snapshot()
            self.lock.release()
            self.lock = None

    # -- reading -------------------------------------------------------------------------------------------
    @property
    def ports(self) -> Ports:
        if self._ports is None:
            self._ports = self._ports_factory(self.path, self.session, self.params)
            crashpoints.on_crash(self._ports.flush)  # tests only: what a server would hold survives a crash
        return self._ports

    # -- persistence ----------------------------------------------------------------------------------------
    def require_driver(self) -> None:
        if self.lock is None or not self.lock.still_mine():
            raise Refused("this view is read-only: another operator drives the session (or the lock was taken over)")

    def transition(self, key: str, event: Event, *, note: str | None = None, error: str | None = None,
                    details: dict[str, Any] | None = None, action: str | None = None) -> State:
        record = self.record(key)
        new = next_state(key, record.state, event)
        old = record.state
        rec: dict[str, Any] = {"state": new.value, "updated": clock.now_iso(), "by": operator(), "error": error}
        if note is not None:
            rec["note"] = note
        elif event in (Event.START, Event.START_UNDO):
            rec["note"] = ""  # the last note told of the run before (e.g. "verified after the interruption")
        if new != State.RUNNING:
            rec["action"] = None
        elif action:
            rec["action"] = action
        self.recorder.commit(step=key, action=event.value, outcome=f"{old.value} → {new.value}",
                             note=error or note, details=details, rec=rec)
        return new

    def save(self) -> None:
        """Write the session snapshot now (the journal already holds everything)."""
        self.recorder.snapshot()

    def context(self, instance: StepInstance, allow_restart: bool) -> StepContext:
        key = instance.key
        open_intents: list[int] = []

        def intend(change: Change) -> None:
            if self.lock is None:
                raise Refused("this view is read-only: another operator drives the session")
            entry = self.recorder.commit(step=key, action="intent", outcome=f"about to write: {change.describe()}",
                                         details=change.to_dict())
            open_intents.append(entry["seq"])

        def remember(change: Change) -> None:
            self.recorder.commit(step=key, action="change", outcome="applied", details=change.to_dict(),
                                 acting_as=self.ports.acting_as(change),
                                 extra={"intent": open_intents.pop()} if open_intents else None)

        return StepContext(params=self.params, instance=instance, ports=self.ports, record=remember,
                           intend=intend, allow_restart=allow_restart, cancel=self.cancel)

    # -- operations -----------------------------------------------------------------------------------------
    def plan(self, key: str) -> Plan:
        self.cancel.reset()
        instance = self.instance(key)
        if instance.not_applicable:
            raise Refused(f"{instance.key} does not apply: {instance.not_applicable}")
        automation = automation_of(instance)
        return automation.plan(self.context(instance, False))

    def run(self, key: str, *, confirm: Confirm, allow_restart: bool = False) -> Outcome:
        self.require_driver()
        self.cancel.reset()
        instance = self.instance(key)
        key = instance.key  # '4a' on a one-server topology means 4a@EAS01
        if instance.not_applicable:
            raise Refused(f"{key} does not apply: {instance.not_applicable}")
        automation = automation_of(instance)
        record = self.record(key)
        next_state(key, record.state, Event.START)  # refuse early (e.g. interrupted) before touching anything
        self.recover(key)
        if (waits := self.waiting_for(instance)):
            raise Refused(f"{key} waits for {', '.join(waits)}")
        ctx = self.context(instance, allow_restart)
        try:
            plan = automation.plan(ctx)
        except RunbookError as exc:
            self.transition(key, Event.START, details={"action": "execute"})
            self.transition(key, Event.FAIL, error=str(exc))
            raise
        if plan.empty:
            if record.state not in IN_PLACE:
                self.transition(key, Event.START)
                self.transition(key, Event.SUCCEED, note="already in place")
            self.store_verification(key, automation.verify(ctx))  # done means verified, even with nothing to do
            return Outcome(key, "already-in-place", plan.lines())
        if plan.point_of_no_return and not allow_restart:
            raise Refused(f"{key}: {plan.point_of_no_return}; this needs explicit consent "
                          "(CLI: --allow-restart; --yes alone does not cover it)")
        if not confirm(f"Apply these changes for {key}?", plan.lines()):
            raise Refused(f"{key}: cancelled by the operator, nothing changed")
        if plan.point_of_no_return:
            two_person.require_ack(self, key, "run", plan.lines())
        self.transition(key, Event.START, details={"plan": plan.lines()}, action="execute")
        return self._finish(key, instance, ctx, lambda: automation.apply(ctx, plan), "done")

    def undo(self, key: str, *, confirm: Confirm, allow_restart: bool = False) -> Outcome:
        self.require_driver()
        self.cancel.reset()
        instance = self.instance(key)
        key = instance.key  # '4a' on a one-server topology means 4a@EAS01
        record = self.record(key)
        self.recover(key)
        if not record.changes:
            if record.state == State.MANUAL_DONE:
                raise Refused(f"{key} was done by hand: undo it by hand (see `runbook backout` for the values seen)")
            raise Refused(f"{key}: this session recorded no change to undo")
        automation = automation_of(instance)
        next_state(key, record.state, Event.START_UNDO)
        ctx = self.context(instance, allow_restart)
        changes = [Change.from_dict(item) for item in record.changes]
        problems = automation.undo_problems(ctx, changes)
        if problems:
            raise DriftError(f"{key}: refusing to undo, the live state moved since this session changed it:\n  "
                             + "\n  ".join(problems))
        restart = restart_of(changes)
        if restart is not None and not allow_restart:
            raise Refused(f"{key}: undo ends with {restart.attribute} on {instance.target.label}, which restarts "
                          f"{kind_of(restart.kind).restarts} and interrupts every site; "
                          "this needs explicit consent (CLI: --allow-restart)")
        lines = [change.revert_describe() for change in revert_order(changes)]
        if not confirm(f"Undo {key}?", lines):
            raise Refused(f"{key}: cancelled by the operator, nothing changed")
        if restart is not None:
            two_person.require_ack(self, key, "undo", lines)
        self.transition(key, Event.START_UNDO, details={"revert": lines}, action="undo")
        return self._finish(key, instance, ctx, lambda: automation.undo(ctx, changes), "undone")

    def _finish(self, key: str, instance: StepInstance, ctx: StepContext, work: Callable[[], None],
                result: str) -> Outcome:
        try:
            work()
            if result == "done":
                check = automation_of(instance).verify(ctx)
                self.store_verification(key, check)
                if not check.ok:
                    raise StepFailed("applied, but verification found: " +
                                     "; ".join(f.describe() for f in check.mismatches()))
        except TakenOver:
            raise  # not ours to record any more
        except RunbookError as exc:
            self._settle_intents(key, ctx)
            self.transition(key, Event.FAIL, error=str(exc))
            raise
        except Exception as exc:
            self._settle_intents(key, ctx)
            self.transition(key, Event.FAIL, error=f"unexpected error ({type(exc).__name__}: {exc})")
            raise StepFailed(f"{key}: unexpected error ({type(exc).__name__}: {exc})") from exc
        except BaseException:
            self.transition(key, Event.INTERRUPT, note="interrupted by the operator; verify before running again")
            raise
        self.transition(key, Event.SUCCEED if result == "done" else Event.UNDO_SUCCEED,
                         details={"log": ctx.log} if ctx.log else None)
        return Outcome(key, result, [c["attribute"] for c in self.record(key).changes])

    def _settle_intents(self, key: str, ctx: StepContext) -> list[str]:
        """Open write-ahead intents of `key` read from the live state (driver only; best effort on a failure)."""
        if not self.record(key).intents or self.lock is None:
            return []
        try:
            return recovery.resolve(self, key, ctx)
        except TakenOver:
            raise
        except Exception as exc:  # a failing host must not hide the error that brought us here
            return [f"open writes not read: {exc}"]

    def recover(self, key: str) -> list[str]:
        """Settle what a crash left open for `key` (run before verify, run and undo of that step)."""
        instance = self.instance(key)
        return self._settle_intents(instance.key, self.context(instance, False))

    def verify(self, key: str) -> Verification:
        self.cancel.reset()
        instance = self.instance(key)
        key = instance.key  # '4a' on a one-server topology means 4a@EAS01
        self.recover(key)
        result = checker_of(instance).verify(self.context(instance, False))
        self.settle_verification(key, result)
        return result

    def verify_many(self, keys: list[str], *, max_workers: int = 32) -> dict[str, Verification | RunbookError]:
        """Verify several instances at once (runbook.flow.verify_farm): each key's Verification, or the error that
        stopped it; the session and journal are written afterwards, on the calling thread."""
        from runbook.flow.verify_farm import verify_many

        return verify_many(self, keys, max_workers)

    def settle_verification(self, key: str, result: Verification) -> None:
        self.settle_verifications({key: result})

    def settle_verifications(self, results: dict[str, Verification]) -> None:
        if not results or self.lock is None or not self.lock.still_mine():
            return
        self.store_verifications(results)
        for key, result in results.items():
            if self.record(key).state == State.INTERRUPTED:
                in_force = len(self.record(key).changes)
                settled = (f"verified after the interruption: {'in place' if result.ok else 'not in place'}; "
                           f"{in_force} change{'s' if in_force != 1 else ''} of it in force, as the journal records")
                self.transition(key, Event.VERIFY_OK if result.ok else Event.VERIFY_MISMATCH, note=settled,
                                error=None if result.ok else "verified after interruption: not in place")

    def store_verification(self, key: str, result: Verification) -> None:
        self.store_verifications({key: result})

    def store_verifications(self, results: dict[str, Verification]) -> None:
        """One session save for all of them (a farm's verify-all), then one journal entry each."""
        for key, result in results.items():
            verified = {"at": clock.now_iso(), "by": operator(), "ok": result.ok,
                        "findings": [f.describe() for f in result.findings]}
            self.recorder.commit(step=key, action="verify", outcome="ok" if result.ok else "mismatch",
                                 details=result.mismatch_details(),
                                 rec={"verified": verified})

    def mark(self, key: str, how: str, note: str | None, *, override: Override | None = None) -> str:
        """Record a step done by hand (verified first, read-only), skipped or reopened (runbook.flow.marking)."""
        from runbook.flow.marking import mark

        return mark(self, key, how, note, override)

    def tick(self, key: str, index: int, ticked: bool = True) -> None:
        self.require_driver()
        key = self.instance(key).key
        items = self.instance(key).manual(self.params)
        if not 0 <= index < len(items):
            raise BadInput(f"item: {index + 1} is not between 1 and {len(items)}")
        tick = [index, {"by": operator(), "at": clock.now_iso()} if ticked else None]
        self.recorder.commit(step=key, action="tick" if ticked else "untick", outcome=f"item {index + 1}",
                             note=items[index].text[:120], rec={"tick": tick})

    def add_note(self, key: str | None, text: str) -> None:
        self.require_driver()
        if key:
            key = self.instance(key).key
        self.recorder.commit(step=key, action="note", outcome="noted", note=text)

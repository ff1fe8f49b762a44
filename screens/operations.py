"""What each operation of the runbook screen asks of the engine, and how its outcome reads.

Plain functions of an open Runbook, run on a worker thread by the session controller. Each returns the one-line
summary the screen notifies and the lines its log shows. The operator's answers arrive through callbacks; an
answer of no ends the operation as `Declined` (cancelled, not failed).
"""
from __future__ import annotations

from typing import Any, Callable

from runbook.errors import NotAvailable, Refused, RunbookError
from runbook.flow.change_kinds import restart_of
from runbook.flow.changes import Change
from runbook.flow.engine import Runbook
from runbook.flow.states import IN_PLACE, State
from runbook.pair import handover
from runbook.record import journal_tail

Outcome = tuple[str, list[str]]
Confirm = Callable[[str, list[str]], bool]
ConfirmFor = Callable[[str | None], Confirm]  # given the host whose restart must be typed (None: no restart)
Override = Callable[[str, list[str]], str | None]


class Declined(Refused):
    """The operator said no to a question the operation asked: nothing failed."""


class _Answers:
    """Passes a question on and remembers whether the last answer was no."""

    def __init__(self, ask: Callable[[str, list[str]], Any]) -> None:
        self.ask, self.declined = ask, False

    def __call__(self, question: str, lines: list[str]) -> Any:
        answer = self.ask(question, lines)
        self.declined = not answer
        return answer


def run(book: Runbook, key: str, confirm_for: ConfirmFor) -> Outcome:
    preview = book.plan(key)
    host = restart_host(book, key) if preview.point_of_no_return else None
    confirm = _Answers(confirm_for(host))
    try:
        outcome = book.run(key, confirm=confirm, allow_restart=host is not None)
    except Refused as exc:
        if confirm.declined:
            raise Declined(str(exc)) from None
        raise
    if outcome.result == "already-in-place":
        return f"{key}: already in place, nothing changed", outcome.lines
    return f"{key}: done and verified", outcome.lines


def undo(book: Runbook, key: str, confirm_for: ConfirmFor) -> Outcome:
    restarts = restart_of(map(Change.from_dict, book.record(key).changes)) is not None
    host = restart_host(book, key) if restarts else None
    confirm = _Answers(confirm_for(host))
    try:
        book.undo(key, confirm=confirm, allow_restart=host is not None)
    except Refused as exc:
        if confirm.declined:
            raise Declined(str(exc)) from None
        raise
    return f"{key}: undone", []


def verify(book: Runbook, key: str) -> Outcome:
    pending = book.display_state(key) == State.PENDING
    result = book.verify(key)
    lines = [f.describe() for f in result.findings] + [f"note: {n}" for n in result.notes]
    if pending and not result.ok:  # nothing was done yet: a mismatch is expected, not an alarm
        return f"{key}: not in place yet (the step is still pending)", lines
    return f"{key}: {'in place' if result.ok else 'MISMATCH'}", lines


def verify_all(book: Runbook) -> Outcome:
    """Every step that was run, marked or interrupted, at once (a farm's hosts in parallel)."""
    wanted = IN_PLACE | {State.FAILED, State.INTERRUPTED, State.UNDONE}
    before = {i.key: book.display_state(i.key) for i in book.instances}
    keys = [key for key, state in before.items() if state in wanted]
    if not keys:
        return "nothing to verify yet: no step was run or marked done", []
    lines, drift, known = [], [], []
    forced = forced_marks(book)
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


def device_proof(book: Runbook) -> Outcome:
    """The last item of a change: a device with the test user's certificate syncs (journaled, as the CLI's)."""
    from runbook.commands.device import rehearsal_proof

    lines = rehearsal_proof(book)
    return lines[0], lines[1:]


def mark(book: Runbook, key: str, how: str, note: str | None, override: Override) -> Outcome:
    """Done runs the step's read-only verification first; a mismatch asks `override` for a reason."""
    asked = _Answers(override)
    try:
        return book.mark(key, how, note, override=asked), []
    except Refused:
        if asked.declined:  # the engine's refusal names CLI options; here the answer was the operator's own
            raise Declined(f"{key}: not marked done; the verification disagrees (see Verify)") from None
        raise


def tick(book: Runbook, key: str, index: int, ticked: bool) -> Outcome:
    book.tick(key, index, ticked)
    return f"{key}: item {index + 1} {'ticked' if ticked else 'unticked'}", []


def hand_over(book: Runbook, note: str) -> Outcome:
    """Journal the note and release the lock; the screen then reopens the session read-only."""
    handover.hand_over(book, note)
    return "handed over: the lock is released; this view now follows", []


def add_note(book: Runbook, key: str | None, text: str) -> Outcome:
    book.add_note(key, text)
    return "note journaled", []


def forced_marks(book: Runbook) -> dict[str, str]:
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


def restart_host(book: Runbook, key: str) -> str:
    """The host the operator types to consent to its restart."""
    target = book.instance(key).target
    return target.server.host if target.server else target.label

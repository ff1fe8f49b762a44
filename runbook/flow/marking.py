"""Recording a step done by hand, skipped or reopened: done is verified first, read-only."""
from __future__ import annotations

from typing import TYPE_CHECKING

from runbook import clock
from runbook.errors import BadInput, Refused, RunbookError
from runbook.flow.automation import checker_of
from runbook.flow.changes import Verification
from runbook.flow.states import IN_PLACE, Event, State, next_state
from runbook.record.session import operator

if TYPE_CHECKING:
    from runbook.flow.engine import Override, Runbook


def mark(book: Runbook, key: str, how: str, note: str | None, override: Override | None = None) -> str:
    """Record a step done by hand, skipped or reopened. Done is verified first (read-only): a mismatch is
    recorded only when `override` returns the operator's reason; a verification that cannot run at all
    (host unreachable, no credentials, none exists) records the step done-unverified with that reason."""

    book.require_driver()
    event = {"done": Event.MARK_DONE, "skip": Event.SKIP, "reopen": Event.REOPEN}[how]
    instance = book.instance(key)
    key = instance.key
    record = book.record(key)
    if how == "skip" and not (note or "").strip():
        raise BadInput(f"--note: skipping {key} needs a reason (journaled with your name and shown beside the "
                       "step), e.g. --note 'the GPO team grants it on Monday'")
    already = {"done": IN_PLACE, "skip": {State.SKIPPED}, "reopen": {State.PENDING}}[how]
    if record.state in already:
        book.recorder.commit(step=key, action="note", outcome=f"already {record.state.value}", note=note)
        return f"{key} is already {record.state.value}" + ("; note added" if note else "")
    if instance.not_applicable and how != "reopen":
        raise Refused(f"{key} does not apply: {instance.not_applicable}")
    if how == "done" and (waits := book.waiting_for(instance)):
        # A manual step done out of order is still out of order (add-seg: the cutover before the SEG is ready).
        raise Refused(f"{key} waits for {', '.join(waits)}: do those first")
    next_state(key, record.state, event)  # an illegal move is refused before the lab clicks or anything is read
    if how != "done":
        return f"{key}: {book.transition(key, event, note=note).value}"
    # The lab performs the operator's console clicks first, so the verification below has something to read.
    book.ports.on_manual_done(key)
    try:
        result: Verification | None = checker_of(instance).verify(book.context(instance, False))
        unverified = None
    except RunbookError as exc:
        result, unverified = None, str(exc)
    if result is None:
        new = book.transition(key, event, note=note, details={"verified": "no", "why": unverified})
        book.recorder.commit(step=key, action="verify", outcome="not verified", note=unverified,
                             rec={"verified": {"at": clock.now_iso(), "by": operator(), "ok": None,
                                               "unverified": unverified, "findings": []}})
        return f"{key}: {new.value}, not verified: {unverified}"
    if result.ok:
        new = book.transition(key, event, note=note, details={"verified": "ok"})
        book.store_verification(key, result)  # after the transition: a verification older than it reads stale
        return f"{key}: {new.value}, verified: in place"
    mismatches = [finding.describe() for finding in result.mismatches()]
    reason = override(f"{key}: the verification disagrees. Mark it done anyway?", mismatches) if override else None
    if not (reason or "").strip():
        book.store_verification(key, result)
        book.journal.append(step=key, action="mark_refused", outcome="not marked done: verification disagrees",
                            details=result.mismatch_details())
        raise Refused(f"{key}: not marked done, the verification disagrees:\n  " + "\n  ".join(mismatches)
                      + f"\nfix it (runbook manual SESSION {key}) and mark it again, or record it done "
                      "regardless with --force --note REASON")
    assert reason is not None
    shown = reason if not note or note == reason else f"{note} (done anyway: {reason})"
    new = book.transition(key, event, note=shown, details={"forced": reason, **result.mismatch_details()})
    book.store_verification(key, result)
    return f"{key}: {new.value} despite the verification mismatch (your reason is journaled)"

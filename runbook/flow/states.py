"""Step states and the one table of legal moves between them."""
from __future__ import annotations

from enum import Enum

from runbook.errors import IllegalTransition


class State(str, Enum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"
    INTERRUPTED = "interrupted"
    MANUAL_DONE = "manual-done"
    UNDONE = "undone"
    NOT_APPLICABLE = "not-applicable"


class Event(str, Enum):
    START = "start"  # execute begins
    START_UNDO = "start_undo"
    SUCCEED = "succeed"
    UNDO_SUCCEED = "undo_succeed"
    FAIL = "fail"
    INTERRUPT = "interrupt"  # the process died while running
    VERIFY_OK = "verify_ok"  # only moves interrupted steps; elsewhere verify leaves the state alone
    VERIFY_MISMATCH = "verify_mismatch"
    MARK_DONE = "mark_done"
    SKIP = "skip"
    REOPEN = "reopen"  # back to pending: a skipped step, or an interrupted one the operator vouches for


S, E = State, Event
TRANSITIONS: dict[tuple[State, Event], State] = {
    (S.PENDING, E.START): S.RUNNING,
    (S.FAILED, E.START): S.RUNNING,
    (S.UNDONE, E.START): S.RUNNING,
    (S.DONE, E.START): S.RUNNING,  # re-apply after drift
    (S.MANUAL_DONE, E.START): S.RUNNING,
    (S.DONE, E.START_UNDO): S.RUNNING,
    (S.FAILED, E.START_UNDO): S.RUNNING,  # a half-done change is undone from what was recorded
    (S.MANUAL_DONE, E.START_UNDO): S.RUNNING,
    (S.RUNNING, E.SUCCEED): S.DONE,
    (S.RUNNING, E.UNDO_SUCCEED): S.UNDONE,
    (S.RUNNING, E.FAIL): S.FAILED,
    (S.RUNNING, E.INTERRUPT): S.INTERRUPTED,
    (S.INTERRUPTED, E.VERIFY_OK): S.DONE,
    (S.INTERRUPTED, E.VERIFY_MISMATCH): S.FAILED,
    (S.PENDING, E.MARK_DONE): S.MANUAL_DONE,
    (S.FAILED, E.MARK_DONE): S.MANUAL_DONE,
    (S.UNDONE, E.MARK_DONE): S.MANUAL_DONE,
    (S.SKIPPED, E.MARK_DONE): S.MANUAL_DONE,
    (S.INTERRUPTED, E.MARK_DONE): S.MANUAL_DONE,
    (S.PENDING, E.SKIP): S.SKIPPED,
    (S.FAILED, E.SKIP): S.SKIPPED,
    (S.UNDONE, E.SKIP): S.SKIPPED,
    (S.INTERRUPTED, E.SKIP): S.SKIPPED,
    (S.SKIPPED, E.REOPEN): S.PENDING,
    (S.INTERRUPTED, E.REOPEN): S.PENDING,
    (S.MANUAL_DONE, E.REOPEN): S.PENDING,
}

HINTS = {
    (S.INTERRUPTED, E.START): "it was running when the last process died: verify it first, or reopen it "
                              "(`runbook mark SESSION STEP --reopen`) if you know its state",
    (S.INTERRUPTED, E.START_UNDO): "verify it first: what it changed before it died is not known",
    (S.RUNNING, E.START): "another run of it is in progress",
    (S.NOT_APPLICABLE, E.START): "it does not apply to this topology",
    (S.PENDING, E.START_UNDO): "nothing was changed yet",
    (S.UNDONE, E.START_UNDO): "it is already undone",
}

# States where the step's wanted change is believed to be in place.
IN_PLACE = frozenset({S.DONE, S.MANUAL_DONE})
# States that count as finished for dependencies and progress.
SETTLED = frozenset({S.DONE, S.MANUAL_DONE, S.SKIPPED, S.NOT_APPLICABLE})


def next_state(step: str, state: State, event: Event) -> State:
    """The state after `event`, or IllegalTransition naming why not."""
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        raise IllegalTransition(step, state.value, event.value, HINTS.get((state, event), "")) from None


def allowed_events(state: State) -> list[Event]:
    return [event for (from_state, event) in TRANSITIONS if from_state == state]

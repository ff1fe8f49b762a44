"""The transition table: every legal move, and named refusals for the illegal ones."""
from __future__ import annotations

import pytest

from runbook.errors import IllegalTransition
from runbook.flow.states import TRANSITIONS, Event, State, allowed_events, next_state


def test_every_listed_transition_is_allowed() -> None:
    for (state, event), target in TRANSITIONS.items():
        assert next_state("3a", state, event) == target


def test_every_unlisted_transition_raises_a_named_error() -> None:
    for state in State:
        for event in Event:
            if (state, event) not in TRANSITIONS:
                with pytest.raises(IllegalTransition) as caught:
                    next_state("3a", state, event)
                assert "3a" in str(caught.value) and state.value in str(caught.value)


def test_interrupted_step_cannot_be_started_and_says_why() -> None:
    with pytest.raises(IllegalTransition, match="verify it first"):
        next_state("4a@EAS02", State.INTERRUPTED, Event.START)


def test_interrupted_resolves_only_through_verify_mark_skip_or_reopen() -> None:
    assert set(allowed_events(State.INTERRUPTED)) == {
        Event.VERIFY_OK, Event.VERIFY_MISMATCH, Event.MARK_DONE, Event.SKIP, Event.REOPEN}


def test_not_applicable_is_terminal() -> None:
    assert allowed_events(State.NOT_APPLICABLE) == []


def test_running_ends_only_in_done_undone_failed_or_interrupted() -> None:
    assert {TRANSITIONS[(State.RUNNING, e)] for e in allowed_events(State.RUNNING)} == {
        State.DONE, State.UNDONE, State.FAILED, State.INTERRUPTED}

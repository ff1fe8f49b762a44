"""Stopping a step is cooperative: the stop lands before a remote call, never inside a journal append, a session
save or a protocol exchange. Stopped at every call boundary of a farm run, the session, journal and lock stay
consistent, what was recorded is exactly what took, and verify then run finishes the change."""
from __future__ import annotations

from pathlib import Path

from runbook.flow.cancel import CancelToken, Stopped
from runbook.flow.engine import Runbook
from runbook.flow.states import State
from runbook.lab import lab
from runbook.record import store
from runbook.record.journal import Journal
from steps import CATALOGUE

FARM = ("6a@EAS01", "6a@EAS02")  # tmg-seg-eas: two Exchange servers accept Kerberos, one after the other


class StopAfter(CancelToken):
    """Lets `calls` remote calls through, then asks to stop (as the operator's x would, at that moment)."""

    def __init__(self, calls: int):
        super().__init__()
        self.left = calls

    def check(self) -> None:
        if self.left <= 0:
            self.cancel()
        self.left -= 1
        super().check()

    def reset(self) -> None:  # the engine resets its token at each operation; this one keeps counting
        pass


def run_farm(book: Runbook) -> str | None:
    """`runbook run SESSION 6a`: each instance in order; the key that was stopped, or None."""
    for key in FARM:
        try:
            book.run(key, confirm=lambda question, lines: True)
        except Stopped:
            return key
    return None


def test_a_stop_at_every_call_boundary_leaves_a_consistent_resumable_session(sessions_dir: Path) -> None:
    boundary = 0
    seen: set[State] = set()
    while True:
        path = lab.create_demo(sessions_dir / f"c{boundary}.yaml", "tmg-seg-eas", CATALOGUE)
        book = Runbook.open(path, CATALOGUE, lab.lab_ports_factory, drive=True)
        try:
            book.cancel = StopAfter(boundary)
            stopped = run_farm(book)
            session = store.load(path)  # what is on disk is what is in memory
            for key in FARM:
                assert session.steps[key].state == book.record(key).state
            assert Journal(store.journal_path(path)).check() == []
            assert book.lock is not None and book.lock.still_mine()
            if stopped is None:
                break
            state = book.record(stopped).state
            assert state in (State.PENDING, State.INTERRUPTED), (boundary, stopped, state)
            seen.add(state)
            book.cancel = CancelToken()
            if state == State.INTERRUPTED:  # stopped while applying: in doubt until verified
                book.verify(stopped)
                assert book.record(stopped).state in (State.DONE, State.FAILED)
            for key in FARM:
                if book.record(key).state != State.DONE:
                    book.run(key, confirm=lambda question, lines: True)
            assert all(book.verify(key).ok for key in FARM)
            recorded = [c for key in FARM for c in book.record(key).changes]
            assert sorted(c["target"] for c in recorded) == ["eas01.test.lan", "eas02.test.lan"], recorded
        finally:
            book.close()
        boundary += 1
    assert boundary >= 6, "the farm run makes several remote calls; each was a place to stop"
    assert seen == {State.PENDING, State.INTERRUPTED}  # stopped while planning (nothing ran) and while applying


def test_running_again_after_an_interruption_leaves_no_stale_interruption_note(sessions_dir: Path) -> None:
    """The note shown beside a step tells of its newest run: once a half-applied step runs again and succeeds, the
    "verified after the interruption" note of the verify before it no longer stands beside a done step."""
    key = "6a@EAS01"
    for calls in range(1, 12):  # the first stop that lands while applying (earlier ones land while planning)
        path = lab.create_demo(sessions_dir / f"n{calls}.yaml", "tmg-seg-eas", CATALOGUE)
        book = Runbook.open(path, CATALOGUE, lab.lab_ports_factory, drive=True)
        try:
            book.cancel = StopAfter(calls)
            try:
                book.run(key, confirm=lambda question, lines: True)
            except Stopped:
                pass
            book.cancel = CancelToken()
            if book.record(key).state != State.INTERRUPTED:
                continue
            book.verify(key)
            assert book.record(key).state == State.FAILED  # half applied
            assert "interruption" in (book.record(key).note or "") + (book.record(key).error or "")
            book.run(key, confirm=lambda question, lines: True)
            assert book.record(key).state == State.DONE
            assert "interrupt" not in (book.record(key).note or "")
            assert store.load(path).steps[key].note == book.record(key).note  # the same after a reload
            return
        finally:
            book.close()
    raise AssertionError("no stop landed while 6a@EAS01 applied")

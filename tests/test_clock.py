"""One clock for what records say; liveness keeps real time whatever the records' clock says."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from runbook import clock
from runbook.record.journal import Journal
from runbook.record.lock import SessionLock, is_live, read_holder
from runbook.record.session import Session

MOMENT = dt.datetime(2026, 1, 5, 21, 30, tzinfo=dt.timezone.utc)


def test_use_fixes_every_record_stamp_and_gives_the_clock_back(tmp_path: Path) -> None:
    with clock.use(MOMENT):
        assert clock.now() == MOMENT and clock.now_iso() == "2026-01-05T21:30:00Z"
        assert Session(name="s", params={}).created == "2026-01-05T21:30:00Z"
        entry = Journal(tmp_path / "s.journal.jsonl").append(step="1", action="note", outcome="noted")
        assert entry["time"] == "2026-01-05T21:30:00Z"
        with clock.use(MOMENT + dt.timedelta(minutes=5)):
            assert clock.now_iso() == "2026-01-05T21:35:00Z"
        assert clock.now_iso() == "2026-01-05T21:30:00Z"
    assert abs((clock.now() - dt.datetime.now(dt.timezone.utc)).total_seconds()) < 5


def test_use_gives_the_clock_back_when_the_block_fails() -> None:
    with pytest.raises(RuntimeError), clock.use(MOMENT):
        raise RuntimeError("boom")
    assert clock.now() != MOMENT


def test_a_lock_taken_under_a_fixed_past_clock_is_live(tmp_path: Path) -> None:
    """Heartbeats are liveness: stamped with the records' clock (months ago) the driver would look dead."""
    with clock.use(MOMENT):
        lock = SessionLock(tmp_path / "s.lock").acquire()
        try:
            holder = read_holder(tmp_path / "s.lock")
            assert holder is not None and holder.heartbeat != "2026-01-05T21:30:00Z"
            assert holder.heartbeat_age() < 60 and is_live(holder)
        finally:
            lock.release()


def test_a_moment_without_a_timezone_is_refused() -> None:
    with pytest.raises(ValueError, match="^moment: 2026-01-05T21:30:00 has no timezone"):
        clock.FixedClock(dt.datetime(2026, 1, 5, 21, 30))

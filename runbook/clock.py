"""The clock the records are stamped with: steps, verifications, ticks, journal entries, sessions, acknowledgements.

Everything that writes a time into a record asks `now()` / `now_iso()` here, so a test fixes every stamp at once with
`with clock.use(moment):`. Liveness is not a record: a lock's heartbeat, how old it is, and how long a two-person
request stays open are judged against real time by their owners (`SYSTEM`), or a fixed clock in the past would make
every live driver look dead.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """The current time, timezone-aware."""
        ...


class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.timezone.utc)


class FixedClock:
    """Always the same moment (tests, rehearsals whose output must not change from run to run)."""

    def __init__(self, moment: dt.datetime) -> None:
        if moment.tzinfo is None:
            raise ValueError(f"moment: {moment.isoformat()} has no timezone; give one (e.g. tzinfo=timezone.utc)")
        self.moment = moment

    def now(self) -> dt.datetime:
        return self.moment


SYSTEM = SystemClock()

# Process-wide rather than a context variable: the Textual thread workers and the lock's heartbeat thread must stamp
# with the clock the test chose, and threads do not inherit context variables.
_current: Clock = SYSTEM


def iso(moment: dt.datetime) -> str:
    """A record's time: UTC to the second, with a Z (what every session, journal and lock file holds)."""
    return moment.astimezone(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def now() -> dt.datetime:
    return _current.now()


def now_iso() -> str:
    return iso(_current.now())


def wall_iso() -> str:
    """Real time, whatever clock the records use: for liveness (heartbeats, how long a request stays open)."""
    return iso(SYSTEM.now())


@contextmanager
def use(chosen: Clock | dt.datetime) -> Iterator[Clock]:
    """Stamp records with `chosen` (a clock, or a moment that stays fixed) until the block ends."""
    global _current
    replacement = FixedClock(chosen) if isinstance(chosen, dt.datetime) else chosen
    previous, _current = _current, replacement
    try:
        yield replacement
    finally:
        _current = previous

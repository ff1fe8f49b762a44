"""Every change to a session goes through here: journal entry first, then the same entry applied in memory.

The session file is a snapshot, written every SNAPSHOT_EVERY entries — or, in a session with more step records
than that, after as many entries as it has records — and when the session is closed; between snapshots a crash
loses nothing, since loading applies the entries the snapshot is missing. Writing a snapshot costs in proportion to
the session (≈60 ms at 200 instances), so a fixed interval made applying a step across a large farm cost more per
server the larger the farm; this way it stays linear, and a reader never replays a tail longer than the session.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from runbook.errors import StorageError
from runbook.record import replay, store
from runbook.record.journal import Journal
from runbook.record.session import Session
from runbook.record.snapshot import position

SNAPSHOT_EVERY = 64


class Recorder:
    def __init__(self, path: Path, session: Session, journal: Journal,
                 may_write: Callable[[], bool] = lambda: True):
        self.path = path
        self.session = session
        self.journal = journal
        self.may_write = may_write  # False once this process's lock was taken over: no snapshot then
        self.pending = 0  # entries since the last snapshot
        self.snapshot_problem: str | None = None

    def commit(self, *, step: str | None, action: str, outcome: str, note: str | None = None,
               details: dict[str, Any] | None = None, rec: dict[str, Any] | None = None,
               acting_as: str | None = None, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        links = dict(extra or {})
        if rec:
            links["rec"] = rec
        entry = self.journal.append(step=step, action=action, outcome=outcome, note=note, details=details,
                                    acting_as=acting_as, extra=links or None)
        replay.apply(self.session, entry)
        self.session.journal = position(entry, self.journal.last_offset)
        self.pending += 1
        if self.pending >= max(SNAPSHOT_EVERY, len(self.session.steps)):
            self.snapshot()
        return entry

    def snapshot(self) -> None:
        """Write the snapshot. A full or read-only disk does not lose the record (the journal has it): the
        problem is kept for the operator and the next snapshot tries again."""
        if not self.may_write():
            return
        try:
            store.save(self.session, self.path)
        except StorageError as exc:
            self.snapshot_problem = str(exc)
            return
        self.pending, self.snapshot_problem = 0, None

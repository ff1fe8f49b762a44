"""The journal as the change record reads it: one pass that keeps what the record summarises, never the entries.

A 50,000-entry journal would otherwise sit in memory several times over (the entries, each step's share, the
rendered rows). Here it is parsed once: the summary (counts, operators, handovers, check runs) is kept, while what
each step's section lists and the journal table's rows go to temporary files as the few fields they show, read back
when they are written. Memory stays flat, time stays linear.
"""
from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path
from typing import IO, Any, Callable, Generic, Iterable, Iterator, TypeVar

from runbook.pair import handover, two_person
from runbook.record.journal_check import ChainCheck
from runbook.record.journal_read import Entry

T = TypeVar("T")


class Spool:
    """Records of this process, in order, read back as often as a section needs them: pickled in batches to a
    temporary file (only this process reads them back, many times faster than parsing the journal's JSON again)."""

    BATCH = 512

    def __init__(self) -> None:
        self._file: IO[bytes] | None = None
        self._batch: list[Any] = []
        self.count = 0

    def add(self, record: Any) -> None:
        self._batch.append(record)
        self.count += 1
        if len(self._batch) == self.BATCH:
            self._write()

    def _write(self) -> None:
        if self._batch:
            if self._file is None:
                self._file = tempfile.TemporaryFile()
            self._file.seek(0, os.SEEK_END)
            pickle.dump(self._batch, self._file, protocol=pickle.HIGHEST_PROTOCOL)
            self._batch = []

    def __iter__(self) -> Iterator[Any]:
        self._write()
        if self._file is None:
            return
        self._file.seek(0)
        while True:
            try:
                batch = pickle.load(self._file)
            except EOFError:
                return
            yield from batch

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


class Items(Generic[T]):
    """A list in the record (a step's notes, its changes, the journal's rows) that is read when it is written:
    `make` turns the spooled records into the items.

    Whether it is empty is known without reading it, so a template can write its heading or leave it out.
    """

    def __init__(self, source: Iterable[Any], make: Callable[[Iterable[Any]], Iterator[T]], present: bool):
        self._source, self._make, self._present = source, make, present

    def __bool__(self) -> bool:
        return self._present

    def __iter__(self) -> Iterator[T]:
        return self._make(self._source) if self._present else iter(())


class StepShare:
    """What the record lists of one step, spooled as (kind, fields) records; counted as they pass."""

    def __init__(self) -> None:
        self.spool = Spool()
        self.changes = self.notes = self.log = self.acks = 0
        self.latest_verify: Entry | None = None
        self.last_mark: int | None = None  # seq of the newest mark_done
        self.verify_before_mark: Entry | None = None  # the newest verify before it: the values before the hand

    def take(self, entry: Entry) -> None:
        action, details = entry.get("action"), entry.get("details") or {}
        if action == "verify":
            self.latest_verify = entry
        elif action == "mark_done":
            self.last_mark, self.verify_before_mark = entry["seq"], self.latest_verify
        if action == "change" and entry.get("details"):
            self.changes += 1
            self.spool.add(("change", entry["time"], entry["operator"], entry["details"]))
        if entry.get("note") and action not in ("tick", "untick", "change"):
            self.notes += 1
            self.spool.add(("note", entry["time"], entry["operator"], action, entry["note"]))
        if details.get("log"):
            self.log += len(details["log"])
            self.spool.add(("log", list(details["log"])))
        if action == two_person.ACKED and entry.get("details"):
            self.acks += 1
            self.spool.add(("ack", entry["time"], details.get("by", "?"), details.get("plan_hash", "")[:12]))


class JournalPass:
    """The summary of a journal for the record, gathered in one pass (see the module docstring), which also walks
    the hash chain: `problems` is what `runbook journal --check` would say of the same bytes.

    `row` turns an entry into what the journal table shows of it.
    """

    def __init__(self, path: Path, anchor: dict[str, Any] | None, steps: Iterable[str],
                 row: Callable[[Entry], Any]):
        self.path = path
        self._chain = ChainCheck(anchor)
        self.last_seq = 0
        self.first: str | None = None
        self.last: str | None = None
        self.operators: set[str] = set()
        self.checks: list[Entry] = []  # completion and the device proof read these
        self.others: list[Entry] = []  # acknowledgements, time-outs and settings: events of the record
        self.steps = {key: StepShare() for key in steps}
        self.rows = Spool()
        self._row = row
        self.handovers = handover.history(self._walk())
        self.problems = self._chain.problems()

    def _walk(self) -> Iterator[Entry]:
        for line in self._chain.lines(self.path):
            entry = line.entry
            if entry is None or "seq" not in entry:  # a damaged line is skipped: the chain check names it
                continue
            if not self.last_seq:
                self.first = entry.get("time")
            self.last_seq, self.last = entry["seq"], entry.get("time")
            if entry.get("operator") is not None:
                self.operators.add(entry["operator"])
            action = entry.get("action")
            if action == "check":
                self.checks.append(entry)
            elif action in (two_person.ACKED, two_person.TIMED_OUT, "settings"):
                self.others.append(entry)
            step = entry.get("step")
            share = self.steps.get(step) if step is not None else None
            if share is not None:
                share.take(entry)
            self.rows.add(self._row(entry))
            yield entry

    def close(self) -> None:
        self.rows.close()
        for share in self.steps.values():
            share.spool.close()

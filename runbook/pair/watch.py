"""Follow a session live and read-only: what changed in the session, its lock and its journal, as events.

There is no inotify in the standard library, so a `Watcher` polls the size, mtime and
inode of the three files (a few `stat` calls every POLL_SECONDS) and reads only what is
new: the session when it was replaced, the journal from where it stopped (whole lines
only, so a half-written line waits for the next poll). It never opens anything for
writing. `runbook watch` prints its events; the TUI's follow view consumes the same ones.
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Union

from runbook.errors import NotAvailable, RunbookError
from runbook.flow.catalogue import StepSpec
from runbook.flow.changes import Change
from runbook.flow.context import Ports
from runbook.flow.engine import Runbook
from runbook.flow.states import SETTLED, State
from runbook.inputs.params import Params
from runbook.pair import handover, two_person
from runbook.record import journal_read, store
from runbook.record.journal import TAIL_BYTES, Journal
from runbook.record.lock import Holder, is_live, read_holder
from runbook.record.session import Session
from runbook.reports import text as render

POLL_SECONDS = 0.1  # a change is on screen within one poll plus one read
LIVENESS_SECONDS = 1.0  # re-judge the driver (and `running` steps) this often even when no file changes
BACKLOG = 5


@dataclass(frozen=True)
class Snapshot:
    """The whole picture: the first event, and again whenever the session can be read after it could not."""

    book: Runbook
    status: dict[str, Any]  # render.status_data
    states: dict[str, str]
    handover: dict[str, Any] | None
    requests: dict[str, dict[str, Any]]  # open two-person requests by step
    recent: list[dict[str, Any]] = field(default_factory=list)  # the last few journal entries
    driver: Holder | None = None  # who held the lock when the snapshot was taken


@dataclass(frozen=True)
class NewEntry:
    entry: dict[str, Any]


@dataclass(frozen=True)
class StepChanged:
    key: str
    title: str
    before: str
    after: str


@dataclass(frozen=True)
class DriverChanged:
    holder: Holder | None
    live: bool


@dataclass(frozen=True)
class Problem:
    message: str


Event = Union[Snapshot, NewEntry, StepChanged, DriverChanged, Problem]


def _no_ports(path: Path, session: Session, params: Params) -> Ports:
    raise NotAvailable("a watcher only reads the session; it never connects anywhere")


def _fingerprint(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


class Watcher:
    def __init__(self, path: Path, catalogue: list[StepSpec], *, backlog: int = BACKLOG):
        self.path = path
        self.catalogue = catalogue
        self.backlog = backlog
        self.journal = Journal(store.journal_path(path))
        self.lock_path = store.lock_path(path)
        self.book: Runbook | None = None
        self.states: dict[str, str] = {}
        self.requests: dict[str, dict[str, Any]] = {}
        self.handover: dict[str, Any] | None = None
        self._session_print: tuple[int, int, int] | None = None
        self._lock_print: tuple[int, int, int] | None = None
        self._journal_ino: int | None = None
        self._offset = 0
        self._driver: tuple[str, bool] | None = None  # (token, live)
        self._judged = 0.0
        self._broken = False
        self._holder: Holder | None = None

    @property
    def settled(self) -> bool:
        return bool(self.states) and all(State(state) in SETTLED for state in self.states.values())

    # -- the first look ---------------------------------------------------------------------------------------
    def start(self) -> list[Event]:
        """The snapshot (which raises if the session cannot be read at all), then nothing until something changes."""
        self._lock_print = _fingerprint(self.lock_path)
        self._holder, live = self._read_driver()
        self._driver = (self._holder.token, live) if self._holder else None
        self._session_print = _fingerprint(self.path)
        self._load_book()
        recent = self._start_journal()
        self._judged = time.monotonic()
        assert self.book is not None
        self.states = self._states(self.book, bool(self._driver and self._driver[1]))
        self.handover = recent[-1] if recent and recent[-1].get("action") == handover.HANDOVER else None
        return [self._snapshot(recent[-self.backlog:] if self.backlog else [])]

    def _snapshot(self, recent: list[dict[str, Any]]) -> Snapshot:
        assert self.book is not None
        return Snapshot(self.book, render.status_data(self.book), dict(self.states), self.handover,
                        dict(self.requests), recent, self._holder)

    def _load_book(self) -> None:
        session = store.load(self.path)
        self.book = Runbook(self.path, session, self.catalogue, _no_ports)

    def _start_journal(self) -> list[dict[str, Any]]:
        """Read the journal's tail (for the backlog, open requests and a pending handover); follow from its end."""
        try:
            with self.journal.path.open("rb") as handle:
                self._journal_ino = os.fstat(handle.fileno()).st_ino
                self._offset, entries = journal_read.tail(handle, TAIL_BYTES)
        except FileNotFoundError:
            return []
        self.requests = two_person.open_requests(entries)
        return entries

    # -- every poll ----------------------------------------------------------------------------------------------
    def poll(self) -> list[Event]:
        events: list[Event] = []
        entries = self._read_journal(events)
        for entry in entries:
            events.append(NewEntry(entry))
            if entry.get("step"):
                if entry.get("action") == two_person.REQUEST:
                    self.requests[entry["step"]] = entry
                else:
                    self.requests.pop(entry["step"], None)
        if entries:
            last = entries[-1]
            self.handover = last if last.get("action") == handover.HANDOVER else None
        now = time.monotonic()
        # The lock before the session: a driver saves the session before it lets go of the lock, so a lock
        # seen gone here means the session read below is at least as new (no false "interrupted" flash).
        lock_print = _fingerprint(self.lock_path)
        holder, live = self._read_driver()
        session_print = _fingerprint(self.path)
        rejudge = now - self._judged >= LIVENESS_SECONDS or lock_print != self._lock_print
        self._lock_print = lock_print
        if session_print != self._session_print or any(entry.get("step") for entry in entries):
            # The journal is the record: a step's new entry changes its state even before the next snapshot.
            self._session_print = session_print
            try:
                self._load_book()
            except RunbookError as exc:
                if not self._broken:
                    events.append(Problem(f"the session cannot be read right now: {exc}"))
                self._broken = True
                return events
            if self._broken:
                self._broken = False
                self.states = self._states(self.book, live) if self.book else {}
                events.append(self._snapshot([]))
                return events
            rejudge = True
        if rejudge and self.book is not None and not self._broken:
            self._judged = now
            driver = (holder.token, live) if holder else None
            if driver != self._driver:
                self._driver, self._holder = driver, holder
                events.append(DriverChanged(holder, live))
            states = self._states(self.book, live)
            titles = {i.key: i.title for i in self.book.instances}
            for key, state in states.items():
                if self.states.get(key) != state:
                    events.append(StepChanged(key, titles.get(key, ""), self.states.get(key, "?"), state))
            self.states = states
        if self.requests:
            self.requests = two_person.open_requests(self.requests.values())
        return events

    def _read_journal(self, events: list[Event]) -> list[dict[str, Any]]:
        try:
            handle = self.journal.path.open("rb")
        except FileNotFoundError:
            return []
        with handle:
            st = os.fstat(handle.fileno())
            if self._journal_ino is not None and (st.st_ino != self._journal_ino or st.st_size < self._offset):
                events.append(Problem("the journal was replaced or cut short behind our back: "
                                      f"check it with `runbook journal {self.path.stem} --check`"))
                self._offset = 0 if st.st_ino != self._journal_ino else st.st_size
            self._journal_ino = st.st_ino
            if st.st_size == self._offset:
                return []
            entries = []
            for line in journal_read.read(handle, start=self._offset, whole=True):
                self._offset = line.end
                if line.entry is not None:
                    entries.append(line.entry)
        return entries

    def _read_driver(self) -> tuple[Holder | None, bool]:
        holder = read_holder(self.lock_path)
        if holder is None or is_live(holder):
            return holder, holder is not None
        again = read_holder(self.lock_path)  # a command that just finished: its lock is gone by now
        if again is None or again.token != holder.token:
            return again, again is not None and is_live(again)
        return holder, False

    @staticmethod
    def _states(book: Runbook, driver_live: bool) -> dict[str, str]:
        """Each step's state as a follower should read it: `running` without a live driver is in doubt."""
        states = {}
        for instance in book.instances:
            state = book.record(instance.key).state
            if state == State.RUNNING and not driver_live:
                state = State.INTERRUPTED
            states[instance.key] = state.value
        return states


def follow(path: Path, catalogue: list[StepSpec], *, interval: float = POLL_SECONDS,
           stop: threading.Event | None = None, timeout: float | None = None) -> Iterator[Event]:
    """Every event from the snapshot on, until `stop` is set or `timeout` seconds passed (a TUI worker's loop)."""
    watcher = Watcher(path, catalogue)
    yield from watcher.start()
    stop = stop or threading.Event()
    deadline = None if timeout is None else time.monotonic() + timeout
    while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
        yield from watcher.poll()
        stop.wait(interval)


# -- words for a terminal (the TUI renders the same events its own way) ---------------------------------------------
def entry_text(entry: dict[str, Any]) -> str:
    """An entry's outcome in words, with what its details say (the change made, whom a takeover displaced)."""
    action, details = entry.get("action"), entry.get("details") or {}
    text = str(entry.get("outcome", ""))
    if action == "change" and details:
        try:
            change = Change.from_dict(details)
            text = ("reverted: " if change.revert else "applied: ") + change.describe()
        except TypeError:
            pass
    elif action == "takeover":
        text += f" from {details.get('from', '?')}"
    elif action == "verify" and details.get("mismatches"):
        text += ": " + "; ".join(details["mismatches"])
    return text


def entry_line(entry: dict[str, Any]) -> str:
    clock = str(entry.get("time", ""))[11:19]
    head = f"{clock} {entry.get('operator', '?'):<18} {entry.get('step') or '-':<10} {entry.get('action', ''):<12}"
    note = f" — {entry['note']}" if entry.get("note") else ""
    return f"{head} {entry_text(entry)}{note}"


def request_hint(session: str, request: dict[str, Any]) -> list[str]:
    digest = (request.get("details") or {}).get("plan_hash", "")
    return two_person.request_lines(request) + [
        f"  to acknowledge: runbook ack {session} {request['step']} --plan {digest[:12]}"
        "  (or follow with --ack and type `ack`)"]


def driver_line(event: DriverChanged) -> str:
    if event.holder is None:
        return "driver: none (the lock was released)"
    # describe() says why a gone holder is stale, in the words status and the CLI errors use.
    return f"driver: {event.holder.describe()}" + ("" if event.live else " (`--takeover` takes it over)")

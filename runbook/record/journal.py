"""The append-only journal beside a session: one JSON line per event, each hash-chained to the one before.

It is the record of truth: every step record and change is an entry (runbook.record.replay turns
entries back into a session), and the session file is a snapshot of it. So an append is
all-or-nothing (a short or failed write is rolled back), serialised between processes
(flock), fenced (a driver whose lock was taken over cannot append), and refused while the
journal's tail disagrees with its head anchor until an operator acknowledges that
(runbook.record.journal_check). The anchor (`<session>.journal.head`: last seq and hash) is what
shows a cut tail or a last entry rewritten with a fresh hash.
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from runbook import clock
from runbook.errors import JournalRefused, StorageError
from runbook.record import crashpoints, journal_read
from runbook.record.journal_read import NOFOLLOW
from runbook.record.session import operator

if TYPE_CHECKING:
    from runbook.record.journal_check import JournalProblem

GENESIS = "0" * 64
TAIL_BYTES = 65536
FILE_MODE = 0o600
ACKNOWLEDGE = "acknowledge"

# A fence says whether this process may still append, and if not raises JournalRefused (the lock was taken over).
Fence = Callable[[], None]


def entry_digest(entry: dict[str, Any]) -> str:
    import hashlib  # only appends and checks hash: a reader of the record need not load it

    body = {key: value for key, value in entry.items() if key != "hash"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


def digest_ok(entry: dict[str, Any]) -> bool:
    return entry_digest(entry) == entry.get("hash")


def head_anchor_path(path: Path) -> Path:
    return path.with_suffix(".head")


def open_private(path: Path, flags: int) -> int:
    """Open (creating 0600 whatever the umask) without following a symlink planted at the path."""
    try:
        fd = os.open(path, flags | NOFOLLOW | os.O_CLOEXEC, FILE_MODE)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise StorageError(f"{path}: is a symbolic link; the record is written only to the file itself "
                               "(remove the link)") from None
        raise StorageError.from_os(exc, path) from None
    try:
        if os.fstat(fd).st_mode & 0o077:
            os.fchmod(fd, FILE_MODE)
    except OSError:
        pass
    return fd


class Journal:
    def __init__(self, path: Path, fence: Fence | None = None, epoch: Callable[[], int | None] | None = None):
        self.path = path
        self.anchor_path = head_anchor_path(path)
        self.fence = fence
        self.epoch = epoch
        self.last_offset = 0  # just past the entry this object appended last

    # -- reading -----------------------------------------------------------------------------------------------
    def entries(self, *, start: int = 0) -> Iterator[dict[str, Any]]:
        """Every entry from byte offset `start`; a line that is not a JSON object is skipped (check() names it)."""
        for _, entry in self.entries_with_offsets(start=start):
            yield entry

    def entries_with_offsets(self, *, start: int = 0) -> Iterator[tuple[int, dict[str, Any]]]:
        """(offset just past the line, entry) for every entry from byte offset `start`."""
        try:
            fd = open_private(self.path, os.O_RDONLY)
        except StorageError:
            if not self.path.exists() and not self.path.is_symlink():
                return
            raise
        with os.fdopen(fd, "rb") as handle:
            for line in journal_read.read(handle, start=start):
                if line.entry is not None:
                    yield line.end, line.entry

    def size(self) -> int:
        try:
            return os.stat(self.path, follow_symlinks=False).st_size
        except FileNotFoundError:
            return 0

    def last(self) -> dict[str, Any] | None:
        """The newest entry, read from the file's tail only."""
        try:
            fd = os.open(self.path, os.O_RDONLY | NOFOLLOW)
        except OSError:
            return None
        with os.fdopen(fd, "rb") as handle:
            return _last_in(handle)[0]

    def recent(self) -> list[dict[str, Any]]:
        """The entries in the file's last TAIL_BYTES, oldest first (what just happened, without reading it all)."""
        try:
            fd = os.open(self.path, os.O_RDONLY | NOFOLLOW)
        except OSError:
            return []
        with os.fdopen(fd, "rb") as handle:
            return journal_read.tail(handle, TAIL_BYTES)[1]

    def anchor(self) -> dict[str, Any] | None:
        """The head anchor ({seq, hash}), or None when there is none."""
        try:
            fd = os.open(self.anchor_path, os.O_RDONLY | NOFOLLOW)
        except FileNotFoundError:
            return None
        except OSError:
            return {"seq": None, "hash": None}
        with os.fdopen(fd, "rb") as handle:
            data = journal_read.entry_or_none(handle.read(4096))
        return data if data is not None else {"seq": None, "hash": None}

    def head(self) -> str:
        last = self.last()
        return last["hash"] if last else GENESIS

    # -- writing -----------------------------------------------------------------------------------------------
    def append(self, *, step: str | None, action: str, outcome: str, note: str | None = None,
               details: dict[str, Any] | None = None, who: str | None = None,
               acting_as: str | None = None, allow_broken: bool = False,
               extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """`who`: the person at the keyboard; `acting_as`: who the server saw (bind user, Kerberos principal).

        The entry is on disk (fsynced, anchor moved) when this returns, or nothing of it is.
        """
        entry: dict[str, Any] = {"seq": 0, "time": clock.now_iso(), "operator": who or operator(), "step": step,
                                 "action": action, "outcome": outcome}
        if acting_as:
            entry["as"] = acting_as
        if note:
            entry["note"] = note
        if details:
            entry["details"] = details
        entry.update(extra or {})  # links that are part of the record, e.g. the intent a change closes
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._locked() as fd:
            if self.fence is not None:
                self.fence()
            epoch = self.epoch() if self.epoch else None
            if epoch is not None:
                entry["epoch"] = epoch
            size = os.fstat(fd).st_size
            with os.fdopen(os.dup(fd), "rb") as handle:
                previous, whole = _last_in(handle)
            if not allow_broken:
                self._refuse_broken_tail(previous, whole, size)
            entry["seq"] = (previous["seq"] + 1) if previous else 1
            entry["prev"] = previous["hash"] if previous else GENESIS
            entry["hash"] = entry_digest(entry)
            line = (json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8")
            if size and os.pread(fd, 1, size - 1) != b"\n":  # after a cut line (acknowledged): start afresh
                line = b"\n" + line
            crashpoints.reached("journal.before-write")
            self._write_all(fd, line, size)
            crashpoints.reached("journal.after-write")
            try:
                self._write_anchor(entry)
            except StorageError:
                os.ftruncate(fd, size)  # all or nothing: an entry the anchor does not cover would read as tampering
                raise
            crashpoints.reached("journal.after-anchor")
            self.last_offset = size + len(line)
        return entry

    def barrier(self) -> None:
        """Wait for an append in flight in another process (a displaced driver's last one) to finish."""
        if self.path.exists():
            with self._locked():
                pass

    @contextmanager
    def _locked(self) -> Iterator[int]:
        fd = open_private(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield fd
        finally:
            os.close(fd)  # closing drops the flock

    def _write_all(self, fd: int, line: bytes, size: int) -> None:
        written = 0
        try:
            while written < len(line):
                written += os.write(fd, line[written:])
            os.fsync(fd)
        except OSError as exc:
            try:
                os.ftruncate(fd, size)  # a short write is rolled back, never glued to the next entry
            except OSError:
                pass
            raise StorageError.from_os(exc, self.path, kept="the journal is as it was before this action; "
                                                              "nothing of it was recorded") from None

    def _write_anchor(self, entry: dict[str, Any]) -> None:
        tmp = self.anchor_path.with_name(f".{self.anchor_path.name}.{os.getpid()}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | NOFOLLOW, FILE_MODE)
            try:
                os.fchmod(fd, FILE_MODE)
                data = (json.dumps({"seq": entry["seq"], "hash": entry["hash"]}) + "\n").encode()
                if os.write(fd, data) != len(data):
                    raise OSError(errno.ENOSPC, "short write")
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.anchor_path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise StorageError.from_os(exc, self.anchor_path, kept="the journal is as it was before this action; "
                                                                    "nothing of it was recorded") from None

    def _refuse_broken_tail(self, previous: dict[str, Any] | None, whole: bool, size: int) -> None:
        """Tamper evidence that stays: an append never re-anchors a journal whose tail disagrees with its anchor."""
        from runbook.record.journal_check import tail_problem

        problem = tail_problem(previous, whole, self.anchor(), size)
        if problem:
            raise JournalRefused(f"{self.path}: {problem}. Nothing more is written until an operator looks: "
                                 f"`runbook journal {self.path.name.split('.journal')[0]} --check`, then "
                                 "`runbook journal SESSION --acknowledge --note WHY` records who accepted it and why")

    # -- checking (runbook.record.journal_check) ----------------------------------------------------------------------
    def check(self) -> list[JournalProblem]:
        from runbook.record.journal_check import check

        return check(self)

    def verdict(self) -> tuple[bool, list[str]]:
        from runbook.record.journal_check import verdict

        return verdict(self)


def _last_in(handle: Any) -> tuple[dict[str, Any] | None, bool]:
    """The newest entry, and whether the file ends with it (False: a cut or garbage line follows it)."""
    handle.seek(0, os.SEEK_END)
    size = handle.tell()
    span = TAIL_BYTES
    while True:
        handle.seek(max(0, size - span))
        lines = [line for line in handle.read(span).splitlines() if line.strip()]
        if span < size and len(lines) < 2:  # one entry longer than the window: widen it
            span *= 4
            continue
        break
    for index, line in enumerate(reversed(lines)):
        entry = journal_read.entry_or_none(line)
        if entry is not None and "seq" in entry:
            return entry, index == 0
    return None, not lines

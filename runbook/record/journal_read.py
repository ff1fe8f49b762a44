"""Reading the journal file: every reader walks it through here, and one function says what a line is.

A journal line is one JSON object, UTF-8, ending in a newline (runbook.record.journal writes nothing else). Any
other line (not UTF-8, not JSON, JSON that is not an object such as an array, a line cut off mid-write) is a
`BadLine` that names where it is and what it is instead. Views skip such a line and the chain check
(runbook.record.journal_check) reports it, in the same words.

Reading streams: a line at a time from a byte offset, so a 50,000-entry journal is never held whole, and a reader
that follows a live journal (`whole=True`) leaves a line still being appended for its next read. journal_tail
matches byte blocks before it parses; what it parses goes through `parse` like everything else.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import IO, Any, Iterator, NamedTuple

from runbook.errors import StorageError

Entry = dict[str, Any]

NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_KINDS = {list: "a JSON array", str: "a JSON string", int: "a JSON number", float: "a JSON number",
          bool: "a JSON true/false", type(None): "JSON null"}


class BadLine(ValueError):
    """A journal line that is not an entry. `line` is its number when the file was read from its start (else None:
    `offset`, the byte it starts at, says where)."""

    def __init__(self, reason: str, *, line: int | None = None, offset: int | None = None):
        self.reason, self.line, self.offset = reason, line, offset
        self.message = f"not a journal entry (not a JSON object: {reason})"
        where = f"line {line}" if line is not None else f"the line at byte {offset}" if offset is not None else ""
        super().__init__(f"{where}: {self.message}" if where else self.message)

    def at(self, *, line: int | None, offset: int) -> BadLine:
        return BadLine(self.reason, line=line, offset=offset)


def parse(raw: bytes | str) -> Entry:
    """One journal line as its entry; BadLine (without a place: the reader adds it) when it is not one."""
    try:
        entry = json.loads(raw)
    except UnicodeDecodeError:
        raise BadLine("not UTF-8 text, damaged on disk or edited by hand") from None
    except ValueError:
        raise BadLine("invalid JSON, cut off mid-line or edited by hand") from None
    if not isinstance(entry, dict):
        raise BadLine(f"{_KINDS.get(type(entry), 'other JSON')}, edited by hand")
    return entry


def entry_or_none(raw: bytes | str) -> Entry | None:
    """`parse` for readers that skip what is not an entry (the chain check names it)."""
    try:
        return parse(raw)
    except BadLine:
        return None


class Line(NamedTuple):
    """One line as read: `entry` when it is one, else `problem` says why; a blank line has neither."""

    number: int | None  # 1-based, when read from the file's start
    start: int  # the byte it begins at
    end: int  # the byte just past it: where the next read begins
    raw: bytes
    entry: Entry | None
    problem: BadLine | None


def read(handle: IO[bytes], *, start: int = 0, whole: bool = False) -> Iterator[Line]:
    """Every line of an open journal from byte `start` (a line's beginning), oldest first.

    `whole`: a last line without its newline is being appended right now: it is left for the next read.
    """
    handle.seek(start)
    offset, number = start, (1 if start == 0 else None)
    for raw in handle:
        if whole and not raw.endswith(b"\n"):
            return
        begin, offset = offset, offset + len(raw)
        entry: Entry | None = None
        problem: BadLine | None = None
        if raw.strip():
            try:
                entry = parse(raw)
            except BadLine as bad:
                problem = bad.at(line=number, offset=begin)
        yield Line(number, begin, offset, raw, entry, problem)
        if number is not None:
            number += 1


def open_journal(path: Path) -> IO[bytes] | None:
    """The journal opened for reading, never through a symbolic link planted at its path; None when it is missing.
    OSError (ELOOP for a link) for anything else."""
    try:
        fd = os.open(path, os.O_RDONLY | NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    return os.fdopen(fd, "rb")


def lines(path: Path, *, start: int = 0, whole: bool = False) -> Iterator[Line]:
    """`read` over the journal at `path`; a missing journal has no lines."""
    try:
        handle = open_journal(path)
    except OSError as exc:
        raise StorageError(f"{path}: cannot be read as itself ({exc.strerror}; a symbolic link?)") from None
    if handle is None:
        return
    with handle:
        yield from read(handle, start=start, whole=whole)


def entries(path: Path, *, start: int = 0, whole: bool = False) -> Iterator[tuple[int, Entry]]:
    """(the byte just past it, entry) of every entry from byte `start`; a line that is not one is skipped."""
    for line in lines(path, start=start, whole=whole):
        if line.entry is not None:
            yield line.end, line.entry


def tail(handle: IO[bytes], span: int) -> tuple[int, list[Entry]]:
    """The entries on the whole lines of the file's last `span` bytes, oldest first, and the byte just past the
    last of those lines (where a follower reads on from)."""
    size = handle.seek(0, os.SEEK_END)
    start = max(0, size - span)
    handle.seek(max(0, start - 1))
    data = handle.read()
    if start > 0:  # the window's first line is read only if it begins inside the window
        first = data.find(b"\n")
        if first < 0:  # the window is the inside of one line: nothing whole to read, follow from the end
            return size, []
        data = data[first + 1:]
        start += first
    end = data.rfind(b"\n") + 1
    found = [entry for raw in data[:end].splitlines() if raw.strip() and (entry := entry_or_none(raw)) is not None]
    return start + end, found

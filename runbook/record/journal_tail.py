"""Reading a journal without holding it: one step's newest entries page by page, and the entries a view summarises.

A 50,000-entry journal is ~15 MB of JSON. The TUI shows a few lines of one step's log, and the headline needs only
the check runs and the newest entry; parsing every line for that costs seconds and hundreds of MiB. So lines are
matched as bytes first (the JSON text of the value sought must appear in the line) and only candidates are parsed
(runbook.record.journal_read.parse, like every reader), then tested on their fields: a byte match is never trusted
alone. Offsets are byte positions in the journal file:
a reader remembers how far it has read and reads only what was appended since.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import IO, Callable, Iterator, NamedTuple

from runbook.record.journal_read import Entry, entry_or_none

CHUNK = 1 << 20
CHECK = "check"

def needle(value: str) -> bytes:
    """The bytes a journal line holds when one of its fields is `value` (Journal.append writes UTF-8, unescaped)."""
    return json.dumps(value, ensure_ascii=False).encode("utf-8")


def size(path: Path) -> int:
    """Bytes of whole lines in the journal: a line still being appended is not read yet."""
    try:
        with path.open("rb") as handle:
            end = handle.seek(0, os.SEEK_END)
            if end == 0:
                return 0
            handle.seek(end - 1)
            if handle.read(1) == b"\n":
                return end
            cut = _last_newline(handle, end)
            return cut + 1 if cut >= 0 else 0
    except FileNotFoundError:
        return 0


def _last_newline(handle: IO[bytes], end: int) -> int:
    position = end
    while position > 0:
        start = max(0, position - CHUNK)
        handle.seek(start)
        found = handle.read(position - start).rfind(b"\n")
        if found >= 0:
            return start + found
        position = start
    return -1


def matching(path: Path, wanted: bytes, test: Callable[[Entry], bool], *, start: int = 0,
             end: int | None = None) -> Iterator[Entry]:
    """Oldest first, the entries in [start, end) whose line holds `wanted` and that pass `test`."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return
    with handle:
        stop = handle.seek(0, os.SEEK_END) if end is None else end
        position, carry = start, b""
        while position < stop:
            handle.seek(position)
            data = handle.read(min(CHUNK, stop - position))
            if not data:
                break
            position += len(data)
            block = carry + data
            carry = b""
            if position < stop:  # a line cut by the block's end is read whole with the next block
                cut = block.rfind(b"\n") + 1
                block, carry = block[:cut], block[cut:]
            for line in _lines_holding(block, wanted):
                entry = entry_or_none(line)
                if entry is not None and test(entry):
                    yield entry


def _lines_holding(block: bytes, wanted: bytes) -> Iterator[bytes]:
    for line_start, line_end in _line_bounds(block, wanted, 0):
        yield block[line_start:line_end]


def _line_bounds(block: bytes, wanted: bytes, head: int) -> Iterator[tuple[int, int]]:
    """[start, end) of each line of block[head:] that holds `wanted`, in order."""
    found = block.find(wanted, head)
    while found >= 0:
        line_start = block.rfind(b"\n", head, found) + 1 or head
        line_end = block.find(b"\n", found)
        line_end = len(block) if line_end < 0 else line_end
        yield line_start, line_end
        found = block.find(wanted, line_end)


def _is_check(entry: Entry) -> bool:
    return entry.get("action") == CHECK


def check_runs(path: Path, *, start: int = 0, end: int | None = None) -> list[Entry]:
    """Every journaled troubleshooting-check run (what completion and the device proof read), oldest first."""
    return list(matching(path, needle(CHECK), _is_check, start=start, end=end))


def step_entries(path: Path, step: str, *, start: int = 0, end: int | None = None) -> list[Entry]:
    """`step`'s entries in [start, end), oldest first."""
    return list(matching(path, needle(step), lambda entry: entry.get("step") == step, start=start, end=end))


class Page(NamedTuple):  # a NamedTuple, not a dataclass: `runbook status` imports this, and those cost ms to build
    entries: list[Entry]  # oldest first
    start: int  # the byte where the oldest one begins: the next older page ends there; 0: nothing older

    @property
    def more(self) -> bool:
        return self.start > 0


def step_page(path: Path, step: str, limit: int, *, end: int | None = None) -> Page:
    """`step`'s newest `limit` entries before byte `end`, read backwards from there."""
    wanted = needle(step)
    found: list[Entry] = []
    for offset, line in _lines_backwards(path, end, wanted):
        entry = entry_or_none(line)
        if entry is not None and entry.get("step") == step:
            found.append(entry)
            if len(found) == limit:
                return Page(found[::-1], offset)
    return Page(found[::-1], 0)


def last_entry(path: Path, end: int | None = None) -> Entry | None:
    """The newest readable entry before byte `end`."""
    return newest(path, b"{", lambda entry: True, end=end)


def newest(path: Path, wanted: bytes, test: Callable[[Entry], bool], *, end: int | None = None) -> Entry | None:
    """The newest entry before byte `end` whose line holds `wanted` and that passes `test`, read backwards: e.g.
    the highest driver epoch is the newest entry's that names one (`needle("epoch")`), not a walk of the file."""
    for _, line in _lines_backwards(path, end, wanted):
        if (entry := entry_or_none(line)) is not None and test(entry):
            return entry
    return None


def _lines_backwards(path: Path, end: int | None, wanted: bytes) -> Iterator[tuple[int, bytes]]:
    """Newest first, (offset, line) of each line before byte `end` that holds `wanted`."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return
    with handle:
        position = handle.seek(0, os.SEEK_END) if end is None else end  # always the start of a line
        while position > 0:
            start = max(0, position - CHUNK)
            handle.seek(start)
            block = handle.read(position - start)
            # The block's first line may begin before it: it is read whole with the block before (no copying).
            # Its last byte ends the last line, so only a newline before that can end a cut first line.
            head = block.find(b"\n", 0, len(block) - 1) + 1 if start > 0 else 0
            if start > 0 and head == 0:  # one line longer than a block: read it with a bigger one
                position, block = _whole_line_before(handle, position)
                head = 0
                start = position
            bounds = list(_line_bounds(block, wanted, head))  # found forwards: bytes.find is the fast one
            for line_start, line_end in reversed(bounds):
                yield start + line_start, block[line_start:line_end]
            position = start + head


def _whole_line_before(handle: IO[bytes], position: int) -> tuple[int, bytes]:
    """(where it starts, the line) of the line that ends at `position`, however long."""
    start = position
    while start > 0:
        start = max(0, start - CHUNK)
        handle.seek(start)
        cut = handle.read(position - start).rfind(b"\n", 0, max(0, position - start - 1))
        if cut >= 0:
            start += cut + 1
            break
    handle.seek(start)
    return start, handle.read(position - start)


class JournalSummary(NamedTuple):
    """What views summarise from a journal read up to byte `size`: its check runs and its newest entry.

    `advance()` reads only what was appended since; a journal that shrank (replaced or cut) is read afresh.
    """

    path: Path
    size: int = 0
    checks: tuple[Entry, ...] = ()
    last: Entry | None = None

    def advance(self) -> JournalSummary:
        end = size(self.path)
        if end == self.size:
            return self
        start, checks = (self.size, self.checks) if end > self.size else (0, ())
        return JournalSummary(self.path, end, checks + tuple(check_runs(self.path, start=start, end=end)),
                              last_entry(self.path, end))

"""The append-only journal beside a session: one JSON line per event, each hash-chained to the one before.

Appending never rewrites the file, so a 5,000-entry journal costs the same per
event as an empty one; `check()` re-walks the chain and says where it breaks.
A chain alone cannot show that entries were cut from its end (or that the last
one was rewritten with a fresh hash), so every append also replaces a small head
anchor beside the journal (`<session>.journal.head`: the last seq and hash).
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from runbook.session import now_iso, operator

GENESIS = "0" * 64
TAIL_BYTES = 65536


def _digest(entry: dict[str, Any]) -> str:
    body = {key: value for key, value in entry.items() if key != "hash"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


@dataclass
class JournalProblem:
    line: int
    message: str


def head_anchor_path(path: Path) -> Path:
    return path.with_suffix(".head")


class Journal:
    def __init__(self, path: Path):
        self.path = path
        self.anchor_path = head_anchor_path(path)

    def entries(self) -> Iterator[dict[str, Any]]:
        if not self.path.exists():
            return
        with self.path.open(encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    yield json.loads(line)

    def last(self) -> dict[str, Any] | None:
        """The newest entry, read from the file's tail only."""
        try:
            with self.path.open("rb") as handle:
                handle.seek(0, os.SEEK_END)
                size = handle.tell()
                handle.seek(max(0, size - TAIL_BYTES))
                lines = [line for line in handle.read().splitlines() if line.strip()]
        except FileNotFoundError:
            return None
        for line in reversed(lines):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                continue
        return None

    def append(self, *, step: str | None, action: str, outcome: str, note: str | None = None,
               details: dict[str, Any] | None = None, who: str | None = None,
               acting_as: str | None = None) -> dict[str, Any]:
        """`who`: the person at the keyboard; `acting_as`: who the server saw (bind user, Kerberos principal)."""
        previous = self.last()
        entry: dict[str, Any] = {
            "seq": (previous["seq"] + 1) if previous else 1,
            "time": now_iso(), "operator": who or operator(), "step": step, "action": action, "outcome": outcome,
        }
        if acting_as:
            entry["as"] = acting_as
        if note:
            entry["note"] = note
        if details:
            entry["details"] = details
        entry["prev"] = previous["hash"] if previous else GENESIS
        entry["hash"] = _digest(entry)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = (json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8")
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
        self._write_anchor(entry)
        return entry

    def _write_anchor(self, entry: dict[str, Any]) -> None:
        tmp = self.anchor_path.with_name(f".{self.anchor_path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"seq": entry["seq"], "hash": entry["hash"]}) + "\n", encoding="utf-8")
        os.replace(tmp, self.anchor_path)

    def anchor(self) -> dict[str, Any] | None:
        """The head anchor ({seq, hash}), or None for a journal written before anchors existed."""
        try:
            data = json.loads(self.anchor_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except ValueError:
            return {"seq": None, "hash": None}
        return data if isinstance(data, dict) else {"seq": None, "hash": None}

    def check(self) -> list[JournalProblem]:
        """Every place where the chain is broken: an edited, removed, inserted, reordered or cut-off entry."""
        problems: list[JournalProblem] = []
        previous_hash, expected_seq = GENESIS, 1
        hashes: dict[int, tuple[int, str]] = {}  # seq -> (line, hash), for the head anchor
        last_line, last_seq = 0, 0
        anchor = self.anchor()
        if not self.path.exists():
            if anchor and anchor.get("seq"):
                problems.append(JournalProblem(1, f"the journal is missing, but its head anchor says {anchor['seq']} "
                                                  "entries were written"))
            return problems
        with self.path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                last_line = number
                if not line.strip():
                    continue
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    problems.append(JournalProblem(number, "not valid JSON (edited by hand, or cut off mid-line)"))
                    continue
                seq = entry.get("seq")
                if seq != expected_seq:
                    problems.append(JournalProblem(number, f"entry seq {seq} where {expected_seq} was expected "
                                                           "(an entry was removed, inserted or moved)"))
                if entry.get("prev") != previous_hash:
                    problems.append(JournalProblem(number, f"entry seq {seq} does not chain to the entry before it"))
                if _digest(entry) != entry.get("hash"):
                    problems.append(JournalProblem(number, f"entry seq {seq} was modified after it was written "
                                                           "(its hash does not match its content)"))
                previous_hash = entry.get("hash", "")
                if isinstance(seq, int):
                    hashes.setdefault(seq, (number, previous_hash))
                    last_seq = seq
                expected_seq = (seq if isinstance(seq, int) else expected_seq) + 1
        if anchor is not None:
            problems.extend(_anchor_problems(anchor, hashes, last_line, last_seq))
        return problems

    def head(self) -> str:
        last = self.last()
        return last["hash"] if last else GENESIS

    def verdict(self) -> tuple[bool, list[str]]:
        """`journal --check` in words: (intact, the lines to show): one line when intact, else one per problem."""
        problems = self.check()
        if problems:
            return False, [f"line {problem.line}: {problem.message}" for problem in problems]
        last = self.last()
        return True, [f"journal intact: {last['seq'] if last else 0} entries, head {self.head()}"]


def _anchor_problems(anchor: dict[str, Any], hashes: dict[int, tuple[int, str]], last_line: int,
                     last_seq: int) -> list[JournalProblem]:
    seq, digest = anchor.get("seq"), anchor.get("hash")
    if not isinstance(seq, int):
        return [JournalProblem(last_line + 1, "the head anchor is unreadable (edited by hand?)")]
    if seq > last_seq:
        missing = seq - last_seq
        return [JournalProblem(last_line + 1, f"the journal ends at seq {last_seq}, but seq {seq} was written: "
                                              f"{missing} entr{'y' if missing == 1 else 'ies'} cut from the end")]
    line, found = hashes.get(seq, (last_line + 1, ""))
    if found != digest:
        return [JournalProblem(line, f"entry seq {seq} is not the entry that was written last time it was the head "
                                     "(rewritten with a fresh hash)")]
    if seq < last_seq:
        after = hashes.get(seq + 1, (line + 1, ""))[0]
        return [JournalProblem(after, f"entries after seq {seq} are not covered by the head anchor (appended "
                                      "outside runbook, or it stopped between an entry and its anchor)")]
    return []

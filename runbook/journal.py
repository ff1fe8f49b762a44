"""The append-only journal beside a session: one JSON line per event, each hash-chained to the one before.

Appending never rewrites the file, so a 5,000-entry journal costs the same per
event as an empty one; `check()` re-walks the chain and says where it breaks.
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


class Journal:
    def __init__(self, path: Path):
        self.path = path

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
               details: dict[str, Any] | None = None, who: str | None = None) -> dict[str, Any]:
        previous = self.last()
        entry: dict[str, Any] = {
            "seq": (previous["seq"] + 1) if previous else 1,
            "time": now_iso(), "operator": who or operator(), "step": step, "action": action, "outcome": outcome,
        }
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
        return entry

    def check(self) -> list[JournalProblem]:
        """Every place where the chain is broken: an edited, removed, inserted or reordered entry."""
        problems: list[JournalProblem] = []
        previous_hash, expected_seq = GENESIS, 1
        if not self.path.exists():
            return problems
        with self.path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    problems.append(JournalProblem(number, "not valid JSON (edited by hand?)"))
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
                expected_seq = (seq if isinstance(seq, int) else expected_seq) + 1
        return problems

    def head(self) -> str:
        last = self.last()
        return last["hash"] if last else GENESIS

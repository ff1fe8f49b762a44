"""A test hook: die (as a `kill -9` would) at a named write boundary, to prove the record survives any crash.

Off unless RUNBOOK_CRASH_AT is set, which only the kill-injection tests do. `RUNBOOK_CRASH_AT=N` dies at the
N-th boundary reached in this process, `NAME:N` at the N-th time NAME is reached. Before dying it runs what a
real server would already have made durable (the rehearsal lab's state), so a write that "reached the server"
stays written, as it would on a real domain controller.
"""
from __future__ import annotations

import os
from typing import Callable

EXIT_CODE = 137
_counts: dict[str, int] = {}
_durable: list[Callable[[], None]] = []


def on_crash(flush: Callable[[], None]) -> None:
    """Register what must survive a crash because it lives outside this process in reality (a server's state)."""
    if os.environ.get("RUNBOOK_CRASH_AT"):
        _durable.append(flush)


def reached(name: str) -> None:
    wanted = os.environ.get("RUNBOOK_CRASH_AT")
    if not wanted:
        return
    _counts[""] = _counts.get("", 0) + 1
    _counts[name] = _counts.get(name, 0) + 1
    log = os.environ.get("RUNBOOK_CRASH_LOG")
    if log:  # every boundary passed, so a test can count them and then crash at each in turn
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(f"{name}\n")
    where, _, number = wanted.rpartition(":")
    if (where and where != name) or _counts[where] != int(number or 0):
        return
    for flush in _durable:
        flush()
    os._exit(EXIT_CODE)


def count(name: str = "") -> int:
    return _counts.get(name, 0)

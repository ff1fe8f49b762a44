"""The device proof as the journal remembers it: the newest `check device` run, for status and the change record.

`runbook check SESSION device` journals its outcome and one-line summary (never a key or its path's content); this
module only reads that back, so every view says the same thing about the last proof.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

NOT_RUN = "not run yet (`runbook check SESSION device`)"


class Proof(NamedTuple):
    """One `check device` run's outcome, as the journal recorded it (a NamedTuple: `status` reads it, and
    importing `dataclasses` cost status a sixth of its time)."""

    time: str
    operator: str
    ok: bool
    summary: str

    @property
    def line(self) -> str:
        """e.g. 'ok (2026-12-03T21:52:10Z, alice@jump1): a device with alice@test.lan's certificate syncs: …'."""
        return f"{'ok' if self.ok else 'FAIL'} ({self.time}, {self.operator}): {self.summary}"


def last_proof(entries: Iterable[dict[str, Any]]) -> Proof | None:
    found = None
    for entry in entries:
        details = entry.get("details") or {}
        if entry.get("action") == "check" and "device" in (details.get("checks") or []):
            found = Proof(time=str(entry.get("time", "")), operator=str(entry.get("operator", "")),
                          ok=entry.get("outcome") == "ok",
                          summary=str(details.get("summary") or entry.get("outcome", "")))
    return found


def proof_text(entries: Iterable[dict[str, Any]]) -> str:
    proof = last_proof(entries)
    return proof.line if proof else NOT_RUN

"""Whether the change is complete, and if not, why: the one answer that status, the report and the TUI all show.

Complete means every applicable step is done (or done by hand) and its last verification is in place — or, for a
step done by hand whose verification could not run at all, it was recorded done-unverified with that reason —,
no troubleshooting check has an open fault, and every skip carries its reason. "Settled" (the progress count)
is not enough: a failed-then-marked, drifted or never-verified step is settled and still not done.
"""
from __future__ import annotations

from typing import Any, Iterable, NamedTuple

from runbook.flow.states import IN_PLACE, State
from runbook.flow.view import SessionView
from runbook.record.journal_tail import check_runs
from runbook.record.session import StepRecord

FAULT_PREFIX = "FAULT: "
WARNING_PREFIX = "warning: "


class Completion(NamedTuple):
    """Whether the change is complete, and why not (a NamedTuple: `status` loads this module)."""

    complete: bool
    reasons: list[str]  # why it is not complete, one line each
    notes: list[str]  # said even when complete: skips and their reasons, unverified

    @property
    def headline(self) -> str:
        if self.complete:
            return "COMPLETE"
        return f"NOT COMPLETE ({len(self.reasons)} open)"


def completion(book: SessionView, entries: Iterable[dict[str, Any]] | None = None) -> Completion:
    """`entries`: the journal's check runs (or the whole journal) when the caller holds them; else read here."""
    reasons: list[str] = []
    notes: list[str] = []
    not_started: list[str] = []
    for instance in book.outline.steps:
        if instance.not_applicable:
            continue
        key = instance.key
        record = book.record(key)
        state = book.display_state(key)
        if state == State.PENDING:
            not_started.append(key)
        elif state == State.RUNNING:
            reasons.append(f"{key}: running now")
        elif state == State.INTERRUPTED:
            reasons.append(f"{key}: interrupted, its real state is unknown: verify it")
        elif state == State.FAILED:
            reasons.append(f"{key}: failed: {record.error or 'see the journal'}")
        elif state == State.UNDONE:
            reasons.append(f"{key}: undone")
        elif state == State.SKIPPED:
            reason = (record.note or "").strip()
            if reason:
                notes.append(f"{key}: skipped: {reason}")
            else:
                reasons.append(f"{key}: skipped without a reason (mark --skip --note REASON adds one)")
        elif state in IN_PLACE:
            problem, note = verification_gap(record)
            if problem:
                reasons.append(f"{key}: {problem}")
            if note:
                notes.append(f"{key}: {note}")
    if not_started:
        reasons.insert(0, "not done yet: " + ", ".join(not_started))
    faults, warnings = open_check_findings(check_runs(book.journal.path) if entries is None else entries)
    for name, lines in faults.items():
        reasons += [f"check {name}: {line}" for line in lines] or [f"check {name}: fault (its details were not "
                                                                   "journaled: run the check again)"]
    for name, lines in warnings.items():
        notes += [f"check {name}: warning: {line}" for line in lines]
    return Completion(not reasons, reasons, notes)


def verification_gap(record: StepRecord) -> tuple[str | None, str | None]:
    """For a step believed in place: (why its last verification does not count, a note worth showing)."""
    verified = record.verified
    if not verified:
        return "done, but never verified (verify it)", None
    if verified.get("ok") is True:
        return None, None
    if verified.get("unverified"):
        return None, f"done by hand, not verified: {verified['unverified']}"
    mismatches = [_strip(f, "[MISMATCH] ") for f in verified.get("findings") or [] if not str(f).startswith("[ok]")]
    if verified.get("at") and record.updated and str(verified["at"]) < str(record.updated):
        return "the last verify (a mismatch) was read before it was done: verify it again", None
    return "the last verify disagrees: " + ("; ".join(mismatches) or "see the journal"), None


def verification_word(verified: dict[str, Any] | None) -> str:
    """The last verification in one word or phrase, for tables: -, ok, MISMATCH, or not verified."""
    if not verified:
        return "-"
    if verified.get("ok") is True:
        return "ok"
    if verified.get("unverified"):
        return "not verified"
    return "MISMATCH"


def open_check_findings(entries: Iterable[dict[str, Any]]) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Per check name, the faults (and warnings) of its newest journaled run: a later passing run closes them."""
    faults: dict[str, list[str]] = {}
    warnings: dict[str, list[str]] = {}
    for entry in entries:
        if entry.get("action") != "check":
            continue
        details = entry.get("details") or {}
        failed = details.get("faults")
        if not isinstance(failed, dict):  # journaled before the lines were kept: only the names, in the outcome
            outcome = str(entry.get("outcome", ""))
            names = outcome[len("faults: "):].split(", ") if outcome.startswith("faults: ") else []
            failed = {name: [] for name in names if name}
        journaled_warnings = details.get("warnings")
        warned: dict[str, Any] = journaled_warnings if isinstance(journaled_warnings, dict) else {}
        for name in [*(details.get("checks") or []), *failed]:
            faults.pop(name, None)
            warnings.pop(name, None)
            if name in failed:
                faults[name] = [_strip(line, FAULT_PREFIX) for line in failed[name]]
            elif warned.get(name):
                warnings[name] = [_strip(line, WARNING_PREFIX) for line in warned[name]]
    return faults, warnings


def _strip(line: Any, prefix: str) -> str:
    text = str(line)
    return text[len(prefix):] if text.startswith(prefix) else text

"""What the change record shows, as typed data: built once (runbook.reports.change_record.build) from the session
and one journal pass, laid out by one template per format (runbook.reports.markdown, runbook.reports.html).

The long lists (what each step changed, noted and left alone; the journal's rows) are `Items`, read from the journal
pass's spools while they are written: a record of 50,000 entries holds no more of them in memory than one of 5,000.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, NamedTuple

from runbook.flow.completion import Completion
from runbook.reports.journal_pass import Items


@dataclass(frozen=True)
class Verified:
    """A step's last stored verification."""

    word: str  # -, ok, MISMATCH or not verified (runbook.flow.completion.verification_word)
    at: str | None
    by: str | None
    unverified: str | None  # why no verification could run
    findings: list[str]


@dataclass(frozen=True)
class ChangeLine:
    """One journaled change of a step, and whether it is still in force."""

    time: str
    operator: str
    text: str  # the change, with its before and after values
    status: str  # done, in force, reverted since, revert, in force (no journal entry)


@dataclass(frozen=True)
class Ack:
    """The second operator's acknowledgement of a step's point of no return."""

    time: str
    by: str
    plan: str  # the acknowledged plan's digest, shortened


@dataclass(frozen=True)
class StepNote:
    time: str
    operator: str
    action: str  # the journal action the note came with
    note: str


@dataclass(frozen=True)
class ChecklistItem:
    number: int
    text: str
    by: str | None  # who ticked it; None: not ticked
    at: str | None


@dataclass(frozen=True)
class StepSection:
    key: str
    title: str
    why: str
    state: str
    by: str | None
    when: str | None
    not_applicable: str | None  # why the step does not apply to this change
    error: str | None
    verified: Verified | None
    before: list[str]  # a step done by hand: what the verify before the mark saw differ
    manual: list[ChecklistItem]
    history: Items[ChangeLine]
    log: Items[str]  # what the step left alone, in its words
    acks: Items[Ack]
    notes: Items[StepNote]

    @property
    def mark(self) -> str:
        """The verification in one word, for the steps table."""
        return self.verified.word if self.verified else "-"


@dataclass(frozen=True)
class Event:
    """A handover, takeover, acknowledgement, time-out or settings change: the record's events, in time order."""

    time: str
    operator: str
    text: str


class JournalRow(NamedTuple):
    """One row of the journal table. A NamedTuple, not a dataclass: the journal pass pickles one per entry, and a
    tuple pickles at a fraction of the cost."""

    seq: str
    time: str
    operator: str
    step: str
    action: str
    outcome: str
    note: str


@dataclass(frozen=True)
class JournalFacts:
    entries: int
    head: str  # the newest entry's hash
    problems: list[str]  # what the chain check found, "line N: ..."; empty: intact
    first: str | None  # time of the first entry
    last: str | None
    rows: Items[JournalRow]

    @property
    def intact(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class ChangeRecord:
    name: str
    path: str
    topology: str
    chain: str
    environment: str  # production, or the rehearsal lab's scenario
    created: str
    created_by: str
    operators: list[str]
    progress: str
    counts: str  # steps per state
    completion: Completion
    two_person: bool
    device_proof: str
    diagram: list[str]  # the path a request takes, hop by hop
    params: list[tuple[str, str]]  # dotted name, value
    steps: list[StepSection]
    events: list[Event]
    journal: JournalFacts
    close: Callable[[], None] = field(repr=False, compare=False)  # releases the journal pass's spools

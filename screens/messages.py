"""What thread workers tell the screens. Workers never touch widgets; they post one of these."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from textual.message import Message

from runbook.flow.changes import Plan
from runbook.flow.engine import Runbook
from runbook.record.journal_tail import JournalSummary


@dataclass
class SessionOpened(Message):
    book: Runbook
    journal: JournalSummary
    following: str | None = None  # who drives, when this view only follows
    reloaded: bool = False  # a follow-mode refresh rather than the first open


@dataclass
class OpenFailed(Message):
    message: str


@dataclass
class BusyChanged(Message):
    """What the running worker is doing now (reading the live state, then, once confirmed, applying)."""

    text: str


@dataclass
class ActionDone(Message):
    action: str
    key: str | None
    summary: str
    lines: list[str] = field(default_factory=list)
    journal: JournalSummary | None = None


@dataclass
class ActionFailed(Message):
    action: str
    key: str | None
    message: str
    journal: JournalSummary | None = None


@dataclass
class ActionCancelled(Message):
    action: str
    key: str | None
    message: str


@dataclass
class PlanReady(Message):
    key: str
    plan: Plan | None
    error: str | None = None


@dataclass
class SessionsListed(Message):
    rows: list[dict[str, Any]]


@dataclass
class SessionCreated(Message):
    path: Any  # pathlib.Path of the new session


@dataclass
class CheckStarted(Message):
    name: str
    index: int  # 1-based, of `total`
    total: int


@dataclass
class CheckFinished(Message):
    run: Any  # runbook.checks.runs.CheckRun


@dataclass
class CheckRefused(Message):
    name: str
    message: str  # the input it needs (a file that is not there), or why it could not run at all


@dataclass
class ChecksEnded(Message):
    journal: JournalSummary | None  # the journal after the run was recorded; None: nothing recorded
    stopped: bool = False


@dataclass
class RecordRead(Message):
    head: list[str]  # the verdict lines shown first (journal check, back-out headline)
    ok: bool
    body: list[str]


@dataclass
class ReportWritten(Message):
    path: Any  # pathlib.Path written
    error: str | None = None

"""What the session's thread workers tell the screens. Workers never touch widgets; they post one of these.

The messages of a screen's own workers (checks, journal and back-out, report, the sessions list) are defined
beside that screen: opening a session need not build them (each dataclass costs ≈0.5 ms to create).
"""
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
    """What the running worker is doing now (reading the live state, then, once confirmed, applying); `waiting`
    while it waits for the operator's answer (nothing runs then)."""

    text: str
    waiting: bool = False


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
class SessionCreated(Message):
    path: Any  # pathlib.Path of the new session

"""What thread workers tell the screens. Workers never touch widgets; they post one of these."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from textual.message import Message

from runbook.changes import Plan
from runbook.engine import Runbook


@dataclass
class SessionOpened(Message):
    book: Runbook
    entries: list[dict[str, Any]]
    following: str | None = None  # who drives, when this view only follows
    reloaded: bool = False  # a follow-mode refresh rather than the first open


@dataclass
class OpenFailed(Message):
    message: str


@dataclass
class ActionDone(Message):
    action: str
    key: str | None
    summary: str
    lines: list[str] = field(default_factory=list)
    entries: list[dict[str, Any]] | None = None


@dataclass
class ActionFailed(Message):
    action: str
    key: str | None
    message: str
    entries: list[dict[str, Any]] | None = None


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

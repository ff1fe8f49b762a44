"""A session: one change on one environment, as a plain data model that round-trips through YAML."""
from __future__ import annotations

import os
from typing import Any

from runbook import clock
from runbook.errors import SessionFileError
from runbook.flow.states import State
from runbook.record import session_fields as fields
from runbook.record.plain import Plain

SCHEMA_VERSION = 2  # 2: a snapshot of the journal (carries `journal`: the position it reflects)


def operator() -> str:
    """Who is acting: user@host (RUNBOOK_OPERATOR overrides, e.g. a named admin behind a shared jump account)."""
    if os.environ.get("RUNBOOK_OPERATOR"):
        return os.environ["RUNBOOK_OPERATOR"]
    import getpass  # here, not at import: read-only commands such as `status` never ask who is acting

    try:
        user = getpass.getuser()
    except Exception:  # no passwd entry in some containers
        user = str(os.getuid())
    return f"{user}@{host_name()}"


def host_name() -> str:
    """This machine's name, as operators, lock holders and acknowledgements record it."""
    import socket

    return socket.gethostname()


class StepRecord(Plain):
    """What the session holds for one step instance: its state, who moved it last, what it changed (a plain class:
    see runbook.record.plain)."""

    __slots__ = ("state", "updated", "by", "note", "error", "action", "changes", "undone", "verified", "ticks",
                 "intents")

    def __init__(self, state: State = State.PENDING, updated: str | None = None, by: str | None = None,
                 note: str | None = None, error: str | None = None, action: str | None = None,
                 changes: list[dict[str, Any]] | None = None, undone: list[dict[str, Any]] | None = None,
                 verified: dict[str, Any] | None = None, ticks: dict[str, dict[str, str]] | None = None,
                 intents: list[dict[str, Any]] | None = None):
        self.state = state
        self.updated = updated
        self.by = by
        self.note = note
        self.error = error
        self.action = action  # what a running step was doing: execute | undo
        self.changes: list[dict[str, Any]] = [] if changes is None else changes  # in force, oldest first
        self.undone: list[dict[str, Any]] = [] if undone is None else undone  # reverted earlier, kept for the record
        self.verified = verified  # {at, by, ok, findings: [...]}
        self.ticks: dict[str, dict[str, str]] = {} if ticks is None else ticks  # item index → {by, at}
        self.intents: list[dict[str, Any]] = [] if intents is None else intents  # writes begun, outcome not known

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"state": self.state.value}
        for key in ("updated", "by", "note", "error", "action", "verified"):
            if getattr(self, key) is not None:
                data[key] = getattr(self, key)
        for key in ("changes", "undone", "ticks", "intents"):
            if getattr(self, key):
                data[key] = getattr(self, key)
        return data

    @classmethod
    def from_dict(cls, key: str, data: Any) -> StepRecord:
        if not isinstance(data, dict):
            raise SessionFileError(f"steps.{key}: expected a mapping, got {type(data).__name__}")
        try:
            state = State(data.get("state", "pending"))
        except ValueError:
            raise SessionFileError(f"steps.{key}.state: {data.get('state')!r} is not a known state "
                                   f"({', '.join(s.value for s in State)})") from None
        where = f"steps.{key}"
        record = cls(state=state)
        for name in ("updated", "by", "note", "error", "action"):
            setattr(record, name, fields.text(data.get(name), f"{where}.{name}"))
        record.verified = fields.verified(data.get("verified"), f"{where}.verified")
        record.changes = fields.changes(data.get("changes"), f"{where}.changes")
        record.undone = fields.changes(data.get("undone"), f"{where}.undone")
        record.ticks = fields.ticks(data.get("ticks"), f"{where}.ticks")
        record.intents = fields.intents(data.get("intents"), f"{where}.intents")
        return record


class Session(Plain):
    """One change in progress: its params and each step instance's record (a plain class, as StepRecord)."""

    __slots__ = ("name", "params", "created", "created_by", "steps", "lab", "settings", "journal", "recovered",
                 "kept_aside")
    COMPARED = __slots__[:8]  # why it was recovered, and where a damaged file went, are not the session itself

    def __init__(self, name: str, params: dict[str, Any], created: str | None = None, created_by: str | None = None,
                 steps: dict[str, StepRecord] | None = None, lab: dict[str, Any] | None = None,
                 settings: dict[str, Any] | None = None, journal: dict[str, Any] | None = None,
                 recovered: str | None = None, kept_aside: str | None = None):
        self.name = name
        self.params = params
        self.created = clock.now_iso() if created is None else created
        self.created_by = operator() if created_by is None else created_by
        self.steps: dict[str, StepRecord] = {} if steps is None else steps
        self.lab = lab  # present for rehearsal sessions: {scenario, state_file, seed, ...}
        self.settings: dict[str, Any] = {} if settings is None else settings  # e.g. two_person_confirm
        self.journal = journal  # the journal position this snapshot reflects: {seq, hash, offset}
        self.recovered = recovered  # why it was rebuilt from the journal on load
        self.kept_aside = kept_aside  # where the damaged file it replaced was moved

    def record(self, key: str) -> StepRecord:
        return self.steps.setdefault(key, StepRecord())

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"schema": SCHEMA_VERSION}
        if self.journal:
            data["journal"] = self.journal
        data |= {
            "name": self.name, "created": self.created, "created_by": self.created_by,
            "params": self.params,
            "steps": {key: record.to_dict() for key, record in self.steps.items()},
        }
        if self.lab:
            data["lab"] = self.lab
        if self.settings:
            data["settings"] = self.settings
        return data

    @classmethod
    def from_dict(cls, data: Any, source: str) -> Session:
        if not isinstance(data, dict):
            raise SessionFileError(f"{source}: not a session file (expected a mapping with schema, params, steps)")
        schema = data.get("schema")
        if not isinstance(schema, int):
            raise SessionFileError(f"{source}: schema: missing or not a number (expected {SCHEMA_VERSION})")
        if schema > SCHEMA_VERSION:
            raise SessionFileError(f"{source}: schema {schema} is newer than this runbook understands "
                                   f"({SCHEMA_VERSION}); upgrade certauth-runbook, the file is left untouched")
        if not isinstance(data.get("params"), dict):
            raise SessionFileError(f"{source}: params: missing or not a mapping")
        raw_steps = data.get("steps") or {}
        if not isinstance(raw_steps, dict):
            raise SessionFileError(f"{source}: steps: expected a mapping of step id to record")
        try:
            return cls(
                name=fields.text(data.get("name", ""), "name", optional=False) or "",
                params=data["params"],
                created=fields.text(data.get("created", ""), "created", optional=False) or "",
                created_by=fields.text(data.get("created_by", ""), "created_by", optional=False) or "",
                steps={str(key): StepRecord.from_dict(str(key), value) for key, value in raw_steps.items()},
                lab=fields.lab(data.get("lab"), "lab"), settings=fields.settings(data.get("settings"), "settings"),
                journal=fields.journal_position(data.get("journal"), "journal"),
            )
        except SessionFileError as exc:
            raise SessionFileError(f"{source}: {exc}; left untouched") from None

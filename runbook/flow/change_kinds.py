"""Change kinds: each kind of change a step records, registered once with how to write, read and revert it.

The step family that makes a kind registers it (steps/host_changes.py, steps/directory_changes.py); the engine,
recovery and the reports look it up by the name a `Change` carries, since runbook/ never imports steps/.
A kind's flags (`restarts`) are read here, never by comparing kind names.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from runbook.errors import StepFailed
from runbook.flow.changes import Change

if TYPE_CHECKING:
    from runbook.flow.context import StepContext


@dataclass(frozen=True)
class ChangeKind:
    """One kind of change. `apply` is the write alone: the family's apply journals the intent before it and the
    change after it, so every kind is write-ahead the same way."""

    name: str
    apply: Callable[[StepContext, Change], None]  # the write; fills before/after from what the target answered
    took: Callable[[StepContext, Change], bool | None]  # in force now? None: a restart leaves nothing to read
    revert: Callable[[Change], Change]  # the change that puts it back (revert=True)
    read: Callable[[StepContext, Change], Any] | None = None  # the live value; None: nothing to read (a restart)
    drift: Callable[[Change, Any], str | None] = lambda change, live: None  # given the live value: why undoing
    # it now would be unsafe (it moved since), or None
    restarts: str | None = None  # the service a change of this kind restarts: a point of no return


_KINDS: dict[str, ChangeKind] = {}


def register(kind: ChangeKind) -> ChangeKind:
    """Add `kind` to the registry. A second kind under a name already taken is a programming error."""
    known = _KINDS.get(kind.name)
    if known is not None and known is not kind:
        raise ValueError(f"change kind {kind.name!r} is registered twice")
    _KINDS[kind.name] = kind
    return kind


def kind_of(name: str) -> ChangeKind:
    try:
        return _KINDS[name]
    except KeyError:
        raise StepFailed(f"change kind {name!r} is not known to this runbook (known: "
                         f"{', '.join(sorted(_KINDS)) or 'none registered'}): was the session written by a "
                         "newer version?") from None


def registered() -> tuple[str, ...]:
    return tuple(sorted(_KINDS))


def restart_of(changes: Iterable[Change]) -> Change | None:
    """The newest recorded change that restarts a service (what an undo repeats once at its end), or None."""
    found = None
    for change in changes:
        if kind_of(change.kind).restarts:
            found = change
    return found


def opposite(change: Change, op: str | None = None) -> Change:
    """The revert of a value change: an add removed, a remove added back, a set back to the value before (`op`
    when the way back differs, e.g. inheriting again)."""
    back = op or {"add": "remove", "remove": "add"}.get(change.op, change.op)
    return replace(change, op=back, before=change.after, after=change.before, note="", revert=True)


def read_live(ctx: StepContext, change: Change) -> Any:
    """The live value of what `change` is about, through its kind."""
    kind = kind_of(change.kind)
    if kind.read is None:
        raise StepFailed(f"{change.describe()}: a {kind.name} leaves nothing to read")
    return kind.read(ctx, change)

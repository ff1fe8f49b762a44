"""After a crash: what the journal knows a step did, and what its open write-ahead intents really did.

An intent is journaled before every remote write and closed by the change entry after it. One
still open means the process died (or the reply was lost) in between: the live value is read
and the outcome recorded, so undo reverts exactly what is in force, even after a kill during an undo.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runbook.errors import RunbookError
from runbook.flow.change_kinds import kind_of
from runbook.flow.changes import Change
from runbook.record.session import StepRecord

if TYPE_CHECKING:
    from runbook.flow.context import StepContext
    from runbook.flow.engine import Runbook


def interrupted_note(record: StepRecord) -> str:
    """What the resuming operator is told about a step whose driver died while it ran."""
    doing = record.action or "execute"
    recorded = [Change.from_dict(change).describe() for change in record.changes]
    text = f"was running ({doing}) when the driving process died. "
    if recorded:
        shown = "; ".join(recorded[:3]) + (f"; and {len(recorded) - 3} more" if len(recorded) > 3 else "")
        text += f"The journal records {len(recorded)} change{'s' if len(recorded) != 1 else ''} in force: {shown}. "
    else:
        text += "The journal records no change of it in force. "
    if record.intents:
        count = len(record.intents)
        text += (f"{count} write{'s were' if count != 1 else ' was'} in flight; verify reads the live state and "
                 "records what took")
    else:
        text += "No write was in flight; verify before running again"
    return text


def resolve(book: Runbook, key: str, ctx: StepContext) -> list[str]:
    """Settle every open intent of `key` from the live state; returns what was found, in words. An intent whose
    target cannot be read now stays open (the next verify tries again)."""
    record = book.record(key)
    found: list[str] = []
    for intent in list(record.intents):
        change = Change.from_dict(intent["change"])
        try:
            took = kind_of(change.kind).took(ctx, change)
        except RunbookError as exc:
            found.append(f"{change.describe()}: cannot read it now ({exc}); still open")
            continue
        found.append(_settle(book, key, intent, change, took))
    return found


def _settle(book: Runbook, key: str, intent: dict[str, Any], change: Change, took: bool | None) -> str:
    revert = change.revert
    if took is None:  # a restart: whether it ran cannot be read; recorded, so that undo restarts again after it
        book.recorder.commit(step=key, action="change", outcome="may have run (a restart leaves nothing to read): "
                             "recorded, so undo restarts again", details=change.to_dict(),
                             extra={"intent": intent["seq"]})
        return f"{change.describe()}: may have run before the interruption (recorded; undo repeats it)"
    if took:
        book.recorder.commit(step=key, action="change", outcome="applied (found in force after an interruption)",
                             details=change.to_dict(), extra={"intent": intent["seq"]})
        return f"{change.describe()}: {'reverted' if revert else 'applied'} before the interruption (recorded now)"
    outcome = "not applied (the live value is as it was before)"
    book.recorder.commit(step=key, action="intent-resolved", outcome=outcome, details={"intent": intent["seq"]})
    return f"{change.describe()}: {outcome}"

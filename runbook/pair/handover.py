"""Handing a session over between operators, and what a follower is shown before taking over a lock.

A handover is a journal entry written by the driver, who then lets go of the lock: the
note is pending while it is the newest entry, so whoever drives next (CLI or TUI) and
every `runbook watch` shows it; the journal keeps it for the change record. Taking over
is arbitrated by runbook.record.lock and journaled by the engine; this module only says who
holds the lock and whether that holder still looks alive, in words an operator can act on.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, NamedTuple

from runbook.errors import BadInput, Refused
from runbook.flow.states import SETTLED
from runbook.record import store
from runbook.record.journal import Journal
from runbook.record.lock import STALE_SECONDS, Holder, age_words, is_live, pid_alive, read_holder, staleness
from runbook.record.session import host_name, operator

if TYPE_CHECKING:
    from runbook.flow.engine import Runbook

HANDOVER = "handover"


def hand_over(book: Runbook, note: str) -> dict[str, Any]:
    """Journal the handover with the driver's note and a summary of what is open, then release the lock.

    The book stays usable read-only (a follower's view), which is what a TUI switches to afterwards.
    """
    if book.lock is None or not book.lock.still_mine() or book.lock.holder is None:
        raise Refused("only the driver can hand over: this view is read-only")
    if not note.strip():
        raise BadInput("--note: say what the next operator needs to know (what is done, what is open, why)")
    states = {key: book.display_state(key) for key in (i.key for i in book.outline.steps)}
    settled = sum(1 for state in states.values() if state in SETTLED)
    open_steps = {key: state.value for key, state in states.items() if state not in SETTLED}
    entry = book.journal.append(step=None, action=HANDOVER, outcome=f"handed over by {operator()}", note=note,
                                details={"from": book.lock.holder.describe(),
                                         "progress": f"{settled}/{len(states)} settled", "open": open_steps})
    book.lock.release()
    book.lock = None
    return entry


def pending(journal: Journal) -> dict[str, Any] | None:
    """The handover nobody has driven after yet (it is the newest entry), or None."""
    last = journal.last()
    return last if last and last.get("action") == HANDOVER else None


def pending_for(path: Path) -> dict[str, Any] | None:
    return pending(Journal(store.journal_path(path)))


def describe_pending(entry: dict[str, Any]) -> list[str]:
    details = entry.get("details") or {}
    lines = [f"handed over by {entry['operator']} at {entry['time']}: {entry.get('note', '')}"]
    if details.get("progress"):
        lines.append(f"  progress then: {details['progress']}")
    if details.get("open"):
        lines.append("  open then: " + ", ".join(f"{key} ({state})" for key, state in details["open"].items()))
    return lines


def history(entries: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every handover and takeover, with who picked a handover up (the next entry by another operator)."""
    events: list[dict[str, Any]] = []
    waiting: list[dict[str, Any]] = []
    for entry in entries:
        for event in list(waiting):
            if entry["operator"] != event["operator"]:
                event["picked_up"] = {"by": entry["operator"], "time": entry["time"], "seq": entry["seq"]}
                waiting.remove(event)
        if entry.get("action") == HANDOVER:
            event = {"kind": "handover", "seq": entry["seq"], "time": entry["time"], "operator": entry["operator"],
                     "note": entry.get("note", ""), "picked_up": None}
            events.append(event)
            waiting.append(event)
        elif entry.get("action") == "takeover":
            events.append({"kind": "takeover", "seq": entry["seq"], "time": entry["time"],
                           "operator": entry["operator"], "note": (entry.get("details") or {}).get("from", "")})
    return events


# -- before taking over ------------------------------------------------------------------------------------------
class LockView(NamedTuple):
    """A session's lock as someone about to take over sees it (a NamedTuple: `status` loads this module)."""

    holder: Holder
    verdict: str  # "gone": its process died on this host | "live" | "stale"
    heartbeat_age: float

    @property
    def same_host(self) -> bool:
        return self.holder.host == host_name()

    def lines(self) -> list[str]:
        age = age_words(self.heartbeat_age)
        alive = "it looks ALIVE" + (" (its process is running on this host)" if self.same_host else
                                    f" (heartbeat within the last {int(STALE_SECONDS)} s)")
        why = alive if self.verdict == "live" else staleness(self.holder) or "stale"
        return [f"the session is locked by {self.holder.operator}",
                f"  host:           {self.holder.host}",
                f"  pid:            {self.holder.pid}",
                f"  doing:          {self.holder.purpose or 'driving'} since {self.holder.since}",
                f"  last heartbeat: {self.holder.heartbeat} ({age} ago)",
                f"  verdict:        {why}"]


def lock_view(path: Path) -> LockView | None:
    holder = read_holder(store.lock_path(path))
    if holder is None:
        return None
    age = holder.heartbeat_age()
    if holder.host == host_name() and not pid_alive(holder.pid):
        verdict = "gone"
    elif is_live(holder):
        verdict = "live"
    else:
        verdict = "stale"
    return LockView(holder, verdict, age)

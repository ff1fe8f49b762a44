"""The back-out plan: how to return to where this session started, newest change first.

Read-only. Every step with changes still in force gets its `runbook undo` command and the exact
reverts (Change.revert_describe, newest first, with the recorded before-values); a step done by hand gets
its manual items, last first, and the values a verify recorded before it was marked done.
Order is the journal's: the step changed last is backed out first.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from runbook.errors import BadInput
from runbook.flow.change_kinds import kind_of, restart_of
from runbook.flow.changes import Change, Finding, revert_order, show_plain
from runbook.flow.engine import Runbook
from runbook.flow.states import State
from runbook.record import store

# A verify journaled before its findings were kept whole has only their lines.
OLD_MISMATCH_LINE = re.compile(r"^\[MISMATCH\] (?P<what>.*): wanted (?P<wanted>.*), seen (?P<seen>.*)$")


@dataclass
class Item:
    key: str
    title: str
    state: str
    by: str | None
    when: str | None
    order: int  # journal seq of the last thing that put it in force
    command: str | None = None  # automatic: the undo command
    reverts: list[str] = field(default_factory=list)
    manual: list[str] = field(default_factory=list)  # by hand: the items, last first
    before: list[str] = field(default_factory=list)  # by hand: values recorded before the change
    warning: str | None = None


def build(book: Runbook) -> tuple[list[Item], list[str]]:
    """(the items, newest first; the steps this session found already in place and so never changed)."""
    entries = _entries(book)
    session = book.path.stem if store.session_path(book.path.stem) == book.path else str(book.path)
    items, untouched = [], []
    for instance in book.instances:
        key = instance.key
        record, state = book.record(key), book.display_state(key)
        mine = [entry for entry in entries if entry.get("step") == key]
        base: dict[str, Any] = dict(key=key, title=instance.title, state=state.value, by=record.by,
                                    when=record.updated)
        changes = [Change.from_dict(change) for change in record.changes]
        if any(change.op != "action" for change in changes):  # a restart left behind alone changes nothing
            applied = [e["seq"] for e in mine if e.get("action") == "change" and e.get("details") in record.changes]
            restart = restart_of(changes) is not None
            item = Item(**base, order=max(applied or [e["seq"] for e in mine] or [0]),
                        command=f"runbook undo {session} {key} --yes" + (" --allow-restart" if restart else ""),
                        reverts=_reverts(changes))
            if state in (State.INTERRUPTED, State.RUNNING):
                item.warning = (f"it was interrupted: run `runbook verify {session} {key}` first (undo refuses "
                                "until the live state is known)")
            if instance.spec.automation is None:
                item.command, item.warning = None, "no automatic undo: revert these by hand"
            items.append(item)
        elif state == State.MANUAL_DONE:
            marks = [e["seq"] for e in mine if e.get("action") == "mark_done"]
            mark = marks[-1] if marks else 0
            steps = list(enumerate(instance.manual(book.params), 1))
            item = Item(**base, order=mark, manual=[f"{n}. {m.text}" for n, m in reversed(steps)],
                        before=before_values(mine, mark))
            if instance.spec.automation is not None:
                item.warning = "done by hand, so `runbook undo` cannot revert it: reverse it by hand"
            items.append(item)
        elif state == State.DONE:
            untouched.append(key)
    return sorted(items, key=lambda item: item.order, reverse=True), untouched


def _entries(book: Runbook) -> list[dict[str, Any]]:
    from runbook.record import journal_read

    return [entry for _, entry in journal_read.entries(book.journal.path, whole=True)]


def _reverts(changes: list[Change]) -> list[str]:
    """In the order `runbook undo` performs them: newest first, a recorded restart once at the end."""
    return [_revert(change) for change in revert_order(changes)]


def _revert(change: Change) -> str:
    line = change.revert_describe()
    restarts = kind_of(change.kind).restarts
    if restarts:
        return f"then {line} — POINT OF NO RETURN: restarts {restarts}, interrupting every site on it"
    if change.op == "set":
        return f"{line}  (by hand: set it back to {change.show_value(change.before)})"
    if change.op in ("add", "remove"):
        verb = "remove" if change.op == "add" else "add back"
        line += f"  (by hand: {verb} {', '.join(map(str, change.values))}; before: " + \
            ("not set" if change.before is None else show_plain(change.before)) + ")"
    return line


def before_values(mine: list[dict[str, Any]], mark: int) -> list[str]:
    """What the newest verify before the mark saw differ: the values as they were before the manual change."""
    verifies = [e for e in mine if e.get("action") == "verify" and e["seq"] < mark]
    if not verifies:
        return []
    latest = verifies[-1]
    details = latest.get("details") or {}
    when = f"(verify at {latest['time']})"
    if isinstance(details.get("mismatched"), list):
        found = [Finding.from_dict(item) for item in details["mismatched"] if isinstance(item, dict)]
        values = [f"{finding.what}: was {show_plain(finding.seen)} {when}" for finding in found]
    else:
        values = []
        for text in details.get("mismatches", []):
            line = OLD_MISMATCH_LINE.match(text)
            values.append(f"{line['what']}: was {line['seen']} {when}" if line else text)
    return values or [f"a verify at {latest['time']} found it already as wanted"]


# -- words ------------------------------------------------------------------------------------------------------
def render(book: Runbook, fmt: str) -> str:
    if fmt not in ("text", "md"):
        raise BadInput(f"--format: {fmt!r} is not text or md")
    items, untouched = build(book)
    md = fmt == "md"
    name = book.session.name or book.path.stem
    head = (f"Back-out plan for {name} ({book.params.topology}): "
            f"{len(items)} step{'s' if len(items) != 1 else ''} with changes in force, newest first")
    out = [f"# {head}" if md else head, ""]
    if not items:
        out.append("Nothing to back out: this session has no change in force.")
    else:
        out.append("Back them out in this order. Each `runbook undo` reverts exactly what this session recorded "
                   "and refuses if the live value moved since; then the reverts below are the manual instructions.")
    for number, item in enumerate(items, 1):
        who = f", {item.by} at {item.when}" if item.by else ""
        out += ["", (f"## {number}. {item.key} — {item.title} ({item.state}{who})" if md else
                     f"{number}. {item.key} — {item.title} ({item.state}{who})")]
        bullet, sub = ("- ", "  - ") if md else ("   ", "     ")
        if item.warning:
            out.append(f"{bullet}NOTE: {item.warning}")
        if item.command:
            out.append(f"{bullet}automatic: " + (f"`{item.command}`" if md else item.command))
        if item.reverts:
            out.append(f"{bullet}reverts, in this order:")
            out += [sub + (f"`{line}`" if md else line) for line in item.reverts]
        if item.manual:
            out.append(f"{bullet}by hand, last item first (reverse what each one did):")
            out += [sub + line for line in item.manual]
            out.append(f"{bullet}values recorded before the change:")
            out += [sub + line for line in item.before] or [
                sub + "none: no verify ran before it was marked done; note the live values before reversing"]
    if untouched:
        out += ["", ("Not changed by this session (already in place when it ran; nothing to back out): "
                     + ", ".join(untouched))]
    return "\n".join(out) + "\n"

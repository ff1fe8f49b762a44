"""Journal entries back into a session: the one place where a step record changes.

The engine appends an entry, then applies that same entry here to its session in memory;
loading applies the entries a snapshot does not cover yet; a lost or cut session file is
rebuilt by applying all of them. So the session can never say something its journal does not.

What an entry changes:
- `details.session` (new, migrate): the whole session from there on;
- `rec`: fields of the step record (state, updated, by, note, error, action, verified, tick);
- `change`: a change applied (or, marked `revert`, the revert of an earlier one), closing its write-ahead intent;
- `intent` / `intent-resolved`: a remote write about to happen / found not to have happened after a crash;
- `note` with a step: that step's note; `settings`: the session's switches.

Each field an entry carries is checked as a session file's is (runbook.record.session_fields) before anything
is applied: a hand-edited entry of the wrong shape is refused naming its seq and the field.
"""
from __future__ import annotations

from typing import Any, Iterable

from runbook.errors import SessionFileError
from runbook.flow.states import State
from runbook.record import session_fields as fields
from runbook.record.session import Session, StepRecord

RECORD_FIELDS = ("state", "updated", "by", "note", "error", "action", "verified")
WHOLE = ("new", "migrate")


def rebuildable(first: dict[str, Any] | None) -> bool:
    """Whether a journal starting with this entry holds the whole record (written by a journal-first runbook)."""
    return bool(first and first.get("action") in WHOLE and isinstance((first.get("details") or {}).get("session"),
                                                                         dict))


def apply(session: Session | None, entry: dict[str, Any], source: str = "journal") -> Session | None:
    """`session` with `entry` applied (in place where it can be); None until a whole-session entry is seen."""
    raw = entry.get("details")
    details: dict[str, Any] = raw if isinstance(raw, dict) else {}
    action, step = entry.get("action"), entry.get("step")
    if session is not None:
        check(entry, f"{source} entry seq {entry.get('seq')}")
    if isinstance(details.get("session"), dict) and action in WHOLE:
        return Session.from_dict(details["session"], f"{source} seq {entry.get('seq')}")
    if session is None:
        return None
    if action == "settings":
        session.settings.update({k: v for k, v in details.items() if not isinstance(v, (dict, list))})
        return session
    if not isinstance(step, str) or not step:
        return session
    record = session.record(step)
    rec = entry.get("rec")
    if isinstance(rec, dict):
        _apply_rec(record, rec, step)
    if action == "intent":
        record.intents.append({"seq": entry.get("seq"), "change": details})
    elif action == "change":
        _apply_change(record, details)
        _close_intent(record, entry.get("intent"))
    elif action == "intent-resolved":
        _close_intent(record, details.get("intent"))
    elif action == "note" and entry.get("note"):
        record.note = entry["note"]
    return session


def check(entry: dict[str, Any], where: str) -> None:
    """Refuse an entry whose fields this reducer would apply with the wrong type (SessionFileError naming the
    field); the whole-session entries are checked by Session.from_dict."""
    details = entry.get("details")
    action, step = entry.get("action"), entry.get("step")
    fields.text(step, f"{where}: step")
    if action in ("intent", "change"):
        fields.change(details, f"{where}: details")
    elif action == "intent-resolved":
        resolved = fields.mapping(details, f"{where}: details", "a mapping with intent")
        sequence(resolved.get("intent"), f"{where}: details.intent")
    elif action == "settings":
        fields.settings(details, f"{where}: details")
    elif action == "note":
        fields.text(entry.get("note"), f"{where}: note")
    if action == "change":
        sequence(entry.get("intent"), f"{where}: intent")
    rec = entry.get("rec")
    if rec is None:
        return
    fields.mapping(rec, f"{where}: rec", "a mapping of step record fields")
    for name in RECORD_FIELDS:
        if name == "verified":
            fields.verified(rec.get(name), f"{where}: rec.verified")
        elif name != "state" or name in rec:
            fields.text(rec.get(name), f"{where}: rec.{name}", optional=name != "state")
    tick = rec.get("tick")
    if tick is not None:
        if not (isinstance(tick, list) and len(tick) == 2 and str(tick[0]).isdigit()):
            raise fields.refuse(f"{where}: rec.tick", "[item number, {by, at} or nothing]", tick)
        fields.ticks({str(tick[0]): tick[1]} if tick[1] is not None else None, f"{where}: rec.tick")


def sequence(value: Any, where: str) -> None:
    if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
        raise fields.refuse(where, "a journal sequence number or nothing", value)


def replay(session: Session | None, entries: Iterable[dict[str, Any]], source: str = "journal") -> Session | None:
    for entry in entries:
        session = apply(session, entry, source)
    return session


def _apply_rec(record: StepRecord, rec: dict[str, Any], step: str) -> None:
    for name in RECORD_FIELDS:
        if name not in rec:
            continue
        if name == "state":
            try:
                record.state = State(rec["state"])
            except ValueError:
                raise SessionFileError(f"journal: step {step}: {rec['state']!r} is not a known state") from None
        else:
            setattr(record, name, rec[name])
    tick = rec.get("tick")
    if isinstance(tick, list) and len(tick) == 2:
        if tick[1]:
            record.ticks[str(tick[0])] = tick[1]
        else:
            record.ticks.pop(str(tick[0]), None)


def _apply_change(record: StepRecord, details: dict[str, Any]) -> None:
    from runbook.flow.changes import Change  # only a tail with changes in it needs the model (and dataclasses)

    change = Change.from_dict(details)
    if change.revert:
        pop_original(record, change.to_dict())
        record.undone.append(change.to_dict())
    else:
        record.changes.append(change.to_dict())


def pop_original(record: StepRecord, revert: dict[str, Any]) -> None:
    """The change a revert undoes leaves the changes in force (the newest one of that kind, attribute and place)."""
    key = (revert.get("kind"), revert.get("attribute"), revert.get("locator"))
    for index in range(len(record.changes) - 1, -1, -1):
        original = record.changes[index]
        if (original.get("kind"), original.get("attribute"), original.get("locator")) == key:
            del record.changes[index]
            if revert.get("op") != "action":  # one restart at the end of an undo stands for every one recorded
                return


def _close_intent(record: StepRecord, seq: Any) -> None:
    if seq is not None:
        record.intents = [intent for intent in record.intents if intent.get("seq") != seq]

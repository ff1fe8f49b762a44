"""What each field of a session file may hold, checked as it loads.

A session file edited by hand into the wrong shape is refused whole (SessionFileError: exit 2, naming the field,
the file left untouched) rather than loaded, saved back and left for a later command to trip over. Every check
returns the value to keep, so a loader reads each field once.
"""
from __future__ import annotations

from typing import Any

from runbook.errors import SessionFileError

# The per-session switches `runbook settings` writes (runbook.pair.two_person reads them) and what each holds.
SETTING_KINDS: dict[str, tuple[type, ...]] = {"two_person_confirm": (bool,), "ack_wait_seconds": (int, float)}
SCALARS = (str, int, float, bool, type(None))
# runbook.flow.changes.Change's fields (tests/test_session_fields.py keeps the two equal): written out, so that
# reading a session does not import the change model and `dataclasses` with it.
CHANGE_FIELDS = {"kind", "target", "attribute", "op", "values", "before", "after", "locator", "note", "revert"}
CHANGE_TEXT = ("kind", "target", "attribute", "op")  # what a change cannot be described or undone without


def shown(value: Any) -> str:
    """The offending value, short and in ASCII: it may hold anything, including terminal escapes."""
    text = ascii(value)
    return f"{type(value).__name__} {text if len(text) <= 40 else text[:37] + '...'}"


def refuse(where: str, expected: str, value: Any) -> SessionFileError:
    return SessionFileError(f"{where}: expected {expected}, got {shown(value)}")


def number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def mapping(value: Any, where: str, expected: str = "a mapping") -> dict[Any, Any]:
    if not isinstance(value, dict):
        raise refuse(where, expected, value)
    return value


def text(value: Any, where: str, *, optional: bool = True) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise refuse(where, "text" + (" or nothing" if optional else ""), value)
    return value


def change(value: Any, where: str) -> dict[str, Any]:
    """One recorded change, as runbook.flow.changes.Change reads it back (for undo, back-out and the record)."""
    data = mapping(value, where, "a change (a mapping with kind, target, attribute, op)")
    unknown = sorted(str(key) for key in data if key not in CHANGE_FIELDS)
    if unknown:
        raise SessionFileError(f"{where}: {', '.join(unknown)}: not a field of a change "
                               f"(expected {', '.join(sorted(CHANGE_FIELDS))})")
    for name in CHANGE_TEXT:
        text(data.get(name), f"{where}.{name}", optional=False)
    if not isinstance(data.get("values", []), list):
        raise refuse(f"{where}.values", "a list", data["values"])
    mapping(data.get("locator", {}), f"{where}.locator")
    text(data.get("note", ""), f"{where}.note", optional=False)
    if not isinstance(data.get("revert", False), bool):
        raise refuse(f"{where}.revert", "true or false", data["revert"])
    return data


def changes(value: Any, where: str) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise refuse(where, "a list of changes", value)
    return [change(item, f"{where}[{index}]") for index, item in enumerate(value)]


def intents(value: Any, where: str) -> list[dict[str, Any]]:
    """Remote writes begun whose outcome is not recorded yet: {seq: the journal entry, change}."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise refuse(where, "a list of write-ahead intents", value)
    for index, item in enumerate(value):
        spot = f"{where}[{index}]"
        mapping(item, spot, "a mapping with seq and change")
        if not (item.get("seq") is None or isinstance(item["seq"], int) and not isinstance(item["seq"], bool)):
            raise refuse(f"{spot}.seq", "a journal sequence number", item["seq"])
        change(item.get("change"), f"{spot}.change")
    return value


def ticks(value: Any, where: str) -> dict[str, dict[str, Any]]:
    """Ticked checklist items: item index → {by, at}. An index written bare (`0:`) is kept as the text "0"."""
    if value is None:
        return {}
    data = mapping(value, where, "a mapping of checklist item number to {by, at}")
    kept: dict[str, dict[str, Any]] = {}
    for key, tick in data.items():
        index = str(key)
        if isinstance(key, bool) or not index.isdigit() or not index.isascii():
            raise SessionFileError(f"{where}: {ascii(key)} is not a checklist item number")
        mapping(tick, f"{where}.{index}", "a mapping with by and at")
        for name in ("by", "at"):
            text(tick.get(name), f"{where}.{index}.{name}")
        kept[index] = tick
    return kept


def verified(value: Any, where: str) -> dict[str, Any] | None:
    """The last verification: {at, by, ok, findings} or, done where it could not run, {.., unverified: why}."""
    if value is None:
        return None
    data = mapping(value, where, "a verification (a mapping with at, by, ok, findings) or nothing")
    for name in ("at", "by", "unverified"):
        text(data.get(name), f"{where}.{name}")
    if data.get("ok") not in (True, False, None):
        raise refuse(f"{where}.ok", "true, false or nothing", data["ok"])
    findings = data.get("findings")
    if findings is not None and (not isinstance(findings, list) or not all(isinstance(f, str) for f in findings)):
        raise refuse(f"{where}.findings", "a list of text", findings)
    return data


def journal_position(value: Any, where: str) -> dict[str, Any] | None:
    if value is None:
        return None
    data = mapping(value, where, "the journal position (a mapping with seq, hash, offset)")
    for name, kinds, expected in (("seq", (int,), "a number"), ("offset", (int,), "a number"),
                                  ("hash", (str,), "text")):
        if name in data and (not isinstance(data[name], kinds) or isinstance(data[name], bool)):
            raise refuse(f"{where}.{name}", expected, data[name])
    return data


def lab(value: Any, where: str) -> dict[str, Any] | None:
    """A rehearsal session's lab: where its state file is (beside the session) and how it was built."""
    if value is None:
        return None
    data = mapping(value, where, "the rehearsal lab's settings (a mapping) or nothing")
    if not data:
        return data
    state_file = text(data.get("state_file"), f"{where}.state_file", optional=False)
    assert state_file is not None
    if not state_file or "/" in state_file or "\\" in state_file or state_file in (".", ".."):
        raise refuse(f"{where}.state_file", "a file name beside the session", state_file)
    for name in ("scenario", "fail", "cert_validation", "description", "params_file"):
        text(data.get(name), f"{where}.{name}")
    if "latency_ms" in data and not number(data["latency_ms"]):
        raise refuse(f"{where}.latency_ms", "a number of milliseconds", data["latency_ms"])
    seed = data.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise refuse(f"{where}.seed", "a whole number or nothing", seed)
    if data.get("device") is not None:
        mapping(data["device"], f"{where}.device")
    return data


def settings(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    data = mapping(value, where, "a mapping of setting to value")
    for key, setting in data.items():
        if not isinstance(key, str):
            raise SessionFileError(f"{where}: {ascii(key)} is not a setting name")
        kinds = SETTING_KINDS.get(key, SCALARS)
        if not isinstance(setting, kinds) or (bool not in kinds and isinstance(setting, bool)):
            kind_words: dict[tuple[type, ...], str] = {(bool,): "true or false", (int, float): "a number"}
            expected = kind_words.get(kinds, "a plain value")
            raise refuse(f"{where}.{key}", expected, setting)
    return data

"""Change plans, recorded changes and verification results: the currency between steps and the engine."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Change:
    """One attribute-level change on one object. Recorded with before/after so it can be undone.

    `kind` names its registered ChangeKind (runbook.flow.change_kinds), which can read, apply and revert it;
    `locator` holds what that kind needs to find the object again (a DN, a host, an IIS location...).
    `revert` marks the revert of an earlier change (written by undo). Nothing secret ever goes in here.
    """

    kind: str
    target: str  # what an operator calls the object: "TMG01$", "eas01.test.lan"
    attribute: str
    op: str  # "add" | "remove" | "set" | "action"
    values: list[Any] = field(default_factory=list)
    before: Any = None
    after: Any = None
    locator: dict[str, Any] = field(default_factory=dict)
    note: str = ""
    revert: bool = False

    def describe(self) -> str:
        if self.op == "add":
            return f"{self.target} {self.attribute}: + " + ", + ".join(map(str, self.values))
        if self.op == "remove":
            return f"{self.target} {self.attribute}: - " + ", - ".join(map(str, self.values))
        if self.op == "action":
            return f"{self.target}: {self.attribute}" + (f" ({self.note})" if self.note else "")
        text = f"{self.target} {self.attribute}: {self.show_value(self.before)} → {self.show_value(self.after)}"
        return text + (f" ({self.note})" if self.note else "")

    def describe_already(self) -> str:
        """For a set whose value turned out to be live already: only the value it has, since nothing moves."""
        return f"{self.target} {self.attribute}: already {self.show_value(self.after)}"

    def revert_describe(self) -> str:
        """The revert of this change in its own direction: what is live now → what comes back."""
        if self.op == "action":
            return f"{self.target}: {self.attribute} again" + (f" ({self.note})" if self.note else "")
        if self.op in ("add", "remove"):
            sign = "-" if self.op == "add" else "+"
            return f"revert {self.target} {self.attribute}: {sign} " + f", {sign} ".join(map(str, self.values))
        note = _flip_signs(self.note)
        text = f"revert {self.target} {self.attribute}: {self.show_value(self.after)} → {self.show_value(self.before)}"
        return text + (f" ({note})" if note else "")

    def show_value(self, value: Any) -> str:
        """One recorded value as an operator reads it (userAccountControl in hex, as ADSI Edit shows it)."""
        return hex(value) if self.attribute == "userAccountControl" and isinstance(value, int) else show_plain(value)

    def to_dict(self) -> dict[str, Any]:
        return {key: value for key, value in asdict(self).items()
                if value not in (None, "", [], {}) and not (key == "revert" and value is False)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Change:
        """A recorded change. The one place older records are read the current way: before `revert` existed, a
        revert was a change noted "undo"."""
        if data.get("note") == "undo" and "revert" not in data:
            data = {**data, "note": "", "revert": True}
        return cls(**data)


def revert_order(changes: list[Change]) -> list[Change]:
    """The order an undo performs: newest first, and a recorded restart once at the very end (after the values
    it has to pick up are back)."""
    resets = [change for change in changes if change.op == "action"]
    return [change for change in reversed(changes) if change.op != "action"] + resets[-1:]


def _flip_signs(note: str) -> str:
    # A set's note names the flags it gains (+NAME) and loses (-NAME); its revert loses and gains the same ones.
    flipped = {"+": "-", "-": "+"}
    return " ".join(flipped[word[0]] + word[1:] if word[:1] in flipped else word for word in note.split(" "))


def show_plain(value: Any) -> str:
    """A recorded value in words: nothing reads "(not set)", a list "[a, b]"."""
    if value is None:
        return "(not set)"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(map(str, value)) + "]"
    return str(value)


@dataclass
class Plan:
    """What applying a step would change, and what the operator should know first."""

    changes: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    point_of_no_return: str | None = None  # what will interrupt service, in words

    @property
    def empty(self) -> bool:
        return not self.changes

    def lines(self) -> list[str]:
        if self.empty:
            return ["already in place: nothing to change"] + self.notes
        lines = [change.describe() for change in self.changes] + self.notes
        if self.point_of_no_return:
            lines.append(f"POINT OF NO RETURN: {self.point_of_no_return}")
        return lines


@dataclass
class Finding:
    """One value a verification compared: what was wanted, what was seen."""

    what: str
    wanted: Any
    seen: Any
    ok: bool

    def describe(self) -> str:
        mark = "ok" if self.ok else "MISMATCH"
        return f"[{mark}] {self.what}: wanted {show_plain(self.wanted)}, seen {show_plain(self.seen)}"

    def to_dict(self) -> dict[str, Any]:
        """As a journal entry keeps it: values JSON can hold (a set or an object read from a host as text)."""
        return {"what": self.what, "wanted": _plain(self.wanted), "seen": _plain(self.seen), "ok": self.ok}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        return cls(str(data.get("what", "")), data.get("wanted"), data.get("seen"), bool(data.get("ok")))


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    return str(value)


@dataclass
class Verification:
    """What a read-only check found; ok when every finding matched."""

    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(finding.ok for finding in self.findings)

    def mismatches(self) -> list[Finding]:
        return [finding for finding in self.findings if not finding.ok]

    def mismatch_details(self) -> dict[str, Any]:
        """What a journal entry keeps of the findings that disagree: the lines shown (`mismatches`) and each
        finding whole (`mismatched`), so a reader takes the values from the fields instead of parsing the lines."""
        found = self.mismatches()
        return {"mismatches": [finding.describe() for finding in found],
                "mismatched": [finding.to_dict() for finding in found]}

    def expect(self, what: str, wanted: Any, seen: Any, ok: bool | None = None) -> None:
        self.findings.append(Finding(what, wanted, seen, wanted == seen if ok is None else ok))

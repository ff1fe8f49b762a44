"""Walking the journal's hash chain, and what an operator's acknowledgement of a broken one covers.

A broken journal is never repaired silently: appends stop (runbook.record.journal) until someone
records an `acknowledge` entry naming who and why. Problems before that entry are then shown
as acknowledged (with the entry), problems after it still fail the check.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from runbook.record.journal import ACKNOWLEDGE, GENESIS, digest_ok
from runbook.record.journal_read import Line, open_journal, read

if TYPE_CHECKING:
    from runbook.record.journal import Journal


@dataclass
class JournalProblem:
    """One break in the chain; here, not in runbook.record.journal, which every reader loads (`runbook status`)."""

    line: int
    message: str
    acknowledged: bool = False  # an operator accepted it (journal_check): it no longer fails the check


def tail_problem(last: dict[str, Any] | None, whole: bool, anchor: dict[str, Any] | None, size: int) -> str | None:
    """Why the journal's end cannot be trusted, read from its last entry and the head anchor only (O(1))."""
    if not whole:
        return "its last line is not a whole entry (cut off mid-line, or edited by hand)"
    if last is None:
        if anchor and anchor.get("seq"):
            return f"the journal is empty, but its head anchor says {anchor['seq']} entries were written"
        return None
    if anchor is None:
        return (f"the journal has entries up to seq {last.get('seq')} but no head anchor beside it (deleted?), so "
                "a cut tail could not be seen")
    if not isinstance(anchor.get("seq"), int) or not isinstance(anchor.get("hash"), str):
        return "the head anchor is unreadable (edited by hand?)"
    if not digest_ok(last):
        return f"its last entry (seq {last.get('seq')}) was modified after it was written"
    if anchor["seq"] > last.get("seq", 0):
        missing = anchor["seq"] - last.get("seq", 0)
        return (f"it ends at seq {last.get('seq')}, but seq {anchor['seq']} was written: {missing} "
                f"entr{'y' if missing == 1 else 'ies'} cut from the end")
    if anchor["seq"] == last.get("seq", 0) - 1 and last.get("prev") == anchor["hash"]:
        return None  # a crash between an entry and its anchor: the entry chains on, the next append rolls forward
    if anchor["seq"] < last.get("seq", 0):
        return (f"entries after seq {anchor['seq']} are not covered by the head anchor (appended outside "
                "runbook?)")
    if anchor["hash"] != last.get("hash"):
        return f"entry seq {last.get('seq')} is not the entry written last (rewritten with a fresh hash)"
    return None


def check(journal: Journal) -> list[JournalProblem]:
    """Every place where the chain is broken (an edited, removed, inserted, reordered or cut-off entry), the
    anchor's disagreement, and problems that an acknowledgement covers, marked as such."""
    chain = ChainCheck(journal.anchor())
    for _ in chain.lines(journal.path):
        pass
    return chain.problems()


class ChainCheck:
    """The chain walked one line at a time as `lines()` reads the journal: `check()` walks it for nothing else, the
    change record reads its entries from the same walk (one pass over the file). Memory stays flat: only the
    anchor's entry and the one after it, and acknowledgements, are kept."""

    def __init__(self, anchor: dict[str, Any] | None):
        self.anchor = anchor
        self._found: list[JournalProblem] = []
        self._previous_hash, self._expected_seq = GENESIS, 1
        self._hashes: dict[int, tuple[int, str]] = {}  # seq -> (line, hash) of the anchor's entry and the next
        self._last_line, self._last_seq = 0, 0
        self._acknowledged: list[tuple[int, dict[str, Any]]] = []
        self._opened = False
        anchored = anchor.get("seq") if anchor else None
        self._wanted = {anchored, anchored + 1} if isinstance(anchored, int) else set()

    def lines(self, path: Path) -> Iterator[Line]:
        """Every line of the journal at `path`, each checked as it passes; a journal that is missing or cannot be
        opened as itself has no lines, and that is a problem when its anchor says entries were written."""
        try:
            handle = open_journal(path)
        except OSError as exc:
            self._found.append(JournalProblem(1, f"cannot be opened as itself ({exc.strerror}; a symbolic link?)"))
            return
        if handle is None:
            if self.anchor and self.anchor.get("seq"):
                self._found.append(JournalProblem(1, f"the journal is missing, but its head anchor says "
                                                     f"{self.anchor['seq']} entries were written"))
            return
        self._opened = True
        with handle:
            for line in read(handle):
                self._take(line)
                yield line

    def _take(self, line: Line) -> None:
        number = self._last_line = line.number or 0  # read from the start: every line has its number
        if line.problem is not None:
            self._found.append(JournalProblem(number, line.problem.message))
            return
        entry = line.entry
        if entry is None:  # a blank line
            return
        seq = entry.get("seq")
        if seq != self._expected_seq:
            self._found.append(JournalProblem(number, f"entry seq {seq} where {self._expected_seq} was expected "
                                                      "(an entry was removed, inserted or moved)"))
        if entry.get("prev") != self._previous_hash:
            self._found.append(JournalProblem(number, f"entry seq {seq} does not chain to the entry before it"))
        if not digest_ok(entry):
            self._found.append(JournalProblem(number, f"entry seq {seq} was modified after it was written "
                                                      "(its hash does not match its content)"))
        elif entry.get("action") == ACKNOWLEDGE:
            self._acknowledged.append((number, entry))
        self._previous_hash = str(entry.get("hash", ""))
        if isinstance(seq, int):
            if seq in self._wanted:
                self._hashes.setdefault(seq, (number, self._previous_hash))
            self._last_seq = seq
        self._expected_seq = (seq if isinstance(seq, int) else self._expected_seq) + 1

    def problems(self) -> list[JournalProblem]:
        """What the lines walked so far show, with the anchor's disagreement."""
        problems = list(self._found)
        if not self._opened:
            return problems
        if self.anchor is None and self._last_seq:
            problems.append(JournalProblem(self._last_line + 1, "the head anchor beside the journal is missing "
                                                                "(deleted?): a cut tail could not be seen"))
        elif self.anchor is not None:
            problems.extend(_anchor_problems(self.anchor, self._hashes, self._last_line, self._last_seq))
        return _mark_acknowledged(problems, self._acknowledged)


def _mark_acknowledged(problems: list[JournalProblem],
                       acknowledged: list[tuple[int, dict[str, Any]]]) -> list[JournalProblem]:
    if not acknowledged:
        return problems
    line, entry = acknowledged[-1]
    marked = []
    for problem in problems:
        if problem.line < line or problem.line == line and "does not chain" in problem.message:
            problem = JournalProblem(problem.line, f"{problem.message} — acknowledged at seq {entry['seq']} by "
                                                   f"{entry.get('operator')}: {entry.get('note', '')}",
                                     acknowledged=True)
        marked.append(problem)
    return marked


def is_acknowledged(problem: JournalProblem) -> bool:
    return problem.acknowledged


def verdict(journal: Journal) -> tuple[bool, list[str]]:
    """`journal --check` in words: (intact, the lines to show). Intact also when every problem found was
    acknowledged by an operator (the lines still show each, with who accepted it and why)."""
    problems = journal.check()
    open_ = [problem for problem in problems if not is_acknowledged(problem)]
    lines = [f"line {problem.line}: {problem.message}" for problem in problems]
    if open_:
        return False, lines
    last = journal.last()
    head = f"journal intact: {last['seq'] if last else 0} entries, head {journal.head()}"
    acks = [entry for entry in journal.entries() if entry.get("action") == ACKNOWLEDGE]
    if acks:
        head += f" (problems acknowledged {len(acks)} time{'s' if len(acks) != 1 else ''})"
    for entry in acks:
        found = (entry.get("details") or {}).get("problems") or []
        lines.append(f"acknowledged at seq {entry['seq']} by {entry.get('operator')} ({entry.get('time')}): "
                     f"{entry.get('note', '')}")
        lines.extend(f"  found then: {problem}" for problem in found)
    return True, [head] + lines


def _anchor_problems(anchor: dict[str, Any], hashes: dict[int, tuple[int, str]], last_line: int,
                     last_seq: int) -> list[JournalProblem]:
    seq, digest = anchor.get("seq"), anchor.get("hash")
    if not isinstance(seq, int):
        return [JournalProblem(last_line + 1, "the head anchor is unreadable (edited by hand?)")]
    if seq > last_seq:
        missing = seq - last_seq
        return [JournalProblem(last_line + 1, f"the journal ends at seq {last_seq}, but seq {seq} was written: "
                                              f"{missing} entr{'y' if missing == 1 else 'ies'} cut from the end")]
    line, found = hashes.get(seq, (last_line + 1, ""))
    if found != digest:
        return [JournalProblem(line, f"entry seq {seq} is not the entry that was written last time it was the head "
                                     "(rewritten with a fresh hash)")]
    if seq < last_seq:
        after = hashes.get(seq + 1, (line + 1, ""))[0]
        return [JournalProblem(after, f"entries after seq {seq} are not covered by the head anchor (appended "
                                      "outside runbook, or it stopped between an entry and its anchor)")]
    return []


def acknowledge(journal: Journal, note: str, who: str | None = None) -> dict[str, Any]:
    """Record that an operator looked at a broken journal and accepts it as it is, so appends can go on."""
    problems = [f"line {p.line}: {p.message}" for p in journal.check() if not is_acknowledged(p)]
    last = journal.last()
    return journal.append(step=None, action=ACKNOWLEDGE, outcome="journal problems acknowledged", note=note,
                          who=who, allow_broken=True,
                          details={"problems": problems or ["none found"], "anchor_was": journal.anchor(),
                                   "last_seq_was": last.get("seq") if last else 0})

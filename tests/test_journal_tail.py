"""runbook.record.journal_tail reads what a full parse of the journal would give, at any block size, without the
parse."""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from runbook.record import journal_tail
from runbook.record.journal_tail import (
    JournalSummary,
    Page,
    check_runs,
    last_entry,
    needle,
    newest,
    step_entries,
    step_page,
)

STEPS = ["1", "3a", "4a@EAS01", "4a@EAS02", None, "é@SEG01"]


def write_journal(path: Path, count: int, seed: int = 7) -> list[dict]:
    chosen = random.Random(seed)
    entries = []
    with path.open("w", encoding="utf-8") as handle:
        for seq in range(1, count + 1):
            step = chosen.choice(STEPS)
            action = chosen.choice(["note", "check", "start", "succeed", "change"])
            # Notes name other steps and actions in their text: a byte match alone must never count.
            entry = {"seq": seq, "step": step, "action": action, "outcome": "ok",
                     "note": f'about "3a" and "check" {"x" * chosen.randrange(0, 300)}'}
            entries.append(entry)
            handle.write(json.dumps(entry, ensure_ascii=False) + "\n")
    return entries


@pytest.fixture(params=[64, 1000, 1 << 20])
def chunk(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(journal_tail, "CHUNK", request.param)
    return request.param


def test_pages_walk_back_through_one_steps_entries(tmp_path: Path, chunk: int) -> None:
    path = tmp_path / "s.journal.jsonl"
    entries = write_journal(path, 400)
    for step in ("3a", "é@SEG01"):
        wanted = [e for e in entries if e["step"] == step]
        seen: list[dict] = []
        page = step_page(path, step, 25)
        while True:
            seen = page.entries + seen
            if not page.more:
                break
            page = step_page(path, step, 25, end=page.start)
        assert seen == wanted
        assert step_entries(path, step) == wanted


def test_checks_last_and_the_summary_follow_appends(tmp_path: Path, chunk: int) -> None:
    path = tmp_path / "s.journal.jsonl"
    entries = write_journal(path, 300)
    assert check_runs(path) == [e for e in entries if e["action"] == "check"]
    assert last_entry(path) == entries[-1]
    notes = [e for e in entries if e["action"] == "note"]
    assert newest(path, needle("note"), lambda e: e["action"] == "note") == notes[-1]
    assert newest(path, needle("note"), lambda e: e["action"] == "note", end=1) is None
    summary = JournalSummary(path).advance()
    with path.open("a", encoding="utf-8") as handle:
        more = {"seq": 301, "step": "1", "action": "check", "outcome": "faults: clock"}
        handle.write(json.dumps(more) + "\n" + '{"seq": 302, "step": "1", "act')  # the next append, half written
    later = summary.advance()
    assert later.checks == tuple(check_runs(path, end=later.size)) and later.checks[-1] == more
    assert later.last == more and later.size < path.stat().st_size
    assert step_entries(path, "1", start=summary.size, end=later.size) == [more]


def test_a_missing_or_empty_journal_reads_as_nothing(tmp_path: Path) -> None:
    path = tmp_path / "none.journal.jsonl"
    assert step_page(path, "1", 10) == Page([], 0)
    assert check_runs(path) == [] and last_entry(path) is None
    assert JournalSummary(path).advance() == JournalSummary(path)

"""The hash-chained journal names the line of every kind of tampering: edited, removed, inserted, reordered, cut."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from runbook.cli import main
from runbook.record.journal import Journal, entry_digest

ENTRIES = 8


@pytest.fixture
def journal(sessions_dir: Path) -> Journal:
    (sessions_dir / "j.yaml").write_text("schema: 1\nparams: {}\nsteps: {}\n")
    book = Journal(sessions_dir / "j.journal.jsonl")
    for number in range(ENTRIES):
        book.append(step=f"{number % 3 + 3}a", action="note", outcome="noted", note=f"entry {number + 1}")
    assert book.check() == []
    return book


def lines(journal: Journal) -> list[str]:
    return journal.path.read_text(encoding="utf-8").splitlines(keepends=True)


def write(journal: Journal, content: list[str]) -> None:
    journal.path.write_text("".join(content), encoding="utf-8")


def rehash(line: str, **changes: object) -> str:
    entry = json.loads(line)
    entry.update(changes)
    entry["hash"] = entry_digest(entry)
    return json.dumps(entry, ensure_ascii=False) + "\n"


def problem_lines(journal: Journal) -> dict[int, str]:
    found: dict[int, str] = {}
    for problem in journal.check():
        found[problem.line] = (found.get(problem.line, "") + "; " + problem.message).lstrip("; ")
    return found


def test_modified_entry_is_named_by_its_line(journal: Journal) -> None:
    content = lines(journal)
    content[3] = content[3].replace("entry 4", "entry four")
    write(journal, content)
    found = problem_lines(journal)
    assert list(found) == [4] and "seq 4 was modified" in found[4]


def test_modified_entry_with_a_recomputed_hash_breaks_the_next_link(journal: Journal) -> None:
    content = lines(journal)
    content[3] = rehash(content[3], outcome="forged")
    write(journal, content)
    found = problem_lines(journal)
    assert list(found) == [5] and "seq 5 does not chain" in found[5]


def test_last_entry_rewritten_with_a_fresh_hash_is_caught_by_the_head_anchor(journal: Journal) -> None:
    content = lines(journal)
    content[-1] = rehash(content[-1], note="nothing to see")
    write(journal, content)
    found = problem_lines(journal)
    assert list(found) == [ENTRIES] and "rewritten with a fresh hash" in found[ENTRIES]


def test_removed_entry(journal: Journal) -> None:
    content = lines(journal)
    del content[2]
    write(journal, content)
    found = problem_lines(journal)
    assert list(found) == [3] and "seq 4 where 3 was expected" in found[3]


def test_inserted_entry(journal: Journal) -> None:
    content = lines(journal)
    forged = rehash(content[4], seq=6, prev=json.loads(content[4])["hash"], note="inserted later")
    content.insert(5, forged)
    write(journal, content)
    found = problem_lines(journal)
    assert min(found) == 7 and "seq 6 where 7 was expected" in found[7]


def test_reordered_entries(journal: Journal) -> None:
    content = lines(journal)
    content[4], content[5] = content[5], content[4]
    write(journal, content)
    found = problem_lines(journal)
    assert min(found) == 5 and "seq 6 where 5 was expected" in found[5]


def test_truncated_tail_is_named_after_the_last_line(journal: Journal) -> None:
    write(journal, lines(journal)[:-2])
    found = problem_lines(journal)
    assert list(found) == [ENTRIES - 1]
    assert f"ends at seq {ENTRIES - 2}, but seq {ENTRIES} was written: 2 entries cut" in found[ENTRIES - 1]


def test_tail_cut_mid_line(journal: Journal) -> None:
    content = lines(journal)
    content[-1] = content[-1][:40]
    write(journal, content)
    found = problem_lines(journal)
    assert "not a JSON object" in found[ENTRIES] and f"ends at seq {ENTRIES - 1}" in found[ENTRIES + 1]


def test_entries_appended_outside_runbook(journal: Journal) -> None:
    content = lines(journal)
    last = json.loads(content[-1])
    content.append(rehash(content[-1], seq=last["seq"] + 1, prev=last["hash"], note="appended by hand"))
    write(journal, content)
    found = problem_lines(journal)
    assert list(found) == [ENTRIES + 1] and "not covered by the head anchor" in found[ENTRIES + 1]


def test_journal_check_command_reports_the_line(journal: Journal, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["journal", "j", "--check"]) == 0
    assert f"journal intact: {ENTRIES} entries" in capsys.readouterr().out
    content = lines(journal)
    del content[5]
    write(journal, content)
    assert main(["journal", "j", "--check"]) == 1
    assert "line 6: entry seq 7 where 6 was expected" in capsys.readouterr().out

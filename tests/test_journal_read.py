"""runbook.record.journal_read: the one reader of the journal file, and the one place a bad line is worded."""
from __future__ import annotations

import json
from pathlib import Path
from typing import IO

import pytest

from runbook.cli import main
from runbook.pair import two_person, watch
from runbook.record import journal_check, journal_read, store
from runbook.record.journal import Journal
from runbook.record.journal_read import BadLine, parse
from runbook.reports import change_record
from steps import CATALOGUE

BAD_LINES = {
    b"not json\n": "invalid JSON",
    b'{"seq": 9, "cut off\n': "invalid JSON",
    b"[1, 2]\n": "a JSON array",
    b'"text"\n': "a JSON string",
    b"\xff\xfe{}\n": "not UTF-8 text",
}


@pytest.mark.parametrize("raw, why", BAD_LINES.items())
def test_a_bad_line_is_one_error_saying_what_it_is_instead(raw: bytes, why: str) -> None:
    with pytest.raises(BadLine) as caught:
        parse(raw)
    assert caught.value.message.startswith("not a journal entry (not a JSON object: " + why)
    assert journal_read.entry_or_none(raw) is None
    assert parse(b'{"seq": 1}\n') == {"seq": 1}


def write_entries(path: Path, count: int) -> list[dict]:
    journal = Journal(path)
    return [journal.append(step="1", action="note", outcome="noted", note=f"entry {n}") for n in range(count)]


def test_lines_read_from_the_start_are_numbered_and_a_bad_one_is_named_by_its_number(tmp_path: Path) -> None:
    path = tmp_path / "s.journal.jsonl"
    entries = write_entries(path, 3)
    content = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join([content[0], b"[1, 2]\n", b"\n", content[1], b"\xff\n", content[2]]))
    lines = list(journal_read.lines(path))
    assert [line.number for line in lines] == [1, 2, 3, 4, 5, 6]
    assert [line.entry for line in lines if line.entry] == entries
    assert lines[2].entry is None and lines[2].problem is None  # a blank line is neither
    assert str(lines[1].problem) == "line 2: not a journal entry (not a JSON object: a JSON array, edited by hand)"
    assert str(lines[4].problem).startswith("line 5: not a journal entry (not a JSON object: not UTF-8 text")
    assert lines[-1].end == path.stat().st_size
    # Read from the middle the number is not known: the byte offset says where.
    later = list(journal_read.lines(path, start=lines[1].start))
    assert later[0].number is None and str(later[0].problem).startswith(f"the line at byte {lines[1].start}: ")
    assert [end for end, _ in journal_read.entries(path, start=lines[3].start)] == [lines[3].end, lines[5].end]
    # The chain check words each bad line in the same words, by its number.
    found = {p.line: p.message for p in journal_check.check(Journal(path))}
    assert found[2] == lines[1].problem.message and found[5] == lines[4].problem.message


def test_a_line_still_being_appended_waits_for_the_next_read(tmp_path: Path) -> None:
    path = tmp_path / "s.journal.jsonl"
    entries = write_entries(path, 2)
    with path.open("ab") as handle:
        handle.write(b'{"seq": 3, "act')
    read = list(journal_read.entries(path, whole=True))
    assert [entry for _, entry in read] == entries
    assert [entry for _, entry in journal_read.entries(path)] == entries  # not whole: read, and not an entry
    with path.open("ab") as handle:
        handle.write(b'ion": "note"}\n')
    assert [entry for _, entry in journal_read.entries(path, start=read[-1][0], whole=True)] == [
        {"seq": 3, "action": "note"}]


@pytest.mark.parametrize("span", [1, 50, 200, 10_000])
def test_the_tail_window_reads_whole_lines_only(tmp_path: Path, span: int) -> None:
    path = tmp_path / "s.journal.jsonl"
    lines = [json.dumps({"seq": n, "note": "x" * (n * 7 % 40)}) + "\n" for n in range(1, 30)]
    path.write_text("".join(lines) + '{"seq": 30, "no', encoding="utf-8")
    whole_end = sum(len(line) for line in lines)
    with path.open("rb") as handle:
        end, found = journal_read.tail(handle, span)
    size = path.stat().st_size
    inside = [json.loads(line) for line, at in zip(lines, _starts(lines), strict=True) if at >= size - span]
    assert found == inside
    if found:
        assert end == whole_end  # a follower reads on from the half-written line's start
    # A window that begins exactly where a line begins keeps that line.
    with path.open("rb") as handle:
        assert journal_read.tail(handle, size - _starts(lines)[20])[1] == [json.loads(line) for line in lines[20:]]


def _starts(lines: list[str]) -> list[int]:
    starts, at = [], 0
    for line in lines:
        starts.append(at)
        at += len(line)
    return starts


@pytest.fixture
def lab(sessions_dir: Path) -> Path:
    assert main(["demo", "--scenario", "tmg-eas", "--init", "r"]) == 0
    return sessions_dir / "r.yaml"


def test_followers_skip_a_line_that_is_not_an_entry(lab: Path) -> None:
    """A JSON line that is not an object once reached the watcher and the acknowledgement reader as a list."""
    watcher = watch.Watcher(lab, CATALOGUE)
    watcher.start()
    journal = store.journal_path(lab)
    later = {"seq": 999, "time": "2026-01-01T09:00:00Z", "operator": "x", "step": None, "action": "note",
             "outcome": "noted", "note": "after the damage"}  # appended by hand: runbook refuses after damage
    with journal.open("ab") as handle:
        handle.write(b"[1, 2]\n\xff\n" + json.dumps(later).encode() + b"\n")
    events = watcher.poll()
    notes = [event.entry for event in events if isinstance(event, watch.NewEntry)]
    assert [entry["note"] for entry in notes] == ["after the damage"]
    assert two_person.requests_for(lab) == {}
    again = watch.Watcher(lab, CATALOGUE)
    snapshot = again.start()[0]
    assert isinstance(snapshot, watch.Snapshot) and snapshot.recent[-1]["note"] == "after the damage"


def test_the_change_record_reads_the_journal_once(lab: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from runbook.backends import Options, ports_factory
    from runbook.flow.engine import Runbook

    main(["note", "r", "--step", "1", "something to show"])
    book = Runbook.open(lab, CATALOGUE, ports_factory(Options()), drive=False)
    opened: list[Path] = []

    def counted(path: Path) -> IO[bytes] | None:
        opened.append(path)
        return journal_read.open_journal(path)

    monkeypatch.setattr(journal_check, "open_journal", counted)
    text = change_record.render(book, "md")
    assert opened == [store.journal_path(lab)]  # the chain check and the record's lists: one walk
    assert "chain intact" in text and "something to show" in text

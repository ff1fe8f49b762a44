"""The TUI's pure decisions, without a terminal: glyphs, groups, hints, which actions apply and why not."""
from __future__ import annotations

from pathlib import Path

from runbook.backends import Options, ports_factory
from runbook.flow.engine import Runbook
from runbook.flow.states import State
from screens import actions, step_rows, view
from steps import CATALOGUE
from tests.tui_support import advance, demo, tui_env

__all__ = ["tui_env"]


def opened(path: Path, *, drive: bool = True) -> Runbook:
    return Runbook.open(path, CATALOGUE, ports_factory(Options(interactive=False)), drive=drive)


def test_every_state_has_a_distinct_glyph_that_reads_without_colour() -> None:
    marks = [mark for mark, _ in step_rows.GLYPHS.values()] + [step_rows.DRIFT_GLYPH[0]]
    assert len(set(marks)) == len(marks) and all(len(mark) == 3 and mark[0] == "[" for mark in marks)
    assert {state for state in State} == set(step_rows.GLYPHS)
    assert all(style == "" or style.replace("bold ", "").startswith("$") for _, style in step_rows.GLYPHS.values())


def test_steps_are_grouped_one_two_then_tracks_with_farm_instances(tui_env: Path) -> None:
    book = opened(demo("tmg-seg-eas"), drive=False)
    groups = [(heading, [i.key for i in instances]) for heading, instances in step_rows.grouped(book.outline.steps)]
    assert groups == [
        ("1–2 · TMG console", ["1", "2"]),
        ("track a · TMG and EAS", ["3a", "4a@EAS01", "4a@EAS02", "4a@EASASA", "5a", "6a@EAS01", "6a@EAS02"]),
        ("track b · SEG", ["3b@SEG01", "4b@SEG01", "5b@SEG01", "6b@SEG01"]),
        ("after the cutover · clean-up", ["7"]),
    ]
    rows = step_rows.step_rows(book)
    assert rows[0].key is None and [r.key for r in rows if r.key][:2] == ["1", "2"]
    assert rows[[r.key for r in rows].index("7")].label.plain.startswith("[/] 7")


def test_why_not_names_the_reason_for_every_dimmed_key(tui_env: Path) -> None:
    path = demo("tmg-eas")
    book = opened(path)
    try:
        assert actions.why_not("run", book, "1", driving=True, busy=None) == \
            "1 is done by hand: follow its checklist, then d records it"
        assert actions.why_not("done", book, "1", driving=True, busy=None) is None
        assert actions.why_not("run", book, "3a", driving=True, busy=None) is None
        assert actions.why_not("undo", book, "3a", driving=True, busy=None) == "3a: nothing recorded to undo"
        assert actions.why_not("run", book, "3b", driving=True, busy=None).startswith("3b does not apply")
        assert actions.why_not("run", book, "3a", driving=True, busy="running 5a") == "wait: running 5a"
        assert actions.why_not("done", book, "1", driving=False, busy=None).startswith("this view is read-only")
        assert actions.why_not("verify", book, "1", driving=False, busy=None) is None  # reading is fine
        assert actions.why_not("run", book, "2", driving=True, busy=None).startswith("2 is done by hand")
    finally:
        book.close()


def test_dependencies_and_completion_show_in_the_hints(tui_env: Path) -> None:
    path = demo("tmg-eas")
    book = opened(path, drive=False)
    assert view.hint(book, book.instance("2"), driving=True).startswith("Waits for 1 (pending)")
    advance(path, "1", "2", "3a", "4a", "5a", "6a")
    book = opened(path, drive=False)
    line = view.status_line(book, "6a@EAS01", driving=True, busy=None, following=None, driver_left=False,
                            resuming=False)
    assert line.plain.startswith("Complete: done, verified, no open check fault.")
    assert view.top_line(book, path.stem, driving=False).plain.endswith("11/11 settled · READ-ONLY · COMPLETE")


def test_settled_but_not_complete_says_so_in_the_header_and_the_status_line(tui_env: Path) -> None:
    path = demo("tmg-eas")
    advance(path, "1", "2", "3a", "4a", "5a")
    book = opened(path)
    try:  # 6a recorded done by hand although its verification disagrees: settled, and not complete
        book.mark("6a", "done", None, override=lambda question, mismatches: "checked in IIS Manager")
        line = view.status_line(book, "6a@EAS01", driving=True, busy=None, following=None, driver_left=False,
                                resuming=False)
        assert line.plain.startswith("Not complete: 6a@EAS01: the last verify disagrees: ")
        assert view.top_line(book, path.stem, driving=True).plain.endswith("11/11 settled · driving · NOT COMPLETE")
        assert step_rows.drifted(book, "6a@EAS01")
    finally:
        book.close()


def test_journal_lines_carry_plans_and_changes() -> None:
    entries = [
        {"time": "2026-01-05T21:30:00Z", "operator": "alice@jump1", "step": "3a", "action": "start",
         "outcome": "pending → running", "details": {"plan": ["TMG01$ x: + y"]}},
        {"time": "2026-01-05T21:30:01Z", "operator": "alice@jump1", "step": "3a", "action": "change",
         "outcome": "applied", "details": {"kind": "ldap", "target": "TMG01$", "attribute": "x", "op": "add",
                                           "values": ["y"]}},
        {"time": "2026-01-05T21:30:02Z", "operator": "bob", "step": "4a", "action": "note", "outcome": "noted"},
    ]
    assert view.journal_lines(entries, "3a") == [
        "21:30:00 alice@jump1 start: pending → running", "    TMG01$ x: + y",
        "21:30:01 alice@jump1 change: applied", "    TMG01$ x: + y"]


def test_a_mismatch_read_before_a_step_was_marked_done_is_not_drift(tui_env: Path) -> None:
    path = demo("tmg-eas")
    book = opened(path)
    try:
        book.verify("1")  # still pending: the listener is not there yet
        record = book.record("1")
        assert record.verified is not None and record.verified["ok"] is False
        record.verified["at"] = "2026-01-05T21:00:00Z"  # read half an hour before the work was done and marked
        # As an older version recorded it: marked done by hand without verifying then (a mark verifies now).
        record.state, record.updated = State.MANUAL_DONE, "2026-01-05T21:30:00Z"
        assert not step_rows.drifted(book, "1") and step_rows.stale_mismatch(book, "1")
        record.verified = {**record.verified, "at": record.updated}  # a mismatch read after the mark is drift
        assert step_rows.drifted(book, "1")
        assert "Redo it from the checklist" in view.hint(book, book.instance("1"), driving=True)
    finally:
        book.close()


def test_a_plan_that_could_not_be_made_is_not_answered_with_r_runs_it(tui_env: Path) -> None:
    path = demo("tmg-eas")
    book = opened(path)
    try:
        line = view.status_line(book, "3a", driving=True, busy=None, following=None, driver_left=False,
                                resuming=False, plan_failed=True).plain
        assert "the plan could not be made" in line and "r runs it" not in line
    finally:
        book.close()


def test_a_verify_read_before_the_step_was_done_says_so() -> None:
    verified = {"at": "2026-01-05T21:00:00Z", "by": "alice", "ok": False, "findings": []}
    assert "read before it was done" in view.verify_lines(verified, stale=True)[0][0]
    assert "read before" not in view.verify_lines(verified)[0][0]

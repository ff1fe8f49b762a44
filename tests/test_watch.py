"""`runbook watch`: another process's progress shows up live; the watcher never writes anything.

The latency itself is measured by bench/watch_latency.py; here a change only has to show within a generous bound.
"""
from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from runbook.cli import main
from runbook.pair import watch
from runbook.record import store
from steps import CATALOGUE
from tests.pair_helpers import BOB, Follower, file_states, runbook, stale_lock, start


@pytest.fixture
def lab(sessions_dir: Path) -> Path:
    assert main(["demo", "--scenario", "tmg-eas", "--init", "w"]) == 0
    return sessions_dir / "w.yaml"


def test_a_follower_sees_each_change_made_by_another_process(sessions_dir: Path, lab: Path) -> None:
    follower = Follower(sessions_dir, "w")
    try:
        follower.wait_for("live:")
        assert "[ ] 1           pending" in follower.text()
        done = runbook(sessions_dir, "mark", "w", "1", "--done", "--note", "listener made")
        assert done.returncode == 0, done.stderr
        follower.wait_for("mark_done    pending → manual-done — listener made")
        follower.wait_for("progress: 6/11 settled")
        assert runbook(sessions_dir, "run", "w", "3a", "--yes").returncode == 0
        index, _, _ = follower.wait_for("3a         start        pending → running")
        follower.wait_for("applied: TMG01$ msDS-AllowedToDelegateTo: + http/eas01.test.lan", after=index)
        follower.wait_for("3a         succeed      running → done", after=index)
    finally:
        code = follower.stop()
    assert code == 0 and "stopped watching" in follower.text()
    assert "alice@jump1" in follower.text()  # the driver's name, not the follower's
    assert "driver:" not in follower.text()  # short CLI commands are not announced as drivers


def test_a_driver_holding_the_lock_is_announced_and_so_is_its_release(sessions_dir: Path, lab: Path) -> None:
    follower = Follower(sessions_dir, "w")
    try:
        follower.wait_for("live:")
        stale_lock(lab, age=0)  # a fresh lock from another machine: someone's TUI
        follower.wait_for("driver: carol@jump9 (pid 4242 on jump9.example.test, open since")
        store.lock_path(lab).unlink()
        follower.wait_for("driver: none (the lock was released)")
    finally:
        follower.stop()


def test_the_watcher_writes_nothing_not_even_beside_a_stale_lock(sessions_dir: Path, lab: Path) -> None:
    stale_lock(lab)
    before = file_states(sessions_dir)
    result = runbook(sessions_dir, "watch", "w", "--timeout", "1", operator=BOB)
    assert result.returncode == 0, result.stderr
    assert "locked by carol@jump9" in result.stdout and "— stale: no heartbeat for 10 min" in result.stdout
    assert file_states(sessions_dir) == before


def test_until_settled_exits_once_every_step_is_settled(sessions_dir: Path, lab: Path) -> None:
    follower = Follower(sessions_dir, "w", "--until-settled", "--timeout", "60")
    try:
        follower.wait_for("live:")
        for step, how in (("1", "--done"), ("2", "--done"), ("3a", "--skip"), ("4a", "--skip"), ("5a", "--skip")):
            assert main(["mark", "w", step, how, "--note", "not tonight"]) == 0
        assert follower.proc.poll() is None  # 6a is still pending
        assert main(["mark", "w", "6a", "--skip", "--note", "not tonight"]) == 0
        follower.wait_for("all steps settled")
        assert follower.proc.wait(timeout=10) == 0
    finally:
        follower.stop()


def test_timeout_ends_the_watch_and_until_settled_says_it_was_not_reached(sessions_dir: Path, lab: Path) -> None:
    plain = runbook(sessions_dir, "watch", "w", "--timeout", "0.3")
    assert plain.returncode == 0 and "live:" in plain.stdout
    bounded = runbook(sessions_dir, "watch", "w", "--until-settled", "--timeout", "0.3")
    assert bounded.returncode == 1 and "not settled within 0.3 s" in bounded.stdout
    assert runbook(sessions_dir, "watch", "w", "--timeout", "-1").returncode == 2
    assert runbook(sessions_dir, "watch", "nothere", "--timeout", "1").returncode == 2


@pytest.mark.slow
def test_a_step_whose_driver_dies_shows_as_interrupted(sessions_dir: Path) -> None:
    assert main(["demo", "--scenario", "tmg-eas", "--latency", "1500", "--init", "k"]) == 0
    follower = Follower(sessions_dir, "k")
    try:
        follower.wait_for("live:")
        driver = start(sessions_dir, "run", "k", "3a", "--yes")
        follower.wait_for("3a         start        pending → running", timeout=30)
        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=10)
        follower.wait_for("3a running → interrupted (its driver is gone: verify it)", timeout=10)
    finally:
        follower.stop()


# -- the Watcher the TUI reuses, in-process ---------------------------------------------------------------------------
def test_watcher_events_partial_lines_and_a_journal_cut_short(sessions_dir: Path, lab: Path) -> None:
    watcher = watch.Watcher(lab, CATALOGUE)
    first = watcher.start()
    assert isinstance(first[0], watch.Snapshot) and first[0].states["1"] == "pending"
    assert watcher.poll() == []
    assert main(["mark", "w", "1", "--done"]) == 0
    events = watcher.poll()
    kinds = [type(event).__name__ for event in events]
    assert kinds.count("NewEntry") == 2 and "StepChanged" in kinds  # the mark, then its verification
    changed = next(e for e in events if isinstance(e, watch.StepChanged))
    assert (changed.key, changed.before, changed.after) == ("1", "pending", "manual-done")
    journal = store.journal_path(lab)
    entry = {"seq": 99, "time": "2026-01-01T00:00:00Z", "operator": "x", "step": None, "action": "note",
             "outcome": "noted"}
    line = json.dumps(entry) + "\n"
    with journal.open("a", encoding="utf-8") as handle:
        handle.write(line[:20])
    assert not [e for e in watcher.poll() if isinstance(e, watch.NewEntry)]  # half a line waits
    with journal.open("a", encoding="utf-8") as handle:
        handle.write(line[20:])
    assert [e.entry["seq"] for e in watcher.poll() if isinstance(e, watch.NewEntry)] == [99]
    journal.write_text(journal.read_text(encoding="utf-8").splitlines(keepends=True)[0], encoding="utf-8")
    assert any(isinstance(e, watch.Problem) and "cut short" in e.message for e in watcher.poll())


def test_watcher_reports_an_unreadable_session_then_recovers(sessions_dir: Path, lab: Path) -> None:
    watcher = watch.Watcher(lab, CATALOGUE)
    watcher.start()
    good = lab.read_text(encoding="utf-8")
    lab.write_text("schema: 1\nparams: [broken\n", encoding="utf-8")
    events = watcher.poll()
    assert any(isinstance(e, watch.Problem) and "cannot be read" in e.message for e in events)
    assert watcher.poll() == []  # said once
    lab.write_text(good, encoding="utf-8")
    os.utime(lab, (time.time() + 5, time.time() + 5))
    assert any(isinstance(e, watch.Snapshot) for e in watcher.poll())


def test_watcher_notices_a_driver_coming_and_going(sessions_dir: Path, lab: Path) -> None:
    watcher = watch.Watcher(lab, CATALOGUE)
    watcher.start()
    stale_lock(lab, age=1)
    came = [e for e in watcher.poll() if isinstance(e, watch.DriverChanged)]
    assert came and came[0].holder is not None and came[0].holder.operator == "carol@jump9" and came[0].live
    store.lock_path(lab).unlink()
    gone = [e for e in watcher.poll() if isinstance(e, watch.DriverChanged)]
    assert gone and gone[0].holder is None

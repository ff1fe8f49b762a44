"""Kill injection at every write boundary: nothing lost, nothing recorded that did not happen, nothing in force
that the record does not know.

Each command runs once to count its boundaries (journal entry written, anchored, snapshot), then once per
boundary with RUNBOOK_CRASH_AT=k, which ends the process there as `kill -9` would (runbook/record/crashpoints.py; the
rehearsal lab's state is flushed first because a real server would already hold what it was sent). After each
crash: the session loads, the journal checks, the interrupted step is settled by verify (its open write-ahead
intents are read from the live state), and undo brings the lab back to exactly what it was.

The lab's Windows hosts and directory are the simulated ones (the only mocked layer: a crash test against the
Samba DC would need a DC per boundary); the CLI, the store, the journal and the lock are the real ones.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from tests.pair_helpers import runbook, start

KILLED = 137


def lab_state(folder: Path) -> dict:
    state = yaml.safe_load((folder / "k.lab.yaml").read_text())
    if not any((state.get("faults") or {}).values()):
        state.pop("faults", None)  # {} and {directory: {}, hosts: {}} both mean no fault planted
    for host in (state.get("hosts") or {}).values():
        host.pop("latency_ms", None)  # the rehearsal's simulated network delay, not a setting of the host
        host.pop("iisreset", None)  # how often IIS restarted: an event, not a setting undo could take back
    return {key: value for key, value in state.items() if key not in ("iisresets", "log")}


def boundaries(folder: Path, *command: str, ok: tuple[int, ...] = (0,)) -> list[str]:
    import tempfile

    scratch = Path(tempfile.mkdtemp(dir=folder.parent))
    log, trial = scratch / "boundaries", scratch / "trial"
    shutil.copytree(folder, trial)
    done = runbook(trial, *command, env={"RUNBOOK_CRASH_AT": "100000", "RUNBOOK_CRASH_LOG": str(log)})
    assert done.returncode in ok, done.stderr
    return log.read_text().split()


def states(folder: Path) -> dict[str, str]:
    shown = runbook(folder, "status", "k", "--json")
    assert shown.returncode in (0, 1), shown.stderr
    return {row["step"]: row["state"] for row in json.loads(shown.stdout)["steps"]}


def changes_in_force(folder: Path, step: str) -> list[dict]:
    from runbook.record import store

    return store.load(folder / "k.yaml").record(step).changes


def settle_and_check(folder: Path, step: str) -> None:
    """What an operator does after a crash: verify the step, then the journal must check out."""
    verified = runbook(folder, "verify", "k", step)
    assert verified.returncode in (0, 1), verified.stderr
    assert "Traceback" not in verified.stderr
    checked = runbook(folder, "journal", "k", "--check")
    assert checked.returncode == 0, checked.stdout
    from runbook.record import store

    assert not store.load(folder / "k.yaml").record(step).intents, "a write-ahead intent stayed open"


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("crash") / "base"
    folder.mkdir()
    made = runbook(folder, "demo", "--scenario", "tmg-eas", "--init", "k")
    assert made.returncode == 0, made.stderr
    return folder


def crash_run(prepared: Path, tmp_path: Path, step: str, picks: slice) -> int:
    """Run `step` with a crash at each boundary in `picks`; after each, settle it and undo to the exact start."""
    pristine = lab_state(prepared)
    command = ("run", "k", step, "--yes", "--allow-restart")
    names = boundaries(prepared, *command)
    crashes = 0
    for number in list(range(1, len(names) + 1))[picks]:
        folder = tmp_path / f"{step}-{number}"
        shutil.copytree(prepared, folder)
        killed = runbook(folder, *command, env={"RUNBOOK_CRASH_AT": str(number)})
        assert killed.returncode == KILLED, (number, names[number - 1], killed.stderr)
        crashes += 1
        assert states(folder)[step] in ("pending", "interrupted", "done"), (number, names[number - 1])
        settle_and_check(folder, step)
        if changes_in_force(folder, step):
            undone = runbook(folder, "undo", "k", step, "--yes", "--allow-restart")
            assert undone.returncode == 0, (number, names[number - 1], undone.stderr)
        assert lab_state(folder) == pristine, f"crash at {names[number - 1]} (#{number}) left a change unknown"
    return crashes


def crash_undo(prepared: Path, tmp_path: Path, step: str, picks: slice) -> int:
    """Undo `step` with a crash at each boundary; after each, settle and undo again: the lab is as before the run."""
    pristine = lab_state(prepared)
    base = tmp_path / f"{step}-done"
    shutil.copytree(prepared, base)
    assert runbook(base, "run", "k", step, "--yes", "--allow-restart").returncode == 0
    command = ("undo", "k", step, "--yes", "--allow-restart")
    names = boundaries(base, *command)
    crashes = 0
    for number in list(range(1, len(names) + 1))[picks]:
        folder = tmp_path / f"undo-{step}-{number}"
        shutil.copytree(base, folder)
        killed = runbook(folder, *command, env={"RUNBOOK_CRASH_AT": str(number)})
        assert killed.returncode == KILLED, (number, names[number - 1], killed.stderr)
        crashes += 1
        settle_and_check(folder, step)
        if changes_in_force(folder, step):
            again = runbook(folder, "undo", "k", step, "--yes", "--allow-restart")
            assert again.returncode == 0, (number, names[number - 1], again.stderr)
        assert lab_state(folder) == pristine, f"crash at {names[number - 1]} (#{number}) of undo left a change"
        assert not changes_in_force(folder, step)
    return crashes


def test_a_crash_between_a_remote_write_and_its_record_is_settled_from_the_live_state(prepared: Path,
                                                                                     tmp_path: Path) -> None:
    """The case that mattered: the delegation was written to the directory, the process died before recording
    it. Verify finds it in force and records it; undo then removes it (it used to stay, unknown to undo)."""
    names = boundaries(prepared, "run", "k", "3a", "--yes")
    changes = [i for i, name in enumerate(names, 1) if name == "journal.before-write"]
    number = changes[2]  # start, intent, [change ← here]: the write reached the directory, the record did not
    folder = tmp_path / "gap"
    shutil.copytree(prepared, folder)
    assert runbook(folder, "run", "k", "3a", "--yes", env={"RUNBOOK_CRASH_AT": str(number)}).returncode == KILLED
    assert states(folder)["3a"] == "interrupted"  # its driver is gone
    settle_and_check(folder, "3a")
    recorded = runbook(folder, "journal", "k").stdout
    assert "The journal records no change of it in force. 1 write was in flight" in recorded
    assert "applied (found in force after an interruption)" in recorded
    assert changes_in_force(folder, "3a")
    assert runbook(folder, "undo", "k", "3a", "--yes").returncode == 0
    assert lab_state(folder) == lab_state(prepared)


def test_crashes_at_a_few_boundaries_of_a_directory_run(prepared: Path, tmp_path: Path) -> None:
    assert crash_run(prepared, tmp_path, "3a", slice(1, None, 5)) >= 4


@pytest.mark.slow
def test_a_crash_at_every_boundary_of_a_directory_run_and_its_undo(prepared: Path, tmp_path: Path) -> None:
    assert crash_run(prepared, tmp_path, "3a", slice(None)) + crash_undo(prepared, tmp_path, "3a", slice(None)) > 30


@pytest.mark.slow
def test_a_crash_at_every_boundary_of_a_host_run_and_its_undo(prepared: Path, tmp_path: Path) -> None:
    step = "6a@EAS01"
    assert crash_run(prepared, tmp_path, step, slice(None)) + crash_undo(prepared, tmp_path, step, slice(None)) > 10


@pytest.mark.slow
def test_a_crash_at_every_boundary_of_a_manual_mark(prepared: Path, tmp_path: Path) -> None:
    command = ("mark", "k", "1", "--done", "--note", "listener made")
    names = boundaries(prepared, *command)
    for number in range(1, len(names) + 1):
        folder = tmp_path / f"mark-{number}"
        shutil.copytree(prepared, folder)
        assert runbook(folder, *command, env={"RUNBOOK_CRASH_AT": str(number)}).returncode == KILLED
        assert states(folder)["1"] in ("pending", "manual-done"), names[number - 1]
        assert runbook(folder, "journal", "k", "--check").returncode == 0 or names[number - 1] == \
            "journal.after-write"
        again = runbook(folder, *command)
        assert again.returncode == 0, (names[number - 1], again.stderr)
        assert states(folder)["1"] == "manual-done"
        assert runbook(folder, "journal", "k", "--check").returncode == 0


@pytest.mark.slow
def test_a_crash_at_every_boundary_of_a_takeover(prepared: Path, tmp_path: Path) -> None:
    """The driver died mid-write (its lock left behind); the next driver takes over and is itself killed at
    each boundary of its takeover and recovery. A third run still settles everything and undo restores the lab."""
    names = boundaries(prepared, "run", "k", "3a", "--yes")
    in_flight = [i for i, name in enumerate(names, 1) if name == "journal.before-write"][2]
    base = tmp_path / "dead-driver"
    shutil.copytree(prepared, base)
    assert runbook(base, "run", "k", "3a", "--yes", env={"RUNBOOK_CRASH_AT": str(in_flight)}).returncode == KILLED
    assert (base / "k.lock").exists(), "the killed driver's lock is what the takeover takes over"
    command = ("verify", "k", "3a", "--takeover")
    taken = boundaries(base, *command, ok=(0, 1))  # 1: half the step took before its driver died
    assert taken
    for number in range(1, len(taken) + 1):
        folder = tmp_path / f"takeover-{number}"
        shutil.copytree(base, folder)
        assert runbook(folder, *command, env={"RUNBOOK_CRASH_AT": str(number)}).returncode == KILLED, taken[number - 1]
        settle_and_check(folder, "3a")
        assert changes_in_force(folder, "3a"), f"after a crash at {taken[number - 1]}, the applied change is unknown"
        assert runbook(folder, "undo", "k", "3a", "--yes").returncode == 0
        assert lab_state(folder) == lab_state(prepared), taken[number - 1]


@pytest.fixture(scope="module")
def prepared_restart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("crash-restart") / "base"
    folder.mkdir()
    made = runbook(folder, "demo", "--scenario", "tmg-eas", "--cert-validation", "eas", "--init", "k")
    assert made.returncode == 0, made.stderr
    return folder


@pytest.mark.slow
def test_a_crash_at_every_boundary_of_a_run_that_ends_with_iisreset(prepared_restart: Path, tmp_path: Path) -> None:
    """6a with the certificate checked on EAS: IIS settings, then iisreset (a point of no return that leaves
    nothing to read afterwards: an open intent for it is recorded as "may have run", so undo restarts again)."""
    step = "6a@EAS01"
    assert crash_run(prepared_restart, tmp_path, step, slice(None)) + \
        crash_undo(prepared_restart, tmp_path, step, slice(None)) > 20


def test_a_real_kill_9_mid_step_leaves_the_lab_holding_what_the_journal_says(tmp_path: Path) -> None:
    """No hook here: SIGKILL as an operator's `kill -9` (or a dead SSH session's OOM kill) delivers it. The
    rehearsal lab keeps each journaled change as it lands (`<lab>.kept`), so after the kill the journal and the
    lab agree, verify settles the step and undo restores the lab exactly."""
    import signal
    import time

    from runbook.record.journal import Journal

    made = runbook(tmp_path, "demo", "--scenario", "tmg-eas", "--latency", "400", "--init", "k")
    assert made.returncode == 0, made.stderr
    pristine = lab_state(tmp_path)
    driver = start(tmp_path, "run", "k", "3a", "--yes")
    journal = Journal(tmp_path / "k.journal.jsonl")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not any(e["action"] == "change" for e in journal.entries()):
        time.sleep(0.02)
    driver.send_signal(signal.SIGKILL)
    driver.wait(timeout=10)
    settle_and_check(tmp_path, "3a")
    assert changes_in_force(tmp_path, "3a"), "the change journaled before the kill is not known"
    assert runbook(tmp_path, "undo", "k", "3a", "--yes").returncode == 0
    assert lab_state(tmp_path) == pristine

"""One driver at a time, across real processes: refusal names the holder, dead or stale locks are taken over."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runbook.errors import LockHeld
from runbook.flow.engine import Runbook
from runbook.flow.states import State
from runbook.record import store
from runbook.record.lock import Holder, SessionLock, read_holder, staleness
from steps import CATALOGUE

HOLD = """
import sys, time
from pathlib import Path
from runbook.record.lock import SessionLock
lock = SessionLock(Path(sys.argv[1]), "test holder").acquire()
print("held", flush=True)
time.sleep(60)
"""


def no_ports(path, session, params):
    raise AssertionError("no outside world here")


@pytest.fixture
def session(sessions_dir: Path, write_params) -> Path:
    path = sessions_dir / "c.yaml"
    Runbook.create(path, str(write_params()), CATALOGUE, no_ports)
    return path


def hold_in_other_process(lock_file: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(lock_file)], stdout=subprocess.PIPE, text=True,
                            env={"RUNBOOK_OPERATOR": "bob@jump2", "PYTHONPATH": str(Path.cwd()), "PATH": ""})
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_second_driver_refused_with_holder_identity(session: Path) -> None:
    proc = hold_in_other_process(store.lock_path(session))
    try:
        with pytest.raises(LockHeld) as caught:
            Runbook.open(session, CATALOGUE, no_ports, drive=True)
        assert "bob@jump2" in str(caught.value) and str(proc.pid) in str(caught.value)
        with pytest.raises(LockHeld, match="alive"):
            Runbook.open(session, CATALOGUE, no_ports, drive=True, takeover=True)
        follower = Runbook.open(session, CATALOGUE, no_ports, drive=False)  # following is always allowed
        assert follower.lock is None
    finally:
        proc.kill()
        proc.wait()


def test_dead_holder_on_this_host_is_taken_over_and_journaled(session: Path) -> None:
    proc = hold_in_other_process(store.lock_path(session))
    proc.kill()
    proc.wait()
    book = Runbook.open(session, CATALOGUE, no_ports, drive=True)
    try:
        last = book.journal.last()
        assert last["action"] == "takeover" and "bob@jump2" in last["details"]["from"]
    finally:
        book.close()
    assert not store.lock_path(session).exists()


def test_lock_from_another_host_needs_takeover(session: Path) -> None:
    lock = store.lock_path(session)
    lock.write_text(json.dumps({"operator": "carol@jump3", "host": "jump3", "pid": 4242,
                                "since": "2026-01-01T00:00:00Z",
                                "heartbeat": "2026-01-01T00:00:00Z", "token": "abc", "purpose": "open"}))
    with pytest.raises(LockHeld, match="carol@jump3"):
        Runbook.open(session, CATALOGUE, no_ports, drive=True)
    book = Runbook.open(session, CATALOGUE, no_ports, drive=True, takeover=True)
    assert book.journal.last()["action"] == "takeover"
    book.close()


RACE = """
import sys, time
from pathlib import Path
from runbook.errors import LockHeld
from runbook.record.lock import SessionLock
start = float(sys.argv[2])
while time.time() < start:
    time.sleep(0.0005)
try:
    SessionLock(Path(sys.argv[1])).acquire(takeover=True)
    print("won", flush=True)
    time.sleep(1)
except LockHeld as exc:
    print("lost: " + str(exc), flush=True)
"""


def test_racing_takeovers_exactly_one_wins(session: Path) -> None:
    lock = store.lock_path(session)
    for _ in range(5):
        lock.write_text(json.dumps({"operator": "carol@jump3", "host": "jump3", "pid": 4242, "since": "x",
                                    "heartbeat": "2026-01-01T00:00:00Z", "token": "abc"}))
        start = time.time() + 0.5
        procs = [subprocess.Popen([sys.executable, "-c", RACE, str(lock), str(start)], stdout=subprocess.PIPE,
                                  text=True, env={"PYTHONPATH": str(Path.cwd()), "PATH": ""}) for _ in range(2)]
        outputs = [p.communicate(timeout=30)[0].strip() for p in procs]
        assert sorted(o.split(":")[0] for o in outputs) == ["lost", "won"], outputs
        loser = [o for o in outputs if o.startswith("lost")][0]
        assert "took over" in loser or "being driven by" in loser, loser
        lock.unlink(missing_ok=True)


def test_running_step_of_dead_driver_comes_back_interrupted(session: Path) -> None:
    data = store.load(session)
    data.steps["3a"].state = State.RUNNING
    data.steps["3a"].action = "execute"
    store.save(data, session)
    viewer = Runbook.open(session, CATALOGUE, no_ports, drive=False)
    assert viewer.display_state("3a") == State.INTERRUPTED  # a follower already sees it in doubt
    book = Runbook.open(session, CATALOGUE, no_ports, drive=True)
    try:
        assert book.record("3a").state == State.INTERRUPTED
        assert book.journal.last()["action"] == "interrupt"
    finally:
        book.close()


def test_release_removes_only_our_own_lock(session: Path) -> None:
    lock = SessionLock(store.lock_path(session)).acquire()
    holder = read_holder(store.lock_path(session))
    assert holder and holder.token == lock.holder.token
    lock.release()
    assert not store.lock_path(session).exists()


# A driver on "another host" (so a takeover is allowed while it lives) beats as fast as it can, or releases, while
# the main process takes over: the lock must end up the taker's every time, never the displaced driver's again.
BEATER = """
import json, sys, time

from pathlib import Path
from runbook.record.lock import SessionLock
lock = SessionLock(Path(sys.argv[1])).acquire()
lock.holder.host = "elsewhere.example.test"
Path(sys.argv[1]).write_text(json.dumps(lock.holder.to_dict()))
print(lock.holder.token, flush=True)
start = float(sys.argv[2])
while time.time() < start:
    time.sleep(0.0005)
stop = start + 0.05
while time.time() < stop:
    lock.beat()
if sys.argv[3] == "release":
    lock.release()
print("stopped", flush=True)
"""


@pytest.mark.parametrize("how", ["beat", "release"])
def test_a_heartbeat_or_release_never_undoes_a_takeover(session: Path, how: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNBOOK_TAKEOVER_WAIT", "0")  # a live holder: the reason is what lets it go
    lock_file = store.lock_path(session)
    env = {"PYTHONPATH": str(Path.cwd()), "PATH": ""}
    for _ in range(20):
        start = time.time() + 0.3
        driver = subprocess.Popen([sys.executable, "-c", BEATER, str(lock_file), str(start), how],
                                  stdout=subprocess.PIPE, text=True, env=env)
        assert driver.stdout is not None
        displaced = driver.stdout.readline().strip()
        while time.time() < start + 0.02:  # take over in the middle of the beats
            time.sleep(0.001)
        taker = None
        for _ in range(200):  # the claim is busy while a beat writes: try again, as an operator would
            try:
                taker = SessionLock(lock_file).acquire(takeover=True, reason="race test")
                break
            except LockHeld as exc:
                assert "at the same moment" in str(exc) or "took over this session first" in str(exc), exc
                time.sleep(0.001)
        assert taker is not None
        # Released before we got there is fine (a fresh lock); otherwise we displaced exactly that driver.
        assert taker.took_over is None and how == "release" or taker.took_over.token == displaced
        assert driver.communicate(timeout=30)[0].strip() == "stopped"
        assert taker.still_mine(), f"the displaced driver's {how} overwrote or removed the taker's lock"
        taker.release()
        assert not lock_file.exists()


def test_a_stale_lock_says_why_in_one_wording() -> None:
    import socket

    from tests.pair_helpers import iso

    def holder(host: str, pid: int, age: float) -> Holder:
        return Holder(operator="carol@jump9", host=host, pid=pid, since=iso(age), heartbeat=iso(age), token="t")

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    here = socket.gethostname()
    assert staleness(holder(here, int(dead.stdout), 1)) == f"stale: pid {int(dead.stdout)} on {here} is gone"
    assert staleness(holder("jump9.example.test", 4242, 720)) == "stale: no heartbeat for 12 min"
    assert staleness(holder("jump9.example.test", 4242, 5)) is None
    assert holder("jump9.example.test", 4242, 720).describe().endswith(" — stale: no heartbeat for 12 min")

"""Handover with a note, takeover of a stale lock after seeing who held it, and two processes racing to take over."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from runbook.cli import main
from runbook.record import store
from runbook.record.journal import Journal
from tests.pair_helpers import ALICE, BOB, Follower, Terminal, journal, runbook, stale_lock, start


@pytest.fixture
def lab(sessions_dir: Path) -> Path:
    assert main(["demo", "--scenario", "tmg-eas", "--init", "h"]) == 0
    return sessions_dir / "h.yaml"


def in_terminal(sessions: Path, args: list[str], answer: str, operator: str = BOB) -> tuple[int, str]:
    """Run `runbook ARGS` on a pseudo-terminal, answer its [y/N] question, return (exit code, everything shown)."""
    terminal = Terminal(sessions, *args, operator=operator)
    terminal.read_until("[y/N]")
    terminal.type(answer)
    return terminal.finish()


def test_stale_lock_without_a_terminal_needs_takeover_and_says_whose_it_is(sessions_dir: Path, lab: Path) -> None:
    holder = stale_lock(lab)
    refused = runbook(sessions_dir, "mark", "h", "1", "--done", operator=BOB)
    assert refused.returncode == 1
    for shown in ("locked by carol@jump9", "host:           jump9.example.test", "pid:            4242",
                  f"last heartbeat: {holder['heartbeat']} (10 min ago)", "no heartbeat for 10 min",
                  "pass --takeover"):
        assert shown in refused.stderr
    assert json.loads(store.lock_path(lab).read_text())["token"] == holder["token"]  # left alone
    taken = runbook(sessions_dir, "mark", "h", "1", "--done", "--takeover", operator=BOB)
    assert taken.returncode == 0, taken.stderr
    assert "--takeover: taking over (journaled)" in taken.stderr and "pid:            4242" in taken.stderr
    entries = journal(lab)
    takeover = next(e for e in entries if e["action"] == "takeover")
    assert takeover["operator"] == BOB and "carol@jump9 (pid 4242 on jump9.example.test" in \
        takeover["details"]["from"]
    assert not store.lock_path(lab).exists()


def test_interactive_takeover_shows_the_holder_and_asks(sessions_dir: Path, lab: Path) -> None:
    holder = stale_lock(lab)
    code, said = in_terminal(sessions_dir, ["mark", "h", "1", "--done"], "n")
    assert code == 1 and "not taken over" in said
    assert f"last heartbeat: {holder['heartbeat']}" in said and "host:           jump9.example.test" in said
    assert json.loads(store.lock_path(lab).read_text())["token"] == holder["token"]
    code, said = in_terminal(sessions_dir, ["mark", "h", "1", "--done"], "y")
    assert code == 0, said
    assert "Take the session over from carol@jump9? [y/N]" in said and "1: manual-done" in said
    assert [e["operator"] for e in journal(lab) if e["action"] == "takeover"] == [BOB]


def test_declining_a_takeover_lets_verify_go_on_read_only(sessions_dir: Path, lab: Path) -> None:
    holder = stale_lock(lab)
    code, said = in_terminal(sessions_dir, ["verify", "h", "3a"], "n")
    assert code == 1 and "not taken over; going on read-only" in said  # 1: the delegation is not there yet
    assert "not recorded in the session" in said and "[MISMATCH] TMG01$ may delegate to" in said
    assert json.loads(store.lock_path(lab).read_text())["token"] == holder["token"]


def test_a_live_holder_on_this_host_cannot_be_taken_over(sessions_dir: Path, lab: Path) -> None:
    import socket

    stale_lock(lab, host=socket.gethostname(), pid=os.getpid(), age=1)
    refused = runbook(sessions_dir, "mark", "h", "1", "--done", "--takeover", operator=BOB)
    assert refused.returncode == 1 and "which is alive; ask them to hand over" in refused.stderr


@pytest.mark.slow
def test_two_processes_racing_to_take_over_exactly_one_wins(sessions_dir: Path) -> None:
    assert main(["demo", "--scenario", "tmg-eas", "--latency", "300", "--init", "r"]) == 0
    session = sessions_dir / "r.yaml"
    for round_number, step in enumerate(("3a", "5a"), start=1):
        stale_lock(session)
        racers = {who: start(sessions_dir, "run", "r", step, "--yes", "--takeover", operator=who)
                  for who in (ALICE, BOB)}
        results = {who: (proc.wait(timeout=60), proc.stdout.read(), proc.stderr.read())  # type: ignore[union-attr]
                   for who, proc in racers.items()}
        winners = [who for who, (code, _, _) in results.items() if code == 0]
        assert len(winners) == 1, results
        loser = next(who for who in results if who not in winners)
        code, _, err = results[loser]
        assert code == 1
        assert ("another process took over this session" in err or "which is alive; ask them to hand over" in err), err
        takeovers = [e for e in journal(session) if e["action"] == "takeover"]
        assert len(takeovers) == round_number and takeovers[-1]["operator"] == winners[0]
    assert Journal(store.journal_path(session)).check() == []
    assert not store.lock_path(session).exists()
    assert not list(sessions_dir.glob("*.stale"))


def test_handover_note_reaches_the_next_driver_and_the_followers(sessions_dir: Path, lab: Path) -> None:
    assert main(["mark", "h", "1", "--done"]) == 0
    follower = Follower(sessions_dir, "h")
    try:
        follower.wait_for("live:")
        handed = runbook(sessions_dir, "handover", "h", "--note", "1 done; run 3a next (CHG-42)")
        assert handed.returncode == 0, handed.stderr
        follower.wait_for("handover     handed over by alice@jump1 — 1 done; run 3a next (CHG-42)")
        follower.wait_for("open then: 2 (pending), 3a (pending)")
    finally:
        follower.stop()
    assert not store.lock_path(lab).exists()
    entry = journal(lab)[-1]
    assert entry["action"] == "handover" and entry["details"]["progress"] == "6/11 settled"
    late = runbook(sessions_dir, "watch", "h", "--timeout", "0.2", operator=BOB)
    assert "handed over by alice@jump1 at" in late.stdout and "1 done; run 3a next (CHG-42)" in late.stdout
    picked = runbook(sessions_dir, "mark", "h", "2", "--done", operator=BOB)
    assert picked.returncode == 0 and "handed over by alice@jump1" in picked.stderr
    again = runbook(sessions_dir, "mark", "h", "3a", "--skip", "--note", "the AD team does it", operator=BOB)
    assert again.returncode == 0 and "handed over" not in again.stderr
    report = runbook(sessions_dir, "report", "h").stdout
    assert "handed over: 1 done; run 3a next (CHG-42); picked up by bob@jump2 at" in report


def test_handover_needs_a_note_and_the_lock(sessions_dir: Path, lab: Path) -> None:
    empty = runbook(sessions_dir, "handover", "h", "--note", "  ")
    assert empty.returncode == 2 and "--note" in empty.stderr
    import socket

    stale_lock(lab, operator=ALICE, host=socket.gethostname(), pid=os.getpid(), age=1)
    own = runbook(sessions_dir, "handover", "h", "--note", "going home")
    assert own.returncode == 1 and "your own session is open for driving" in own.stderr
    other = runbook(sessions_dir, "handover", "h", "--note", "going home", operator=BOB)
    assert other.returncode == 1 and "being driven by alice@jump1" in other.stderr
    assert not any(e["action"] == "handover" for e in journal(lab))

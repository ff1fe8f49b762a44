"""Two-person confirm: a point of no return waits for a DIFFERENT operator's acknowledgement of that exact plan."""
from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from runbook import clock
from runbook.cli import main
from runbook.errors import Refused
from runbook.pair import two_person
from runbook.record import store
from runbook.record.journal import Journal
from tests.pair_helpers import ALICE, BOB, Follower, Terminal, journal, runbook, start


@pytest.fixture
def lab(sessions_dir: Path) -> Path:
    assert main(["demo", "--scenario", "tmg-eas", "--cert-validation", "eas", "--init", "p"]) == 0
    return sessions_dir / "p.yaml"


def two_person_on(wait: str) -> None:
    assert main(["settings", "p", "--two-person", "on", "--ack-wait", wait]) == 0


def test_settings_are_journaled_and_shown(sessions_dir: Path, lab: Path, capsys: pytest.CaptureFixture[str]) -> None:
    two_person_on("20")
    assert store.load(lab).settings == {"two_person_confirm": True, "ack_wait_seconds": 20.0}
    assert journal(lab)[-1]["action"] == "settings"
    assert main(["settings", "p"]) == 0
    assert "two-person confirm: on (a second operator has 20 s" in capsys.readouterr().out
    assert main(["settings", "p", "--ack-wait", "0"]) == 2


def test_a_second_operator_acknowledges_from_their_watch_and_the_run_goes_on(sessions_dir: Path, lab: Path) -> None:
    two_person_on("30")
    follower = Follower(sessions_dir, "p", operator=BOB)
    try:
        follower.wait_for("live:")
        driver = start(sessions_dir, "run", "p", "6a", "--yes", "--allow-restart", operator=ALICE)
        follower.wait_for("6a@EAS01   ack-request  waiting for a second operator", timeout=30)
        _, _, hint = follower.wait_for("to acknowledge: runbook ack p 6a@EAS01 --plan ")
        digest = re.search(r"--plan ([0-9a-f]{12})", hint).group(1)  # type: ignore[union-attr]
        assert "POINT OF NO RETURN: iisreset on eas01.test.lan" in follower.text()
        own = runbook(sessions_dir, "ack", "p", "6a", "--plan", digest, operator=ALICE)
        assert own.returncode == 1 and "a DIFFERENT operator must acknowledge" in own.stderr
        wrong = runbook(sessions_dir, "ack", "p", "6a", "--plan", "0123456789ab", operator=BOB)
        assert wrong.returncode == 1 and "is not the plan waiting for acknowledgement" in wrong.stderr
        assert runbook(sessions_dir, "ack", "p", "6a", operator=BOB).returncode == 2  # no terminal, no --plan
        acked = runbook(sessions_dir, "ack", "p", "6a", "--plan", digest, operator=BOB)
        assert acked.returncode == 0, acked.stderr
        assert driver.wait(timeout=30) == 0, driver.stderr.read()  # type: ignore[union-attr]
        follower.wait_for("6a@EAS01   ack          acknowledged by bob@jump2")
        follower.wait_for("6a@EAS01   succeed      running → done")
    finally:
        follower.stop()
    assert "acknowledged by bob@jump2" in driver.stderr.read()  # type: ignore[union-attr]
    ack = next(e for e in journal(lab) if e["action"] == "ack")
    assert ack["details"]["by"] == BOB and ack["details"]["plan_hash"].startswith(digest)
    assert not list(sessions_dir.glob("p.ack.*"))
    report = runbook(sessions_dir, "report", "p").stdout
    assert "Point of no return acknowledged by bob@jump2" in report


def test_ack_typed_in_watch_on_a_terminal(sessions_dir: Path, lab: Path) -> None:
    two_person_on("30")
    terminal = Terminal(sessions_dir, "watch", "p", "--ack", operator=BOB)
    terminal.read_until("type `ack` (or `ack STEP`) and Enter to acknowledge a waiting plan as bob@jump2")
    driver = start(sessions_dir, "run", "p", "6a", "--yes", "--allow-restart", operator=ALICE)
    terminal.read_until("to acknowledge: runbook ack p 6a@EAS01")
    terminal.type("ack")
    terminal.read_until("acknowledged 6a@EAS01 (plan ")
    assert driver.wait(timeout=30) == 0, driver.stderr.read()  # type: ignore[union-attr]
    terminal.read_until("succeed      running → done")
    terminal.proc.send_signal(__import__("signal").SIGINT)
    code, shown = terminal.finish()
    assert code == 0 and "stopped watching" in shown
    assert [e["details"]["by"] for e in journal(lab) if e["action"] == "ack"] == [BOB]
    piped = runbook(sessions_dir, "watch", "p", "--ack", "--timeout", "1", operator=BOB)
    assert piped.returncode == 2 and "needs a terminal" in piped.stderr


def test_the_drivers_own_acknowledgement_does_not_count(sessions_dir: Path, lab: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    two_person_on("1")

    def forge(message: str) -> None:  # the driver writes an ack as themselves, bypassing `runbook ack`
        if "waiting up to" in message:
            request = Journal(store.journal_path(lab)).last()
            assert request is not None and request["action"] == "ack-request"
            ack = {"operator": ALICE, "host": "jump1", "pid": 1, "step": "6a@EAS01", "time": clock.now_iso(),
                   "request": request["seq"], "plan_hash": request["details"]["plan_hash"]}
            two_person.ack_path(lab, "6a@EAS01").write_text(json.dumps(ack))

    two_person.set_reporter(forge)
    try:
        assert main(["run", "p", "6a", "--yes", "--allow-restart"]) == 1
    finally:
        two_person.set_reporter(two_person._stderr)
    err = capsys.readouterr().err
    assert "no valid acknowledgement from a DIFFERENT operator arrived within 1 s" in err
    assert "the driver cannot acknowledge their own point of no return" in err
    assert store.load(lab).steps["6a@EAS01"].state.value == "pending"
    assert journal(lab)[-1]["action"] == "ack-timeout"
    assert not list(sessions_dir.glob("p.ack.*"))


def test_nothing_to_acknowledge_and_off_means_no_wait(sessions_dir: Path, lab: Path) -> None:
    nothing = runbook(sessions_dir, "ack", "p", "6a", "--plan", "0123456789ab", operator=BOB)
    assert nothing.returncode == 1 and "no acknowledgement is being asked for" in nothing.stderr
    assert main(["run", "p", "6a", "--yes", "--allow-restart"]) == 0  # the setting is off by default
    assert not any(e["action"] == "ack-request" for e in journal(lab))


def test_an_expired_request_is_no_longer_open() -> None:
    request = {"seq": 3, "step": "6a@EAS01", "action": "ack-request", "operator": ALICE,
               "details": {"until": "2026-01-01T00:00:10Z", "plan_hash": "ab" * 32}}
    assert two_person.open_requests([request], now="2026-01-01T00:00:05Z") == {"6a@EAS01": request}
    assert two_person.open_requests([request], now="2026-01-01T00:00:11Z") == {}
    later = {"seq": 4, "step": "6a@EAS01", "action": "ack-timeout", "operator": ALICE}
    assert two_person.open_requests([request, later], now="2026-01-01T00:00:05Z") == {}


def test_one_person_under_another_name_is_not_a_second_person(sessions_dir: Path, lab: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    """`RUNBOOK_OPERATOR=eve` in the driver's own OS account and login session acknowledges nothing: the driver
    refuses such an ack file, and `runbook ack` refuses to write one."""
    import os

    two_person_on("1")

    def forge(message: str) -> None:
        if "waiting up to" in message:
            request = Journal(store.journal_path(lab)).last()
            assert request is not None
            assert request["details"]["uid"] == os.getuid()
            driver_name = os.environ["RUNBOOK_OPERATOR"]
            os.environ["RUNBOOK_OPERATOR"] = "eve"  # the same person, calling themselves eve
            try:
                with pytest.raises(Refused, match="driver's own OS account in the driver's own login session"):
                    two_person.acknowledge(lab, request)
            finally:
                os.environ["RUNBOOK_OPERATOR"] = driver_name
            ack = {"operator": "eve", "host": "jump1", "pid": 1, "step": "6a@EAS01", "time": clock.now_iso(),
                   "request": request["seq"], "plan_hash": request["details"]["plan_hash"], "uid": os.getuid(),
                   "login": two_person.login_session()}
            two_person.ack_path(lab, "6a@EAS01").write_text(json.dumps(ack))

    two_person.set_reporter(forge)
    try:
        assert main(["run", "p", "6a", "--yes", "--allow-restart"]) == 1
    finally:
        two_person.set_reporter(two_person._stderr)
    err = capsys.readouterr().err
    assert "written by the driver's own OS account in the driver's own login session" in err
    assert store.load(lab).steps["6a@EAS01"].state.value == "pending"


def test_an_acknowledgement_records_how_the_second_person_differs(sessions_dir: Path, lab: Path) -> None:
    two_person_on("30")
    driver = start(sessions_dir, "run", "p", "6a", "--yes", "--allow-restart", operator=ALICE)
    try:
        for _ in range(300):
            requests = two_person.requests_for(lab)
            if requests:
                break
            time.sleep(0.1)
        digest = next(iter(requests.values()))["details"]["plan_hash"]
        acked = runbook(sessions_dir, "ack", "p", "6a", "--plan", digest[:12], operator=BOB)
        assert acked.returncode == 0, acked.stderr
        assert driver.wait(timeout=60) == 0, driver.communicate()[1]
    finally:
        driver.kill()
    entry = [e for e in journal(lab) if e["action"] == "ack"][-1]
    assert entry["details"]["person"].startswith("the same OS account in another login session")

"""The `runbook` command end to end, as an operator runs it: real subprocesses on rehearsal-lab sessions.

The lab's Windows hosts are simulated (a Windows host's internals cannot exist here); everything
else — the CLI, engine, steps, session files and journal — is the real code.
"""
from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest
import yaml

from tests.pair_helpers import runbook, start

SECRET = "S3cret-Pa55-do-not-store"


def status(sessions: Path, name: str) -> dict[str, str]:
    result = runbook(sessions, "status", name, "--json")
    assert result.returncode == 0, result.stderr
    return {row["step"]: row["state"] for row in json.loads(result.stdout)["steps"]}


def automated(states: dict[str, str]) -> list[str]:
    return [key for key, state in states.items() if state == "pending" and not key.startswith(("1", "2"))]


@pytest.mark.parametrize("scenario,chain", [("tmg-eas", "tmg"), ("tmg-eas", "eas"), ("tmg-seg-eas", "tmg"),
                                            ("tmg-seg-eas", "seg"), ("add-seg", "tmg"), ("add-seg", "seg")])
def test_scenario_new_plan_run_verify_undo_verify(sessions_dir: Path, scenario: str, chain: str) -> None:
    assert runbook(sessions_dir, "demo", "--scenario", scenario, "--cert-validation", chain, "--init", "c"
                   ).returncode == 0
    steps = runbook(sessions_dir, "steps", "c").stdout
    assert steps.startswith("chain: device → TMG")
    if scenario == "add-seg":
        refused = runbook(sessions_dir, "mark", "c", "2", "--done")
        assert refused.returncode == 1 and "2 waits for 3b@SEG01 (pending)" in refused.stderr
    if chain == "tmg":
        assert runbook(sessions_dir, "mark", "c", "1", "--done", "--note", "done in the TMG console").returncode == 0
    pending = [key for key, state in status(sessions_dir, "c").items() if state == "pending"]
    assert pending, "every scenario has steps to do"
    for _ in range(3):  # dependencies first: a step that waits is refused, and is done in a later pass
        for step in [key for key, state in status(sessions_dir, "c").items() if state == "pending"]:
            if step == "2":
                done = runbook(sessions_dir, "mark", "c", "2", "--done", "--note", "done in the TMG console")
            else:
                plan = runbook(sessions_dir, "plan", "c", step)
                assert plan.returncode == 0, plan.stderr
                done = runbook(sessions_dir, "run", "c", step, "--yes", "--allow-restart")
            assert done.returncode == 0 or "waits for" in done.stderr, (step, done.stdout, done.stderr)
    states = status(sessions_dir, "c")
    assert all(state in ("done", "manual-done", "not-applicable") for state in states.values()), states
    verify = runbook(sessions_dir, "verify", "c")
    assert verify.returncode == 0, verify.stdout
    automated = [key for key, state in states.items() if state == "done"]
    again = runbook(sessions_dir, "run", "c", automated[0], "--yes")
    assert again.returncode == 0 and "already in place" in again.stdout
    recorded = yaml.safe_load((sessions_dir / "c.yaml").read_text())["steps"]
    changed = [key for key in automated if recorded[key].get("changes")]
    for step in reversed(changed):
        undo = runbook(sessions_dir, "undo", "c", step, "--yes", "--allow-restart")
        assert undo.returncode == 0, (step, undo.stderr)
    after = runbook(sessions_dir, "verify", "c")
    assert after.returncode == 1 and "MISMATCH" in after.stdout
    journal = runbook(sessions_dir, "journal", "c", "--check")
    assert journal.returncode == 0 and "journal intact" in journal.stdout


def test_broken_scenario_check_names_every_planted_fault(sessions_dir: Path) -> None:
    runbook(sessions_dir, "demo", "--scenario", "broken", "--init", "b")
    result = runbook(sessions_dir, "check", "b")
    assert result.returncode == 1
    out = result.stdout
    assert "http/mail-int.test.lan is registered on OLDSVC" in out
    assert "seg01.test.lan is 7.0 min ahead" in out
    assert "defined by GPO Default Domain Controllers Hardening" in out
    assert "scep.server_url https://ca.test.lan/certsrv/mscep must end with /" in out
    assert "lacks NTLM" in out
    assert result.stderr.strip().endswith("faults found in: clock, scep, providers, spn, gpo")


def test_duplicate_spn_stops_the_step_naming_the_owner(sessions_dir: Path) -> None:
    runbook(sessions_dir, "demo", "--scenario", "broken", "--init", "b")
    result = runbook(sessions_dir, "run", "b", "4a", "--yes")
    assert result.returncode == 1
    assert "http/mail-int.test.lan is already registered on OLDSVC" in result.stderr
    assert status(sessions_dir, "b")["4a@EAS01"] == "failed"


def test_injected_failure_leaves_a_consistent_resumable_session(sessions_dir: Path) -> None:
    runbook(sessions_dir, "demo", "--scenario", "tmg-seg-eas", "--fail", "3a", "--init", "f")
    failed = runbook(sessions_dir, "run", "f", "3a", "--yes")
    assert failed.returncode == 1 and "injected failure" in failed.stderr
    assert status(sessions_dir, "f")["3a"] == "failed"
    verify = runbook(sessions_dir, "verify", "f", "3a")  # half-changed: delegation written, UAC not
    assert verify.returncode == 1
    assert "[ok] TMG01$ may delegate to http/seg01.test.lan" in verify.stdout
    assert "[MISMATCH] TMG01$ uses any authentication protocol" in verify.stdout
    assert runbook(sessions_dir, "undo", "f", "3a", "--yes").returncode == 0
    assert "[MISMATCH] TMG01$ may delegate to http/seg01.test.lan" in runbook(sessions_dir, "verify", "f", "3a").stdout
    assert runbook(sessions_dir, "run", "f", "3a", "--yes").returncode == 0
    assert status(sessions_dir, "f")["3a"] == "done"


@pytest.mark.parametrize(("scenario", "step", "why"), [
    ("tmg-eas", "4a", "has nothing to change in the tmg-eas scenario (already in place)"),
    ("tmg-eas", "1", "has nothing to change in the tmg-eas scenario (it is done by hand)"),
    ("tmg-eas", "7", "does not apply to the tmg-eas scenario with the tmg chain"),
    ("tmg-seg-eas", "4a@EAS02", "has nothing to change in the tmg-seg-eas scenario (already in place)"),
])
def test_fail_on_a_step_that_changes_nothing_is_refused_naming_those_that_do(
        sessions_dir: Path, scenario: str, step: str, why: str) -> None:
    # A fault planted where nothing is written would never fire: the rehearsal would lose its failure silently.
    result = runbook(sessions_dir, "demo", "--scenario", scenario, "--fail", step, "--init", "f")
    assert result.returncode == 2 and f"--fail: {step} {why}" in result.stderr
    assert "steps that change something there: 3a, " in result.stderr
    assert not list(sessions_dir.glob("f*"))


def test_fail_on_a_farm_step_strikes_the_instance_that_changes_something(sessions_dir: Path) -> None:
    runbook(sessions_dir, "demo", "--scenario", "tmg-seg-eas", "--fail", "4a", "--init", "f")
    failed = runbook(sessions_dir, "run", "f", "4a", "--yes")
    assert failed.returncode == 1 and "injected failure" in failed.stderr and "EASASA" in failed.stderr


def test_killed_mid_step_comes_back_interrupted_and_must_be_verified(sessions_dir: Path) -> None:
    runbook(sessions_dir, "demo", "--scenario", "tmg-seg-eas", "--latency", "1500", "--init", "k")
    proc = start(sessions_dir, "run", "k", "3a", "--yes")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and status(sessions_dir, "k")["3a"] != "interrupted":
        time.sleep(0.1)  # a follower sees `running` as in doubt only once the driver is gone; wait for running
        if status(sessions_dir, "k")["3a"] == "running":  # the journal says so: the file is a snapshot
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert status(sessions_dir, "k")["3a"] == "interrupted"
    refused = runbook(sessions_dir, "run", "k", "3a", "--yes")
    assert refused.returncode == 1 and "verify it first" in refused.stderr
    resolved = runbook(sessions_dir, "verify", "k", "3a")
    assert resolved.returncode in (0, 1)
    assert status(sessions_dir, "k")["3a"] in ("done", "failed")
    assert runbook(sessions_dir, "run", "k", "3a", "--yes").returncode == 0


def test_bad_input_exits_2_with_the_field(sessions_dir: Path, tmp_path: Path) -> None:
    params = tmp_path / "p.yaml"
    params.write_text("topology: tmg-eas\ndomain: test.lan\n")
    result = runbook(sessions_dir, "new", "x", "--params", str(params))
    assert result.returncode == 2 and "directory: missing" in result.stderr
    assert not (sessions_dir / "x.yaml").exists()
    (sessions_dir / "m.yaml").write_text("schema: 1\nparams: [oops\n")
    for command in (["status", "m"], ["run", "m", "3a", "--yes"]):
        bad = runbook(sessions_dir, *command)
        assert bad.returncode == 2 and "not valid YAML" in bad.stderr
    assert (sessions_dir / "m.yaml").read_text() == "schema: 1\nparams: [oops\n"
    runbook(sessions_dir, "demo", "--scenario", "tmg-eas", "--init", "t")
    unknown = runbook(sessions_dir, "run", "t", "9z", "--yes")
    assert unknown.returncode == 2 and "'9z' is not a step" in unknown.stderr


def test_mark_twice_adds_the_note_and_manual_has_real_names(sessions_dir: Path) -> None:
    runbook(sessions_dir, "demo", "--scenario", "tmg-seg-eas", "--init", "m")
    assert runbook(sessions_dir, "mark", "m", "1", "--done").returncode == 0
    again = runbook(sessions_dir, "mark", "m", "1", "--done", "--note", "checked twice")
    assert again.returncode == 0 and "already manual-done; note added" in again.stdout
    manual = runbook(sessions_dir, "manual", "m", "2").stdout
    assert "Public name = mail.example.com" in manual and "SPN = http/seg01.test.lan" in manual
    assert "runbook mark m 2 --done" in manual
    steps = runbook(sessions_dir, "steps", "m").stdout
    assert "7           does not apply: only when a SEG is added to an existing TMG → EAS setup" in steps
    assert "6a@EAS01    EAS: accept Kerberos from the SEG" in steps


@pytest.mark.parametrize("scenario,chain,step", [("tmg-eas", "tmg", "3b"), ("tmg-eas", "tmg", "4b"),
                                                 ("tmg-eas", "eas", "1"), ("tmg-seg-eas", "seg", "3a"),
                                                 ("tmg-seg-eas", "tmg", "7")])
def test_a_step_that_does_not_apply_says_so_everywhere(sessions_dir: Path, scenario, chain, step) -> None:
    runbook(sessions_dir, "demo", "--scenario", scenario, "--cert-validation", chain, "--init", "n")
    for command, code in (("manual", 0), ("plan", 0), ("verify", 0), ("run", 1)):
        result = runbook(sessions_dir, command, "n", step, *(["--yes"] if command == "run" else []))
        assert result.returncode == code, (command, result.stdout, result.stderr)
        assert "does not apply: " in result.stdout + result.stderr, (command, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr and "None" not in result.stdout


def test_iisreset_needs_allow_restart_even_with_yes(sessions_dir: Path) -> None:
    runbook(sessions_dir, "demo", "--scenario", "tmg-eas", "--cert-validation", "eas", "--init", "r")
    result = runbook(sessions_dir, "run", "r", "6a", "--yes")
    assert result.returncode == 1 and "--allow-restart" in result.stderr
    assert status(sessions_dir, "r")["6a@EAS01"] == "pending"


def test_no_password_reaches_any_written_file(sessions_dir: Path, tmp_path: Path) -> None:
    params = tmp_path / "real.yaml"
    params.write_text(yaml.safe_dump({
        "topology": "tmg-eas", "domain": "test.lan",
        "directory": {"server": "dc1.nowhere.invalid", "bind_user": "Administrator@TEST.LAN"},
        "tmg": {"computer": "TMG01", "host": "tmg01.test.lan"},
        "eas": [{"computer": "EAS01", "host": "eas01.test.lan"}],
        "public_name": "mail.example.com", "listener": "EAS Listener",
        "winrm": {"user": "TEST\\operator"}}))
    env = {"RUNBOOK_LDAP_PASSWORD": SECRET, "RUNBOOK_WINRM_PASSWORD": SECRET}
    assert runbook(sessions_dir, "new", "real", "--params", str(params), env=env).returncode == 0
    outputs = []
    for command in (["run", "real", "3a", "--yes"], ["verify", "real"], ["check", "real"], ["status", "real"],
                    ["run", "real", "5a", "--yes"]):
        result = runbook(sessions_dir, *command, env=env, timeout=120)
        outputs.append(result.stdout + result.stderr)
    runbook(sessions_dir, "demo", "--scenario", "tmg-eas", "--init", "lab", env=env)
    runbook(sessions_dir, "run", "lab", "3a", "--yes", env=env)
    for path in sessions_dir.rglob("*"):
        if path.is_file():
            assert SECRET not in path.read_text(errors="replace"), path
    assert not any(SECRET in text for text in outputs)

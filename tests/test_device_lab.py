"""The device proof on the rehearsal lab: the demo's alice, the simulated chain, and the diagnosis that reads it.

Every scenario × chain fails the proof before the change (naming a step) and passes once the whole change has run;
the broken scenario keeps failing at its first broken hop; faults planted afterwards are named where they are.
"""
from __future__ import annotations

import stat
from pathlib import Path

import pytest
import yaml

from runbook.checks.cert import check_certificate
from runbook.cli import main
from runbook.lab.lab import Lab, lab_file
from runbook.record import store

CHAINS = [("tmg-eas", "tmg"), ("tmg-eas", "eas"), ("tmg-seg-eas", "tmg"), ("tmg-seg-eas", "seg"),
          ("add-seg", "tmg"), ("add-seg", "seg")]
SYNCED = "200, ActiveSync 14.1, 16.0, 16.1"


def proof(name: str, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["check", name, "device", *extra])
    return code, capsys.readouterr().out


def run_everything(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    """What an operator does: the manual steps marked, the rest run in dependency passes (as test_cli_e2e)."""
    path = store.session_path(name)
    if store.load(path).steps["1"].state.value == "pending":
        main(["mark", name, "1", "--done"])
    for _ in range(3):
        for key in list(store.load(path).steps):
            if store.load(path).steps[key].state.value != "pending":
                continue
            main(["mark", name, "2", "--done"] if key == "2" else ["run", name, key, "--yes", "--allow-restart"])
    capsys.readouterr()


@pytest.mark.parametrize("scenario,chain", CHAINS)
def test_proof_fails_naming_a_step_until_the_change_is_complete(sessions_dir: Path, scenario: str, chain: str,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--scenario", scenario, "--cert-validation", chain, "--init", "p"]) == 0
    code, out = proof("p", capsys)
    assert code == 1 and "FAULT: " in out and "[step " in out, out
    assert "lab: " in out  # the rehearsal says what a real device cannot see
    if chain == "tmg":
        main(["mark", "p", "1", "--done"])
    if scenario != "add-seg":  # add-seg's cutover (2) waits for the SEG side
        main(["mark", "p", "2", "--done"])
        code, out = proof("p", capsys)
        assert code == 1 and "[step " in out, out  # TMG publishes, the hops behind it are not ready
    run_everything("p", capsys)
    code, out = proof("p", capsys)
    assert code == 0, out
    assert f"a device with alice@test.lan's certificate syncs: {SYNCED}; without a certificate it is refused" in out
    assert "(rehearsal lab)" in out and "lab: " not in out
    capsys.readouterr()
    assert main(["report", "p", "--format", "md"]) == 0
    assert "| Device proof | ok (" in capsys.readouterr().out


def test_broken_scenario_fails_at_its_first_broken_hop_after_everything_ran(
        sessions_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["demo", "--scenario", "broken", "--init", "b"])
    run_everything("b", capsys)
    states = {key: record.state.value for key, record in store.load(store.session_path("b")).steps.items()}
    assert states["5a"] == "failed" and states["4a@EAS01"] == "failed"  # the GPO and OLDSVC stop them
    code, out = proof("b", capsys)
    assert code == 1
    fault = next(line for line in out.splitlines() if "FAULT" in line)
    assert "401 with a Negotiate challenge" in fault and "broke before SEG" in fault
    assert "TMG (TMG01) → SEG (SEG01): delegation 3a, SPN 4b, rights 5a" in fault
    assert "owns the right" in out and "Default Domain Controllers Hardening" in out  # the lab's account: 5a's GPO


def _edit_lab(name: str, change) -> None:
    path = store.session_path(name)
    lab = Lab.load(lab_file(path))
    change(lab)
    lab.save()


@pytest.mark.parametrize("fault,where,step", [
    ("seg-clock", "broke before SEG", "6b"),
    ("oldsvc-alias", "Exchange answered: X-FEServer: EAS01", "4a"),
    ("tmg-rights", "broke before SEG", "5a"),
    ("eas-negotiate", "not Kerberos", "6a"),
])
def test_a_fault_planted_after_the_change_is_named_at_its_hop(sessions_dir: Path, fault: str, where: str, step: str,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    main(["demo", "--scenario", "tmg-seg-eas", "--init", "f"])
    run_everything("f", capsys)
    assert proof("f", capsys)[0] == 0
    edits = {
        "seg-clock": lambda lab: lab.sim_hosts.find("seg01.test.lan").system.set_clock_offset(420),
        "oldsvc-alias": lambda lab: (lab.directory.accounts["easasa"].spns.remove("http/mail-int.test.lan"),
                                     lab.directory.add_user("OLDSVC", ["http/mail-int.test.lan"])),
        "tmg-rights": lambda lab: lab.sim_hosts.find("tmg01.test.lan").lsa.own_right_by_gpo(
            "SeTcbPrivilege", ["S-1-5-32-544"], "Hardening"),
        "eas-negotiate": lambda lab: lab.sim_hosts.find("eas02.test.lan").iis.set_providers(
            "Default Web Site/Microsoft-Server-ActiveSync", ["NTLM"]),
    }
    _edit_lab("f", edits[fault])
    code, out = proof("f", capsys)
    fault_line = next(line for line in out.splitlines() if "FAULT" in line)
    assert code == 1 and where in fault_line and step in fault_line, out


def test_a_certificate_from_another_ca_is_not_trusted_by_the_validating_hop(
        sessions_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.device_pki import make_ca

    main(["demo", "--scenario", "tmg-seg-eas", "--cert-validation", "seg", "--init", "u"])
    run_everything("u", capsys)
    stranger = make_ca(tmp_path / "pki", "Contoso Enterprise CA").user(tmp_path / "pki")
    code, out = proof("u", capsys, "--cert", str(stranger.cert), "--key", str(stranger.key))
    assert code == 1 and "does not trust the user's certificate (issued by CN=Contoso Enterprise CA" in out
    assert "[step 6b]" in out


def test_demo_ships_alice_beside_the_session_and_no_secret_in_it(sessions_dir: Path) -> None:
    main(["demo", "--scenario", "tmg-eas", "--init", "d"])
    device = yaml.safe_load((sessions_dir / "d.yaml").read_text())["lab"]["device"]
    assert device["cert"] == "d.alice.pem" and device["key"] == "d.alice.key" and device["upn"] == "alice@test.lan"
    key = sessions_dir / device["key"]
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    report = check_certificate(str(sessions_dir / device["cert"]))
    assert not report.faults and report.emails == ["alice@example.com"] and report.upns == ["alice@test.lan"]
    assert report.issuer == device["ca_subject"] == "CN=TEST Lab Enterprise CA,DC=test,DC=lan"
    main(["check", "d", "device"])
    secret = key.read_text().split("-----")[2].strip().splitlines()[0]
    for path in sessions_dir.iterdir():
        if path != key:
            text = path.read_text(errors="replace")
            assert "PRIVATE KEY" not in text and secret not in text, path


def test_a_rehearsal_made_before_the_demo_shipped_a_certificate_says_what_to_do(
        sessions_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["demo", "--scenario", "tmg-eas", "--init", "old"])
    path = sessions_dir / "old.yaml"
    data = yaml.safe_load(path.read_text())
    del data["lab"]["device"]
    path.write_text(yaml.safe_dump(data))
    capsys.readouterr()
    assert main(["check", "old", "device"]) == 2
    assert "start a new one with `runbook demo`" in capsys.readouterr().err


def test_status_shows_the_last_proof_and_an_open_proof_fault(sessions_dir: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    main(["demo", "--scenario", "tmg-eas", "--init", "s"])
    capsys.readouterr()
    main(["status", "s"])
    assert "device proof: not run yet (`runbook check SESSION device`)" in capsys.readouterr().out
    proof("s", capsys)
    main(["status", "s"])
    out = capsys.readouterr().out
    assert "device proof: FAIL (" in out
    assert "check device: a device with alice@test.lan's certificate cannot sync" in out  # not complete: why
    run_everything("s", capsys)
    proof("s", capsys)
    main(["status", "s"])
    out = capsys.readouterr().out
    assert f"): a device with alice@test.lan's certificate syncs: {SYNCED}" in out and "COMPLETE" in out

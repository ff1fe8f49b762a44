"""Steps 3a, 3b, 4a, 4b end to end from the CLI against a real Samba AD DC (tests/samba_dc.py).

Every test drives `python -m runbook …` in a subprocess exactly as an operator would: a session made with
`runbook new` from params that point at dc1.test.lan with the fixture's CA file, RUNBOOK_LDAP_PASSWORD in
the environment. What our code wrote is checked with independent witnesses — `samba-tool delegation show`,
`samba-tool spn list` and `ldbsearch` on the live sam.ldb — never with our own LDAP client. Outside drift is
made with `ldbmodify` on the live sam.ldb, behind the DC's back.

One DC serves the module; an autouse fixture puts every seeded account back exactly as the template seeded
it after each test, so the tests stay independent (and each test asserts its own end state before that).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from runbook.flow.ports import UAC_TRUSTED_FOR_DELEGATION, UAC_TRUSTED_TO_AUTH_FOR_DELEGATION
from tests.samba_dc import PLANTED_SPN, UNRELATED_DELEGATION, write_ca_file
from tests.test_directory_contract import restore, snapshot

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
WORKSTATION = 0x1000
PROTOCOL_TRANSITION = WORKSTATION | UAC_TRUSTED_TO_AUTH_FOR_DELEGATION  # 0x1001000
A2D = "msDS-AllowedToDelegateTo"
SPN = "servicePrincipalName"
UAC = "userAccountControl"


# --------------------------------------------------------------------------- helpers


@pytest.fixture(autouse=True)
def seeded_state(samba_dc):
    """Every test starts from, and leaves, the template's seeded state (and a running DC)."""
    if samba_dc.process is None:
        samba_dc.start()
    before = snapshot(samba_dc)
    yield before
    if samba_dc.process is None:
        samba_dc.start()
    restore(samba_dc, before)


class Cli:
    """`python -m runbook …` in a subprocess, with the sessions dir and the LDAP password in its environment."""

    def __init__(self, sessions: Path, password: str):
        self.sessions = sessions
        self.password = password

    def __call__(self, *args: str, password: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
        env = {key: value for key, value in os.environ.items() if not key.startswith("RUNBOOK_")}
        env.update(RUNBOOK_SESSIONS_DIR=str(self.sessions), RUNBOOK_OPERATOR="alice@jump1", PYTHONPATH=str(ROOT))
        secret = self.password if password is None else password
        if secret:
            env["RUNBOOK_LDAP_PASSWORD"] = str.__str__(secret)
        return subprocess.run([sys.executable, "-m", "runbook", *args], capture_output=True, text=True, cwd=ROOT,
                              env=env, timeout=timeout, stdin=subprocess.DEVNULL)

    def ok(self, *args: str, **kw) -> str:
        result = self(*args, **kw)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        return result.stdout

    def states(self, session: str) -> dict[str, str]:
        data = json.loads(self.ok("status", session, "--json"))
        return {row["step"]: row["state"] for row in data["steps"]}

    def record(self, session: str, step: str) -> dict:
        return yaml.safe_load((self.sessions / f"{session}.yaml").read_text())["steps"][step]

    def journal_intact(self, session: str) -> None:
        assert "journal intact" in self.ok("journal", session, "--check")


@pytest.fixture
def cli(samba_dc, tmp_path) -> Cli:
    folder = tmp_path / "sessions"
    folder.mkdir()
    return Cli(folder, samba_dc.admin_password)


@pytest.fixture
def new_session(samba_dc, cli, tmp_path):
    """`runbook new NAME` from params for the Samba DC (LDAPS 636, GC 3269, the fixture's CA file)."""
    def make(name: str, topology: str = "tmg-eas", *, directory: dict | None = None, **overrides) -> str:
        params = {
            "topology": topology, "domain": "test.lan",
            "directory": {"server": "dc1.test.lan", "tls": "ldaps", "ca_file": samba_dc.ca_file,
                          "bind_user": "Administrator@TEST.LAN", **(directory or {})},
            "tmg": {"computer": "TMG01", "host": "tmg01.test.lan"},
            "eas": [{"computer": "EAS01", "host": "eas01.test.lan"}],
            "public_name": "mail.example.com", "listener": "EAS Listener",
        }
        if topology != "tmg-eas":
            params["seg"] = [{"computer": "SEG01", "host": "seg01.test.lan"}]
        params.update(overrides)
        path = tmp_path / f"{name}.params.yaml"
        path.write_text(yaml.safe_dump(params, sort_keys=False))
        cli.ok("new", name, "--params", str(path))
        return name
    return make


def delegation(dc, account: str) -> tuple[set[str], bool]:
    """(msDS-AllowedToDelegateTo, protocol transition on?) as `samba-tool delegation show` reports them."""
    out = dc.samba_tool("delegation", "show", account)
    values = {line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith(f"{A2D}:")}
    return values, "UF_TRUSTED_TO_AUTHENTICATE_FOR_DELEGATION: True" in out


def spns(dc, account: str) -> set[str]:
    out = dc.samba_tool("spn", "list", account)
    return {line.strip() for line in out.splitlines() if line.startswith(("\t", " ")) and line.strip()}


def outside(dc, dn: str, change: str, attribute: str, *values: str) -> None:
    """ldbmodify on the live sam.ldb: someone else changes the directory behind the runbook's back."""
    lines = "".join(f"{attribute}: {value}\n" for value in values)
    dc.ldbmodify(f"dn: {dn}\nchangetype: modify\n{change}: {attribute}\n{lines}")


def changed(before: dict, after: dict) -> dict:
    return {key: (before[key], after[key]) for key in before if before[key] != after[key]}


# --------------------------------------------------------------------------- every step in every topology

TOPOLOGIES = {
    # TMG → EAS01, which runs the site as Network Service under an internal alias: the alias SPN goes on EAS01$.
    "tmg-eas": dict(
        overrides={"internal_names": {"eas": "owa-int.test.lan"}},
        setup=None,
        steps=["3a", "4a@EAS01"],
        already=[],
        plan={"3a": ["TMG01$ msDS-AllowedToDelegateTo: + http/eas01.test.lan, + http/eas01, "
                     "+ http/owa-int.test.lan, + http/owa-int",
                     "TMG01$ userAccountControl: 0x1000 → 0x1001000 (+TRUSTED_TO_AUTH_FOR_DELEGATION)",
                     f"kept as they are (other services already delegated): {UNRELATED_DELEGATION}"],
              "4a@EAS01": ["EAS01$ servicePrincipalName: + http/owa-int.test.lan, + http/owa-int",
                           "http/eas01.test.lan is covered by EAS01$'s HOST/ SPN"]},
        delegations={"TMG01$": {UNRELATED_DELEGATION, "http/eas01.test.lan", "http/eas01", "http/owa-int.test.lan",
                                "http/owa-int"}},
        spns={"EAS01$": {"http/owa-int.test.lan", "http/owa-int"}},
    ),
    # TMG → a 2-SEG farm → a 2-EAS farm behind one alias, whose SPN lives on the Exchange ASA EASASA.
    "tmg-seg-eas": dict(
        overrides={"seg": [{"computer": "SEG01", "host": "seg01.test.lan"},
                           {"computer": "SEG02", "host": "seg02.test.lan"}],
                   "eas": [{"computer": "EAS01", "host": "eas01.test.lan"},
                           {"computer": "EAS02", "host": "eas02.test.lan"}],
                   "internal_names": {"eas": "exch-int.test.lan"}, "service_accounts": {"eas": "EASASA"}},
        setup=None,
        steps=["3a", "3b@SEG01", "3b@SEG02", "4a@EAS01", "4a@EAS02", "4a@EASASA", "4b@SEG01", "4b@SEG02"],
        already=["4a@EAS01", "4a@EAS02", "4b@SEG01", "4b@SEG02"],  # HOST/ covers http/ on the computer itself
        plan={"3a": ["TMG01$ msDS-AllowedToDelegateTo: + http/seg01.test.lan, + http/seg01, "
                     "+ http/seg02.test.lan, + http/seg02"],
              "3b@SEG02": ["SEG02$ msDS-AllowedToDelegateTo: + http/eas01.test.lan, + http/eas01, "
                           "+ http/eas02.test.lan, + http/eas02, + http/exch-int.test.lan, + http/exch-int",
                           "SEG02$ userAccountControl: 0x1000 → 0x1001000 (+TRUSTED_TO_AUTH_FOR_DELEGATION)"],
              "4a@EASASA": ["EASASA servicePrincipalName: + http/exch-int.test.lan, + http/exch-int"],
              "4a@EAS02": ["already in place: nothing to change",
                           "http/eas02.test.lan is covered by EAS02$'s HOST/ SPN"]},
        delegations={"TMG01$": {UNRELATED_DELEGATION, "http/seg01.test.lan", "http/seg01", "http/seg02.test.lan",
                                "http/seg02"},
                     **{f"SEG0{n}$": {"http/eas01.test.lan", "http/eas01", "http/eas02.test.lan", "http/eas02",
                                      "http/exch-int.test.lan", "http/exch-int"} for n in (1, 2)}},
        spns={"EASASA": {"http/exch-int.test.lan", "http/exch-int"}},
    ),
    # An existing TMG → EAS setup (TMG01 already delegates to EAS01 with protocol transition) gets a SEG: the SEG
    # side first (its host steps done by hand here), then the cutover (3a, 2), then 7 removes TMG's old delegation.
    "add-seg": dict(
        overrides={},
        setup="existing",
        steps=["3b@SEG01", "4a@EAS01", "4b@SEG01", "3a", "7"],
        marked={"3a": ["5b", "6a", "6b"], "7": ["2"]},
        already=["4a@EAS01", "4b@SEG01"],
        plan={"3b@SEG01": ["SEG01$ msDS-AllowedToDelegateTo: + http/eas01.test.lan, + http/eas01"]},
        delegations={"TMG01$": {UNRELATED_DELEGATION, "http/seg01.test.lan", "http/seg01"},
                     "SEG01$": {"http/eas01.test.lan", "http/eas01"}},
        spns={},
    ),
    # The SEG checks the certificate (TLS passes through TMG): only the SEG delegates, TMG is left alone.
    "tmg-seg-eas/seg": dict(
        overrides={"cert_validation": "seg", "internal_names": {"eas": "exch-int.test.lan"},
                   "eas": [{"computer": "EAS01", "host": "eas01.test.lan"},
                           {"computer": "EAS02", "host": "eas02.test.lan"}],
                   "service_accounts": {"eas": "EASASA"}},
        setup=None,
        steps=["3b@SEG01", "4a@EAS01", "4a@EAS02", "4a@EASASA"],
        already=["4a@EAS01", "4a@EAS02"],
        plan={"3b@SEG01": ["SEG01$ msDS-AllowedToDelegateTo: + http/eas01.test.lan, + http/eas01, "
                           "+ http/eas02.test.lan, + http/eas02, + http/exch-int.test.lan, + http/exch-int",
                           "SEG01$ userAccountControl: 0x1000 → 0x1001000 (+TRUSTED_TO_AUTH_FOR_DELEGATION)"]},
        delegations={"SEG01$": {"http/eas01.test.lan", "http/eas01", "http/eas02.test.lan", "http/eas02",
                                "http/exch-int.test.lan", "http/exch-int"}},
        spns={"EASASA": {"http/exch-int.test.lan", "http/exch-int"}},
        untouched=["TMG01$"],
    ),
}


@pytest.mark.parametrize("topology", list(TOPOLOGIES))
def test_every_step_plan_run_verify_rerun_undo(samba_dc, cli, new_session, topology):
    case = TOPOLOGIES[topology]
    tmg = samba_dc.computer_dn("TMG01")
    if case["setup"] == "existing":  # what the earlier TMG → EAS change left behind
        outside(samba_dc, tmg, "add", A2D, "http/eas01.test.lan", "http/eas01")
        outside(samba_dc, tmg, "replace", UAC, str(PROTOCOL_TRANSITION))
    name = new_session("s", topology.split("/")[0], **case["overrides"])
    states = cli.states(name)
    ad_steps = [key for key in states if key[:2] in ("3a", "3b", "4a", "4b", "7") and states[key] != "not-applicable"]
    assert sorted(ad_steps) == sorted(case["steps"])
    before = snapshot(samba_dc)

    # plan shows the attribute-level difference and changes nothing
    for step, lines in case["plan"].items():
        out = cli.ok("plan", name, step)
        for line in lines:
            assert f"  {line}\n" in out, (step, line, out)
    assert snapshot(samba_dc) == before

    for step in case["steps"]:
        for by_hand in case.get("marked", {}).get(step, []):  # host or console steps, done by hand here
            cli.ok("mark", name, by_hand, "--done")
        out = cli.ok("run", name, step, "--yes")
        assert out.endswith(f"{step}: already in place, nothing changed\n" if step in case["already"]
                            else f"{step}: done and verified\n"), out
    after_run = snapshot(samba_dc)
    for account, values in case["delegations"].items():
        assert delegation(samba_dc, account) == (values, True), account
    for account in case.get("untouched", []):
        assert {k: v for k, v in after_run.items() if k[0] == account} == \
            {k: v for k, v in before.items() if k[0] == account}, account
    for account, values in case["spns"].items():
        assert values <= spns(samba_dc, account), account
    assert spns(samba_dc, "OLDSVC") == {PLANTED_SPN}
    assert not [v for values in after_run.values() for v in values if "*" in v], "a wildcard reached AD"
    assert all(cli.states(name)[step] == "done" for step in case["steps"])
    if case.get("marked"):  # host steps were recorded by hand and there are no hosts here to read
        for step in case["steps"]:
            verify = cli("verify", name, step)
            assert verify.returncode == 0 and "MISMATCH" not in verify.stdout, verify.stdout
    else:
        verify = cli("verify", name)
        assert verify.returncode == 0 and "MISMATCH" not in verify.stdout, verify.stdout

    # idempotence: running everything again changes nothing and records nothing
    recorded = {step: cli.record(name, step).get("changes", []) for step in case["steps"]}
    for step in case["steps"]:
        assert cli.ok("run", name, step, "--yes").endswith(f"{step}: already in place, nothing changed\n")
    assert snapshot(samba_dc) == after_run
    assert {step: cli.record(name, step).get("changes", []) for step in case["steps"]} == recorded
    journal = [json.loads(line) for line in (cli.sessions / f"{name}.journal.jsonl").read_text().splitlines()]
    writes = [entry for entry in journal if entry["action"] == "change"]
    assert len(writes) == sum(len(changes) for changes in recorded.values())

    # undo, newest first: back to the exact values ldbsearch saw before (case, order and all)
    for step in reversed(case["steps"]):
        if recorded[step]:
            assert cli.ok("undo", name, step, "--yes").endswith(f"{step}: undone\n")
        else:
            refused = cli("undo", name, step, "--yes")
            assert refused.returncode == 1 and "recorded no change to undo" in refused.stderr
    assert snapshot(samba_dc) == before, changed(before, snapshot(samba_dc))
    assert all(not cli.record(name, step).get("changes") for step in case["steps"])
    after_undo = cli("verify", name)
    assert after_undo.returncode == 1 and "[MISMATCH]" in after_undo.stdout
    cli.journal_intact(name)


def test_run_undo_run_undo_is_repeatable(samba_dc, cli, new_session):
    name = new_session("again")
    before = snapshot(samba_dc)
    for _ in range(2):
        cli.ok("run", name, "3a", "--yes")
        assert delegation(samba_dc, "TMG01$") == ({UNRELATED_DELEGATION, "http/eas01.test.lan", "http/eas01"}, True)
        cli.ok("undo", name, "3a", "--yes")
        assert snapshot(samba_dc) == before
        record = cli.record(name, "3a")
        assert record["state"] == "undone" and not record.get("changes")
    again = cli("undo", name, "3a", "--yes")
    assert again.returncode == 1 and "recorded no change to undo" in again.stderr
    assert snapshot(samba_dc) == before
    cli.journal_intact(name)


# --------------------------------------------------------------------------- safety rules


def test_unrelated_delegation_values_are_kept(samba_dc, cli, new_session):
    name = new_session("keep")
    plan = cli.ok("plan", name, "3a")
    assert f"kept as they are (other services already delegated): {UNRELATED_DELEGATION}" in plan
    cli.ok("run", name, "3a", "--yes")
    assert UNRELATED_DELEGATION in delegation(samba_dc, "TMG01$")[0]
    outside(samba_dc, samba_dc.computer_dn("TMG01"), "add", A2D, "http/intranet.test.lan")  # added meanwhile
    cli.ok("undo", name, "3a", "--yes")
    assert delegation(samba_dc, "TMG01$") == ({UNRELATED_DELEGATION, "http/intranet.test.lan"}, False)


def test_duplicate_spn_is_refused_naming_the_owner(samba_dc, cli, new_session):
    name = new_session("dup", internal_names={"eas": "mail-int.test.lan"})
    before = spns(samba_dc, "EAS01$")
    message = (f"{PLANTED_SPN} is already registered on OLDSVC; an SPN can live on only one account. Remove it "
               f"there first (setspn -D {PLANTED_SPN} OLDSVC) or correct the params")
    plan = cli("plan", name, "4a")
    assert plan.returncode == 1 and message in plan.stderr, plan.stderr
    run = cli("run", name, "4a", "--yes")
    assert run.returncode == 1 and message in run.stderr and "Traceback" not in run.stderr
    assert cli.states(name)["4a@EAS01"] == "failed"
    assert spns(samba_dc, "EAS01$") == before and spns(samba_dc, "OLDSVC") == {PLANTED_SPN}
    check = cli("check", name, "spn")
    assert check.returncode == 1 and f"{PLANTED_SPN} is registered on OLDSVC, but belongs on EAS01$" in check.stdout
    # The operator retires the old account's SPN (setspn -D), then the same session carries on.
    outside(samba_dc, samba_dc.user_dn("OLDSVC"), "delete", SPN, PLANTED_SPN)
    cli.ok("run", name, "4a", "--yes")
    assert {PLANTED_SPN, "http/mail-int"} <= spns(samba_dc, "EAS01$")
    cli.ok("undo", name, "4a", "--yes")
    assert spns(samba_dc, "EAS01$") == before


def test_wildcards_never_reach_ad(samba_dc, cli, new_session, tmp_path):
    # A 2-EAS farm without an alias: the TMG rule balances it with http/*, AD gets each server's own SPNs.
    name = new_session("farm", eas=[{"computer": "EAS01", "host": "eas01.test.lan"},
                                    {"computer": "EAS02", "host": "eas02.test.lan"}])
    assert "SPN = http/*" in cli.ok("manual", name, "2")
    cli.ok("run", name, "3a", "--yes")
    cli.ok("run", name, "4a", "--yes")
    assert delegation(samba_dc, "TMG01$")[0] == {UNRELATED_DELEGATION, "http/eas01.test.lan", "http/eas01",
                                                "http/eas02.test.lan", "http/eas02"}
    out = samba_dc.ldbsearch("(|(msDS-AllowedToDelegateTo=http/\\2a)(servicePrincipalName=http/\\2a))", "dn")
    assert "# 0 entries" in out or "# returned 0 records" in out, out
    # Somebody else puts one there: verify names it.
    outside(samba_dc, samba_dc.computer_dn("TMG01"), "add", A2D, "http/*")
    verify = cli("verify", name, "3a")
    assert verify.returncode == 1
    assert "[MISMATCH] TMG01$ holds no wildcard SPN in msDS-AllowedToDelegateTo: wanted none, seen [http/*]" \
        in verify.stdout
    # And params cannot ask for one.
    bad = tmp_path / "wild.yaml"
    params = yaml.safe_load((tmp_path / "farm.params.yaml").read_text())
    params["internal_names"] = {"eas": "*.test.lan"}
    bad.write_text(yaml.safe_dump(params))
    refused = cli("new", "wild", "--params", str(bad))
    assert refused.returncode == 2 and "wildcards belong only in the TMG rule, never in AD" in refused.stderr


# --------------------------------------------------------------------------- undo and outside drift


def test_undo_refused_after_outside_drift_then_allowed_once_put_back(samba_dc, cli, new_session, seeded_state):
    name = new_session("drift")
    cli.ok("run", name, "3a", "--yes")
    tmg = samba_dc.computer_dn("TMG01")
    ours = delegation(samba_dc, "TMG01$")

    # Someone turns on unconstrained delegation behind our back: the UAC we set is not live any more.
    outside(samba_dc, tmg, "replace", UAC, str(PROTOCOL_TRANSITION | UAC_TRUSTED_FOR_DELEGATION))
    refused = cli("undo", name, "3a", "--yes")
    assert refused.returncode == 1
    assert ("runbook undo: 3a: refusing to undo, the live state moved since this session changed it:\n"
            "  TMG01$ userAccountControl is 0x1081000 now, this session set 0x1001000: someone changed it since"
            in refused.stderr), refused.stderr
    assert delegation(samba_dc, "TMG01$") == ours  # nothing reverted
    assert cli.states(name)["3a"] == "done"

    # Someone removes one of the values we added.
    outside(samba_dc, tmg, "replace", UAC, str(PROTOCOL_TRANSITION))
    outside(samba_dc, tmg, "delete", A2D, "http/eas01")
    refused = cli("undo", name, "3a", "--yes")
    assert refused.returncode == 1
    assert ("TMG01$ msDS-AllowedToDelegateTo: http/eas01 was removed outside this session since it was added"
            in refused.stderr)
    assert samba_dc.ldb_values(tmg, UAC) == [str(PROTOCOL_TRANSITION)]

    # Put back, the undo goes through and leaves exactly the template's values.
    outside(samba_dc, tmg, "add", A2D, "http/eas01")
    cli.ok("undo", name, "3a", "--yes")
    assert snapshot(samba_dc) == seeded_state
    cli.journal_intact(name)


def test_half_done_step_after_drift_mid_run_is_consistent_and_resumable(samba_dc, cli, new_session, monkeypatch):
    """The UAC changes between plan and write: the delegation values are in and recorded, the UAC write is
    refused (read-compare-write), the step ends failed; verify, undo and a re-run all work from there."""
    from runbook.backends import Options, ports_factory
    from runbook.errors import DriftError
    from runbook.flow.engine import Runbook
    from steps import CATALOGUE

    name = new_session("half")
    tmg = samba_dc.computer_dn("TMG01")
    monkeypatch.setenv("RUNBOOK_LDAP_PASSWORD", str.__str__(samba_dc.admin_password))

    def confirm_then_someone_writes(question, lines):
        outside(samba_dc, tmg, "replace", UAC, str(WORKSTATION | 0x20))  # e.g. PASSWD_NOTREQD set by a script
        return True

    book = Runbook.open(cli.sessions / f"{name}.yaml", CATALOGUE, ports_factory(Options(interactive=False)),
                        drive=True)
    try:
        with pytest.raises(DriftError, match="userAccountControl of .* is not what this session recorded"):
            book.run("3a", confirm=confirm_then_someone_writes)
    finally:
        book.close()
    assert cli.states(name)["3a"] == "failed"
    assert [c["kind"] for c in cli.record(name, "3a")["changes"]] == ["ldap-values"]
    assert delegation(samba_dc, "TMG01$") == ({UNRELATED_DELEGATION, "http/eas01.test.lan", "http/eas01"}, False)
    verify = cli("verify", name, "3a")
    assert verify.returncode == 1
    assert "[ok] TMG01$ may delegate to http/eas01.test.lan" in verify.stdout
    assert "[MISMATCH] TMG01$ uses any authentication protocol" in verify.stdout
    cli.ok("undo", name, "3a", "--yes")  # removes what was recorded, leaves the outside UAC alone
    assert delegation(samba_dc, "TMG01$") == ({UNRELATED_DELEGATION}, False)
    assert samba_dc.ldb_values(tmg, UAC) == [str(WORKSTATION | 0x20)]
    cli.ok("run", name, "3a", "--yes")  # resumes from the live state
    assert samba_dc.ldb_values(tmg, UAC) == [str(WORKSTATION | 0x20 | UAC_TRUSTED_TO_AUTH_FOR_DELEGATION)]
    assert cli.states(name)["3a"] == "done"
    cli.journal_intact(name)


# --------------------------------------------------------------------------- connection errors


def assert_failed_then_resumes(samba_dc, cli, name: str, result, exit_code: int, message: str) -> None:
    assert result.returncode == exit_code, (result.returncode, result.stderr)
    assert message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert cli.states(name)["3a"] == "failed"
    assert message.removeprefix("runbook run: ") in cli.record(name, "3a")["error"].replace("\n", " ")
    cli.journal_intact(name)
    assert delegation(samba_dc, "TMG01$") == ({UNRELATED_DELEGATION}, False)


def test_wrong_password(samba_dc, cli, new_session):
    name = new_session("pw")
    result = cli("run", name, "3a", "--yes", password="not-the-password")
    assert_failed_then_resumes(samba_dc, cli, name, result, 1,
                               "runbook run: bind as Administrator@TEST.LAN refused: invalid credentials "
                               "(dc1.test.lan:636)")
    assert "not-the-password" not in result.stderr
    cli.ok("run", name, "3a", "--yes")
    assert cli.states(name)["3a"] == "done"


def test_no_password(samba_dc, cli, new_session):
    name = new_session("nopw")
    result = cli("run", name, "3a", "--yes", password="")
    assert_failed_then_resumes(samba_dc, cli, name, result, 2,
                               "runbook run: RUNBOOK_LDAP_PASSWORD: no password for Administrator@TEST.LAN "
                               "(LDAP bind); set RUNBOOK_LDAP_PASSWORD or run from a terminal to be prompted")
    cli.ok("run", name, "3a", "--yes")


def test_unreachable_dc(samba_dc, cli, new_session):
    name = new_session("down")
    samba_dc.stop()
    try:
        result = cli("run", name, "3a", "--yes")
        plan = cli("plan", name, "3a")
        verify = cli("verify", name, "3a")
        check = cli("check", name, "directory")
    finally:
        samba_dc.start()
    message = "binding as Administrator@TEST.LAN: cannot reach the DC at dc1.test.lan:636: connection refused"
    assert_failed_then_resumes(samba_dc, cli, name, result, 1, f"runbook run: {message}")
    assert plan.returncode == 1 and f"runbook plan: {message}" in plan.stderr
    assert verify.returncode == 1 and f"3a: could not verify: {message}" in verify.stdout
    assert check.returncode == 1 and f"directory: fail\n  FAULT: could not run: {message}" in check.stdout
    cli.ok("run", name, "3a", "--yes")
    assert cli.states(name)["3a"] == "done"


def test_hung_dc_times_out(samba_dc, cli, new_session):
    """A DC that accepts TCP and then says nothing (SIGSTOPped): the bind gives up after 15 s, naming the DC."""
    name = new_session("hung")
    with samba_dc.frozen():
        started = time.monotonic()
        result = cli("run", name, "3a", "--yes")
        took = time.monotonic() - started
    assert took < 40, took
    assert_failed_then_resumes(samba_dc, cli, name, result, 1,
                               "runbook run: binding as Administrator@TEST.LAN: no answer from dc1.test.lan:636 "
                               "within 15 s (timeout)")
    cli.ok("run", name, "3a", "--yes")
    assert cli.states(name)["3a"] == "done"


def test_closed_port(samba_dc, cli, new_session):
    name = new_session("port", directory={"port": 1636})
    result = cli("run", name, "3a", "--yes")
    assert_failed_then_resumes(samba_dc, cli, name, result, 1,
                               "runbook run: binding as Administrator@TEST.LAN: cannot reach the DC at "
                               "dc1.test.lan:1636: connection refused")


def test_certificate_from_another_ca(samba_dc, cli, new_session, tmp_path):
    ca = tmp_path / "ca.pem"
    write_ca_file(ca)
    name = new_session("ca", directory={"ca_file": str(ca)})
    result = cli("run", name, "3a", "--yes")
    assert_failed_then_resumes(samba_dc, cli, name, result, 1,
                               "runbook run: binding as Administrator@TEST.LAN: TLS validation of dc1.test.lan:636 "
                               f"failed: the certificate of dc1.test.lan is not signed by a CA in {ca} (unable to "
                               "get local issuer certificate); check directory.ca_file")
    shutil.copy(samba_dc.ca_file, ca)  # the operator puts the right CA bundle in place
    cli.ok("run", name, "3a", "--yes")
    assert cli.states(name)["3a"] == "done"


def test_ca_file_that_is_no_certificate(samba_dc, cli, new_session, tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("this is not a certificate\n")
    name = new_session("garbage", directory={"ca_file": str(ca)})
    result = cli("run", name, "3a", "--yes")
    assert_failed_then_resumes(samba_dc, cli, name, result, 2,
                               f"runbook run: directory.ca_file: {ca} holds no PEM CA certificate; expected the "
                               "certificate of the CA that signed dc1.test.lan's certificate")
    ca.unlink()
    missing = cli("run", name, "3a", "--yes")
    assert missing.returncode == 2 and f"directory.ca_file: {ca} cannot be read as a PEM CA bundle (No such file " \
        "or directory)" in missing.stderr
    shutil.copy(samba_dc.ca_file, ca)
    cli.ok("run", name, "3a", "--yes")


def test_plain_ldap_needs_insecure_and_the_dc_refuses_it_anyway(samba_dc, cli, new_session):
    name = new_session("plain", directory={"tls": "none"})
    refused = cli("run", name, "3a", "--yes")
    assert refused.returncode == 2
    assert ("directory.tls is 'none': refusing to send credentials to dc1.test.lan:389 over plain LDAP; use tls: "
            "ldaps (or starttls), or pass --insecure for a lab") in refused.stderr
    insecure = cli("run", name, "3a", "--yes", "--insecure")
    assert insecure.returncode == 1
    assert ("bind as Administrator@TEST.LAN refused by dc1.test.lan:389: the DC requires an encrypted connection "
            "(strongerAuthRequired); use tls: ldaps or starttls") in insecure.stderr
    assert cli.states(name)["3a"] == "failed"


def test_starttls_works_end_to_end(samba_dc, cli, new_session):
    name = new_session("starttls", directory={"tls": "starttls"})
    cli.ok("run", name, "3a", "--yes")
    assert delegation(samba_dc, "TMG01$")[1]
    cli.ok("undo", name, "3a", "--yes")


# --------------------------------------------------------------------------- pre-flight (issue 11)


def test_preflight_ok(samba_dc, cli, new_session):
    name = new_session("pre", "tmg-seg-eas", eas=[{"computer": "EAS01", "host": "eas01.test.lan"},
                                                   {"computer": "EAS02", "host": "eas02.test.lan"}],
                       internal_names={"eas": "exch-int.test.lan"}, service_accounts={"eas": "EASASA"})
    out = cli.ok("check", name, "directory")
    assert out.startswith("directory: ok\n")
    assert "this jump host is 0.0 min" in out and "the DC dc1.test.lan" in out
    for line in ("TMG01$ found; Administrator@TEST.LAN may write msDS-AllowedToDelegateTo, userAccountControl (3a)",
                 "SEG01$ found; Administrator@TEST.LAN may write msDS-AllowedToDelegateTo, userAccountControl, "
                 "servicePrincipalName (3b@SEG01, 4b@SEG01)",
                 "EASASA found; Administrator@TEST.LAN may write servicePrincipalName (4a@EASASA)"):
        assert f"  {line}\n" in out, out


def test_missing_account_same_message_in_check_and_run(samba_dc, cli, new_session):
    name = new_session("missing", tmg={"computer": "TMG1", "host": "tmg1.test.lan"})
    message = ("account TMG1$ was not found in test.lan. Did you mean TMG01$? Check the computer names in the params "
               "(a computer's account is its NetBIOS name with a trailing $).")
    check = cli("check", name, "directory")
    assert check.returncode == 1 and f"  FAULT: 3a: {message}\n" in check.stdout
    assert "EAS01$ found" in check.stdout
    run = cli("run", name, "3a", "--yes")
    assert run.returncode == 1 and run.stderr == f"runbook run: {message}\n"
    assert cli.states(name)["3a"] == "failed"


def test_bind_without_rights_is_refused_before_any_write(samba_dc, cli, new_session):
    name = new_session("weak", directory={"bind_user": "alice@test.lan"},
                       internal_names={"eas": "owa-int.test.lan"})
    alice = samba_dc.password("alice")
    message = ("alice@test.lan may not write msDS-AllowedToDelegateTo, userAccountControl on TMG01$ "
               "(CN=TMG01,CN=Computers,DC=test,DC=lan): the DC does not list them in allowedAttributesEffective for "
               "this bind; writing delegation settings (msDS-AllowedToDelegateTo, the delegation bits of "
               "userAccountControl) needs SeEnableDelegationPrivilege on the domain controllers, which Domain Admins "
               "have by default; bind as a member of Domain Admins or have the privilege granted")
    check = cli("check", name, "directory", password=alice)
    assert check.returncode == 1 and f"  FAULT: 3a: {message}\n" in check.stdout, check.stdout
    assert "Validated write to service principal name" in check.stdout
    run = cli("run", name, "3a", "--yes", password=alice)
    assert run.returncode == 1 and run.stderr == f"runbook run: {message}; nothing was changed\n", run.stderr
    spn_run = cli("run", name, "4a", "--yes", password=alice)
    assert spn_run.returncode == 1 and "may not write servicePrincipalName on EAS01$" in spn_run.stderr
    assert cli.states(name)["3a"] == "failed" and cli.states(name)["4a@EAS01"] == "failed"
    assert delegation(samba_dc, "TMG01$") == ({UNRELATED_DELEGATION}, False)
    cli.journal_intact(name)


# --------------------------------------------------------------------------- KCD proof (troubleshooting)


def test_kcd_proof_fails_before_3a_and_succeeds_after(samba_dc, cli, new_session, tmp_path):
    keytab = samba_dc.export_keytab("TMG01$", tmp_path / "tmg01.keytab")
    name = new_session("kcd")
    before = cli("check", name, "kcd", "--keytab", keytab, "--user", "alice", password="")
    assert before.returncode == 1
    assert ("FAULT: TMG01$ → alice → http/eas01.test.lan: KDC dc1.test.lan refused to let TMG01$@TEST.LAN delegate "
            "alice@TEST.LAN to http/eas01.test.lan@TEST.LAN") in before.stdout
    assert "constrained delegation failed" in before.stdout and "steps 3a/3b" in before.stdout
    cli.ok("run", name, "3a", "--yes")
    after = cli("check", name, "kcd", "--keytab", keytab, "--user", "alice", password="")
    assert after.returncode == 0, after.stdout
    assert ("TMG01$ → alice → http/eas01.test.lan: KDC dc1.test.lan issued http/eas01.test.lan@TEST.LAN to "
            "TMG01$@TEST.LAN on behalf of alice@TEST.LAN (S4U2Self + S4U2Proxy)") in after.stdout
    cli.ok("undo", name, "3a", "--yes")
    assert cli("check", name, "kcd", "--keytab", keytab, "--user", "alice", password="").returncode == 1


# --------------------------------------------------------------------------- secrets


def test_no_password_in_any_file_or_output(samba_dc, cli, new_session):
    name = new_session("secret")
    outputs = [cli("run", name, "3a", "--yes"), cli("verify", name), cli("check", name, "directory"),
               cli("undo", name, "3a", "--yes"), cli("run", name, "3a", "--yes", password="Wr0ng-Pa55-word")]
    secrets = [str.__str__(samba_dc.admin_password), "Wr0ng-Pa55-word"]
    for result in outputs:
        assert not any(s in result.stdout + result.stderr for s in secrets)
    files = [path for path in cli.sessions.rglob("*") if path.is_file()]
    assert files
    for path in files:
        assert not any(s in path.read_text(errors="replace") for s in secrets), path

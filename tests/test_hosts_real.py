"""Steps 5a/5b/6a/6b and the read-only TMG checks 1/2 on the real path, driven from the CLI.

params → runbook.backends.real_ports → WinRMHosts (real pypsrp) → DNS (/etc/hosts) → real HTTP (NTLM with
message encryption, or Basic with --insecure) → a loopback WSManEndpoint per host → SimHosts. The simulated
Windows host is the only mocked layer (tests/winrm_fixtures.py). The CLI runs in this process (`run_cli`,
the same `runbook.cli.main`) so the endpoints' records can be read; one test runs it as a real subprocess.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from runbook.hosts.shell import PS_DIR
from tests.winrm_fixtures import PASSWORD, PASSWORD_ENV, HostLab, run_cli

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = {p.read_text(encoding="utf-8") for p in PS_DIR.glob("*.ps1")}
WRITE = re.compile(r"^(Set|Clear|Grant|Revoke|Add|Remove|Invoke)-")
slow = pytest.mark.slow

# (scenario, cert_validation, auth, EAS servers, host steps in procedure order)
TOPOLOGIES = [
    ("tmg-eas", "tmg", "ntlm", 1, ["5a", "6a@EAS01"]),
    ("tmg-eas", "eas", "basic", 2, ["6a@EAS01", "6a@EAS02"]),
    ("tmg-seg-eas", "tmg", "ntlm", 2, ["5a", "5b@SEG01", "6a@EAS01", "6a@EAS02", "6b@SEG01"]),
    ("tmg-seg-eas", "seg", "ntlm", 1, ["5b@SEG01", "6a@EAS01", "6b@SEG01"]),
    ("add-seg", "tmg", "basic", None, ["5a", "5b@SEG01", "6a@EAS01", "6b@SEG01"]),
]


# ---------------------------------------------------------------------------------------------- helpers
def flags(lab: HostLab) -> list[str]:
    return ["--insecure"] if lab.auth == "basic" else []


def cli(lab: HostLab, *args: str):
    """`runbook ARGS` with --insecure where the command connects and the lab uses Basic over HTTP."""
    connects = args[0] in ("plan", "run", "verify", "undo", "check")
    return run_cli(*args, *(flags(lab) if connects else []))


def new_session(lab: HostLab, tmp_path: Path, name: str = "s") -> str:
    params = lab.write_params(tmp_path / f"{name}.params.yaml")
    created = run_cli("new", name, "--params", str(params))
    assert created.returncode == 0, created
    return name


def states(name: str) -> dict[str, str]:
    result = run_cli("status", name, "--json")
    assert result.returncode == 0, result
    return {row["step"]: row["state"] for row in json.loads(result.stdout)["steps"]}


def recorded(sessions: Path, name: str, key: str) -> list[dict]:
    return yaml.safe_load((sessions / f"{name}.yaml").read_text())["steps"][key].get("changes") or []


def journal(sessions: Path, name: str = "s") -> list[dict]:
    return [json.loads(line) for line in (sessions / f"{name}.journal.jsonl").read_text().splitlines() if line]


def writes(lab: HostLab, host: str) -> list[tuple[str, str, dict]]:
    return [call for call in lab.invocations(host) if WRITE.match(call[1])]


def host_of(lab: HostLab, key: str) -> str:
    computer = key.partition("@")[2] or "TMG01"
    return next(h for h in lab.hosts if h.split(".")[0] == computer.lower())


def without_tmg_policy(snapshots: dict[str, dict]) -> dict[str, dict]:
    """Host state as the runbook's own writes leave it: TMG's policy changes only by the console clicks (1, 2)."""
    return {host: {k: v for k, v in state.items() if k != "tmg_policy"} for host, state in snapshots.items()}


def mark_console_done(lab: HostLab, *steps: str) -> None:
    for step in steps:
        lab.console_clicks(step)
        assert run_cli("mark", "s", step, "--done", "--note", "done in the TMG console").returncode == 0


def assert_nothing_secret_written(root: Path, *secrets: str) -> None:
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for secret in secrets:
                assert secret.encode() not in data, f"{path} contains a WinRM password"


def assert_no_value_in_script_text(lab: HostLab) -> None:
    """Script text is only ever a shipped function file, byte for byte, and carries none of this run's values."""
    seen = lab.scripts_seen()
    assert seen, "the function files were loaded"
    assert set(seen) <= SHIPPED, "only the shipped function files ever travel as script text"
    # Values that also occur in the shipped files (section paths, 'Web-Client-Auth' in a comment) prove nothing.
    values = {v for v in lab.parameter_values() if len(v) >= 4 and not any(v in text for text in SHIPPED)}
    assert values, "parameters that are this run's own were sent"
    assert not [v for v in values for text in seen if v in text]


# ---------------------------------------------------------------------------------------------- params
def test_exchange_port_and_auth_reach_the_real_client(monkeypatch: pytest.MonkeyPatch, write_params) -> None:
    from runbook.backends import Options, real_ports
    from runbook.inputs.params import load_params_file

    path = write_params(winrm={"transport": "http", "auth": "ntlm", "user": "TEST\\operator", "port": 15985,
                               "exchange_port": 18080, "exchange_auth": "ntlm"})
    params = load_params_file(path)
    assert (params.winrm.exchange_port, params.winrm.exchange_auth) == (18080, "ntlm")
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    hosts = real_ports(params, Options()).open_hosts()
    try:
        assert hosts.exchange.port == 18080 and hosts.settings.exchange_auth == "ntlm"
        assert PASSWORD not in repr(hosts)
    finally:
        hosts.close()
    default = load_params_file(write_params("d.yaml", winrm={"transport": "https", "user": "TEST\\operator"}))
    assert (default.winrm.exchange_port, default.winrm.exchange_auth) == (80, "kerberos")


# ---------------------------------------------------------------------------------------------- every topology
@slow
@pytest.mark.parametrize(("scenario", "chain", "auth", "eas", "steps"), TOPOLOGIES,
                         ids=[f"{t[0]}-{t[1]}-{t[2]}-{t[3] or 1}eas" for t in TOPOLOGIES])
def test_every_host_step_plan_run_verify_undo(host_lab, sessions_dir: Path, tmp_path: Path, scenario: str,
                                              chain: str, auth: str, eas: int | None, steps: list[str]) -> None:
    lab = host_lab(scenario, auth=auth, eas=eas, cert_validation=chain)
    new_session(lab, tmp_path)
    host_keys = [k for k, v in states("s").items() if k[0] in "56" and v == "pending"]
    assert host_keys == steps
    console = ["1", "2"] if chain == "tmg" else ["2"]

    # 1 and 2: read-only over the real client, before and after the console work.
    before_console = cli(lab, "verify", "s", console[0])
    if scenario == "add-seg":  # TMG already checks the certificate and keeps doing so
        assert before_console.returncode == 0 and "1: in place" in before_console.stdout, before_console
    elif chain == "tmg":
        assert before_console.returncode == 1
        assert "[MISMATCH] listener “EAS Listener” exists: wanted True, seen False" in before_console.stdout
    else:
        assert before_console.returncode == 1
        assert "[MISMATCH] server publishing rule “EAS mail.example.com” (HTTPS Server) exists" \
            in before_console.stdout
    # Adding a SEG: the rule is cut over only once the SEG side is ready (below).
    console_now = ["1"] if scenario == "add-seg" else console
    mark_console_done(lab, *console_now)
    for step in console_now:
        checked = cli(lab, "verify", "s", step)
        assert checked.returncode == 0 and f"{step}: in place" in checked.stdout, checked

    before = without_tmg_policy(lab.snapshots())
    changed = []
    for key in steps:
        host = host_of(lab, key)
        written = len(writes(lab, host))
        plan = cli(lab, "plan", "s", key)
        assert plan.returncode == 0, plan
        assert len(writes(lab, host)) == written, "plan writes nothing"
        if scenario == "add-seg" and key == "5a":  # the existing TMG → EAS setup already has the rights
            assert "already in place" in plan.stdout
            assert "already in place" in cli(lab, "run", "s", key, "--yes").stdout
            assert len(writes(lab, host)) == written and recorded(sessions_dir, "s", key) == []
            continue
        assert host in plan.stdout, plan
        changed.append(key)
        run = cli(lab, "run", "s", key, "--yes", "--allow-restart")
        assert run.returncode == 0 and f"{key}: done and verified" in run.stdout, run
        assert len(writes(lab, host)) > written
        changes = recorded(sessions_dir, "s", key)
        assert changes and all(c["target"] == host for c in changes)
        # Idempotent: the second run finds everything in place and writes nothing.
        written = len(writes(lab, host))
        again = cli(lab, "run", "s", key, "--yes", "--allow-restart")
        assert again.returncode == 0 and "already in place" in again.stdout, again
        assert len(writes(lab, host)) == written
        assert recorded(sessions_dir, "s", key) == changes
    assert all(states("s")[key] == "done" for key in steps)
    if scenario == "add-seg":
        early = run_cli("mark", "s", "2", "--done")
        assert early.returncode == 1 and "2 waits for 3b@SEG01 (pending)" in early.stderr
        assert "3a (pending)" in early.stderr
        for key in ("3b", "4a", "4b", "3a"):  # the directory side (no DC here: recorded as done by the AD team)
            assert run_cli("mark", "s", key, "--done", "--note", "done by the AD team").returncode == 0, key
        mark_console_done(lab, "2")

    if scenario == "add-seg":  # the directory steps were recorded by hand and there is no DC here to read
        for key in [*console, *steps]:
            checked = cli(lab, "verify", "s", key)
            assert checked.returncode == 0 and f"{key}: in place" in checked.stdout, checked
    else:
        everything = cli(lab, "verify", "s")
        assert everything.returncode == 0, everything
        for key in [*console, *steps]:
            assert f"{key}: in place" in everything.stdout

    for key in reversed(changed):
        undo = cli(lab, "undo", "s", key, "--yes", "--allow-restart")
        assert undo.returncode == 0 and f"{key}: undone" in undo.stdout, undo
    assert without_tmg_policy(lab.snapshots()) == before, "undo restores every host exactly (iisreset counters aside)"
    for key in changed:
        assert "MISMATCH" in cli(lab, "verify", "s", key).stdout

    assert run_cli("journal", "s", "--check").returncode == 0
    assert_no_value_in_script_text(lab)
    assert_nothing_secret_written(tmp_path, PASSWORD)


# ---------------------------------------------------------------------------------------------- farm, order
@slow
def test_verify_fans_out_over_the_farm_and_keeps_each_hosts_steps_in_order(host_lab, sessions_dir: Path,
                                                                           tmp_path: Path) -> None:
    lab = host_lab("tmg-eas", auth="ntlm", eas=2)
    new_session(lab, tmp_path)
    mark_console_done(lab, "1", "2")
    for key in ("5a", "6a@EAS01", "6a@EAS02"):
        assert cli(lab, "run", "s", key, "--yes", "--allow-restart").returncode == 0
    spans: dict[str, list[tuple[str, float, float]]] = {}
    lock = threading.Lock()
    dispatch = lab._dispatch

    def timed(host: str, command: str, parameters: dict, endpoint: str):
        start = time.monotonic()
        try:
            return dispatch(host, command, parameters, endpoint)
        finally:
            with lock:
                spans.setdefault(host, []).append((command, start, time.monotonic()))

    for endpoint in lab.endpoints.values():
        endpoint.dispatch = timed
    for host in lab.hosts:  # each call takes a while on the host (longer than opening a pool): overlap shows, or not
        lab.sim(host).latency_ms = 40 if host.startswith("tmg") else 300
    marks = {host: len(lab.invocations(host)) for host in lab.hosts}
    result = cli(lab, "verify", "s")
    assert result.returncode == 0, result

    def overlap(one: list[tuple[str, float, float]], other: list[tuple[str, float, float]]) -> bool:
        return min(s for _, s, _ in other) < max(e for _, _, e in one) and \
            min(s for _, s, _ in one) < max(e for _, _, e in other)

    eas01, eas02 = spans["eas01.test.lan"], spans["eas02.test.lan"]
    assert overlap(eas01, eas02), "the two Exchange servers were verified at once"
    # One call per host: TMG's 1, 2 (its policy) and 5a (both rights) in one; 6a reads IIS in one call and
    # Exchange's vdir on the second endpoint at the same time.
    tmg_calls = [call[1:] for call in lab.invocations("tmg01.test.lan")[marks["tmg01.test.lan"]:]]
    assert tmg_calls == [("Get-CertAuthState", {"Right": ["SeTcbPrivilege", "SeImpersonatePrivilege"],
                                                "TmgPolicy": True})]
    vdir = "Default Web Site/Microsoft-Server-ActiveSync"
    windows_auth = "system.webServer/security/authentication/windowsAuthentication"
    iis_reads = {"WebConfig": [{"Location": vdir, "Filter": windows_auth, "Name": "enabled"},
                               {"Location": vdir, "Filter": "system.webServer/security/access", "Name": "sslFlags"}],
                 "ProviderLocation": [vdir]}
    for host, calls in (("eas01.test.lan", eas01), ("eas02.test.lan", eas02)):
        identity = f"{host[:5].upper()}\\Microsoft-Server-ActiveSync (Default Web Site)"
        assert sorted(lab.invocations(host)[marks[host]:]) == [
            ("default", "Get-CertAuthState", iis_reads),
            ("exchange", "Get-ActiveSyncVirtualDirectory", {"Identity": identity})]
        assert overlap([c for c in calls if c[0] == "Get-CertAuthState"],
                       [c for c in calls if c[0] == "Get-ActiveSyncVirtualDirectory"]), f"{host}: reads in turn"
    # Recorded on the calling thread, in step order.
    verified = [entry["step"] for entry in journal(sessions_dir) if entry["action"] == "verify"][-5:]
    assert verified == ["1", "2", "5a", "6a@EAS01", "6a@EAS02"]


# ---------------------------------------------------------------------------------------------- 6a specifics
@slow
def test_exchange_cmdlet_runs_before_iis_and_iisreset_needs_consent(host_lab, sessions_dir: Path,
                                                                   tmp_path: Path) -> None:
    lab = host_lab("tmg-eas", auth="ntlm", cert_validation="eas")
    new_session(lab, tmp_path)
    host = "eas01.test.lan"
    plan = cli(lab, "plan", "s", "6a")
    assert "POINT OF NO RETURN: iisreset on eas01.test.lan" in plan.stdout
    refused = cli(lab, "run", "s", "6a", "--yes")
    assert refused.returncode == 1
    assert "needs explicit consent (CLI: --allow-restart; --yes alone does not cover it)" in refused.stderr
    assert writes(lab, host) == [] and states("s")["6a@EAS01"] == "pending"

    assert cli(lab, "run", "s", "6a", "--yes", "--allow-restart").returncode == 0
    calls = [(endpoint, name) for endpoint, name, _ in writes(lab, host)]
    exchange = [i for i, (endpoint, name) in enumerate(calls) if endpoint == "exchange"]
    iis = [i for i, (_, name) in enumerate(calls) if name == "Set-CertAuthWebConfig"]
    assert exchange and iis and max(exchange) < min(iis), calls
    assert {name for endpoint, name in calls if endpoint == "exchange"} == {"Set-ActiveSyncVirtualDirectory"}
    assert calls[-1] == ("default", "Invoke-CertAuthIisReset")
    assert "Microsoft.Exchange" in lab.endpoints[host].shells_opened
    assert lab.sim(host).exchange.vdirs["Default Web Site"] == {"ClientCertAuth": "Required",
                                                                   "BasicAuthEnabled": False,
                                                                   "WindowsAuthEnabled": False}
    applied = [e["details"] for e in journal(sessions_dir) if e["action"] == "change" and e["step"] == "6a@EAS01"]
    assert applied[-1]["kind"] == "iisreset" and applied[-1]["target"] == host

    asked = len(lab.invocations(host))
    undo = cli(lab, "undo", "s", "6a", "--yes")
    assert undo.returncode == 1 and "undo ends with iisreset on EAS01" in undo.stderr
    # Whether anyone changed the recorded values since: one read on each endpoint, not one per value.
    reads = lab.invocations(host)[asked:]
    assert sorted((endpoint, name) for endpoint, name, _ in reads) == [
        ("default", "Get-CertAuthState"), ("exchange", "Get-ActiveSyncVirtualDirectory")], reads
    settings = [c for c in recorded(sessions_dir, "s", "6a@EAS01") if c["kind"] == "web-config"]
    assert len(next(params for _, name, params in reads if name == "Get-CertAuthState")["WebConfig"]) == len(settings)


# ---------------------------------------------------------------------------------------------- Kerberos on 6a/6b
@slow
def test_the_hops_behind_tmg_accept_kerberos_and_undo_makes_an_inherited_value_inherit_again(
        host_lab, sessions_dir: Path, tmp_path: Path) -> None:
    lab = host_lab("tmg-seg-eas", auth="ntlm", eas=1)
    new_session(lab, tmp_path)
    seg, eas = "seg01.test.lan", "eas01.test.lan"
    before = {host: lab.snapshot(host) for host in (seg, eas)}
    plan = cli(lab, "plan", "s", "6b")
    assert "windowsAuthentication.enabled @ Default Web Site/Microsoft-Server-ActiveSync: False → True" in plan.stdout
    assert "POINT OF NO RETURN" not in plan.stdout and "SslRequireCert" not in plan.stdout
    assert cli(lab, "run", "s", "6b", "--yes").returncode == 0  # no iisreset, so no --allow-restart
    changes = recorded(sessions_dir, "s", "6b@SEG01")
    assert [c["locator"].get("inherited") for c in changes] == [True]  # it came from the server level
    assert cli(lab, "run", "s", "6a", "--yes").returncode == 0
    calls = [(endpoint, name, params) for endpoint, name, params in writes(lab, eas)]
    identity = "EAS01\\Microsoft-Server-ActiveSync (Default Web Site)"
    assert calls == [("exchange", "Set-ActiveSyncVirtualDirectory", {"Identity": identity, "WindowsAuthEnabled": True})]
    assert lab.sim(eas).exchange.vdirs["Default Web Site"]["WindowsAuthEnabled"] is True
    verify = cli(lab, "verify", "s", "6a")
    assert verify.returncode == 0 and "Windows Authentication providers include Negotiate" in verify.stdout
    for key in ("6a", "6b"):
        assert cli(lab, "undo", "s", key, "--yes").returncode == 0, key
    seg_writes = [name for _, name, _ in writes(lab, seg)]
    assert seg_writes == ["Set-CertAuthWebConfig", "Clear-CertAuthWebConfig"]  # undo inherits again
    assert {host: lab.snapshot(host) for host in (seg, eas)} == before


@slow
def test_add_seg_prepares_the_seg_side_first_and_the_cutover_waits(host_lab, sessions_dir: Path,
                                                                   tmp_path: Path) -> None:
    lab = host_lab("add-seg", auth="ntlm")
    new_session(lab, tmp_path)
    done = cli(lab, "run", "s", "6b", "--yes")  # the SEG receives no traffic yet: nothing to wait for
    assert done.returncode == 0 and "6b@SEG01: done and verified" in done.stdout, done
    waiting = cli(lab, "run", "s", "3a", "--yes")
    assert waiting.returncode == 1 and "3a waits for 3b@SEG01 (pending)" in waiting.stderr
    assert run_cli("mark", "s", "2", "--done").returncode == 1


# ---------------------------------------------------------------------------------------------- 5b, GPO
@slow
def test_5b_reads_the_seg_pool_identity_and_grants_to_that_account(host_lab, sessions_dir: Path,
                                                                  tmp_path: Path) -> None:
    lab = host_lab("tmg-seg-eas", auth="ntlm", eas=2)
    sid = "S-1-5-21-1004336348-1177238915-682003330-1105"
    lab.pool_identity("seg01.test.lan", "SpecificUser", "TEST\\segsvc", sid)
    new_session(lab, tmp_path)
    plan = cli(lab, "plan", "s", "5b")
    assert f"SeTcbPrivilege: + {sid}" in plan.stdout
    assert ("app pool SecureEmailGateway runs as the domain account TEST\\segsvc: the rights go to it, and the "
            "SEG's SPNs (4b) and delegation (3b) belong on TEST\\segsvc, not on SEG01$") in plan.stdout
    run = cli(lab, "run", "s", "5b", "--yes")
    assert run.returncode == 0 and "runs as the domain account TEST\\segsvc" in run.stdout, run
    refused = cli(lab, "plan", "s", "3b")
    assert refused.returncode == 1 and "tickets for the SEG are issued to segsvc, not SEG01$" in refused.stderr
    rights = lab.sim("seg01.test.lan").lsa.rights
    assert sid in rights["SeTcbPrivilege"] and sid in rights["SeImpersonatePrivilege"]
    assert "S-1-5-20" not in rights["SeTcbPrivilege"]
    verify = cli(lab, "verify", "s", "5b")
    assert verify.returncode == 0 and "holds TEST\\segsvc: wanted present, seen present" in verify.stdout


@slow
def test_gpo_owned_right_is_reported_by_plan_run_verify_and_check(host_lab, sessions_dir: Path,
                                                                 tmp_path: Path) -> None:
    lab = host_lab("tmg-seg-eas", auth="basic", eas=2)
    lab.gpo_owns("tmg01.test.lan", "SeTcbPrivilege", ["S-1-5-32-544"], "Servers Hardening")
    new_session(lab, tmp_path)
    before = lab.snapshot("tmg01.test.lan")
    check = cli(lab, "check", "s", "gpo")
    assert check.returncode == 1
    assert "tmg01.test.lan “Act as part of the operating system” (SeTcbPrivilege) is defined by GPO Servers " \
           "Hardening" in check.stdout
    refusal = ("tmg01.test.lan: “Act as part of the operating system” (SeTcbPrivilege) is defined by GPO Servers "
               "Hardening without NETWORK SERVICE. A local grant would be overwritten at the next policy refresh, "
               "so nothing was changed: add NETWORK SERVICE (S-1-5-20) to that right in the GPO, run gpupdate "
               "/force on tmg01.test.lan, then run 5a again")
    plan = cli(lab, "plan", "s", "5a")
    assert plan.returncode == 1 and refusal in plan.stderr
    run = cli(lab, "run", "s", "5a", "--yes")
    assert run.returncode == 1 and refusal in run.stderr, run
    assert states("s")["5a"] == "failed" and writes(lab, "tmg01.test.lan") == []
    assert lab.snapshot("tmg01.test.lan") == before
    verify = cli(lab, "verify", "s", "5a")
    assert verify.returncode == 1 and "note: SeTcbPrivilege is owned by GPO Servers Hardening" in verify.stdout
    # The GPO's owner adds Network Service there; the step then finds it in place.
    lab.gpo_owns("tmg01.test.lan", "SeTcbPrivilege", ["S-1-5-32-544", "S-1-5-20"], "Servers Hardening")
    assert "SeTcbPrivilege is set by GPO Servers Hardening" in cli(lab, "plan", "s", "5a").stdout
    again = cli(lab, "run", "s", "5a", "--yes")
    assert again.returncode == 0 and "already in place" in again.stdout, again
    assert states("s")["5a"] == "done"


# ---------------------------------------------------------------------------------------------- failures
@slow
def test_host_down_names_the_host_and_the_step_resumes(host_lab, sessions_dir: Path, tmp_path: Path) -> None:
    lab = host_lab("tmg-seg-eas", auth="ntlm", eas=2)
    new_session(lab, tmp_path)
    lab.down("tmg01.test.lan")
    run = cli(lab, "run", "s", "5a", "--yes")
    assert run.returncode == 1
    assert (f"runbook run: tmg01.test.lan: connection refused by tmg01.test.lan:{lab.port}; is the WinRM "
            "listener up (winrm quickconfig, firewall)?") in run.stderr
    assert states("s")["5a"] == "failed"
    verify = cli(lab, "verify", "s")
    assert verify.returncode == 1 and "5a: could not verify: tmg01.test.lan: connection refused" in verify.stdout
    lab.up("tmg01.test.lan")
    assert cli(lab, "run", "s", "5a", "--yes").returncode == 0
    assert states("s")["5a"] == "done"


@slow
def test_wrong_password_names_the_host_and_is_never_written(host_lab, sessions_dir: Path, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    lab = host_lab("tmg-eas", auth="ntlm")
    new_session(lab, tmp_path)
    wrong = "Wrong-Pa55-for-the-test"
    monkeypatch.setenv(PASSWORD_ENV, wrong)
    run = cli(lab, "run", "s", "5a", "--yes")
    assert run.returncode == 1
    assert (f"tmg01.test.lan: WinRM refused the credentials for TEST\\operator (HTTP 401, auth ntlm) at "
            f"http://tmg01.test.lan:{lab.port}/wsman") in run.stderr
    assert states("s")["5a"] == "failed"
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    assert cli(lab, "run", "s", "5a", "--yes").returncode == 0
    assert_nothing_secret_written(tmp_path, PASSWORD, wrong)


@slow
def test_timeout_names_the_host_and_the_function(host_lab, sessions_dir: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from runbook.hosts.shell import WinRMShell

    # Steps call with the default per-call timeout (30 s); only its default is shortened here.
    monkeypatch.setitem(WinRMShell.invoke.__kwdefaults__, "timeout", 2.0)
    lab = host_lab("tmg-eas", auth="ntlm")
    new_session(lab, tmp_path)
    lab.hang_once("tmg01.test.lan", "Grant-CertAuthUserRight")
    started = time.monotonic()
    run = cli(lab, "run", "s", "5a", "--yes")
    assert time.monotonic() - started < 10
    assert run.returncode == 1
    assert "tmg01.test.lan: Grant-CertAuthUserRight did not finish within 2 s; it was stopped" in run.stderr
    assert states("s")["5a"] == "failed" and recorded(sessions_dir, "s", "5a") == []
    assert cli(lab, "run", "s", "5a", "--yes").returncode == 0
    assert states("s")["5a"] == "done"


@slow
def test_non_terminating_error_fails_the_step_and_keeps_what_took_undoable(host_lab, sessions_dir: Path,
                                                                         tmp_path: Path) -> None:
    lab = host_lab("tmg-eas", auth="ntlm")
    new_session(lab, tmp_path)
    before = lab.snapshot("tmg01.test.lan")
    lab.error_once("tmg01.test.lan", "Grant-CertAuthUserRight", "LsaAddAccountRights: the audit log is full")
    run = cli(lab, "run", "s", "5a", "--yes")
    assert run.returncode == 1
    assert "tmg01.test.lan: Grant-CertAuthUserRight: LsaAddAccountRights: the audit log is full" in run.stderr
    assert states("s")["5a"] == "failed"
    # The grant did happen (Write-Error after the work): the session knows, so undo can take it back.
    assert [c["attribute"] for c in recorded(sessions_dir, "s", "5a")] == ["SeTcbPrivilege"]
    again = cli(lab, "run", "s", "5a", "--yes")
    assert again.returncode == 0, again
    assert states("s")["5a"] == "done"
    assert cli(lab, "undo", "s", "5a", "--yes").returncode == 0
    assert lab.snapshot("tmg01.test.lan") == before

    lab.fail_once("tmg01.test.lan", "Get-CertAuthTmgPolicy", "Exception calling GetContainingArray: 0x80070005")
    verify = cli(lab, "verify", "s", "1")
    assert verify.returncode == 1
    assert "1: could not verify: tmg01.test.lan: Get-CertAuthTmgPolicy: Exception calling GetContainingArray" \
        in verify.stdout


@slow
def test_missing_web_client_auth_feature_stops_6b_before_any_change(host_lab, sessions_dir: Path,
                                                                   tmp_path: Path) -> None:
    lab = host_lab("tmg-seg-eas", auth="ntlm", eas=2, cert_validation="seg")  # the SEG checks certificates
    lab.uninstall_feature("seg01.test.lan")
    new_session(lab, tmp_path)
    run = cli(lab, "run", "s", "6b", "--yes", "--allow-restart")
    assert run.returncode == 1
    assert ("seg01.test.lan: the IIS feature Web-Client-Auth (Client Certificate Mapping Authentication) is not "
            "installed; install it first: Install-WindowsFeature Web-Client-Auth") in run.stderr
    assert writes(lab, "seg01.test.lan") == [] and states("s")["6b@SEG01"] == "failed"


@slow
def test_basic_over_plain_http_needs_insecure(host_lab, sessions_dir: Path, tmp_path: Path) -> None:
    lab = host_lab("tmg-eas", auth="basic")
    new_session(lab, tmp_path)
    run = run_cli("run", "s", "5a", "--yes")
    assert run.returncode == 2
    assert "winrm: Basic authentication over plain HTTP would send the password and every command in clear " \
           "text" in run.stderr
    assert lab.invocations("tmg01.test.lan") == []  # refused before any connection
    assert cli(lab, "run", "s", "5a", "--yes").returncode == 0
    providers = cli(lab, "check", "s", "providers")
    assert providers.returncode == 1 and "Windows Authentication is off, so the delegated Kerberos request is " \
        "answered 401; step 6a@EAS01 turns it on" in providers.stdout
    assert cli(lab, "run", "s", "6a", "--yes").returncode == 0
    providers = cli(lab, "check", "s", "providers")
    assert providers.returncode == 0 and "eas01.test.lan: Windows Authentication on, Negotiate and NTLM present" \
        in providers.stdout


# ---------------------------------------------------------------------------------------------- a real process
@slow
def test_the_runbook_command_as_a_separate_process(host_lab, sessions_dir: Path, tmp_path: Path) -> None:
    lab = host_lab("tmg-seg-eas", auth="ntlm", eas=2)
    params = lab.write_params(tmp_path / "p.yaml")
    environment = {**os.environ, "RUNBOOK_SESSIONS_DIR": str(sessions_dir), "PYTHONPATH": str(ROOT),
                   PASSWORD_ENV: PASSWORD}

    def runbook(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "runbook", *args], capture_output=True, text=True, cwd=ROOT,
                              env=environment, timeout=60, stdin=subprocess.DEVNULL)

    assert runbook("new", "p", "--params", str(params)).returncode == 0
    assert "tmg01.test.lan SeTcbPrivilege: + S-1-5-20" in runbook("plan", "p", "5a").stdout
    run = runbook("run", "p", "5a", "--yes")
    assert run.returncode == 0 and "5a: done and verified" in run.stdout, run.stderr
    assert "S-1-5-20" in lab.sim("tmg01.test.lan").lsa.rights["SeTcbPrivilege"]
    verify = runbook("verify", "p", "2")
    assert verify.returncode == 1 and "[MISMATCH] web publishing rule “EAS mail.example.com”" in verify.stdout
    assert runbook("undo", "p", "5a", "--yes").returncode == 0
    assert "S-1-5-20" not in lab.sim("tmg01.test.lan").lsa.rights["SeTcbPrivilege"]
    assert_nothing_secret_written(tmp_path, PASSWORD)

"""A whole change with `kinit` and no password anywhere: the real Samba DC and the loopback WinRM endpoints.

The "done means" of the Kerberos issue, end to end: the operator runs `kinit` once (here from a keytab exported
from the test DC into a private cache, so no password is typed or stored), then drives the whole default-chain
change (topology tmg-eas, cert_validation tmg) through `python -m runbook` in subprocesses with no password in
the environment and /dev/null as stdin (no prompt can be answered):
- the TMG console steps 1 and 2 are clicked (the simulated TMG) and marked done (the mark verifies over WinRM),
- 3a and 4a@EAS01 write the directory with a SASL GSSAPI bind over LDAPS (no `directory.bind_user`),
- 5a and 6a@EAS01 change the hosts over WinRM with Kerberos and message encryption (no `winrm.user`), the
  Exchange management endpoint included (`winrm.exchange_auth` defaults to kerberos),
- `verify` passes, then everything is undone and `verify` fails.

Real parts: Samba's KDC and LDAP server, MIT kinit/klist, the runbook CLI, pypsrp/pyspnego/gssapi as the client,
pyspnego as the endpoints' Kerberos acceptor with `HTTP/<host>` keys exported from the DC. Mocked: only the
Windows hosts behind the endpoints (tests/winrm_fixtures.py). What the directory holds is read back with
`samba-tool`, never with our own LDAP client.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.kerberos_client import KerberosClient, kerberos_client
from tests.samba_dc import UNRELATED_DELEGATION, SambaDC
from tests.test_directory_contract import restore, snapshot
from tests.test_directory_real import ROOT, delegation, spns
from tests.test_hosts_real import assert_nothing_secret_written, without_tmg_policy
from tests.winrm_fixtures import PASSWORD, HostLab, http_keytab

pytestmark = pytest.mark.slow

ADMIN = "Administrator@TEST.LAN"
TMG, EAS = "tmg01.test.lan", "eas01.test.lan"
INTERNAL = "owa-int.test.lan"
PASSWORD_ENVS = ("RUNBOOK_LDAP_PASSWORD", "RUNBOOK_WINRM_PASSWORD")
NETWORK_SERVICE = "S-1-5-20"  # what 5a grants "act as part of the operating system" to on TMG


@pytest.fixture(autouse=True)
def seeded_state(samba_dc: SambaDC):
    before = snapshot(samba_dc)
    yield
    restore(samba_dc, before)


class Operator:
    """`python -m runbook …` as the operator at the jump host: a ticket cache, no password, no terminal."""

    def __init__(self, sessions: Path, krb: KerberosClient):
        self.sessions = sessions
        self.krb = krb
        self.outputs: list[str] = []  # everything the CLI printed, checked for secrets at the end

    def env(self) -> dict[str, str]:
        # KRB5_KTNAME is the endpoints' acceptor keytab in this (the test's) process: the operator has no such
        # file, and with it the client could not prove that it used the ticket cache alone.
        env = {k: v for k, v in os.environ.items() if not k.startswith("RUNBOOK_") and k != "KRB5_KTNAME"}
        env.update(RUNBOOK_SESSIONS_DIR=str(self.sessions), RUNBOOK_OPERATOR="alice@jump1", PYTHONPATH=str(ROOT),
                   **self.krb.env)
        return env

    def __call__(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        result = subprocess.run([sys.executable, "-m", "runbook", *args], capture_output=True, text=True, cwd=ROOT,
                                env=self.env(), timeout=timeout, stdin=subprocess.DEVNULL)
        self.outputs += [result.stdout, result.stderr]
        return result

    def ok(self, *args: str) -> str:
        result = self(*args)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr, result.stderr
        return result.stdout

    def states(self, session: str) -> dict[str, str]:
        return {row["step"]: row["state"] for row in json.loads(self.ok("status", session, "--json"))["steps"]}

    def journal(self, session: str) -> list[dict[str, Any]]:
        text = (self.sessions / f"{session}.journal.jsonl").read_text(encoding="utf-8")
        return [json.loads(line) for line in text.splitlines() if line]


@pytest.fixture
def krb(samba_dc: SambaDC, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> KerberosClient:
    for name in PASSWORD_ENVS:
        monkeypatch.delenv(name, raising=False)
    return kerberos_client(samba_dc, tmp_path / "krb", monkeypatch)


@pytest.fixture
def lab(samba_dc: SambaDC, host_lab, tmp_path: Path) -> HostLab:
    """tmg01/eas01 behind Kerberos-only endpoints; params for the DC over LDAPS with no bind_user, no WinRM user."""
    keytab = http_keytab(samba_dc, (TMG, EAS), tmp_path / "acceptor" / "http.keytab")
    directory = {"server": "dc1.test.lan", "tls": "ldaps", "ca_file": samba_dc.ca_file}  # no bind_user
    # An internal alias for the Exchange server, so 4a really writes (eas01's own http/ names map to HOST/).
    return host_lab("tmg-eas", auth="kerberos", keytab=keytab, principal=ADMIN, directory=directory,
                    internal_names={"eas": INTERNAL})


def test_a_whole_change_with_kinit_and_no_password(samba_dc: SambaDC, krb: KerberosClient, lab: HostLab,
                                                    tmp_path: Path) -> None:
    sessions = tmp_path / "sessions"
    sessions.mkdir()
    runbook = Operator(sessions, krb)
    principal = krb.kinit(samba_dc, "Administrator")
    assert principal == ADMIN

    # The params say who acts nowhere: the ticket decides, for the DC and for both hosts.
    assert "bind_user" not in lab.params["directory"]
    assert lab.params["winrm"] == {"transport": "http", "port": lab.port, "auth": "kerberos",
                                   "exchange_port": lab.port, "exchange_auth": "kerberos"}
    assert "cert_validation" not in lab.params  # the default chain
    env = runbook.env()
    assert not set(PASSWORD_ENVS) & set(env)
    assert not [k for k, v in env.items() if samba_dc.admin_password in v or PASSWORD in v]

    runbook.ok("new", "s", "--params", str(lab.write_params(tmp_path / "s.params.yaml")))
    chain = runbook.ok("steps", "s")
    assert "tmg-eas, cert_validation tmg: the client certificate is checked on the TMG listener" in chain, chain
    states = runbook.states("s")
    assert {k: v for k, v in states.items() if v != "not-applicable"} == {
        "1": "pending", "2": "pending", "3a": "pending", "4a@EAS01": "pending", "5a": "pending",
        "6a@EAS01": "pending"}, states

    # Before the window: who acts where, and every endpoint takes the ticket (exit 0: an endpoint that refused
    # it, or could not be reached, makes the check fail).
    auth = runbook.ok("check", "s", "auth")
    assert f"[ok] directory dc1.test.lan: as {principal}" in auth, auth
    assert f"host {TMG}: as {principal}" in auth and f"host {EAS}: as {principal}" in auth, auth

    directory_before, hosts_before = snapshot(samba_dc), lab.snapshots()

    # 1, 2: the operator's clicks in the TMG console, then recorded (and read back from TMG over Kerberos).
    for step in ("1", "2"):
        lab.console_clicks(step)
        runbook.ok("mark", "s", step, "--done", "--note", "done in the TMG console")
    for key in ("3a", "4a@EAS01", "5a", "6a@EAS01"):
        out = runbook.ok("run", "s", key, "--yes", "--allow-restart")
        assert out.endswith(f"{key}: done and verified\n"), out
    states = runbook.states("s")
    assert {k: v for k, v in states.items() if v != "not-applicable"} == {
        "1": "manual-done", "2": "manual-done", "3a": "done", "4a@EAS01": "done", "5a": "done",
        "6a@EAS01": "done"}, states
    marks = [entry for entry in runbook.journal("s") if entry["action"] == "mark_done"]
    assert [(e["step"], e["details"]["verified"]) for e in marks] == [("1", "ok"), ("2", "ok")], marks
    verify = runbook("verify", "s")
    assert verify.returncode == 0 and "MISMATCH" not in verify.stdout, verify

    # Independent witnesses: samba-tool for the directory, the simulated hosts' own state for the hosts.
    assert delegation(samba_dc, "TMG01$") == ({UNRELATED_DELEGATION, "http/eas01.test.lan", "http/eas01",
                                               f"http/{INTERNAL}", "http/owa-int"}, True)
    assert {f"http/{INTERNAL}", "http/owa-int"} <= spns(samba_dc, "EAS01$")
    assert NETWORK_SERVICE in lab.sim(TMG).lsa.rights["SeTcbPrivilege"]
    assert lab.snapshot(EAS) != hosts_before[EAS], "6a changed the Exchange server"
    # Every request the endpoints served was sealed with the Kerberos session key (the client ran no other auth).
    for host in (TMG, EAS):
        requests = lab.endpoints[host].soap_requests
        assert requests["encrypted"] > 0 and requests["plain"] == 0, (host, requests)
    # 6a went through Exchange's management endpoint (/PowerShell), with Kerberos as `exchange_auth` defaults to.
    assert "Microsoft.Exchange" in lab.endpoints[EAS].shells_opened, lab.endpoints[EAS].shells_opened
    # The tickets really came from the operator's cache: the DC's LDAP service and both hosts' HTTP services.
    tickets = krb.klist()
    for service in ("ldap/dc1.test.lan", f"HTTP/{TMG}", f"HTTP/{EAS}"):
        assert f"{service}@TEST.LAN" in tickets, tickets

    # The journal names the Kerberos principal for every change, on the DC and on the hosts.
    changes = [entry for entry in runbook.journal("s") if entry["action"] == "change"]
    assert {entry["step"] for entry in changes} >= {"3a", "4a@EAS01", "5a", "6a@EAS01"}, changes
    assert all(entry["as"] == principal for entry in changes), changes

    # Undo everything the session changed, newest first; the directory and hosts are as they were.
    for key in ("6a@EAS01", "5a", "4a@EAS01", "3a"):
        out = runbook.ok("undo", "s", key, "--yes", "--allow-restart")
        assert out.endswith(f"{key}: undone\n"), out
    assert snapshot(samba_dc) == directory_before
    assert delegation(samba_dc, "TMG01$") == ({UNRELATED_DELEGATION}, False)
    assert without_tmg_policy(lab.snapshots()) == without_tmg_policy(hosts_before)
    verify = runbook("verify", "s")
    assert verify.returncode == 1, verify
    # The console steps stay in place; every step that was undone is reported as drift from what it wants.
    assert "1: in place" in verify.stdout and "2: in place" in verify.stdout, verify.stdout
    for key in ("3a", "4a@EAS01", "5a", "6a@EAS01"):
        assert f"{key}: MISMATCH" in verify.stdout, verify.stdout
    assert "journal intact" in runbook.ok("journal", "s", "--check")

    # No password was ever written or printed: the Administrator's, or the lab endpoints' (never used here).
    assert_nothing_secret_written(tmp_path, samba_dc.admin_password, PASSWORD)
    assert not [text for text in runbook.outputs if samba_dc.admin_password in text or PASSWORD in text]

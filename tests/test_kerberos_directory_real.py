"""Steps 3a and 4a with the operator's Kerberos ticket (no directory.bind_user) against a real Samba AD DC.

Nothing is mocked: `kinit` (MIT) gets a TGT from the test DC's KDC into a private cache, the CLI runs in a
subprocess exactly as an operator would run it, with no password in its environment and no terminal to prompt
on, and binds with SASL GSSAPI over LDAPS (and StartTLS). What it wrote is checked with `samba-tool`, never with
our own LDAP client.
"""
from __future__ import annotations

import json
import os
import time

import pytest

from tests.kerberos_client import kerberos_client
from tests.samba_dc import UNRELATED_DELEGATION
from tests.test_directory_contract import restore, snapshot
from tests.test_directory_real import Cli, delegation, spns

pytestmark = pytest.mark.slow

ADMIN = "Administrator@TEST.LAN"


@pytest.fixture(autouse=True)
def seeded_state(samba_dc):
    before = snapshot(samba_dc)
    yield
    restore(samba_dc, before)


@pytest.fixture
def krb(samba_dc, tmp_path, monkeypatch):
    for name in ("RUNBOOK_LDAP_PASSWORD", "RUNBOOK_WINRM_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    return kerberos_client(samba_dc, tmp_path / "krb", monkeypatch)


class KerberosCli(Cli):
    """The CLI with no password anywhere: none in the environment, no terminal to prompt on (stdin is /dev/null)."""

    def __call__(self, *args, password=None, timeout=120):
        return super().__call__(*args, password="", timeout=timeout)


@pytest.fixture
def cli(samba_dc, tmp_path):
    folder = tmp_path / "sessions"
    folder.mkdir()
    return KerberosCli(folder, "")


def new_session(cli, samba_dc, tmp_path, name, *, tls="ldaps"):
    import yaml

    params = {
        "topology": "tmg-eas", "domain": "test.lan",
        "directory": {"server": "dc1.test.lan", "tls": tls, "ca_file": samba_dc.ca_file},  # no bind_user
        "tmg": {"computer": "TMG01", "host": "tmg01.test.lan"},
        "eas": [{"computer": "EAS01", "host": "eas01.test.lan"}],
        "internal_names": {"eas": "owa-int.test.lan"},
        "public_name": "mail.example.com", "listener": "EAS Listener",
    }
    path = tmp_path / f"{name}.params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    cli.ok("new", name, "--params", str(path))
    return name


@pytest.mark.parametrize("tls", ["ldaps", "starttls"])
def test_kinit_then_plan_run_verify_undo_with_no_password(samba_dc, krb, cli, tmp_path, tls):
    principal = krb.kinit(samba_dc, "Administrator")
    assert not [key for key, value in os.environ.items() if samba_dc.admin_password in value]
    name = new_session(cli, samba_dc, tmp_path, f"krb-{tls}", tls=tls)
    before = snapshot(samba_dc)

    plan = cli.ok("plan", name, "3a")
    assert "TMG01$ msDS-AllowedToDelegateTo: + http/eas01.test.lan, + http/eas01" in plan
    assert snapshot(samba_dc) == before
    assert cli.ok("run", name, "3a", "--yes").endswith("3a: done and verified\n")
    assert cli.ok("run", name, "4a@EAS01", "--yes").endswith("4a@EAS01: done and verified\n")
    assert delegation(samba_dc, "TMG01$") == ({UNRELATED_DELEGATION, "http/eas01.test.lan", "http/eas01",
                                               "http/owa-int.test.lan", "http/owa-int"}, True)
    assert {"http/owa-int.test.lan", "http/owa-int"} <= spns(samba_dc, "EAS01$")
    verify = cli("verify", name)
    assert verify.returncode == 0 and "MISMATCH" not in verify.stdout, verify.stdout
    # The ticket really was used for the DC's LDAP service (not some fallback).
    assert "ldap/dc1.test.lan@TEST.LAN" in krb.klist()

    # The journal names the Kerberos principal the DC saw for every change; the operator at the keyboard stays.
    journal = [json.loads(line) for line in (cli.sessions / f"{name}.journal.jsonl").read_text().splitlines()]
    changes = [entry for entry in journal if entry["action"] == "change"]
    assert changes and all(entry["as"] == principal for entry in changes), changes
    assert all(entry["operator"] == "alice@jump1" for entry in changes)

    assert cli.ok("undo", name, "4a@EAS01", "--yes").endswith("4a@EAS01: undone\n")
    assert cli.ok("undo", name, "3a", "--yes").endswith("3a: undone\n")
    assert snapshot(samba_dc) == before
    cli.journal_intact(name)


def test_no_ticket_names_kinit_and_the_realm(samba_dc, krb, cli, tmp_path):
    krb.kdestroy()
    name = new_session(cli, samba_dc, tmp_path, "none")
    result = cli("plan", name, "3a")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "no valid ticket" in result.stderr and "run kinit you@TEST.LAN first" in result.stderr, result.stderr
    assert "no directory.bind_user is set, so the bind to dc1.test.lan" in result.stderr


def test_expired_ticket_names_kinit_and_the_principal(samba_dc, krb, cli, tmp_path):
    name = new_session(cli, samba_dc, tmp_path, "expired")
    krb.kinit(samba_dc, "Administrator", lifetime="2s")
    time.sleep(3)
    result = cli("run", name, "3a", "--yes")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"the ticket of {ADMIN}" in result.stderr and "has expired" in result.stderr, result.stderr
    assert f"run kinit {ADMIN} first" in result.stderr
    assert delegation(samba_dc, "TMG01$") == ({UNRELATED_DELEGATION}, False)


def test_missing_ldap_spn_is_named(samba_dc, krb, cli, tmp_path):
    """A DC without its ldap/ SPN (as a DC provisioned without DNS is): the message names the SPN to add."""
    dn = "CN=DC1,OU=Domain Controllers,DC=TEST,DC=LAN"
    samba_dc.ldbmodify(f"dn: {dn}\nchangetype: modify\ndelete: servicePrincipalName\n"
                       "servicePrincipalName: ldap/dc1.test.lan\n")
    try:
        krb.kinit(samba_dc, "Administrator")
        name = new_session(cli, samba_dc, tmp_path, "nospn")
        result = cli("plan", name, "3a")
        assert result.returncode == 1 and "Traceback" not in result.stderr
        assert "the KDC knows no service ldap/dc1.test.lan" in result.stderr, result.stderr
        assert "setspn -S ldap/dc1.test.lan DC1" in result.stderr
    finally:
        samba_dc.ldbmodify(f"dn: {dn}\nchangetype: modify\nadd: servicePrincipalName\n"
                           "servicePrincipalName: ldap/dc1.test.lan\n")


def test_check_auth_names_who_acts_where_and_proves_the_dc_accepts_it(samba_dc, krb, cli, tmp_path):
    principal = krb.kinit(samba_dc, "Administrator")
    name = new_session(cli, samba_dc, tmp_path, "auth")
    result = cli("check", name, "auth")
    out = result.stdout
    assert f"[ok] directory dc1.test.lan: as {principal} (Kerberos ticket valid until" in out, out
    assert "endpoint: accepted" in out.splitlines()[1]
    # No WinRM endpoint runs for these hosts here: the identity is named, and the refusal says so (exit 1).
    assert f"host tmg01.test.lan: as {principal}" in out and "SPN HTTP/tmg01.test.lan" in out
    assert result.returncode == 1 and "auth: fail" in out


def test_status_warns_of_a_ticket_that_ends_within_the_hour(samba_dc, krb, cli, tmp_path):
    name = new_session(cli, samba_dc, tmp_path, "soon")
    krb.kinit(samba_dc, "Administrator", lifetime="30m")
    text = cli.ok("status", name)
    assert f"warning: the Kerberos ticket of {ADMIN} expires in 29 min" in text or \
        f"warning: the Kerberos ticket of {ADMIN} expires in 30 min" in text, text
    assert f"run kinit {ADMIN} before the window" in text
    data = json.loads(cli.ok("status", name, "--json"))
    assert len(data["warnings"]) == 1 and "expires in" in data["warnings"][0]
    krb.kinit(samba_dc, "Administrator")  # a fresh 10 h ticket: no warning
    assert "warning" not in cli.ok("status", name)
    assert json.loads(cli.ok("status", name, "--json"))["warnings"] == []

"""prove_kcd (kinit + kvno S4U2Self/S4U2Proxy) against the real Samba KDC, delegation set with LdapDirectory."""
from __future__ import annotations

import os

import pytest

from runbook.checks.kcd import KcdResult, prove_kcd
from runbook.directory.ldap import LdapDirectory
from runbook.flow.ports import UAC_TRUSTED_TO_AUTH_FOR_DELEGATION
from tests.samba_dc import UNRELATED_DELEGATION

pytestmark = pytest.mark.slow

TARGET = "http/eas01.test.lan"


@pytest.fixture(scope="module")
def tmg_keytab(samba_dc, tmp_path_factory):
    return samba_dc.export_keytab("TMG01$", tmp_path_factory.mktemp("kcd") / "tmg01.keytab")


@pytest.fixture(scope="module")
def directory(samba_dc):
    d = LdapDirectory.connect(samba_dc.settings(), samba_dc.admin_password)
    yield d
    d.close()


def prove(dc, keytab, user="alice", target=TARGET, **kw) -> KcdResult:
    return prove_kcd(keytab, "TMG01$", user, target, dc.realm, kw.pop("kdc", dc.ip), **kw)


@pytest.fixture
def delegation(samba_dc, directory):
    """Configure TMG01 -> http/eas01.test.lan like the 3a step does; undo afterwards."""
    account = directory.find_account("TMG01")
    directory.add_values(account.dn, "msDS-AllowedToDelegateTo", [TARGET])
    new_uac = account.user_account_control | UAC_TRUSTED_TO_AUTH_FOR_DELEGATION
    directory.replace_uac(account.dn, account.user_account_control, new_uac)
    yield account
    directory.replace_uac(account.dn, new_uac, account.user_account_control)
    directory.remove_values(account.dn, "msDS-AllowedToDelegateTo", [TARGET])


def test_kcd_fails_before_delegation(samba_dc, tmg_keytab):
    result = prove(samba_dc, tmg_keytab)
    assert not result.ok
    assert "constrained delegation failed" in result.detail  # the KDC's own words
    assert "TMG01$@TEST.LAN" in result.detail and "http/eas01.test.lan@TEST.LAN" in result.detail


def test_kcd_succeeds_after_delegation(samba_dc, tmg_keytab, delegation):
    out = samba_dc.samba_tool("delegation", "show", "TMG01$")
    assert "UF_TRUSTED_TO_AUTHENTICATE_FOR_DELEGATION: True" in out
    assert f"msDS-AllowedToDelegateTo: {TARGET}" in out
    assert f"msDS-AllowedToDelegateTo: {UNRELATED_DELEGATION}" in out

    result = prove(samba_dc, tmg_keytab, kdc=samba_dc.host)  # by name, as `runbook check kcd` does
    assert result.ok, result.detail
    assert "alice@TEST.LAN" in result.detail and "S4U2Proxy" in result.detail
    # A UPN, the way TMG maps a client certificate to a user (enterprise name).
    for upn in ("alice@test.lan", "alice@TEST.LAN"):
        by_upn = prove(samba_dc, tmg_keytab, user=upn)
        assert by_upn.ok, by_upn.detail
    # Only the delegated service: EAS02 is not in msDS-AllowedToDelegateTo.
    other = prove(samba_dc, tmg_keytab, target="http/eas02.test.lan")
    assert not other.ok and "constrained delegation failed" in other.detail


def test_kcd_needs_protocol_transition(samba_dc, tmg_keytab, directory):
    """msDS-AllowedToDelegateTo alone (Kerberos-only delegation) is not enough for certificate users."""
    dn = samba_dc.computer_dn("TMG01")
    directory.add_values(dn, "msDS-AllowedToDelegateTo", [TARGET])
    try:
        result = prove(samba_dc, tmg_keytab)
        assert not result.ok
        assert "0x1000000" in result.detail
    finally:
        directory.remove_values(dn, "msDS-AllowedToDelegateTo", [TARGET])


def test_kcd_reports_an_unknown_user(samba_dc, tmg_keytab, delegation):
    result = prove(samba_dc, tmg_keytab, user="mallory")
    assert not result.ok
    assert "Client not found in Kerberos database" in result.detail  # the KDC's words
    assert "knows no user mallory@TEST.LAN" in result.detail


def test_kcd_unreachable_kdc(samba_dc, tmg_keytab):
    result = prove(samba_dc, tmg_keytab, kdc="127.0.0.99", timeout=20)
    assert not result.ok
    assert "kinit as TMG01$@TEST.LAN" in result.detail
    assert "Cannot contact any KDC" in result.detail


def test_kcd_wrong_key(samba_dc, tmp_path):
    other = samba_dc.export_keytab("SEG01$", tmp_path / "seg01.keytab")
    result = prove_kcd(other, "TMG01$", "alice", TARGET, "TEST.LAN", samba_dc.ip)
    assert not result.ok and "kinit as TMG01$@TEST.LAN" in result.detail


def test_kcd_missing_keytab(tmp_path):
    result = prove_kcd(str(tmp_path / "none.keytab"), "TMG01$", "alice", TARGET, "TEST.LAN", "127.0.0.21")
    assert not result.ok and "missing or not readable" in result.detail


def test_kcd_leaves_no_credentials_behind(samba_dc, tmg_keytab, monkeypatch, tmp_path):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    prove(samba_dc, tmg_keytab)
    assert os.listdir(tmp_path) == []

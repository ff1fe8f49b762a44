"""WinRM with the operator's Kerberos ticket: the real pypsrp client against the loopback WinRM endpoint.

Real parts: the test Samba DC's KDC issues the tickets; `kinit` (MIT) fills a private cache from a keytab
exported from the DC (no password anywhere); pypsrp/pyspnego/gssapi are the client; the endpoint accepts
with pyspnego as a Kerberos acceptor holding `HTTP/<host>` keys exported with `samba-tool domain exportkeytab`.
Mocked: only the Windows host behind the endpoint (`lab_dispatch` echoes the call) — the subject here is
authentication and message encryption, not what a host does.
"""
from __future__ import annotations

import ssl

import pytest

from runbook.errors import HostError
from runbook.flow.settings import WinRMSettings
from runbook.hosts.shell import WinRMHosts
from tests.kerberos_client import kerberos_client
from tests.test_winrm_endpoint import HOST, lab_dispatch, ps_dir, test_pki  # noqa: F401 - fixtures
from testsupport.wsman.endpoint import WSManEndpoint

pytestmark = pytest.mark.slow

ADMIN = "Administrator@TEST.LAN"


@pytest.fixture(scope="module")
def keytab(samba_dc, tmp_path_factory) -> str:
    """HTTP/eas01.test.lan's keys, as the WinRM service of EAS01 holds them (HTTP/ maps to EAS01$'s HOST/)."""
    return samba_dc.export_keytab(f"HTTP/{HOST}", tmp_path_factory.mktemp("keytab") / "http.keytab")


@pytest.fixture
def krb(samba_dc, tmp_path, monkeypatch):
    monkeypatch.delenv("RUNBOOK_WINRM_PASSWORD", raising=False)
    client = kerberos_client(samba_dc, tmp_path / "krb", monkeypatch)
    client.kinit(samba_dc, "Administrator")
    return client


def endpoint(keytab: str, ps_dir, **kw) -> WSManEndpoint:  # noqa: F811 - the fixture's value
    return WSManEndpoint(lab_dispatch, host_name=HOST, auth="kerberos", username=ADMIN, keytab=keytab,
                         ps_dir=ps_dir, **kw)


def hosts_for(ep: WSManEndpoint, settings: WinRMSettings, ps_dir, host: str = HOST) -> WinRMHosts:  # noqa: F811
    return WinRMHosts(settings, None, timeout=15, ps_dir=ps_dir, addresses={host: ep.address})


@pytest.mark.parametrize("auth", ["kerberos", "negotiate"])
def test_kerberos_over_http_with_message_encryption(samba_dc, krb, keytab, ps_dir, auth):  # noqa: F811
    with endpoint(keytab, ps_dir) as ep:
        hosts = hosts_for(ep, WinRMSettings(transport="http", auth=auth, user=None), ps_dir)
        try:
            reply = hosts.shell(HOST).invoke("Get-LabEcho", {"Who": "ticket"})
        finally:
            hosts.close()
        assert reply.first["Parameters"] == {"Who": "ticket"}
        assert ep.soap_requests["encrypted"] > 0 and ep.soap_requests["plain"] == 0  # sealed with the Kerberos key
    assert f"HTTP/{HOST}@TEST.LAN" in krb.klist()  # the operator's cache got the service ticket


def test_kerberos_over_https(samba_dc, krb, keytab, ps_dir, test_pki):  # noqa: F811
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(test_pki["cert"], test_pki["key"])
    with endpoint(keytab, ps_dir, tls=context) as ep:
        settings = WinRMSettings(transport="https", auth="kerberos", user=None, ca_file=str(test_pki["ca"]))
        hosts = hosts_for(ep, settings, ps_dir)
        try:
            reply = hosts.shell(HOST).invoke("Get-LabEcho", {"Over": "TLS"})
        finally:
            hosts.close()
        assert reply.first["Parameters"] == {"Over": "TLS"}
        assert ep.url.startswith("https://")


def test_host_without_the_key_names_the_spn(samba_dc, krb, keytab, ps_dir):  # noqa: F811
    """The KDC issues a ticket for HTTP/eas02.test.lan, but the WinRM service answering holds only EAS01's key."""
    with endpoint(keytab, ps_dir) as ep:
        hosts = hosts_for(ep, WinRMSettings(transport="http", auth="kerberos", user=None), ps_dir,
                          host="eas02.test.lan")
        try:
            with pytest.raises(HostError) as info:
                hosts.shell("eas02.test.lan").invoke("Get-LabEcho")
        finally:
            hosts.close()
    message = str(info.value)
    assert "refused the Kerberos ticket for HTTP/eas02.test.lan" in message, message
    assert "setspn -Q HTTP/eas02.test.lan" in message


def test_unknown_spn_is_named(samba_dc, krb, keytab, ps_dir):  # noqa: F811
    with endpoint(keytab, ps_dir) as ep:
        hosts = hosts_for(ep, WinRMSettings(transport="http", auth="kerberos", user=None), ps_dir,
                          host="nosuch.test.lan")
        try:
            with pytest.raises(HostError) as info:
                hosts.shell("nosuch.test.lan").invoke("Get-LabEcho")
        finally:
            hosts.close()
    assert "the KDC knows no service HTTP/nosuch.test.lan" in str(info.value), str(info.value)


def test_no_ticket_says_kinit(samba_dc, krb, keytab, ps_dir):  # noqa: F811
    krb.kdestroy()
    with endpoint(keytab, ps_dir) as ep:
        hosts = hosts_for(ep, WinRMSettings(transport="http", auth="kerberos", user=None), ps_dir)
        try:
            with pytest.raises(HostError) as info:
                hosts.shell(HOST).invoke("Get-LabEcho")
        finally:
            hosts.close()
    assert "kinit" in str(info.value) and f"HTTP/{HOST}" in str(info.value), str(info.value)

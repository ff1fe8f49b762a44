"""LdapDirectory against a real Samba AD DC (one per module), checked with samba-tool / ldbsearch as witnesses."""
from __future__ import annotations

import datetime as dt
import logging
import socket
import threading
import time

import pytest

from runbook.directory.ldap import (
    DirectoryAccessDenied,
    DirectoryBindError,
    DirectoryTimeout,
    DirectoryTlsError,
    DirectoryUnreachable,
    DuplicateSpn,
    LdapDirectory,
    NoSuchObject,
    ValueAlreadyPresent,
    ValueNotPresent,
)
from runbook.errors import BadInput, DirectoryError, DriftError
from runbook.flow.ports import UAC_TRUSTED_FOR_DELEGATION, UAC_TRUSTED_TO_AUTH_FOR_DELEGATION, DirectoryPort
from tests.samba_dc import PLANTED_SPN, UNRELATED_DELEGATION

pytestmark = pytest.mark.slow

WORKSTATION = 4096


@pytest.fixture(scope="module")
def directory(samba_dc):
    d = LdapDirectory.connect(samba_dc.settings(), samba_dc.admin_password, timeout=15)
    yield d
    d.close()


def delegation_witness(dc, account: str) -> tuple[set[str], str]:
    """(msDS-AllowedToDelegateTo values, raw text) as `samba-tool delegation show` reports them."""
    out = dc.samba_tool("delegation", "show", account)
    values = {line.split(":", 1)[1].strip() for line in out.splitlines()
              if line.startswith("msDS-AllowedToDelegateTo:")}
    return values, out


def spn_witness(dc, account: str) -> set[str]:
    out = dc.samba_tool("spn", "list", account)
    return {line.strip() for line in out.splitlines() if line.startswith(("\t", " ")) and line.strip()}


def uac_witness(dc, name: str) -> int:
    (value,) = dc.ldb_values(dc.computer_dn(name), "userAccountControl")
    return int(value)


def set_uac_behind_our_back(dc, dn: str, value: int) -> None:
    dc.ldbmodify(f"dn: {dn}\nchangetype: modify\nreplace: userAccountControl\nuserAccountControl: {value}\n")


def holds(obj, secret: str, path: str = "directory", seen: set | None = None, depth: int = 0) -> str:
    """The attribute path under `obj` where `secret` is stored (in a str or bytes), or ''."""
    seen = set() if seen is None else seen
    if id(obj) in seen or depth > 10:
        return ""
    seen.add(id(obj))
    if isinstance(obj, (str, bytes, bytearray)):
        text = obj.decode("utf-8", "replace") if isinstance(obj, (bytes, bytearray)) else str.__str__(obj)
        return path if secret in text else ""
    if isinstance(obj, dict):
        items = [(f"{path}[{key!r}]", value) for key, value in obj.items()]
    elif isinstance(obj, (list, tuple, set, frozenset)):
        items = [(f"{path}[{i}]", value) for i, value in enumerate(obj)]
    elif hasattr(obj, "__dict__"):
        items = [(f"{path}.{key}", value) for key, value in vars(obj).items()]
    else:
        return ""
    for sub_path, value in items:
        found = holds(value, secret, sub_path, seen, depth + 1)
        if found:
            return found
    return ""


# ------------------------------------------------------------------ connecting


def test_ldaps_connect_validates_binds_and_uses_the_global_catalog(samba_dc, directory):
    port_methods = [name for name in vars(DirectoryPort) if not name.startswith("_")]
    assert port_methods and all(callable(getattr(directory, name)) for name in port_methods)
    assert directory.warnings == []
    assert directory._gc is not None  # forest-wide SPN searches go to 3269
    assert directory.base_dn.lower() == "dc=test,dc=lan"


def test_password_is_not_kept_or_logged(samba_dc, caplog):
    caplog.set_level(logging.DEBUG)
    d = LdapDirectory.connect(samba_dc.settings(), samba_dc.admin_password)
    try:
        d.find_account("TMG01")
        password = str.__str__(samba_dc.admin_password)
        for conn in (d._conn, d._gc):
            assert conn.password is None
        leaked = holds(d, password)  # a bool or a path, so a failure never prints the password
        assert not leaked, f"the password is kept at {leaked}"
        leaked = password in caplog.text or password in repr(d)
        assert not leaked, "the password was logged"
    finally:
        d.close()


def test_starttls_on_389_with_gc_on_3268(samba_dc):
    settings = samba_dc.settings(port=389, gc_port=3268, tls="starttls")
    with LdapDirectory.connect(settings, samba_dc.admin_password) as d:
        assert d.warnings == []
        assert d.find_account("EAS01").sam_account_name == "EAS01$"
        assert d.spn_owners(PLANTED_SPN) == ["OLDSVC"]


def test_wrong_password_is_a_clear_bind_error(samba_dc):
    with pytest.raises(DirectoryBindError) as info:
        LdapDirectory.connect(samba_dc.settings(), "not-the-password")
    assert "bind as Administrator@TEST.LAN refused: invalid credentials" in str(info.value)
    assert "not-the-password" not in str(info.value)


def test_unknown_user_is_a_clear_bind_error(samba_dc):
    with pytest.raises(DirectoryBindError, match="bind as nobody@TEST.LAN refused: invalid credentials"):
        LdapDirectory.connect(samba_dc.settings(bind_user="nobody@TEST.LAN"), samba_dc.admin_password)


def test_unreachable_dc_names_host_and_port(samba_dc):
    started = time.monotonic()
    with pytest.raises(DirectoryUnreachable) as info:
        LdapDirectory.connect(samba_dc.settings(server="127.0.0.99"), samba_dc.admin_password, timeout=5)
    assert "127.0.0.99:636" in str(info.value)
    assert "connection refused" in str(info.value)
    assert time.monotonic() - started < 5


def test_closed_port_names_host_and_port(samba_dc):
    with pytest.raises(DirectoryUnreachable, match=r"dc1\.test\.lan:1636: connection refused"):
        LdapDirectory.connect(samba_dc.settings(port=1636), samba_dc.admin_password, timeout=5)


def test_unresolvable_name(samba_dc):
    with pytest.raises(DirectoryUnreachable, match=r"cannot resolve nosuchdc\.invalid"):
        LdapDirectory.connect(samba_dc.settings(server="nosuchdc.invalid"), samba_dc.admin_password, timeout=5)


@pytest.mark.parametrize("tls,port", [("ldaps", 636), ("starttls", 389)])
def test_certificate_from_another_ca_is_refused(samba_dc, unrelated_ca_file, tls, port):
    settings = samba_dc.settings(tls=tls, port=port, ca_file=unrelated_ca_file)
    with pytest.raises(DirectoryTlsError) as info:
        LdapDirectory.connect(settings, samba_dc.admin_password, timeout=5)
    text = str(info.value)
    assert f"dc1.test.lan:{port}" in text
    assert unrelated_ca_file in text
    assert "not signed by a CA in" in text


def test_unreadable_ca_file(samba_dc, tmp_path):
    missing = str(tmp_path / "missing-ca.pem")
    with pytest.raises(DirectoryTlsError, match="cannot be read"):
        LdapDirectory.connect(samba_dc.settings(ca_file=missing), samba_dc.admin_password)


def test_plain_ldap_refused_without_insecure(samba_dc):
    settings = samba_dc.settings(tls="none", port=389, gc_port=3268)
    with pytest.raises(BadInput, match="--insecure"):
        LdapDirectory.connect(settings, samba_dc.admin_password)
    # With --insecure we do try, and the DC's own refusal of a cleartext simple bind is explained.
    with pytest.raises(DirectoryBindError, match="strongerAuthRequired"):
        LdapDirectory.connect(settings, samba_dc.admin_password, insecure=True)


@pytest.fixture
def silent_listener():
    """A TCP port that accepts connections and never says a word (a hung DC)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    accepted = []
    stop = threading.Event()

    def accept():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    server.close()


def test_silent_dc_times_out(samba_dc, silent_listener):
    settings = samba_dc.settings(server="127.0.0.1", port=silent_listener)
    started = time.monotonic()
    with pytest.raises(DirectoryTimeout) as info:
        LdapDirectory.connect(settings, samba_dc.admin_password, timeout=1)
    assert f"127.0.0.1:{silent_listener}" in str(info.value)
    assert "timeout" in str(info.value)
    assert time.monotonic() - started < 10


def test_hung_dc_times_out_per_call_and_the_connection_says_it_is_closed(samba_dc):
    d = LdapDirectory.connect(samba_dc.settings(), samba_dc.admin_password)
    try:
        with samba_dc.frozen():
            started = time.monotonic()
            with pytest.raises(DirectoryTimeout) as info:
                d.find_account("TMG01", timeout=1.5)
            assert time.monotonic() - started < 6
        assert "no answer from dc1.test.lan:636 within 1.5 s" in str(info.value)
        with pytest.raises(DirectoryUnreachable, match="closed"):
            d.find_account("TMG01")
    finally:
        d.close()
    # The DC itself is fine again after SIGCONT.
    with LdapDirectory.connect(samba_dc.settings(), samba_dc.admin_password) as again:
        assert again.find_account("TMG01") is not None


def test_kerberos_bind_without_ticket_says_what_to_do(samba_dc, tmp_path, monkeypatch):
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{tmp_path / 'no-such-ccache'}")
    with pytest.raises(DirectoryBindError) as info:
        LdapDirectory.connect(samba_dc.settings(bind_user=None), None)
    assert "kinit" in str(info.value) or "gssapi" in str(info.value)


# ------------------------------------------------------------------ reading


def test_find_account_computer(samba_dc, directory):
    account = directory.find_account("TMG01")
    assert account is not None
    assert account.dn.lower() == samba_dc.computer_dn("TMG01").lower()
    assert account.sam_account_name == "TMG01$"
    assert account.user_account_control == WORKSTATION == uac_witness(samba_dc, "TMG01")
    assert account.allowed_to_delegate_to == (UNRELATED_DELEGATION,)
    assert account.dns_host_name == "tmg01.test.lan"
    assert set(account.service_principal_names) == spn_witness(samba_dc, "TMG01$") == {
        "HOST/TMG01", "HOST/tmg01.test.lan", "RestrictedKrbHost/TMG01", "RestrictedKrbHost/tmg01.test.lan",
    }
    assert directory.find_account("TMG01$") == account
    assert directory.find_account("tmg01") == account


def test_find_account_users_and_misses(directory):
    alice = directory.find_account("alice")
    assert alice.sam_account_name == "alice" and alice.dns_host_name is None
    assert directory.find_account("OLDSVC").service_principal_names == (PLANTED_SPN,)
    assert directory.find_account("EASASA").user_account_control == 66048
    assert directory.find_account("TMG02") is None
    assert directory.find_account("TMG*") is None  # escaped: no wildcard lookup
    assert directory.find_account("") is None


def test_similar_accounts_for_did_you_mean(directory):
    assert "TMG01$" in directory.similar_accounts("TMG1")
    assert {"EAS01$", "EAS02$"} <= set(directory.similar_accounts("EAS03"))
    assert "alice" in directory.similar_accounts("alcie")
    assert directory.similar_accounts("zzzzzzzz") == []


def test_current_time_is_the_dc_clock(directory):
    now = dt.datetime.now(dt.timezone.utc)
    dc_time = directory.current_time()
    assert dc_time.tzinfo is not None and dc_time.utcoffset() == dt.timedelta(0)
    assert abs(dc_time - now) < dt.timedelta(seconds=60)


def test_spn_owners_finds_the_planted_duplicate(directory):
    assert directory.spn_owners(PLANTED_SPN) == ["OLDSVC"]
    assert directory.spn_owners(PLANTED_SPN.upper()) == ["OLDSVC"]  # SPNs compare case-insensitively
    assert directory.spn_owners("HOST/eas02.test.lan") == ["EAS02$"]
    assert directory.spn_owners("http/eas01.test.lan") == []


def test_spn_owners_escapes_filter_characters(directory):
    # Unescaped, each of these would match real SPNs (HOST/... is on every computer).
    assert directory.spn_owners("http/*") == []
    assert directory.spn_owners("HOST/*") == []
    assert directory.spn_owners("*") == []
    assert directory.spn_owners("HOST/TMG01)(servicePrincipalName=*") == []
    assert directory.spn_owners("http/mail-int.test.lan\\") == []


def test_spn_owners_falls_back_to_the_domain_when_the_gc_does_not_answer(samba_dc):
    with LdapDirectory.connect(samba_dc.settings(gc_port=3999), samba_dc.admin_password, timeout=5) as d:
        assert any("Global Catalog dc1.test.lan:3999" in w and "only the domain" in w for w in d.warnings)
        assert d.spn_owners(PLANTED_SPN) == ["OLDSVC"]


def test_can_write_reads_allowed_attributes_effective(samba_dc, directory):
    dn = samba_dc.computer_dn("TMG01")
    attrs = ["msDS-AllowedToDelegateTo", "userAccountControl", "servicePrincipalName"]
    assert directory.can_write(dn, attrs) == dict.fromkeys(attrs, True)
    settings = samba_dc.settings(bind_user="alice@test.lan")
    with LdapDirectory.connect(settings, samba_dc.password("alice")) as as_alice:
        assert as_alice.can_write(dn, attrs) == dict.fromkeys(attrs, False)
    with pytest.raises(NoSuchObject):
        directory.can_write("CN=NOPE,CN=Computers,DC=test,DC=lan", attrs)


# ------------------------------------------------------------------ writing


def test_add_and_remove_delegation_values_preserve_unrelated_ones(samba_dc, directory):
    dn = directory.find_account("TMG01").dn
    new = ["http/eas01.test.lan", "http/EAS01"]
    directory.add_values(dn, "msDS-AllowedToDelegateTo", new)
    try:
        values, _ = delegation_witness(samba_dc, "TMG01$")
        assert values == {UNRELATED_DELEGATION, *new}
        assert set(directory.find_account("TMG01").allowed_to_delegate_to) == values
    finally:
        directory.remove_values(dn, "msDS-AllowedToDelegateTo", new)
    values, _ = delegation_witness(samba_dc, "TMG01$")
    assert values == {UNRELATED_DELEGATION}


def test_adding_a_present_value_is_attribute_or_value_exists(samba_dc, directory):
    dn = samba_dc.computer_dn("TMG01")
    with pytest.raises(ValueAlreadyPresent) as info:
        directory.add_values(dn, "msDS-AllowedToDelegateTo", [UNRELATED_DELEGATION])
    assert isinstance(info.value, DirectoryError)
    assert f"msDS-AllowedToDelegateTo of {dn} already holds {UNRELATED_DELEGATION}" in str(info.value)
    assert "attributeOrValueExists" in str(info.value)
    assert delegation_witness(samba_dc, "TMG01$")[0] == {UNRELATED_DELEGATION}


def test_removing_an_absent_value_is_reported(samba_dc, directory):
    with pytest.raises(ValueNotPresent, match="does not hold http/nothere.test.lan"):
        directory.remove_values(samba_dc.computer_dn("TMG01"), "msDS-AllowedToDelegateTo", ["http/nothere.test.lan"])
    assert delegation_witness(samba_dc, "TMG01$")[0] == {UNRELATED_DELEGATION}


def test_no_such_object(directory):
    dn = "CN=TMG99,CN=Computers,DC=test,DC=lan"
    with pytest.raises(NoSuchObject, match="no object CN=TMG99"):
        directory.add_values(dn, "servicePrincipalName", ["http/x.test.lan"])
    with pytest.raises(NoSuchObject):
        directory.replace_uac(dn, WORKSTATION, WORKSTATION | UAC_TRUSTED_TO_AUTH_FOR_DELEGATION)


def test_add_and_remove_spn(samba_dc, directory):
    dn = directory.find_account("EASASA").dn
    directory.add_values(dn, "servicePrincipalName", ["http/mail.test.lan", "http/mail"])
    try:
        assert spn_witness(samba_dc, "EASASA") == {"http/mail.test.lan", "http/mail"}
        assert directory.spn_owners("http/mail.test.lan") == ["EASASA"]
    finally:
        directory.remove_values(dn, "servicePrincipalName", ["http/mail.test.lan", "http/mail"])
    assert spn_witness(samba_dc, "EASASA") == set()


def test_duplicate_spn_names_the_holder(samba_dc, directory):
    dn = samba_dc.computer_dn("EAS01")
    before = spn_witness(samba_dc, "EAS01$")
    with pytest.raises(DuplicateSpn) as info:
        directory.add_values(dn, "servicePrincipalName", [PLANTED_SPN])
    text = str(info.value)
    assert "duplicate SPN" in text and f"{PLANTED_SPN} is held by OLDSVC" in text
    assert "constraintViolation" in text
    assert info.value.holders == [f"{PLANTED_SPN} is held by OLDSVC"]
    assert spn_witness(samba_dc, "EAS01$") == before


def test_insufficient_access_explains_the_delegation_privilege(samba_dc):
    settings = samba_dc.settings(bind_user="alice@test.lan")
    dn = samba_dc.computer_dn("TMG01")
    with LdapDirectory.connect(settings, samba_dc.password("alice")) as as_alice:
        with pytest.raises(DirectoryAccessDenied) as info:
            as_alice.add_values(dn, "msDS-AllowedToDelegateTo", ["http/eas01.test.lan"])
        text = str(info.value)
        assert "alice@test.lan may not change msDS-AllowedToDelegateTo" in text
        assert "SeEnableDelegationPrivilege" in text and "Domain Admins" in text
        with pytest.raises(DirectoryAccessDenied, match="servicePrincipalName"):
            as_alice.add_values(dn, "servicePrincipalName", ["http/tmg.test.lan"])
    assert delegation_witness(samba_dc, "TMG01$")[0] == {UNRELATED_DELEGATION}


def test_replace_uac_read_compare_write(samba_dc, directory):
    dn = samba_dc.computer_dn("SEG01")
    new = (WORKSTATION | UAC_TRUSTED_TO_AUTH_FOR_DELEGATION) & ~UAC_TRUSTED_FOR_DELEGATION
    directory.replace_uac(dn, WORKSTATION, new)
    try:
        assert uac_witness(samba_dc, "SEG01") == new
        assert "UF_TRUSTED_TO_AUTHENTICATE_FOR_DELEGATION: True" in delegation_witness(samba_dc, "SEG01$")[1]
        directory.replace_uac(dn, new, new)  # already there: nothing to write, no error
    finally:
        directory.replace_uac(dn, new, WORKSTATION)
    assert uac_witness(samba_dc, "SEG01") == WORKSTATION


def test_replace_uac_refuses_drift(samba_dc, directory):
    dn = samba_dc.computer_dn("SEG02")
    outside = WORKSTATION | UAC_TRUSTED_FOR_DELEGATION
    set_uac_behind_our_back(samba_dc, dn, outside)
    try:
        with pytest.raises(DriftError) as info:
            directory.replace_uac(dn, WORKSTATION, WORKSTATION | UAC_TRUSTED_TO_AUTH_FOR_DELEGATION)
        text = str(info.value)
        assert f"live value {outside:#x}" in text and f"expected {WORKSTATION:#x}" in text
        assert "TRUSTED_FOR_DELEGATION" in text
        assert uac_witness(samba_dc, "SEG02") == outside  # nothing written
    finally:
        set_uac_behind_our_back(samba_dc, dn, WORKSTATION)


def test_replace_uac_concurrent_change_is_refused_by_the_server(samba_dc, directory, monkeypatch):
    """Someone changes the value between our read and our write: the delete-old-value makes the DC refuse."""
    dn = samba_dc.computer_dn("EAS02")
    real_read = directory._read_uac
    calls = []

    def read_then_someone_writes(dn_, timeout):
        calls.append(dn_)
        value = real_read(dn_, timeout)
        if len(calls) == 1:
            set_uac_behind_our_back(samba_dc, dn, WORKSTATION | UAC_TRUSTED_FOR_DELEGATION)
        return value

    monkeypatch.setattr(directory, "_read_uac", read_then_someone_writes)
    try:
        with pytest.raises(DriftError) as info:
            directory.replace_uac(dn, WORKSTATION, WORKSTATION | UAC_TRUSTED_TO_AUTH_FOR_DELEGATION)
        assert "changed while we were writing it" in str(info.value)
        assert f"live value {WORKSTATION | UAC_TRUSTED_FOR_DELEGATION:#x}" in str(info.value)
        assert uac_witness(samba_dc, "EAS02") == WORKSTATION | UAC_TRUSTED_FOR_DELEGATION
    finally:
        set_uac_behind_our_back(samba_dc, dn, WORKSTATION)

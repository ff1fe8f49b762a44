"""One set of expectations for `DirectoryPort`, run against the rehearsal lab and a real Samba AD DC.

Every test takes `backend`: the lab (`LabDirectory`, seeded like the Samba template in tests/samba_dc.py)
or the real `LdapDirectory` bound to the Samba fixture (the `samba` param is marked slow). The same
assertions — same results, same `runbook.errors` classes — hold for both, so the lab the demo and the fast
tests rely on cannot drift from what a real DC does.

Witnesses are independent of the port under test: for Samba `ldbsearch`/`ldbmodify` on the live sam.ldb,
for the lab its in-memory state.

Measured on Samba 4.17 and deliberately NOT pinned here (the steps never rely on it, they compare SPNs
case-insensitively): Samba accepts adding a case variant of a value the attribute already holds
(`host/x` beside `HOST/x`) where Windows answers attributeOrValueExists, and when an SPN `http/x` is added
to one account Samba rewrites another account's `HOST/x` to lower case. The lab behaves like Windows on the
first point and does not imitate the second.
"""
from __future__ import annotations

import base64
import datetime as dt
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from runbook.errors import (
    DirectoryAccessDenied,
    DirectoryError,
    DriftError,
    DuplicateSpn,
    NoSuchObject,
    StepFailed,
    ValueAlreadyPresent,
    ValueNotPresent,
)
from runbook.flow.catalogue import expand, select
from runbook.flow.changes import Change
from runbook.flow.context import Ports, StepContext
from runbook.flow.ports import UAC_TRUSTED_FOR_DELEGATION, UAC_TRUSTED_TO_AUTH_FOR_DELEGATION, DirectoryPort
from runbook.inputs.params import parse_params
from runbook.lab.directory import LabAccount, LabDirectory
from steps import CATALOGUE
from steps import directory_changes as dc
from steps.checks import CheckContext, check_directory
from tests.samba_dc import COMPUTERS, DNS_DOMAIN, PLANTED_SPN, UNRELATED_DELEGATION

ROOT = Path(__file__).resolve().parent.parent
WORKSTATION = 0x1000
SPN = "servicePrincipalName"
A2D = "msDS-AllowedToDelegateTo"
UAC = "userAccountControl"
WATCHED = (SPN, A2D, UAC)
BACKENDS = ["lab", pytest.param("samba", marks=pytest.mark.slow)]


# --------------------------------------------------------------------------- the lab, seeded like the template


def seeded_lab(**knobs: Any) -> LabDirectory:
    """The accounts of tests/samba_dc.py's template (and the built-ins Samba provisions), in the lab."""
    lab = LabDirectory(DNS_DOMAIN, [], **knobs)
    for name in COMPUTERS:
        lab.add_computer(name, f"{name.lower()}.{DNS_DOMAIN}")
    lab.accounts["tmg01$"].delegate_to.append(UNRELATED_DELEGATION)
    lab.add_user("EASASA", uac=66048)
    lab.add_user("alice")
    lab.add_user("OLDSVC", [PLANTED_SPN], uac=66048)
    lab.add_user("Administrator")
    lab.add_user("Guest", uac=66082)
    lab.add_user("krbtgt", ["kadmin/changepw"], uac=514)
    dc1 = LabAccount(sam="DC1$", dn=f"CN=DC1,OU=Domain Controllers,{lab.base_dn}", uac=0x82000,
                     spns=["HOST/DC1", f"HOST/dc1.{DNS_DOMAIN}"], dns_host_name=f"dc1.{DNS_DOMAIN}")
    lab.accounts["dc1$"] = dc1
    return lab


# --------------------------------------------------------------------------- Samba baseline, shared with
# tests/test_directory_real.py: every test leaves the DC exactly as the template seeded it.

SEEDED = (*(f"{name}$" for name in COMPUTERS), "EASASA", "alice", "OLDSVC")


def seeded_dn(samba, sam: str) -> str:
    return samba.computer_dn(sam) if sam.endswith("$") else samba.user_dn(sam)


def ldif_records(text: str) -> list[dict[str, list[str]]]:
    """ldbsearch output → one {attribute (lower case): [values]} per record (folded lines and base64 handled)."""
    records: list[dict[str, list[str]]] = []
    for block in text.split("\n\n"):
        lines: list[str] = []
        for line in block.splitlines():
            if line.startswith(" ") and lines:
                lines[-1] += line[1:]
            elif line and not line.startswith("#"):
                lines.append(line)
        record: dict[str, list[str]] = {}
        for line in lines:
            name, _, value = line.partition(":")
            value = base64.b64decode(value[1:].strip()).decode() if value.startswith(":") else value.strip()
            record.setdefault(name.lower(), []).append(value)
        if record:
            records.append(record)
    return records


def snapshot(samba) -> dict[tuple[str, str], list[str]]:
    """Exact values (case and all) of the watched attributes of every seeded account: one ldbsearch."""
    wanted = "".join(f"(sAMAccountName={sam})" for sam in SEEDED)
    out = samba.ldbsearch(f"(|{wanted})", "sAMAccountName", *WATCHED, base=samba.base_dn)
    by_sam = {record["samaccountname"][0]: record for record in ldif_records(out) if "samaccountname" in record}
    return {(sam, attribute): by_sam[sam].get(attribute.lower(), []) for sam in SEEDED for attribute in WATCHED}


def restore(samba, before: dict[tuple[str, str], list[str]]) -> None:
    """Put back what `snapshot` saw, exactly (removals first, so a moved SPN never collides)."""
    now = snapshot(samba)
    if now == before:
        return
    for phase in ("delete", "add"):
        for (sam, attribute), wanted in before.items():
            live = now[(sam, attribute)]
            dn = seeded_dn(samba, sam)
            if attribute == UAC:
                if phase == "add" and live != wanted:
                    samba.ldbmodify(f"dn: {dn}\nchangetype: modify\nreplace: {UAC}\n{UAC}: {wanted[0]}\n")
                continue
            values = [v for v in live if v not in wanted] if phase == "delete" else [v for v in wanted if v not in live]
            if values:
                lines = "".join(f"{attribute}: {v}\n" for v in values)
                samba.ldbmodify(f"dn: {dn}\nchangetype: modify\n{phase}: {attribute}\n{lines}")
    after = snapshot(samba)
    assert {k: sorted(v) for k, v in after.items()} == {k: sorted(v) for k, v in before.items()}, \
        "could not put the DC back as the template seeded it"


# --------------------------------------------------------------------------- the two back ends


@dataclass
class Backend:
    name: str
    port: DirectoryPort
    dn: Callable[[str], str]  # sAMAccountName → DN
    values: Callable[[str, str], list[str]]  # (dn, attribute) → live values, read behind the port's back
    outside: Callable[[str, str, list[str], list[str]], None]  # (dn, attribute, add, delete) behind its back
    outside_uac: Callable[[str, int], None]
    unprivileged: Callable[[], DirectoryPort]  # a bind that may write none of the delegation/SPN attributes
    bind_user: str

    def uac(self, dn: str) -> int:
        return int(self.values(dn, UAC)[0])


def lab_backend() -> Backend:
    lab = seeded_lab()

    def account(dn: str) -> LabAccount:
        return next(a for a in lab.accounts.values() if a.dn.lower() == dn.lower())

    def values(dn: str, attribute: str) -> list[str]:
        found = account(dn)
        return [str(found.uac)] if attribute == UAC else list(
            found.spns if attribute == SPN else found.delegate_to)

    def outside(dn: str, attribute: str, add: list[str], delete: list[str]) -> None:
        current = account(dn).spns if attribute == SPN else account(dn).delegate_to
        current[:] = [v for v in current if v not in delete] + list(add)

    def outside_uac(dn: str, value: int) -> None:
        account(dn).uac = value

    def unprivileged() -> DirectoryPort:
        other = LabDirectory(lab.domain, [], deny_write=list(WATCHED), bind_user="alice@test.lan")
        other.accounts = lab.accounts  # the same directory, seen by a bind without rights
        return other

    return Backend("lab", lab, lambda sam: lab.accounts[sam.lower()].dn, values, outside, outside_uac,
                   unprivileged, "Administrator@TEST.LAN")


@pytest.fixture(scope="module")
def samba_port(request):
    from runbook.directory.ldap import LdapDirectory

    samba = request.getfixturevalue("samba_dc")
    port = LdapDirectory.connect(samba.settings(), samba.admin_password, timeout=15)
    yield port
    port.close()


def samba_backend(request) -> tuple[Backend, Callable[[], None]]:
    from runbook.directory.ldap import LdapDirectory

    samba = request.getfixturevalue("samba_dc")
    port = request.getfixturevalue("samba_port")
    opened: list[Any] = []

    def outside(dn: str, attribute: str, add: list[str], delete: list[str]) -> None:
        for phase, values in (("delete", delete), ("add", add)):
            if values:
                lines = "".join(f"{attribute}: {v}\n" for v in values)
                samba.ldbmodify(f"dn: {dn}\nchangetype: modify\n{phase}: {attribute}\n{lines}")

    def outside_uac(dn: str, value: int) -> None:
        samba.ldbmodify(f"dn: {dn}\nchangetype: modify\nreplace: {UAC}\n{UAC}: {value}\n")

    def unprivileged() -> DirectoryPort:
        alice = LdapDirectory.connect(samba.settings(bind_user="alice@test.lan"), samba.password("alice"))
        opened.append(alice)
        return alice

    before = snapshot(samba)

    def finish() -> None:
        for conn in opened:
            conn.close()
        restore(samba, before)  # housekeeping: each test asserts its own end state

    backend = Backend("samba", port, lambda sam: seeded_dn(samba, sam), samba.ldb_values, outside, outside_uac,
                      unprivileged, "Administrator@TEST.LAN")
    return backend, finish


@pytest.fixture(params=BACKENDS)
def backend(request):
    if request.param == "lab":
        yield lab_backend()
        return
    chosen, finish = samba_backend(request)
    try:
        yield chosen
    finally:
        finish()


# --------------------------------------------------------------------------- reading


def test_find_account_of_a_computer(backend):
    account = backend.port.find_account("TMG01")
    assert account is not None
    assert account.dn.lower() == "cn=tmg01,cn=computers,dc=test,dc=lan"
    assert account.sam_account_name == "TMG01$"
    assert account.user_account_control == WORKSTATION
    assert account.allowed_to_delegate_to == (UNRELATED_DELEGATION,)
    assert account.dns_host_name == "tmg01.test.lan"
    assert set(account.service_principal_names) == {
        "HOST/TMG01", "HOST/tmg01.test.lan", "RestrictedKrbHost/TMG01", "RestrictedKrbHost/tmg01.test.lan"}
    assert backend.port.find_account("TMG01$") == account
    assert backend.port.find_account("tmg01") == account
    assert backend.port.find_account(" TMG01 ") == account


def test_find_account_of_users_and_misses(backend):
    alice = backend.port.find_account("alice")
    assert (alice.sam_account_name, alice.user_account_control, alice.dns_host_name) == ("alice", 512, None)
    assert alice.dn.lower() == "cn=alice,cn=users,dc=test,dc=lan"
    assert backend.port.find_account("OLDSVC").service_principal_names == (PLANTED_SPN,)
    assert backend.port.find_account("EASASA").user_account_control == 66048
    assert backend.port.find_account("EASASA").service_principal_names == ()
    for missing in ("TMG02", "TMG*", "*", "", "TMG01)(sAMAccountName=*"):
        assert backend.port.find_account(missing) is None, missing


def test_similar_accounts_for_did_you_mean(backend):
    assert backend.port.similar_accounts("TMG1") == ["TMG01$"]
    assert set(backend.port.similar_accounts("EAS03")) == {"EAS01$", "EAS02$"}
    assert backend.port.similar_accounts("alcie") == ["alice"]
    assert "TMG01$" not in backend.port.similar_accounts("TMG01")  # an exact name is not a suggestion
    assert backend.port.similar_accounts("zzzzzzzz") == []


def test_spn_owners_is_an_exact_case_insensitive_match(backend):
    assert backend.port.spn_owners(PLANTED_SPN) == ["OLDSVC"]
    assert backend.port.spn_owners(PLANTED_SPN.upper()) == ["OLDSVC"]
    assert backend.port.spn_owners("HOST/eas02.test.lan") == ["EAS02$"]
    assert backend.port.spn_owners("http/eas01.test.lan") == []  # HOST/ covers it for Kerberos, not for a search
    for pattern in ("http/*", "HOST/*", "*", "HOST/TMG01)(servicePrincipalName=*", "http/mail-int.test.lan\\"):
        assert backend.port.spn_owners(pattern) == [], pattern


def test_http_star_is_a_value_never_a_pattern(backend):
    """AD (and Samba) accept `http/*` as a literal SPN; only the account holding that literal matches it."""
    dn = backend.dn("SEG01$")
    backend.port.add_values(dn, SPN, ["http/*"])
    assert backend.port.spn_owners("http/*") == ["SEG01$"]
    assert backend.port.spn_owners("http/seg01.test.lan") == []
    backend.port.remove_values(dn, SPN, ["http/*"])
    assert backend.port.spn_owners("http/*") == []


def test_current_time_is_the_dc_clock(backend):
    now = dt.datetime.now(dt.timezone.utc)
    dc_time = backend.port.current_time()
    assert dc_time.tzinfo is not None and dc_time.utcoffset() == dt.timedelta(0)
    assert dc_time.microsecond == 0  # rootDSE currentTime has whole seconds
    assert abs(dc_time - now) < dt.timedelta(seconds=60)


# --------------------------------------------------------------------------- SPN uniqueness


def test_duplicate_spn_is_refused_naming_the_holder(backend):
    dn = backend.dn("EAS01$")
    before = backend.values(dn, SPN)
    for spn in (PLANTED_SPN, PLANTED_SPN.upper()):
        with pytest.raises(DuplicateSpn) as info:
            backend.port.add_values(dn, SPN, [spn])
        assert isinstance(info.value, DirectoryError)
        assert info.value.holders == [f"{spn} is held by OLDSVC"]
        assert info.value.spns == [spn]
        text = str(info.value)
        assert "duplicate SPN" in text and "is held by OLDSVC" in text and "constraintViolation" in text
    assert backend.values(dn, SPN) == before
    assert backend.port.spn_owners(PLANTED_SPN) == ["OLDSVC"]


def test_an_spn_we_added_is_then_unique_to_its_account(backend):
    asa, other = backend.dn("EASASA"), backend.dn("EAS02$")
    backend.port.add_values(asa, SPN, ["http/exch-int.test.lan", "http/exch-int"])
    assert backend.port.spn_owners("http/exch-int") == ["EASASA"]
    with pytest.raises(DuplicateSpn) as info:
        backend.port.add_values(other, SPN, ["http/EXCH-INT"])
    assert info.value.holders == ["http/EXCH-INT is held by EASASA"]
    backend.port.remove_values(asa, SPN, ["http/exch-int.test.lan", "http/exch-int"])
    assert backend.values(asa, SPN) == []


# --------------------------------------------------------------------------- adding and removing values


def test_add_and_remove_keep_every_other_value(backend):
    tmg, eas = backend.dn("TMG01$"), backend.dn("EAS01$")
    new = ["http/eas01.test.lan", "http/EAS01"]
    spns_before = backend.values(eas, SPN)
    backend.port.add_values(tmg, A2D, new)
    backend.port.add_values(eas, SPN, ["http/owa-int.test.lan"])
    assert sorted(backend.values(tmg, A2D)) == sorted([UNRELATED_DELEGATION, *new])
    assert sorted(backend.port.find_account("TMG01").allowed_to_delegate_to) == sorted(backend.values(tmg, A2D))
    assert sorted(backend.values(eas, SPN)) == sorted([*spns_before, "http/owa-int.test.lan"])
    backend.port.remove_values(tmg, A2D, new)
    backend.port.remove_values(eas, SPN, ["http/owa-int.test.lan"])
    assert backend.values(tmg, A2D) == [UNRELATED_DELEGATION]
    assert backend.values(eas, SPN) == spns_before


def test_adding_a_value_already_there_is_attribute_or_value_exists_and_writes_nothing(backend):
    dn = backend.dn("TMG01$")
    for values in ([UNRELATED_DELEGATION], ["http/new.test.lan", UNRELATED_DELEGATION],
                   ["http/twice.test.lan", "http/twice.test.lan"]):
        with pytest.raises(ValueAlreadyPresent) as info:
            backend.port.add_values(dn, A2D, values)
        assert "attributeOrValueExists" in str(info.value) and "already holds" in str(info.value)
        assert backend.values(dn, A2D) == [UNRELATED_DELEGATION], values
    with pytest.raises(ValueAlreadyPresent, match=f"already holds {UNRELATED_DELEGATION}"):
        backend.port.add_values(dn, A2D, [UNRELATED_DELEGATION])
    with pytest.raises(ValueAlreadyPresent, match="already holds HOST/TMG01"):
        backend.port.add_values(dn, SPN, ["HOST/TMG01"])


def test_removing_matches_case_insensitively(backend):
    dn = backend.dn("SEG01$")
    backend.port.add_values(dn, A2D, ["http/ci.test.lan"])
    backend.port.remove_values(dn, A2D, ["HTTP/CI.TEST.LAN"])
    assert backend.values(dn, A2D) == []


def test_removing_a_value_not_there_is_value_not_present_and_removes_nothing(backend):
    dn = backend.dn("TMG01$")
    with pytest.raises(ValueNotPresent, match="does not hold"):
        backend.port.remove_values(dn, A2D, ["http/nothere.test.lan"])
    with pytest.raises(ValueNotPresent):
        backend.port.remove_values(dn, A2D, [UNRELATED_DELEGATION, "http/nothere.test.lan"])
    assert backend.values(dn, A2D) == [UNRELATED_DELEGATION]
    with pytest.raises(ValueNotPresent):  # an attribute with no value at all
        backend.port.remove_values(backend.dn("SEG02$"), A2D, ["http/x.test.lan"])


def test_no_such_object(backend):
    dn = "CN=TMG99,CN=Computers,DC=test,DC=lan"
    calls = [lambda: backend.port.add_values(dn, SPN, ["http/x.test.lan"]),
             lambda: backend.port.remove_values(dn, A2D, ["http/x.test.lan"]),
             lambda: backend.port.replace_uac(dn, WORKSTATION, WORKSTATION | UAC_TRUSTED_TO_AUTH_FOR_DELEGATION),
             lambda: backend.port.can_write(dn, [A2D])]
    for call in calls:
        with pytest.raises(NoSuchObject, match="CN=TMG99"):
            call()


# --------------------------------------------------------------------------- userAccountControl


def test_replace_uac_is_read_compare_write(backend):
    dn = backend.dn("SEG01$")
    new = (WORKSTATION | UAC_TRUSTED_TO_AUTH_FOR_DELEGATION) & ~UAC_TRUSTED_FOR_DELEGATION
    backend.port.replace_uac(dn, WORKSTATION, new)
    assert backend.uac(dn) == new == backend.port.find_account("SEG01").user_account_control
    backend.port.replace_uac(dn, new, new)  # already so: nothing to write, no error
    backend.port.replace_uac(dn, new, WORKSTATION)
    assert backend.uac(dn) == WORKSTATION


def test_replace_uac_refuses_drift_and_writes_nothing(backend):
    dn = backend.dn("SEG02$")
    outside = WORKSTATION | UAC_TRUSTED_FOR_DELEGATION
    backend.outside_uac(dn, outside)
    with pytest.raises(DriftError) as info:
        backend.port.replace_uac(dn, WORKSTATION, WORKSTATION | UAC_TRUSTED_TO_AUTH_FOR_DELEGATION)
    text = str(info.value)
    assert f"live value {outside:#x}" in text and f"expected {WORKSTATION:#x}" in text
    assert "TRUSTED_FOR_DELEGATION" in text and "nothing was written" in text
    assert backend.uac(dn) == outside
    backend.outside_uac(dn, WORKSTATION)


# --------------------------------------------------------------------------- write access (pre-flight)


def test_can_write_and_access_denied(backend):
    dn = backend.dn("TMG01$")
    assert backend.port.can_write(dn, list(WATCHED)) == dict.fromkeys(WATCHED, True)
    weak = backend.unprivileged()
    assert weak.can_write(dn, list(WATCHED)) == dict.fromkeys(WATCHED, False)
    with pytest.raises(DirectoryAccessDenied) as info:
        weak.add_values(dn, A2D, ["http/eas01.test.lan"])
    text = str(info.value)
    assert "alice@test.lan may not change msDS-AllowedToDelegateTo" in text
    assert "SeEnableDelegationPrivilege" in text and "Domain Admins" in text
    with pytest.raises(DirectoryAccessDenied, match="servicePrincipalName"):
        weak.add_values(dn, SPN, ["http/tmg.test.lan"])
    with pytest.raises(DirectoryAccessDenied, match="SeEnableDelegationPrivilege"):
        weak.replace_uac(dn, WORKSTATION, WORKSTATION | UAC_TRUSTED_TO_AUTH_FOR_DELEGATION)
    assert backend.values(dn, A2D) == [UNRELATED_DELEGATION] and backend.uac(dn) == WORKSTATION


# --------------------------------------------------------------------------- the steps' use of the port

FARM = {
    "topology": "tmg-seg-eas", "domain": "test.lan",
    "directory": {"server": "dc1.test.lan", "tls": "ldaps", "bind_user": "Administrator@TEST.LAN"},
    "tmg": {"computer": "TMG01", "host": "tmg01.test.lan"},
    "seg": [{"computer": "SEG01", "host": "seg01.test.lan"}],
    "eas": [{"computer": "EAS01", "host": "eas01.test.lan"}, {"computer": "EAS02", "host": "eas02.test.lan"}],
    "internal_names": {"eas": "exch-int.test.lan"}, "service_accounts": {"eas": "EASASA"},
    "public_name": "mail.example.com", "listener": "EAS Listener",
}


def step_context(port: DirectoryPort, key: str, **overrides: Any) -> tuple[StepContext, list[Change]]:
    params = parse_params({**FARM, **overrides})
    (instance,) = select(expand(CATALOGUE, params), key)
    recorded: list[Change] = []
    ports = Ports(open_directory=lambda: port, open_hosts=lambda: None)
    return StepContext(params=params, instance=instance, ports=ports, record=recorded.append), recorded


def test_undo_of_a_value_already_gone_is_drift_not_a_crash(backend):
    """The undo of a directory change is safely repeatable: a value already removed is drift, refused."""
    ctx, recorded = step_context(backend.port, "3a")
    automation = ctx.instance.spec.automation
    plan = automation.plan(ctx)
    automation.apply(ctx, plan)
    dn = backend.dn("TMG01$")
    assert sorted(backend.values(dn, A2D)) == sorted([UNRELATED_DELEGATION, "http/seg01.test.lan", "http/seg01"])
    values_change = next(c for c in recorded if c.kind == "ldap-values")
    backend.outside(dn, A2D, [], ["http/seg01"])  # someone removes one of our values behind our back
    problems = automation.undo_problems(ctx, recorded)
    assert problems == ["TMG01$ msDS-AllowedToDelegateTo: http/seg01 was removed outside this session since it "
                        "was added"]
    with pytest.raises(DriftError) as info:  # the race: it goes between the check and the write
        dc.revert(ctx, values_change)
    text = str(info.value)
    assert text.startswith("3a: refusing to undo, the live state moved since this session changed it")
    assert ("TMG01$ msDS-AllowedToDelegateTo: http/seg01 is already gone (removed outside this session since it "
            "was added; the DC answered noSuchAttribute); nothing was removed (http/seg01.test.lan still there)"
            in text), text
    assert "runbook verify SESSION 3a" in text
    assert sorted(backend.values(dn, A2D)) == sorted([UNRELATED_DELEGATION, "http/seg01.test.lan"])
    uac_change = next(c for c in recorded if c.kind == "ldap-uac")
    dc.revert(ctx, uac_change)  # the UAC half is still ours: it reverts
    assert backend.uac(dn) == WORKSTATION
    with pytest.raises(DriftError, match="userAccountControl of .* is not what this session recorded"):
        dc.revert(ctx, uac_change)  # a second time: the live value is no longer the one we set
    backend.outside(dn, A2D, [], ["http/seg01.test.lan"])
    assert backend.values(dn, A2D) == [UNRELATED_DELEGATION]


def test_plan_refuses_before_writing_when_the_bind_may_not_write(backend):
    ctx, recorded = step_context(backend.unprivileged(), "3a",
                                 directory={**FARM["directory"], "bind_user": "alice@test.lan"})
    with pytest.raises(DirectoryAccessDenied) as info:
        ctx.instance.spec.automation.plan(ctx)
    text = str(info.value)
    assert text.startswith("alice@test.lan may not write msDS-AllowedToDelegateTo, userAccountControl on TMG01$")
    assert "allowedAttributesEffective" in text and "SeEnableDelegationPrivilege" in text
    assert text.endswith("nothing was changed")
    assert recorded == [] and backend.values(backend.dn("TMG01$"), A2D) == [UNRELATED_DELEGATION]


def test_spn_step_names_the_owner_of_a_duplicate(backend):
    ctx, _ = step_context(backend.port, "4a@EASASA", internal_names={"eas": "mail-int.test.lan"})
    with pytest.raises(StepFailed) as info:
        ctx.instance.spec.automation.plan(ctx)
    assert str(info.value).startswith("http/mail-int.test.lan is already registered on OLDSVC")
    assert "setspn -D http/mail-int.test.lan OLDSVC" in str(info.value)


def preflight(backend, port=None, now=None, **overrides):
    params = parse_params({**FARM, **overrides})
    ports = Ports(open_directory=lambda: port or backend.port, open_hosts=lambda: None)
    ctx = CheckContext(params=params, ports=ports)
    if now is not None:
        ctx.now = now
    return check_directory(ctx)


def test_preflight_passes_with_a_privileged_bind(backend):
    result = preflight(backend)
    assert result.status == "ok", result.lines
    assert "TMG01$ found; Administrator@TEST.LAN may write msDS-AllowedToDelegateTo, userAccountControl (3a)" \
        in result.lines
    assert "EASASA found; Administrator@TEST.LAN may write servicePrincipalName (4a@EASASA)" in result.lines
    assert any(line.startswith("this jump host is 0.") for line in result.lines)


def test_preflight_names_missing_accounts_with_close_matches(backend):
    result = preflight(backend, tmg={"computer": "TMG1", "host": "tmg1.test.lan"},
                       service_accounts={"eas": "EASAS"})
    assert result.status == "fail"
    assert "FAULT: 3a: account TMG1$ was not found in test.lan. Did you mean TMG01$?" in " ".join(result.lines)
    assert any(line.startswith("FAULT: 4a@EASAS: account EASAS was not found in test.lan. Did you mean EASASA")
               for line in result.lines), result.lines


def test_preflight_explains_missing_rights(backend):
    result = preflight(backend, port=backend.unprivileged(),
                       directory={**FARM["directory"], "bind_user": "alice@test.lan"})
    assert result.status == "fail"
    faults = [line for line in result.lines if line.startswith("FAULT:")]
    assert len(faults) == 5  # TMG01$, SEG01$, EAS01$, EAS02$, EASASA
    assert faults[0].startswith("FAULT: 3a: alice@test.lan may not write msDS-AllowedToDelegateTo, "
                                "userAccountControl on TMG01$")
    assert "SeEnableDelegationPrivilege" in faults[0]
    assert "Validated write to service principal name" in faults[-1]


@pytest.mark.parametrize("minutes,status,words", [(1, "ok", "1.3 min ahead of"), (3, "warn", "drifting"),
                                                  (-7, "fail", "tickets will be refused")])
def test_preflight_clock_skew_against_the_dc(backend, minutes, status, words):
    def skewed() -> dt.datetime:
        return backend.port.current_time() + dt.timedelta(minutes=minutes, seconds=20 if minutes > 0 else -20)

    result = preflight(backend, now=skewed)
    assert result.status == status, result.lines
    assert any(words in line and "the DC dc1.test.lan" in line for line in result.lines), result.lines


# --------------------------------------------------------------------------- the lab alone


def test_the_lab_never_imports_ldap3():
    code = ("import sys, runbook.lab.directory, runbook.lab.lab, runbook.errors; "
            "print('ldap3' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.stdout.strip() == "False", result.stderr


def test_lab_knobs_survive_a_save():
    lab = seeded_lab(deny_write=[A2D], bind_user="ops@test.lan")
    again = LabDirectory.from_dict(lab.to_dict())
    assert again.deny_write == [A2D] and again.bind_user == "ops@test.lan"
    assert again.can_write(again.accounts["tmg01$"].dn, [A2D, SPN]) == {A2D: False, SPN: True}
    assert LabDirectory.from_dict(seeded_lab().to_dict()).deny_write == []


def test_rehearsal_with_a_bind_account_without_rights(tmp_path):
    """The lab's deny_write knob (set in the lab state file) drives the same refusal through the CLI."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("RUNBOOK_")},
           "RUNBOOK_SESSIONS_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}

    def runbook(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "runbook", *args], capture_output=True, text=True, cwd=ROOT,
                              env=env, timeout=60, stdin=subprocess.DEVNULL)

    assert runbook("demo", "--scenario", "tmg-eas", "--init", "weak").returncode == 0
    state_file = tmp_path / "weak.lab.yaml"
    state = yaml.safe_load(state_file.read_text())
    state["directory"]["deny_write"] = [A2D, UAC]
    state_file.write_text(yaml.safe_dump(state))
    check = runbook("check", "weak", "directory")
    assert check.returncode == 1
    assert "FAULT: 3a: Administrator@TEST.LAN may not write msDS-AllowedToDelegateTo, userAccountControl on TMG01$" \
        in check.stdout and "SeEnableDelegationPrivilege" in check.stdout
    assert "EAS01$ found; Administrator@TEST.LAN may write servicePrincipalName (4a@EAS01)" in check.stdout
    run = runbook("run", "weak", "3a", "--yes")
    assert run.returncode == 1 and run.stderr.startswith("runbook run: Administrator@TEST.LAN may not write ")
    assert run.stderr.rstrip().endswith("nothing was changed")
    lab = yaml.safe_load(state_file.read_text())["directory"]
    tmg = next(a for a in lab["accounts"] if a["sam"] == "TMG01$")
    assert tmg["delegate_to"] == [] and tmg["uac"] == WORKSTATION

"""The rehearsal lab's Active Directory: an in-memory domain behind the same DirectoryPort as the real ldap3 one.

It keeps what the steps touch (accounts, userAccountControl, msDS-AllowedToDelegateTo,
servicePrincipalName, the DC clock, what the bind account may write) and answers like a
real DC does, with the same `runbook.errors` classes as `runbook.directory.ldap`:

* an SPN lives on one account in the forest: adding one another account holds is
  `DuplicateSpn` naming the holder (AD's `constraintViolation`; uniqueness is
  case-insensitive, the account itself may hold case variants);
* adding a value the attribute already holds, or the same value twice in one request, is
  `ValueAlreadyPresent` (`attributeOrValueExists`) and writes nothing;
* removing matches case-insensitively; a value that is not there is `ValueNotPresent`
  (`noSuchAttribute`) and removes nothing;
* a DN that does not exist is `NoSuchObject`; a userAccountControl that is not the value
  read is `DriftError`; an attribute the bind account may not write (`deny_write`, the
  lab's knob for a bind account without rights or SeEnableDelegationPrivilege) is
  `DirectoryAccessDenied`, and `can_write` says so beforehand like allowedAttributesEffective.

`tests/test_directory_contract.py` runs one set of expectations against this class and a
real Samba DC, so the two cannot drift apart. This module never imports ldap3.
"""
from __future__ import annotations

import datetime as dt
import difflib
import time
from dataclasses import dataclass, field
from typing import Any

from runbook.errors import (
    DirectoryAccessDenied,
    DirectoryError,
    DirectoryTimeout,
    DirectoryUnreachable,
    DriftError,
    DuplicateSpn,
    NoSuchObject,
    ValueAlreadyPresent,
    ValueNotPresent,
    uac_drift_message,
    write_access_hint,
)
from runbook.flow.ports import DEFAULT_TIMEOUT, Account

WORKSTATION_TRUST_ACCOUNT = 0x1000
NORMAL_ACCOUNT = 0x200


@dataclass
class LabAccount:
    sam: str
    dn: str
    uac: int = WORKSTATION_TRUST_ACCOUNT
    delegate_to: list[str] = field(default_factory=list)
    spns: list[str] = field(default_factory=list)
    dns_host_name: str | None = None

    def view(self) -> Account:
        return Account(dn=self.dn, sam_account_name=self.sam, user_account_control=self.uac,
                       allowed_to_delegate_to=tuple(self.delegate_to), service_principal_names=tuple(self.spns),
                       dns_host_name=self.dns_host_name)


ATTRIBUTES = {"msds-allowedtodelegateto": "delegate_to", "serviceprincipalname": "spns"}
WHERE = "the lab DC"


class LabDirectory:
    """Implements runbook.flow.ports.DirectoryPort in memory. `on_write` tells the lab it has something to write."""

    def __init__(self, domain: str, accounts: list[LabAccount], *, clock_offset: float = 0.0,
                 latency_ms: float = 0.0, fail_after_writes: dict[str, int] | None = None, on_write: Any = None,
                 deny_write: list[str] | None = None, bind_user: str | None = None):
        self.domain = domain
        self.accounts = {a.sam.lower(): a for a in accounts}
        self.clock_offset = clock_offset
        self.latency_ms = latency_ms
        self.fail_after_writes = dict(fail_after_writes or {})  # sam → modify operations allowed before a failure
        self.on_write = on_write or (lambda: None)
        self.deny_write = list(deny_write or [])  # attributes the bind account may not write, on any object
        self.bind_user = bind_user
        self.warnings: list[str] = []
        self.closed = False

    # -- construction helpers ---------------------------------------------------------------------------------
    @property
    def base_dn(self) -> str:
        return ",".join(f"DC={part}" for part in self.domain.split("."))

    def add_computer(self, computer: str, fqdn: str) -> LabAccount:
        """An enabled computer as a domain join leaves it: dNSHostName, HOST/ and RestrictedKrbHost/ SPNs."""
        short = computer.upper()
        account = LabAccount(sam=f"{short}$", dn=f"CN={short},CN=Computers,{self.base_dn}",
                             uac=WORKSTATION_TRUST_ACCOUNT,
                             spns=[f"HOST/{short}", f"HOST/{fqdn}", f"RestrictedKrbHost/{short}",
                                   f"RestrictedKrbHost/{fqdn}"], dns_host_name=fqdn)
        self.accounts[account.sam.lower()] = account
        return account

    def add_user(self, sam: str, spns: list[str] | None = None, *, uac: int = NORMAL_ACCOUNT) -> LabAccount:
        account = LabAccount(sam=sam, dn=f"CN={sam},CN=Users,{self.base_dn}", uac=uac, spns=list(spns or []))
        self.accounts[sam.lower()] = account
        return account

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"domain": self.domain, "clock_offset": self.clock_offset,
                                "accounts": [vars(a).copy() for a in self.accounts.values()]}
        if self.deny_write:
            data["deny_write"] = list(self.deny_write)
        if self.bind_user:
            data["bind_user"] = self.bind_user
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], **knobs: Any) -> LabDirectory:
        knobs.setdefault("deny_write", data.get("deny_write"))
        knobs.setdefault("bind_user", data.get("bind_user"))
        return cls(data["domain"], [LabAccount(**a) for a in data.get("accounts", [])],
                   clock_offset=float(data.get("clock_offset", 0)), **knobs)

    # -- plumbing -----------------------------------------------------------------------------------------------
    def _wait(self) -> None:
        if self.closed:
            raise DirectoryUnreachable(f"the connection to {WHERE} is closed; reconnect to the DC and retry")
        if self.latency_ms:
            time.sleep(self.latency_ms / 1000)

    def _by_dn(self, dn: str, what: str) -> LabAccount:
        for account in self.accounts.values():
            if account.dn.lower() == dn.lower():
                return account
        raise NoSuchObject(f"{what}: no object {dn} in {WHERE} (renamed, moved or deleted?) (noSuchObject)")

    def _values(self, account: LabAccount, attribute: str) -> list[str]:
        try:
            values: list[str] = getattr(account, ATTRIBUTES[attribute.lower()])
        except KeyError:
            raise DirectoryError(f"{WHERE} keeps only msDS-AllowedToDelegateTo and servicePrincipalName as "
                                 f"multi-valued attributes, not {attribute}") from None
        return values

    def _check_access(self, account: LabAccount, attribute: str, what: str) -> None:
        if attribute.lower() in {a.lower() for a in self.deny_write}:
            who = self.bind_user or "the bind account"
            raise DirectoryAccessDenied(
                f"{what}: {who} may not change {attribute} on {account.dn} (insufficientAccessRights); "
                + write_access_hint([attribute], account.dn))

    def _count_write(self, account: LabAccount) -> None:
        remaining = self.fail_after_writes.get(account.sam.lower())
        if remaining is None:
            return
        if remaining <= 0:
            del self.fail_after_writes[account.sam.lower()]
            self.on_write()
            raise DirectoryTimeout(f"lab: injected failure: dc lost the connection while writing {account.sam} "
                                   "(timeout after 15 s)")
        self.fail_after_writes[account.sam.lower()] = remaining - 1

    # -- DirectoryPort ------------------------------------------------------------------------------------------
    def find_account(self, name: str, *, timeout: float = DEFAULT_TIMEOUT) -> Account | None:
        self._wait()
        name = name.strip()
        if not name:
            return None
        candidates = [name] if name.endswith("$") else [name, name + "$"]
        for candidate in candidates:  # an exact name wins ('TMG01' the user over 'TMG01$' the computer)
            account = self.accounts.get(candidate.lower())
            if account is not None:
                return account.view()
        return None

    def similar_accounts(self, name: str, *, timeout: float = DEFAULT_TIMEOUT) -> list[str]:
        self._wait()
        wanted = name.strip().rstrip("$").lower()
        if not wanted:
            return []
        by_key: dict[str, str] = {}
        for account in self.accounts.values():
            by_key.setdefault(account.sam.rstrip("$").lower(), account.sam)
        matches = difflib.get_close_matches(wanted, list(by_key), n=5, cutoff=0.6)
        return [by_key[key] for key in matches if key != wanted]

    def spn_owners(self, spn: str, *, timeout: float = DEFAULT_TIMEOUT) -> list[str]:
        self._wait()
        wanted = spn.lower()  # exact match: `http/*` is a value here, never a pattern
        owners = {a.sam for a in self.accounts.values() if wanted in {s.lower() for s in a.spns}}
        return sorted(owners, key=str.lower)

    def add_values(self, dn: str, attribute: str, values: list[str], *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._wait()
        if not values:
            return
        what = f"adding {', '.join(values)} to {attribute}"
        account = self._by_dn(dn, what)
        current = self._values(account, attribute)
        self._check_access(account, attribute, what)
        present = {v.lower() for v in current}
        clash = [v for i, v in enumerate(values)
                 if v.lower() in present or v.lower() in {w.lower() for w in values[:i]}]
        if clash:
            raise ValueAlreadyPresent(f"{what}: {attribute} of {dn} already holds {', '.join(clash)} "
                                      "(attributeOrValueExists)")
        if attribute.lower() == "serviceprincipalname":
            holders = [f"{value} is held by {owner}" for value in values for owner in self.spn_owners(value)
                       if owner.lower() != account.sam.lower()]
            if holders:
                refused = [value for value in values if any(h.startswith(value + " ") for h in holders)]
                raise DuplicateSpn(
                    f"{what}: AD refused servicePrincipalName {', '.join(values)} on {dn}: duplicate SPN "
                    f"({'; '.join(holders)}). An SPN may live on exactly one account: remove it from the other "
                    f"account first (setspn -D), or use that account (constraintViolation: spn[{refused[0]}] "
                    "would cause a conflict)", list(values), holders)
        self._count_write(account)
        current.extend(values)
        self.on_write()

    def remove_values(self, dn: str, attribute: str, values: list[str], *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._wait()
        if not values:
            return
        what = f"removing {', '.join(values)} from {attribute}"
        account = self._by_dn(dn, what)
        current = self._values(account, attribute)
        self._check_access(account, attribute, what)
        remaining = list(current)
        for value in values:
            match = next((v for v in remaining if v.lower() == value.lower()), None)
            if match is None:
                raise ValueNotPresent(f"{what}: {attribute} of {dn} does not hold {value} (noSuchAttribute)")
            remaining.remove(match)
        self._count_write(account)
        current[:] = remaining
        self.on_write()

    def replace_uac(self, dn: str, expected: int, new: int, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._wait()
        account = self._by_dn(dn, f"reading userAccountControl of {dn}")
        if account.uac != expected:
            raise DriftError(uac_drift_message(dn, account.uac, expected))
        if account.uac == new:
            return
        self._check_access(account, "userAccountControl",
                           f"changing userAccountControl of {dn} from {expected:#x} to {new:#x}")
        self._count_write(account)
        account.uac = new
        self.on_write()

    def current_time(self, *, timeout: float = DEFAULT_TIMEOUT) -> dt.datetime:
        self._wait()
        return (dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=self.clock_offset)).replace(microsecond=0)

    def can_write(self, dn: str, attributes: list[str], *, timeout: float = DEFAULT_TIMEOUT) -> dict[str, bool]:
        self._wait()
        self._by_dn(dn, "checking write access")
        denied = {a.lower() for a in self.deny_write}
        return {attribute: attribute.lower() not in denied for attribute in attributes}

    def close(self) -> None:
        self.closed = True

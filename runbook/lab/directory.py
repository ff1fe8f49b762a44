"""The rehearsal lab's Active Directory: an in-memory domain behind the same DirectoryPort as the real ldap3 one.

It keeps what the steps touch (accounts, userAccountControl, msDS-AllowedToDelegateTo,
servicePrincipalName, the DC clock) and enforces what AD enforces: an SPN lives on one
account in the forest (`constraintViolation`), adding a value already there is
`attributeOrValueExists`, a missing object is `noSuchObject`. The shared expectation
tests run the same assertions against this class and a real Samba DC.
"""
from __future__ import annotations

import datetime as dt
import difflib
import time
from dataclasses import dataclass, field
from typing import Any

from runbook.errors import DirectoryError, DriftError
from runbook.ports import DEFAULT_TIMEOUT, Account


@dataclass
class LabAccount:
    sam: str
    dn: str
    uac: int = 4096
    delegate_to: list[str] = field(default_factory=list)
    spns: list[str] = field(default_factory=list)
    dns_host_name: str | None = None

    def view(self) -> Account:
        return Account(dn=self.dn, sam_account_name=self.sam, user_account_control=self.uac,
                       allowed_to_delegate_to=tuple(self.delegate_to), service_principal_names=tuple(self.spns),
                       dns_host_name=self.dns_host_name)


ATTRIBUTES = {"msDS-AllowedToDelegateTo": "delegate_to", "servicePrincipalName": "spns"}


class LabDirectory:
    """Implements runbook.ports.DirectoryPort in memory. `on_write` persists the lab after every change."""

    def __init__(self, domain: str, accounts: list[LabAccount], *, clock_offset: float = 0.0,
                 latency_ms: float = 0.0, fail_after_writes: dict[str, int] | None = None, on_write: Any = None):
        self.domain = domain
        self.accounts = {a.sam.lower(): a for a in accounts}
        self.clock_offset = clock_offset
        self.latency_ms = latency_ms
        self.fail_after_writes = dict(fail_after_writes or {})  # sam → modify operations allowed before a failure
        self.on_write = on_write or (lambda: None)
        self.closed = False

    # -- construction helpers ---------------------------------------------------------------------------------
    @property
    def base_dn(self) -> str:
        return ",".join(f"DC={part}" for part in self.domain.split("."))

    def add_computer(self, computer: str, fqdn: str) -> LabAccount:
        short = computer.upper()
        account = LabAccount(sam=f"{short}$", dn=f"CN={short},CN=Computers,{self.base_dn}", uac=4096,
                             spns=[f"HOST/{fqdn}", f"HOST/{short}", f"RestrictedKrbHost/{fqdn}",
                                   f"RestrictedKrbHost/{short}"], dns_host_name=fqdn)
        self.accounts[account.sam.lower()] = account
        return account

    def add_user(self, sam: str, spns: list[str] | None = None) -> LabAccount:
        account = LabAccount(sam=sam, dn=f"CN={sam},CN=Users,{self.base_dn}", uac=512, spns=list(spns or []))
        self.accounts[sam.lower()] = account
        return account

    def to_dict(self) -> dict[str, Any]:
        return {"domain": self.domain, "clock_offset": self.clock_offset,
                "accounts": [vars(a).copy() for a in self.accounts.values()]}

    @classmethod
    def from_dict(cls, data: dict[str, Any], **knobs: Any) -> LabDirectory:
        return cls(data["domain"], [LabAccount(**a) for a in data.get("accounts", [])],
                   clock_offset=float(data.get("clock_offset", 0)), **knobs)

    # -- DirectoryPort ------------------------------------------------------------------------------------------
    def _wait(self) -> None:
        if self.closed:
            raise DirectoryError("lab DC connection is closed")
        if self.latency_ms:
            time.sleep(self.latency_ms / 1000)

    def _by_dn(self, dn: str) -> LabAccount:
        for account in self.accounts.values():
            if account.dn.lower() == dn.lower():
                return account
        raise DirectoryError(f"noSuchObject: {dn} does not exist in {self.domain}")

    def _count_write(self, account: LabAccount) -> None:
        remaining = self.fail_after_writes.get(account.sam.lower())
        if remaining is None:
            return
        if remaining <= 0:
            del self.fail_after_writes[account.sam.lower()]
            self.on_write()
            raise DirectoryError(f"lab: injected failure: dc lost the connection while writing {account.sam} "
                                 "(timeout after 15 s)")
        self.fail_after_writes[account.sam.lower()] = remaining - 1

    def find_account(self, name: str, *, timeout: float = DEFAULT_TIMEOUT) -> Account | None:
        self._wait()
        account = self.accounts.get(name.lower()) or self.accounts.get(name.lower() + "$")
        return account.view() if account else None

    def similar_accounts(self, name: str, *, timeout: float = DEFAULT_TIMEOUT) -> list[str]:
        self._wait()
        names = [a.sam for a in self.accounts.values()]
        return difflib.get_close_matches(name.upper().rstrip("$") + "$", names, n=3, cutoff=0.6) or \
            difflib.get_close_matches(name.upper(), names, n=3, cutoff=0.6)

    def spn_owners(self, spn: str, *, timeout: float = DEFAULT_TIMEOUT) -> list[str]:
        self._wait()
        wanted = spn.lower()  # exact match: `http/*` is a value here, never a pattern
        return [a.sam for a in self.accounts.values() if wanted in {s.lower() for s in a.spns}]

    def add_values(self, dn: str, attribute: str, values: list[str], *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._wait()
        account = self._by_dn(dn)
        current = getattr(account, ATTRIBUTES[attribute])
        present = {v.lower() for v in current}
        for value in values:
            if value.lower() in present:
                raise DirectoryError(f"attributeOrValueExists: {account.sam} {attribute} already holds {value}")
            if attribute == "servicePrincipalName":
                owners = [o for o in self.spn_owners(value) if o.lower() != account.sam.lower()]
                if owners:
                    raise DirectoryError(f"constraintViolation: adding SPN {value} to {account.sam} would cause a "
                                         "conflict (duplicate SPN in the forest)")
        self._count_write(account)
        current.extend(values)
        self.on_write()

    def remove_values(self, dn: str, attribute: str, values: list[str], *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._wait()
        account = self._by_dn(dn)
        current = getattr(account, ATTRIBUTES[attribute])
        for value in values:
            match = next((v for v in current if v.lower() == value.lower()), None)
            if match is None:
                raise DirectoryError(f"noSuchAttribute: {account.sam} {attribute} does not hold {value}")
        self._count_write(account)
        gone = {v.lower() for v in values}
        current[:] = [v for v in current if v.lower() not in gone]
        self.on_write()

    def replace_uac(self, dn: str, expected: int, new: int, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._wait()
        account = self._by_dn(dn)
        if account.uac != expected:
            raise DriftError(f"{account.sam} userAccountControl is {hex(account.uac)}, expected {hex(expected)}: "
                             "someone changed it since it was read")
        self._count_write(account)
        account.uac = new
        self.on_write()

    def current_time(self, *, timeout: float = DEFAULT_TIMEOUT) -> dt.datetime:
        self._wait()
        return (dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=self.clock_offset)).replace(microsecond=0)

    def close(self) -> None:
        self.closed = True

"""The two doors to the outside world that steps use: the directory and Windows hosts.

Steps are written against these protocols only. The real implementations are
`runbook.directory.ldap.LdapDirectory` (ldap3) and `runbook.hosts.shell.WinRMShell`
(pypsrp); the rehearsal lab implements the same protocols in memory. Every call
takes a timeout because an operator in a change window must never stare at a
frozen screen.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Protocol

DEFAULT_TIMEOUT = 30.0

# userAccountControl bits the delegation steps touch.
UAC_TRUSTED_FOR_DELEGATION = 0x80000
UAC_TRUSTED_TO_AUTH_FOR_DELEGATION = 0x1000000


@dataclass(frozen=True)
class Account:
    """What the steps need to know about one AD account (computer or user)."""

    dn: str
    sam_account_name: str  # with the trailing $ for computers
    user_account_control: int
    allowed_to_delegate_to: tuple[str, ...] = ()
    service_principal_names: tuple[str, ...] = ()
    dns_host_name: str | None = None


class DirectoryPort(Protocol):
    """Active Directory, as the delegation (3a/3b) and SPN (4a/4b) steps see it.

    Errors are raised as `runbook.errors.DirectoryError` subclasses with an
    operator-readable message; never a raw ldap3 exception.
    """

    def find_account(self, name: str, *, timeout: float = DEFAULT_TIMEOUT) -> Account | None:
        """Look an account up by sAMAccountName; `name` may omit the trailing `$`."""
        ...

    def similar_accounts(self, name: str, *, timeout: float = DEFAULT_TIMEOUT) -> list[str]:
        """sAMAccountNames close to `name`, for a 'did you mean' hint."""
        ...

    def spn_owners(self, spn: str, *, timeout: float = DEFAULT_TIMEOUT) -> list[str]:
        """sAMAccountNames of every account in the forest holding `spn` (exact match, escaped)."""
        ...

    def add_values(self, dn: str, attribute: str, values: list[str], *, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Add values to a multi-valued attribute without touching the others."""
        ...

    def remove_values(self, dn: str, attribute: str, values: list[str], *, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Remove exactly these values from a multi-valued attribute."""
        ...

    def replace_uac(self, dn: str, expected: int, new: int, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Set userAccountControl to `new` only if it still equals `expected` (else DriftError)."""
        ...

    def current_time(self, *, timeout: float = DEFAULT_TIMEOUT) -> dt.datetime:
        """The DC's clock (rootDSE currentTime), timezone-aware UTC."""
        ...

    def can_write(self, dn: str, attributes: list[str], *, timeout: float = DEFAULT_TIMEOUT) -> dict[str, bool]:
        """Whether the bind account may write each attribute on `dn` (AD: allowedAttributesEffective).

        A pre-flight answer: a write can still be refused (delegation attributes also need
        SeEnableDelegationPrivilege, which the list does not show). NoSuchObject when `dn` is gone.
        """
        ...

    def close(self) -> None: ...


@dataclass
class HostReply:
    """What one PowerShell function call returned."""

    output: list[Any] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def first(self) -> Any:
        return self.output[0] if self.output else None


class HostShell(Protocol):
    """PowerShell on one Windows host, called one named function at a time.

    `function` is a function shipped in `runbook/hosts/ps/*.ps1` (or, on the Exchange
    endpoint, an Exchange cmdlet). `parameters` travel as PSRP parameters; no
    value is ever formatted into script text. Non-terminating errors count as
    failures: implementations raise `runbook.errors.HostError` when `errors` is
    not empty.
    """

    host: str

    def invoke(
        self,
        function: str,
        parameters: dict[str, Any] | None = None,
        *,
        endpoint: str = "default",
        timeout: float = DEFAULT_TIMEOUT,
    ) -> HostReply: ...

    def close(self) -> None: ...


class HostsPort(Protocol):
    """Hands out one reused `HostShell` per host name."""

    def shell(self, host: str) -> HostShell: ...

    def close(self) -> None: ...

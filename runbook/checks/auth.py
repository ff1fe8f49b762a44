"""Who the tool will act as on the DC and on each host, and whether each endpoint accepts it.

`identities` reads only the params, the environment and the ticket cache (no network), so `status`
can show a ticket that is about to expire; `check_auth` also opens each port once to prove it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from runbook.directory.kerberos import KerberosError, Ticket, current_ticket, realm_of
from runbook.errors import RunbookError

if TYPE_CHECKING:  # annotations only: `status` imports this module and need not load the step context
    from runbook.flow.context import Ports
    from runbook.inputs.params import Params

LDAP_PASSWORD_ENV = "RUNBOOK_LDAP_PASSWORD"  # the same names as runbook.backends (which imports the clients)
WINRM_PASSWORD_ENV = "RUNBOOK_WINRM_PASSWORD"


@dataclass
class Identity:
    """Who the tool acts as at one endpoint, where that comes from, and whether it was accepted."""

    where: str  # "directory dc1.test.lan" / "host tmg01.test.lan"
    acts_as: str  # principal or user name
    source: str  # "Kerberos ticket, valid until …" / "password from RUNBOOK_LDAP_PASSWORD" / problem
    ok: bool
    accepted: str = "not tried"

    def line(self) -> str:
        mark = "ok" if self.ok else "PROBLEM"
        return f"[{mark}] {self.where}: as {self.acts_as} ({self.source}); endpoint: {self.accepted}"


def _password_source(env: str) -> str:
    return f"password from {env}" if os.environ.get(env) else "password asked on the terminal (no-echo)"


def _ticket(params: Params, purpose: str) -> tuple[Ticket | None, str]:
    try:
        ticket = current_ticket(realm=realm_of(params.domain), purpose=purpose)
    except KerberosError as exc:
        return None, str(exc)
    return ticket, f"Kerberos ticket valid until {ticket.expires:%Y-%m-%d %H:%M} UTC"


def identities(params: Params) -> list[Identity]:
    """The DC's and every host's identity, from params, environment and ticket cache only."""
    found: list[Identity] = []
    directory = params.directory
    if directory.bind_user:
        found.append(Identity(f"directory {directory.server}", directory.bind_user,
                              _password_source(LDAP_PASSWORD_ENV), True))
    else:
        ticket, source = _ticket(params, f"the bind to {directory.server}")
        found.append(Identity(f"directory {directory.server}", ticket.principal if ticket else "(no ticket)",
                              source, ticket is not None))
    winrm = params.winrm
    hosts = list(dict.fromkeys(server.host for server in params.all_servers()))
    if winrm.user:
        found += [Identity(f"host {host}", winrm.user, f"{_password_source(WINRM_PASSWORD_ENV)}, auth {winrm.auth}",
                           True) for host in hosts]
    else:
        ticket, source = _ticket(params, f"WinRM (auth {winrm.auth})")
        found += [Identity(f"host {host}", ticket.principal if ticket else "(no ticket)",
                           f"{source}, auth {winrm.auth}, SPN HTTP/{host}", ticket is not None) for host in hosts]
    return found


def ticket_warning(params: Params) -> str | None:
    """A warning when a path uses Kerberos and the ticket ends within the hour (or is missing)."""
    uses_kerberos = params.directory.bind_user is None or params.winrm.user is None
    if not uses_kerberos:
        return None
    try:
        ticket = current_ticket(realm=realm_of(params.domain), purpose="this change")
    except KerberosError as exc:
        return str(exc)
    if ticket.expires_soon():
        minutes = max(0, int(ticket.remaining().total_seconds() // 60))
        return (f"the Kerberos ticket of {ticket.principal} expires in {minutes} min "
                f"({ticket.expires:%H:%M} UTC): run kinit {ticket.principal} before the window")
    return None


def check_auth(params: Params, ports: Ports) -> tuple[bool, list[str]]:
    """(all accepted?, one line per endpoint): opens the directory and calls each host once."""
    found = identities(params)
    for identity in found:
        if not identity.ok:
            identity.accepted = "not tried"
            continue
        try:
            if identity.where.startswith("directory"):
                ports.directory.current_time(timeout=15)
            else:
                ports.hosts.shell(identity.where.split(" ", 1)[1]).invoke("Get-CertAuthClock", timeout=15)
            identity.accepted = "accepted"
        except RunbookError as exc:
            identity.ok, identity.accepted = False, f"refused: {exc}"
    lines = [identity.line() for identity in found]
    warning = ticket_warning(params)
    if warning:
        lines.append(f"warning: {warning}")
    return all(identity.ok for identity in found), lines

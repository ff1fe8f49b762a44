"""Composition: which directory and which hosts a session talks to (the rehearsal lab, or the real ones).

The clients are imported only when a step first needs them, so `runbook status`
stays fast and a lab session never loads ldap3 or pypsrp.
"""
from __future__ import annotations

import getpass
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from runbook.errors import BadInput
from runbook.flow.context import Ports
from runbook.inputs.params import Params
from runbook.record.session import Session

if TYPE_CHECKING:
    from runbook.flow.catalogue import StepSpec
    from runbook.flow.engine import PortsFactory
    from runbook.flow.ports import DirectoryPort, HostsPort

LDAP_PASSWORD_ENV = "RUNBOOK_LDAP_PASSWORD"
WINRM_PASSWORD_ENV = "RUNBOOK_WINRM_PASSWORD"


@dataclass
class Options:
    insecure: bool = False
    interactive: bool = True  # may we prompt for a password on the terminal?
    # A UI's own no-echo prompt ("LDAP bind password for X" -> the password, or None when the operator cancels).
    # Used instead of the terminal prompt, which a full-screen UI owns; the environment still comes first.
    prompt: Callable[[str], str | None] | None = None


def password(env: str, who: str | None, what: str, options: Options) -> str | None:
    """From the environment or a no-echo prompt; never from an argument, never stored."""
    if who is None:
        return None  # Kerberos from the operator's ticket cache
    value = os.environ.get(env)
    if value:
        return value
    if options.prompt is not None:
        given = options.prompt(f"{what} password for {who}")
        if given:
            return given
        raise BadInput(f"{env}: no password given for {who} ({what}); nothing was done")
    if options.interactive and sys.stdin.isatty():
        return getpass.getpass(f"{what} password for {who}: ")
    raise BadInput(f"{env}: no password for {who} ({what}); set {env} or run from a terminal to be prompted")


def ports_factory(options: Options) -> PortsFactory:
    def factory(path: Path, session: Session, params: Params) -> Ports:
        if session.lab:
            from runbook.lab.lab import lab_ports_factory

            return lab_ports_factory(path, session, params)
        return real_ports(params, options)
    return factory


def real_ports(params: Params, options: Options) -> Ports:
    def open_directory() -> DirectoryPort:
        from runbook.directory.ldap import LdapDirectory

        secret = password(LDAP_PASSWORD_ENV, params.directory.bind_user, "LDAP bind", options)
        return LdapDirectory.connect(params.directory, secret, insecure=options.insecure)

    def open_hosts() -> HostsPort:
        from runbook.hosts.shell import ExchangeEndpoint, WinRMHosts

        ticket = None
        if params.winrm.user is None and params.winrm.auth in ("kerberos", "negotiate"):
            from runbook.directory.kerberos import current_ticket, realm_of

            ticket = current_ticket(realm=realm_of(params.domain),
                                    purpose=f"winrm.user is not set, so WinRM (auth {params.winrm.auth})")
        secret = password(WINRM_PASSWORD_ENV, params.winrm.user, "WinRM", options)
        hosts = WinRMHosts(params.winrm, secret, insecure=options.insecure,
                           exchange=ExchangeEndpoint(port=params.winrm.exchange_port))
        if ticket is not None:
            hosts.acting_as = ticket.principal
        return hosts

    return Ports(open_directory=open_directory, open_hosts=open_hosts)


def rehearsal_scenarios() -> list[tuple[str, str]]:
    """The built-in lab's scenarios and their descriptions on one line each, for a UI's picker."""
    from runbook.lab import lab

    return [(name, " ".join(str(lab.scenario(name).get("description", "")).split())) for name in lab.SCENARIOS]


def prepare_rehearsal(scenario: str, catalogue: list[StepSpec]) -> Path:
    """A new rehearsal session of one built-in scenario (the start screen's d)."""
    from runbook.lab import lab

    return lab.prepare_demo(scenario, catalogue, init=None, resume=False, latency_ms=0.0, fail=None, seed=None)

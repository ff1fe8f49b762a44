"""The authentication chain a change builds, and the three invariants that make it one that lets devices in.

TMG web publishing terminates TLS and cannot forward a device's certificate, so the
certificate is checked at exactly one hop and every hop that receives a delegated ticket
must accept Kerberos (DOMAIN.md, first section). Steps declare what they make true
(`Effect`s); this module checks that what the applicable steps make true is coherent,
before any session is written.
"""
from __future__ import annotations

from dataclasses import dataclass

from runbook.flow.topology import ROLE_NAMES, short_name
from runbook.inputs.params import Params

REQUIRES_CERT = "requires-cert"  # this server asks for and validates the client certificate
ACCEPTS_KERBEROS = "accepts-kerberos"  # this server takes a delegated Kerberos ticket as the user
DELEGATES = "delegates"  # this account may delegate (protocol transition) to `spns`
ACTS_AS_OS = "acts-as-os"  # this server's identity gets the TCB/impersonate rights (5a/5b)


@dataclass(frozen=True)
class Effect:
    """One thing a step makes true on one hop (REQUIRES_CERT, ACCEPTS_KERBEROS, DELEGATES, ACTS_AS_OS)."""

    kind: str
    role: str  # the hop: tmg | seg | eas
    host: str  # the server's FQDN
    spns: tuple[str, ...] = ()
    step: str = ""  # the instance key that makes it so (filled in by `collect`)


def servers_named_by(params: Params, spn: str) -> list[str]:
    """The FQDNs an http SPN reaches: one server by its name, or every server behind an alias."""
    name = spn.split("/", 1)[-1].lower()
    found = []
    for role in ("tmg", "seg", "eas"):
        for server in params.servers(role):
            if name in (server.host.lower(), short_name(server.host).lower()):
                found.append(server.host)
        alias = params.internal_names.get(role)
        if alias and name in (alias.lower(), short_name(alias).lower()):
            found.extend(server.host for server in params.servers(role))
    return found


def problems(params: Params, effects: list[Effect]) -> list[str]:
    """Why the chain the steps would build does not let a device in; [] when it is coherent."""
    found: list[str] = []
    validators = sorted({e.role for e in effects if e.kind == REQUIRES_CERT}, key=list(ROLE_NAMES).index)
    if len(validators) != 1:
        where = ", ".join(ROLE_NAMES[r] for r in validators) or "no hop"
        found.append(f"cert_validation: exactly one hop must check the client certificate, but {where} would "
                     f"(topology {params.topology}, cert_validation {params.cert_validation})")
    kerberos = {e.host.lower() for e in effects if e.kind == ACCEPTS_KERBEROS}
    authenticates = kerberos | {e.host.lower() for e in effects if e.kind == REQUIRES_CERT}
    for effect in effects:
        if effect.kind == DELEGATES:
            for spn in effect.spns:
                hosts = servers_named_by(params, spn)
                if not hosts:
                    found.append(f"{effect.step}: delegates to {spn}, which names no server of this change")
                for host in hosts:
                    if host.lower() not in kerberos:
                        found.append(f"{effect.step}: delegates to {spn}, but no step makes {host} accept Kerberos "
                                     "(every delegated request would get 401)")
        if effect.kind in (DELEGATES, ACTS_AS_OS) and effect.host.lower() not in authenticates:
            what = "delegates" if effect.kind == DELEGATES else "gets the protocol-transition rights"
            found.append(f"{effect.step}: {effect.host} {what}, but it never authenticates the user (it neither "
                         "checks the certificate nor receives Kerberos): a right or delegation the chain does not use")
    return found


def chain_line(params: Params) -> str:
    """device → TMG [checks the certificate; KCD] → SEG (accepts Kerberos; KCD) → EAS (accepts Kerberos)."""
    hops = ["tmg", "seg", "eas"] if params.has_seg else ["tmg", "eas"]
    parts = ["device"]
    for index, role in enumerate(hops):
        delegates = index + 1 < len(hops) and (role != "tmg" or params.cert_validation == "tmg")
        if role == params.cert_validation:
            what = "[checks the certificate" + ("; KCD]" if delegates else "]")
        elif role == "tmg":
            what = "(server publishing: TLS passes through)"
        else:
            what = "(accepts Kerberos" + ("; KCD)" if delegates else ")")
        parts.append(f"{ROLE_NAMES[role]} {what}")
    return " → ".join(parts)


def validator_summary(params: Params) -> str:
    """Where the certificate is checked, in one sentence for the change record."""
    role = params.cert_validation
    names = ", ".join(server.computer for server in params.servers(role))
    if role == "tmg":
        return (f"the client certificate is checked on the TMG listener ({names}); the next hops receive the user "
                "as a Kerberos ticket through constrained delegation and accept Kerberos, never a certificate")
    rest = " and delegates to EAS, which accepts Kerberos" if role == "seg" else ""
    return (f"TMG passes TLS through (server publishing); the client certificate is checked on the "
            f"{ROLE_NAMES[role]} ({names}){rest}")

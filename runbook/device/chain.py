"""The authentication chain as the device proof reads it: which hop checks the certificate, which hops delegate.

One reading of DOMAIN.md's first section, by `cert_validation`: the hop that validates the certificate is also the
one that terminates the device's TLS (TMG's listener with `tmg`; with `eas`/`seg` TMG passes TLS through), and
every KCD link names the steps that make it work.
"""
from __future__ import annotations

from dataclasses import dataclass

from runbook.flow.topology import ROLE_NAMES
from runbook.inputs.params import Params


@dataclass(frozen=True)
class ValidatingHop:
    role: str
    servers: tuple[str, ...]
    what: str  # how an operator names it
    step: str  # the step that makes it ask for (and check) the certificate


@dataclass(frozen=True)
class KcdLink:
    """`source` delegates the user to `target` with Kerberos constrained delegation."""

    source: str
    target: str
    delegation_step: str  # msDS-AllowedToDelegateTo + protocol transition on the source's account
    spn_step: str  # the target's http/ SPNs
    rights_step: str  # TCB/impersonate on the source
    kerberos_step: str  # the target accepts Kerberos (Windows authentication, Negotiate)

    @property
    def steps(self) -> tuple[str, ...]:
        return (self.delegation_step, self.spn_step, self.rights_step, self.kerberos_step)

    def describe(self, params: Params) -> str:
        return f"{_names(params, self.source)} → {_names(params, self.target)}"

    @property
    def check_role(self) -> str:
        return self.source


def _names(params: Params, role: str) -> str:
    return f"{ROLE_NAMES[role]} ({', '.join(s.computer for s in params.servers(role))})"


def validating_hop(params: Params) -> ValidatingHop:
    role = params.cert_validation
    servers = tuple(s.computer for s in params.servers(role))
    if role == "tmg":
        return ValidatingHop(role, servers, f"the TMG listener “{params.listener}” on {', '.join(servers)}", "1")
    return ValidatingHop(role, servers, f"IIS on the {_names(params, role)}, ActiveSync site “{params.iis_site}”",
                         "6a" if role == "eas" else "6b")


def kcd_links(params: Params) -> list[KcdLink]:
    """Every delegation hop of the chain, device side first."""
    seg_to_eas = KcdLink("seg", "eas", "3b", "4a", "5b", "6a")
    if params.cert_validation == "tmg":
        if params.has_seg:
            return [KcdLink("tmg", "seg", "3a", "4b", "5a", "6b"), seg_to_eas]
        return [KcdLink("tmg", "eas", "3a", "4a", "5a", "6a")]
    if params.cert_validation == "seg":
        return [seg_to_eas]
    return []  # eas: Exchange maps the certificate itself, nobody delegates


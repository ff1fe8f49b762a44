"""Which steps a chain uses (DOMAIN.md, first section): one rule per question, shared by the steps."""
from __future__ import annotations

from typing import TYPE_CHECKING

from runbook.flow import topology as topo

if TYPE_CHECKING:
    from runbook.inputs.params import Params

NO_SEG = "there is no SEG in a TMG → EAS topology"


def needs_seg(params: Params) -> str | None:
    """None when the topology has a SEG, else why a SEG step does not apply."""
    return None if params.has_seg else NO_SEG


def validates(params: Params, role: str) -> bool:
    """Whether `role` is the one hop that checks the client certificate."""
    return params.cert_validation == role


def passes_through(params: Params) -> str:
    hop = topo.ROLE_NAMES[topo.next_hop_role(params, "tmg")]
    return (f"cert_validation is {params.cert_validation}: TMG passes TLS through to the {hop} with a server "
            f"publishing rule and the {hop} checks the certificate, so TMG never authenticates the user")


def tmg_authenticates(params: Params) -> str | None:
    """Listener (1), TMG's delegation (3a) and rights (5a): only when TMG checks the certificate."""
    if validates(params, "tmg"):
        return None
    return passes_through(params) + ": no web listener, no delegation, no rights on TMG"


def kerberos_reaches_seg(params: Params) -> str | None:
    """The SEG's SPNs (4b): only when TMG delegates to the SEG."""
    if not params.has_seg:
        return NO_SEG
    if validates(params, "seg"):
        return passes_through(params) + ": no Kerberos ticket is ever asked for the SEG, so it needs no http SPN"
    return None


def kerberos_reaches_eas(params: Params) -> str | None:
    """The EAS SPNs (4a): whenever TMG or the SEG delegates to EAS."""
    if validates(params, "eas"):
        return ("cert_validation is eas: Exchange checks and maps the certificate itself, nothing delegates to "
                "it, so no Kerberos ticket is asked for EAS")
    return None


def adding_seg(params: Params) -> str | None:
    if params.topology != "add-seg":
        return "only when a SEG is added to an existing TMG → EAS setup (topology add-seg)"
    return None

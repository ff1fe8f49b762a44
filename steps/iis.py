"""Steps 6a and 6b: how the EAS (6a) and the SEG (6b) authenticate the user — by the chain, one of two things.

The one hop that checks the client certificate gets the guide's IIS certificate configuration
(steps/iis_certificate.py); every hop that receives a delegated ticket accepts Kerberos
(steps/iis_kerberos.py). Never both on one server (DOMAIN.md, first section).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from runbook.flow import chain
from runbook.flow.catalogue import ManualItem, StepSpec, Target
from steps import iis_certificate, iis_kerberos
from steps.applicability import needs_seg, validates
from steps.targets import each_server

if TYPE_CHECKING:
    from runbook.flow.changes import Change, Plan, Verification
    from runbook.flow.context import StepContext
    from runbook.inputs.params import Params


class ByChain:
    """The automation of 6a/6b: certificate checking on the validating hop, Kerberos acceptance elsewhere."""

    def __init__(self, role: str, *, exchange: bool) -> None:
        self.role = role  # the hop: "eas" (6a) or "seg" (6b)
        self._certificate = iis_certificate.CertificateAuth(exchange=exchange)
        self._kerberos = iis_kerberos.KerberosAcceptance(exchange=exchange)

    def _pick(self, ctx: StepContext) -> iis_certificate.CertificateAuth | iis_kerberos.KerberosAcceptance:
        return self._certificate if validates(ctx.params, self.role) else self._kerberos

    def plan(self, ctx: StepContext) -> Plan:
        return self._pick(ctx).plan(ctx)

    def apply(self, ctx: StepContext, plan: Plan) -> None:
        self._pick(ctx).apply(ctx, plan)

    def state_reads(self, ctx: StepContext) -> dict[str, Any]:
        return self._pick(ctx).state_reads(ctx)

    def verify(self, ctx: StepContext) -> Verification:
        return self._pick(ctx).verify(ctx)

    def undo_problems(self, ctx: StepContext, changes: list[Change]) -> list[str]:
        return self._pick(ctx).undo_problems(ctx, changes)

    def undo(self, ctx: StepContext, changes: list[Change]) -> None:
        self._pick(ctx).undo(ctx, changes)


def _manual(params: Params, target: Target) -> list[ManualItem]:
    role = "eas" if target.server in params.eas else "seg"
    return iis_certificate.manual(params, target) if validates(params, role) else iis_kerberos.manual(params, target)


def _effects(role: str) -> Callable[[Params, Target], list[chain.Effect]]:
    def effects(params: Params, target: Target) -> list[chain.Effect]:
        assert target.server is not None
        kind = chain.REQUIRES_CERT if validates(params, role) else chain.ACCEPTS_KERBEROS
        return [chain.Effect(kind, role, target.server.host)]
    return effects


def _title(role: str) -> Callable[[Params], str]:
    name = role.upper()

    def title(params: Params) -> str:
        if validates(params, role):
            return f"{name}: check the client certificate (IIS" + (" + Exchange)" if role == "eas" else ")")
        return f"{name}: accept Kerberos from " + ("the SEG" if role == "eas" and params.has_seg else "TMG")
    return title


def _why(role: str) -> Callable[[Params], str]:
    def why(params: Params) -> str:
        if validates(params, role):
            return ("This is the one hop that checks the device's certificate: IIS asks for it, maps it to the AD "
                    "user, and needs a larger upload read-ahead for the renegotiation.")
        return ("This hop receives the user as a Kerberos ticket (constrained delegation) and must accept it — "
                "Windows authentication with Negotiate — or every delegated request gets 401.")
    return why



def _detail(params: Params, role: str) -> str:
    if validates(params, role):
        return chain.validator_summary(params)
    return ("Windows authentication (Negotiate) on the ActiveSync vdir; the guide's client-certificate settings "
            "(SslRequireCert, certificate mapping, -ClientCertAuth Required) do not apply to this hop: the "
            "certificate was already checked")


EAS_IIS = StepSpec(
    id="6a",
    title=_title("eas"), why=_why("eas"),
    track="a", role="eas", modes=("execute", "verify", "manual"), per_server=True,
    manual=_manual, targets=each_server("eas"), automation=ByChain("eas", exchange=True),
    detail=lambda params: [_detail(params, "eas")], effects=_effects("eas"),
)

SEG_IIS = StepSpec(
    id="6b",
    title=_title("seg"), why=_why("seg"),
    track="b", role="seg", modes=("execute", "verify", "manual"), per_server=True,
    manual=_manual, targets=each_server("seg"), applies=needs_seg, automation=ByChain("seg", exchange=False),
    detail=lambda params: [_detail(params, "seg")] if params.has_seg else [], effects=_effects("seg"),
)

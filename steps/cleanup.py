"""Step 7 (adding a SEG only): once TMG publishes to the SEG, remove TMG's now-unused delegation to EAS.

Left in place it is a standing right the chain no longer uses (TMG could still obtain tickets to
Exchange as any user). Only the EAS values go; other services TMG delegates to stay. Recorded,
undoable, and part of the back-out plan like every other change.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from runbook.flow import topology as topo
from runbook.flow.catalogue import ManualItem, StepSpec, Target
from runbook.flow.changes import Plan, Verification
from steps import directory_changes as dc
from steps.applicability import adding_seg
from steps.targets import each_server

if TYPE_CHECKING:
    from runbook.flow.context import StepContext
    from runbook.inputs.params import Params

ATTRIBUTE = "msDS-AllowedToDelegateTo"


def old_targets(params: Params) -> list[str]:
    """What TMG delegated to before the SEG: each EAS server's http SPNs and the EAS alias."""
    spns: list[str] = []
    for server in params.eas:
        spns.extend(topo.server_http_spns(server))
    spns.extend(topo.alias_spns(params, "eas"))
    return spns


def _split(values: tuple[str, ...], params: Params) -> tuple[list[str], list[str]]:
    """(the old delegation to EAS, everything else the account delegates to)."""
    old = {spn.lower() for spn in old_targets(params)}
    return [v for v in values if v.lower() in old], [v for v in values if v.lower() not in old]


def _sam(ctx: StepContext) -> str:
    assert ctx.target.server is not None
    return ctx.target.server.sam


class RemoveOldDelegation(dc.DirectoryUndo):
    def plan(self, ctx: StepContext) -> Plan:
        from runbook.flow.ports import UAC_TRUSTED_TO_AUTH_FOR_DELEGATION  # here: reading the catalogue needs no ports

        account = dc.account_or_fail(ctx, _sam(ctx))
        gone, rest = _split(account.allowed_to_delegate_to, ctx.params)
        plan = Plan()
        if gone:
            plan.changes.append(dc.remove_values_change(account, ATTRIBUTE, account.allowed_to_delegate_to, gone))
        if rest:
            plan.notes.append(f"kept (other services): {', '.join(rest)}")
        uac = account.user_account_control
        if not rest and ctx.params.cert_validation != "tmg" and uac & UAC_TRUSTED_TO_AUTH_FOR_DELEGATION:
            # TMG no longer authenticates anyone (TLS passes through): protocol transition goes too.
            plan.changes.append(dc.uac_change(account, uac & ~UAC_TRUSTED_TO_AUTH_FOR_DELEGATION))
        dc.require_write(ctx, account, [change.attribute for change in plan.changes])
        return plan

    def verify(self, ctx: StepContext) -> Verification:
        account = dc.account_or_fail(ctx, _sam(ctx))
        still, _ = _split(account.allowed_to_delegate_to, ctx.params)
        result = Verification()
        result.expect(f"{account.sam_account_name} no longer delegates to EAS", [], still)
        return result


def _manual(params: Params, target: Target) -> list[ManualItem]:
    assert target.server is not None
    computer = target.server.computer
    spns = old_targets(params)
    return [
        ManualItem("Only after step 2: TMG's rule publishes to the SEG now, so its delegation to EAS is unused."),
        ManualItem(f"Active Directory Users and Computers → {computer} → Properties → Delegation: remove the http "
                   f"entries of {', '.join(s.computer for s in params.eas)} (leave every other service) → OK."),
        ManualItem("Equivalent in PowerShell (ActiveDirectory module):",
                   command=f"Set-ADComputer -Identity '{computer}' -Remove @{{'msDS-AllowedToDelegateTo'=@("
                           + ",".join(f"'{spn}'" for spn in spns) + ")}"),
    ]


CLEANUP = StepSpec(
    id="7",
    title="AD: remove TMG's old delegation to EAS",
    why="After the cutover TMG delegates to the SEG only; its old right to present any user to Exchange is unused "
        "and should not stay behind.",
    track="cleanup", role="ad", modes=("execute", "verify", "manual"), per_server=True, label_single=False,
    manual=_manual, targets=each_server("tmg"), applies=adding_seg, depends_on=lambda params: ["2", "3a"],
    automation=RemoveOldDelegation(),
    detail=lambda params: [f"removes {', '.join(old_targets(params))} from TMG (other services stay)"],
)

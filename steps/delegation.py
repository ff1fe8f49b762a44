"""Steps 3a and 3b: trust the TMG (3a) and each SEG (3b) for constrained delegation to the next hop's http SPNs."""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from runbook.flow import chain
from runbook.flow import topology as topo
from runbook.flow.catalogue import ManualItem, StepSpec, Target
from runbook.flow.changes import Plan, Verification
from steps import directory_changes as dc
from steps import identity
from steps.applicability import needs_seg, tmg_authenticates
from steps.targets import each_server

if TYPE_CHECKING:
    from runbook.flow.context import StepContext
    from runbook.inputs.params import Params

ATTRIBUTE = "msDS-AllowedToDelegateTo"


def wanted_uac(current: int) -> int:
    """Protocol transition on ('any authentication protocol'), unconstrained delegation off."""
    # The ports' flags here and below, not at the top: reading the catalogue (`runbook status`) needs no ports.
    from runbook.flow.ports import UAC_TRUSTED_FOR_DELEGATION, UAC_TRUSTED_TO_AUTH_FOR_DELEGATION

    return (current | UAC_TRUSTED_TO_AUTH_FOR_DELEGATION) & ~UAC_TRUSTED_FOR_DELEGATION


class Delegation(dc.DirectoryUndo):
    def __init__(self, role: str) -> None:
        self.role = role  # whose delegation this step sets: "tmg" (3a) or "seg" (3b)

    def plan(self, ctx: StepContext) -> Plan:
        from runbook.flow.ports import UAC_TRUSTED_TO_AUTH_FOR_DELEGATION

        role = self.role
        plan = Plan()
        if role == "seg":
            plan.notes += identity.seg_runs_as_computer(ctx)
        account = dc.account_or_fail(ctx, ctx.target.server.sam if ctx.target.server else str(ctx.target.account))
        wanted = topo.delegation_targets(ctx.params, role)
        present = dc.lower_set(account.allowed_to_delegate_to)
        missing = [spn for spn in wanted if spn.lower() not in present]
        if missing:
            plan.changes.append(dc.add_values_change(account, ATTRIBUTE, account.allowed_to_delegate_to, missing))
        uac = wanted_uac(account.user_account_control)
        if uac != account.user_account_control:
            plan.changes.append(dc.uac_change(account, uac))
        others = [v for v in account.allowed_to_delegate_to if v.lower() not in {w.lower() for w in wanted}]
        if others:
            plan.notes.append(f"kept as they are (other services already delegated): {', '.join(others)}")
        turning_on = uac & UAC_TRUSTED_TO_AUTH_FOR_DELEGATION and not (
            account.user_account_control & UAC_TRUSTED_TO_AUTH_FOR_DELEGATION)
        if turning_on and others:
            plan.notes.append(f"WARNING: protocol transition is account-wide: {account.sam_account_name} will also "
                              f"be able to obtain tickets as any user for {', '.join(others)}, without that user's "
                              "credentials. Review those services before you apply.")
        dc.require_write(ctx, account, [change.attribute for change in plan.changes])
        return plan

    def verify(self, ctx: StepContext) -> Verification:
        from runbook.flow.ports import UAC_TRUSTED_FOR_DELEGATION, UAC_TRUSTED_TO_AUTH_FOR_DELEGATION

        role = self.role
        sam = ctx.target.server.sam if ctx.target.server else str(ctx.target.account)
        account = dc.account_or_fail(ctx, sam)
        present = dc.lower_set(account.allowed_to_delegate_to)
        result = Verification()
        for spn in topo.delegation_targets(ctx.params, role):
            result.expect(f"{sam} may delegate to {spn}", "present", "present" if spn.lower() in present else "absent")
        uac = account.user_account_control
        result.expect(f"{sam} uses any authentication protocol (TRUSTED_TO_AUTH_FOR_DELEGATION)", True,
                      bool(uac & UAC_TRUSTED_TO_AUTH_FOR_DELEGATION))
        result.expect(f"{sam} is not trusted for unconstrained delegation", False,
                      bool(uac & UAC_TRUSTED_FOR_DELEGATION))
        if any("*" in value for value in account.allowed_to_delegate_to):
            result.expect(f"{sam} holds no wildcard SPN in {ATTRIBUTE}", "none",
                          [v for v in account.allowed_to_delegate_to if "*" in v])
        return result


def _manual(params: Params, target: Target) -> list[ManualItem]:
    role = "tmg" if target.server in params.tmg_array else "seg"
    hop = topo.next_hop_role(params, role)
    spns = topo.delegation_targets(params, role)
    computer = target.server.computer if target.server else target.label
    hop_servers = ", ".join(s.computer for s in params.servers(hop))
    add_values = ",".join(f"'{spn}'" for spn in spns)
    items = [
        ManualItem(f"On a domain controller (or a host with RSAT), open Active Directory Users and Computers and "
                   f"find the computer {computer} (usually in Computers)."),
        ManualItem(f"Properties of {computer} → Delegation tab → “Trust this computer for delegation to specified "
                   "services only” → “Use any authentication protocol”."),
        ManualItem(f"Click Add → Users or Computers → enter {hop_servers} → OK; under Available services select "
                   "every “http” entry for each server → OK."),
    ]
    alias = params.internal_names.get(hop)
    if alias:
        holder = topo.alias_account(params, hop) or params.servers(hop)[0].computer
        items.append(ManualItem(f"Also add the alias: Add → Users or Computers → {holder} → select http "
                                f"{alias} (and http {topo.short_name(alias)}) → OK."))
    items += [
        ManualItem("The list must now hold: " + ", ".join(spns) + ". Leave entries for other services in place."),
        ManualItem("Click OK. Equivalent in PowerShell (ActiveDirectory module):",
                   command=(f"Set-ADAccountControl -Identity '{computer}$' -TrustedToAuthForDelegation $true; "
                            f"Set-ADComputer -Identity '{computer}' "
                            f"-Add @{{'msDS-AllowedToDelegateTo'=@({add_values})}}")),
        ManualItem("Check it:", command=f"Get-ADComputer {computer} -Properties msDS-AllowedToDelegateTo,"
                                         "TrustedToAuthForDelegation,TrustedForDelegation"),
    ]
    return items


def _why_3a(params: Params) -> list[str]:
    hop = topo.ROLE_NAMES[topo.next_hop_role(params, "tmg")]
    return [f"TMG → {hop}: {', '.join(topo.delegation_targets(params, 'tmg'))}"]


def _effects(role: str) -> Callable[[Params, Target], list[chain.Effect]]:
    def effects(params: Params, target: Target) -> list[chain.Effect]:
        assert target.server is not None
        return [chain.Effect(chain.DELEGATES, role, target.server.host,
                             tuple(topo.delegation_targets(params, role)))]
    return effects


def _depends_3a(params: Params) -> list[str]:
    # Adding a SEG: TMG's new delegation target is part of the cutover, after the SEG side is ready.
    from steps.tmg import SEG_SIDE

    return list(SEG_SIDE) if params.topology == "add-seg" else []


TMG_DELEGATION = StepSpec(
    id="3a",
    title="AD: trust TMG for constrained delegation",
    why="TMG turns the certificate into a Kerberos ticket for the user (protocol transition) and must be allowed "
        "to present it to the next hop's http service, and only there.",
    track="a", role="ad", modes=("execute", "verify", "manual"), per_server=True,
    manual=_manual, targets=each_server("tmg"), applies=tmg_authenticates, depends_on=_depends_3a,
    automation=Delegation("tmg"), detail=_why_3a, effects=_effects("tmg"), label_single=False,
)

SEG_DELEGATION = StepSpec(
    id="3b",
    title="AD: trust SEG for constrained delegation to EAS",
    why="The SEG authenticates to Exchange on the user's behalf with the same kind of delegation.",
    track="b", role="ad", modes=("execute", "verify", "manual"), per_server=True,
    manual=_manual, targets=each_server("seg"), applies=needs_seg, automation=Delegation("seg"),
    detail=lambda params: [f"SEG → EAS: {', '.join(topo.delegation_targets(params, 'seg'))}"] if params.has_seg else [],
    effects=_effects("seg"),
)

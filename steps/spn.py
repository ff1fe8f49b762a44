"""Steps 4a and 4b: the http SPNs the delegated tickets are issued for, on the account that runs each site.

Semantics of `setspn -S`, not the guide's `-A`: the whole forest is searched for
the same SPN first, because a duplicate makes Kerberos fail for every user and AD's
own refusal does not say who holds it.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from runbook.errors import RunbookError, StepFailed
from runbook.flow import topology as topo
from runbook.flow.catalogue import ManualItem, StepSpec, Target
from runbook.flow.changes import Plan, Verification
from steps import directory_changes as dc
from steps import identity
from steps.applicability import kerberos_reaches_eas, kerberos_reaches_seg
from steps.targets import each_server

if TYPE_CHECKING:
    from runbook.flow.context import StepContext
    from runbook.inputs.params import Params

ATTRIBUTE = "servicePrincipalName"


def wanted_spns(params: Params, role: str, target: Target) -> list[str]:
    """SPNs that must resolve to this target's account."""
    if target.account:  # the farm's shared service account holds the alias
        return topo.alias_spns(params, role)
    assert target.server is not None
    spns = topo.server_http_spns(target.server)
    if topo.alias_account(params, role) is None:
        spns += topo.alias_spns(params, role)
    return spns


def _covered(spn: str, present: set[str]) -> bool:
    """http/x is satisfied by http/x or by HOST/x (AD maps http to HOST for the computer itself)."""
    name = spn.split("/", 1)[1].lower()
    return spn.lower() in present or f"host/{name}" in present


def _sam(target: Target) -> str:
    return target.server.sam if target.server else str(target.account)


class ServicePrincipalNames(dc.DirectoryUndo):
    def __init__(self, role: str) -> None:
        self.role = role  # whose SPNs: "eas" (4a) or "seg" (4b)

    def plan(self, ctx: StepContext) -> Plan:
        role = self.role
        plan = Plan(notes=identity.seg_runs_as_computer(ctx) if role == "seg" else [])
        account = dc.account_or_fail(ctx, _sam(ctx.target))
        present = dc.lower_set(account.service_principal_names)
        missing = []
        for spn in wanted_spns(ctx.params, role, ctx.target):
            if "*" in spn:
                raise StepFailed(f"refusing wildcard SPN {spn}: it belongs only in the TMG rule, never in AD")
            owners = [o for o in ctx.directory.spn_owners(spn) if o.lower() != account.sam_account_name.lower()]
            if owners:
                raise StepFailed(
                    f"{spn} is already registered on {', '.join(owners)}; an SPN can live on only one account. "
                    f"Remove it there first (setspn -D {spn} {owners[0].rstrip('$')}) or correct the params "
                    f"(internal_names.{role} / service_accounts.{role}).")
            if _covered(spn, present):
                if spn.lower() not in present:
                    plan.notes.append(f"{spn} is covered by {account.sam_account_name}'s HOST/ SPN")
            else:
                missing.append(spn)
        if missing:
            plan.changes.append(dc.add_values_change(account, ATTRIBUTE, account.service_principal_names, missing))
        dc.require_write(ctx, account, [change.attribute for change in plan.changes])
        return plan

    def verify(self, ctx: StepContext) -> Verification:
        role = self.role
        sam = _sam(ctx.target)
        account = dc.account_or_fail(ctx, sam)
        present = dc.lower_set(account.service_principal_names)
        result = Verification()
        for spn in wanted_spns(ctx.params, role, ctx.target):
            result.expect(f"{spn} resolves to {sam}", "present", "present" if _covered(spn, present) else "absent")
            others = [o for o in ctx.directory.spn_owners(spn) if o.lower() != account.sam_account_name.lower()]
            result.expect(f"{spn} is on no other account", [], others)
        if ctx.target.account and role == "eas":
            _check_alternate_service_account(ctx, result)
        return result


def _check_alternate_service_account(ctx: StepContext, result: Verification) -> None:
    """Read-only: every Exchange server of the farm decrypts the alias tickets with the ASA's key."""
    for server in ctx.params.eas:
        try:
            reply = ctx.hosts.shell(server.host).invoke(
                "Get-ClientAccessService", {"Identity": server.computer,
                                            "IncludeAlternateServiceAccountCredentialStatus": True},
                endpoint="exchange").first
        except RunbookError as exc:  # the SPN itself is verified; this read-only extra needs Exchange reachable
            result.notes.append(f"could not read {server.computer}'s alternate service account credential ({exc}); "
                                "check it with Get-ClientAccessService -IncludeAlternateServiceAccountCredentialStatus")
            continue
        config = reply.get("AlternateServiceAccountConfiguration") or {}
        # Each credential reads 'DOMAIN\\ACCOUNT$' (a computer-type ASA) or 'DOMAIN\\account', maybe with a date.
        held = config.get("EffectiveCredentials") or []
        held = [str(item) for item in (held if isinstance(held, list) else [held])]
        wanted = str(ctx.target.account).rstrip("$").lower()
        ok = any(item.split()[0].split("\\")[-1].rstrip("$").lower() == wanted for item in held if item.strip())
        result.expect(f"{server.computer} holds the alternate service account credential of {ctx.target.account}",
                      ctx.target.account, ", ".join(held) or "(none)", ok=ok)


def spn_targets(role: str) -> Callable[[Params], list[Target]]:
    """Each server of the role, plus the farm's shared service account when it holds the alias SPN."""
    def targets(params: Params) -> list[Target]:
        result = each_server(role)(params)
        holder = topo.alias_account(params, role)
        if holder:
            result.append(Target(label=holder.upper(), account=holder))
        return result
    return targets


def _manual(role: str) -> Callable[[Params, Target], list[ManualItem]]:
    def manual(params: Params, target: Target) -> list[ManualItem]:
        spns = wanted_spns(params, role, target)
        account = target.server.computer if target.server else str(target.account)
        items = [ManualItem(
            f"Register on {account}: {', '.join(spns)}. Use setspn -F -S (it searches the whole forest for "
            "duplicates first), not the guide's -A, which happily creates a duplicate that breaks Kerberos for "
            "everyone.")]
        if target.server:
            items.append(ManualItem(
                f"http/{target.server.host} is already covered if {account} holds HOST/{target.server.host} "
                "(check with the first command); add it only when it is missing."))
        items.append(ManualItem("List what is there:", command=f"setspn -L {account}"))
        for spn in spns:
            items.append(ManualItem(f"Add {spn}:", command=f"setspn -F -S {spn} {account}"))
        items.append(ManualItem("Check no other account in the forest holds them (each must list only "
                                + account + "):", command="setspn -F -Q " + " ".join(spns)))
        items.append(ManualItem("ADSI Edit alternative: Default naming context → the account → Properties → "
                                "Attribute Editor → servicePrincipalName → Edit → add each value → OK twice."))
        if target.account:
            items.append(ManualItem(f"{account} is the shared service account of the {topo.ROLE_NAMES[role]} farm: "
                                    "every server must run the site as it (Exchange: "
                                    "RollAlternateServiceAccountPassword.ps1 on each server) so each can decrypt "
                                    "the tickets."))
            items.append(ManualItem("Check each server has the credential:",
                                    command="Get-ClientAccessService -IncludeAlternateServiceAccountCredentialStatus "
                                            "| Format-List Name, AlternateServiceAccountConfiguration"))
        return items
    return manual


EAS_SPN = StepSpec(
    id="4a",
    title="AD: http SPNs for EAS",
    why="TMG (or the SEG) asks the KDC for a ticket to http/<name it connects to>; that SPN must exist on exactly "
        "one account, the one that runs the ActiveSync site.",
    track="a", role="ad", modes=("execute", "verify", "manual"), per_server=True,
    manual=_manual("eas"), targets=spn_targets("eas"), applies=kerberos_reaches_eas,
    automation=ServicePrincipalNames("eas"),
)

SEG_SPN = StepSpec(
    id="4b",
    title="AD: http SPNs for SEG",
    why="TMG asks for a ticket to the SEG's http SPN; it must exist on exactly one account.",
    track="b", role="ad", modes=("execute", "verify", "manual"), per_server=True,
    manual=_manual("seg"), targets=spn_targets("seg"), applies=kerberos_reaches_seg,
    automation=ServicePrincipalNames("seg"),
)

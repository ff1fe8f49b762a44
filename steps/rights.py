"""Steps 5a and 5b: the app pool identity may act as part of the OS and impersonate a client (TMG, then SEG).

One account is added to one right (LsaAddAccountRights); the holders list is never
replaced, so other holders survive. A domain GPO can own a right: then the local
grant does not stick, and the step says so instead of pretending.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from runbook.errors import StepFailed
from runbook.flow import chain
from runbook.flow.catalogue import ManualItem, StepSpec, Target
from runbook.flow.changes import Change, Plan, Verification
from steps import host_changes as hc
from steps import host_reads as reads
from steps import identity as who
from steps.applicability import needs_seg, tmg_authenticates
from steps.targets import each_server

if TYPE_CHECKING:
    from runbook.flow.context import StepContext
    from runbook.inputs.params import Params

RIGHTS = {
    "SeTcbPrivilege": "Act as part of the operating system",
    "SeImpersonatePrivilege": "Impersonate a client after authentication",
}
SEG_POOL = who.SEG_POOL


def _asks(role: str) -> dict[str, Any]:
    """Both rights and, on the SEG, its pool's identity (whom they are for there)."""
    return reads.asks(pools=[] if role == "tmg" else [SEG_POOL], rights=list(RIGHTS))


def _read(ctx: StepContext, role: str) -> tuple[reads.HostState, tuple[str, str, list[str]]]:
    """Both rights and, on the SEG, its pool's identity, in one call; and (SID, display name, notes) of the
    identity that needs the rights on this host."""
    state = reads.read_asked(ctx.hosts, _host(ctx), _asks(role))
    if role == "tmg":
        params = ctx.params
        return state, (params.tmg_service_sid, params.tmg_service_identity, [
            f"TMG's web proxy runs as {params.tmg_service_identity} (params tmg.service_identity)"])
    server = ctx.target.server
    assert server is not None
    pool = state.pool(SEG_POOL)
    kind = pool["IdentityType"]
    name = pool.get("UserName") or kind
    if kind in who.AS_COMPUTER:
        return state, (pool["Sid"], name, [
            f"app pool {SEG_POOL} runs as {name}: the rights go to that identity, and on the network it acts as "
            f"{server.sam}, which is where 3b's delegation and 4b's SPNs are"])
    return state, (pool["Sid"], name, [
        f"app pool {SEG_POOL} runs as the domain account {name}: the rights go to it, and the SEG's SPNs (4b) and "
        f"delegation (3b) belong on {name}, not on {server.sam}"])


def _host(ctx: StepContext) -> str:
    assert ctx.target.server is not None
    return ctx.target.server.host


class UserRights(hc.HostUndo):
    def __init__(self, role: str) -> None:
        self.role = role  # whose identity gets the rights: TMG's web proxy ("tmg", 5a) or the SEG's pool ("seg")

    def plan(self, ctx: StepContext) -> Plan:
        state, (sid, name, notes) = _read(ctx, self.role)
        plan = Plan(notes=list(notes))
        owned_without = []
        for right, label in RIGHTS.items():
            reply = state.right(right)
            holders = list(reply["Holders"])
            missing = sid.lower() not in {h.lower() for h in holders}
            if reply.get("GpoOwned"):
                gpo = reply.get("GpoName") or "(unnamed)"
                plan.notes.append(f"{right} is set by GPO {gpo}: a local grant is overwritten at the next policy "
                                  "refresh; add the account in that GPO instead")
                if missing:
                    owned_without.append(f"“{label}” ({right}) is defined by GPO {gpo} without {name}")
                continue
            if missing:
                plan.changes.append(Change(
                    kind=hc.USER_RIGHT.name, target=_host(ctx), attribute=right, op="add", values=[sid],
                    before=holders, after=holders + [sid], note=f"{label}: + {name}",
                    locator={"host": _host(ctx), "right": right, "sid": sid}))
        if owned_without:
            # A local grant would not stick (and could not be told apart from the GPO's list to undo it).
            raise StepFailed(f"{_host(ctx)}: " + "; ".join(owned_without) + ". A local grant would be overwritten "
                             f"at the next policy refresh, so nothing was changed: add {name} ({sid}) to that right "
                             f"in the GPO, run gpupdate /force on {_host(ctx)}, then run {ctx.instance.key} again")
        return plan

    def apply(self, ctx: StepContext, plan: Plan) -> None:
        for change in plan.changes:
            hc.apply(ctx, change)

    def state_reads(self, ctx: StepContext) -> dict[str, Any]:
        """What `verify` reads on its host (a verify-all reads it with the host's other checks)."""
        return _asks(self.role)

    def verify(self, ctx: StepContext) -> Verification:
        state, (sid, name, notes) = _read(ctx, self.role)
        result = Verification(notes=list(notes))
        for right, label in RIGHTS.items():
            reply = state.right(right)
            holders = {h.lower() for h in reply["Holders"]}
            result.expect(f"{_host(ctx)} {label} ({right}) holds {name}", "present",
                          "present" if sid.lower() in holders else "absent")
            if reply.get("GpoOwned"):
                result.notes.append(f"{right} is owned by GPO {reply.get('GpoName') or '(unnamed)'}")
        return result


def _manual(params: Params, target: Target) -> list[ManualItem]:
    assert target.server is not None
    host = target.server.host
    items = []
    if target.server in params.seg:
        items += [
            ManualItem(f"On {host}: inetmgr → {target.server.computer} → Application Pools → "
                       f"{SEG_POOL}: check the Identity column. NetworkService, ApplicationPoolIdentity and "
                       f"LocalSystem all act on the network as {target.server.computer}$ (where 3b and 4b put the "
                       "delegation and SPNs); a domain account moves the SPN (4b) and delegation (3b) to that "
                       "account. Grant the rights below to the identity shown."),
            ManualItem("Or read it in PowerShell:",
                       command=f"Import-Module WebAdministration; (Get-ItemProperty IIS:\\AppPools\\{SEG_POOL} "
                               "-Name processModel).identityType"),
        ]
    identity_name = (params.tmg_service_identity if target.server in params.tmg_array
                     else "the pool's identity (NETWORK SERVICE, or IIS APPPOOL\\SecureEmailGateway, or its account)")
    items += [
        ManualItem(f"On {host}: Start → Run → secpol.msc → Security Settings → Local Policies → User Rights "
                   "Assignment."),
        ManualItem(f"“Act as part of the operating system” → Add User or Group → {identity_name} → OK. Keep "
                   "the existing holders."),
        ManualItem(f"“Impersonate a client after authentication” → check {identity_name} is listed; if not, Add "
                   "User or Group → add it → OK."),
        ManualItem("Check what took (a domain GPO may override local policy; gpresult shows which GPO owns it):",
                   command="secedit /export /areas USER_RIGHTS /cfg $env:TEMP\\rights.inf; "
                           "Select-String 'SeTcbPrivilege|SeImpersonatePrivilege' $env:TEMP\\rights.inf"),
        ManualItem("Never apply a hand-made template with secedit /configure: it replaces each list and drops the "
                   "other holders."),
    ]
    return items


def _effects(role: str) -> Callable[[Params, Target], list[chain.Effect]]:
    def effects(params: Params, target: Target) -> list[chain.Effect]:
        assert target.server is not None
        return [chain.Effect(chain.ACTS_AS_OS, role, target.server.host)]
    return effects


TMG_RIGHTS = StepSpec(
    id="5a",
    title="TMG local policy: web proxy identity rights",
    why=lambda params: f"TMG's web proxy runs as {params.tmg_service_identity} and needs to act as part of the OS "
        "(protocol transition) and to impersonate the user it got a ticket for.",
    track="a", role="tmg", modes=("execute", "verify", "manual"), per_server=True, label_single=False,
    manual=_manual, targets=each_server("tmg"), applies=tmg_authenticates,
    automation=UserRights("tmg"), effects=_effects("tmg"),
)

SEG_RIGHTS = StepSpec(
    id="5b",
    title="SEG local policy: app pool identity rights",
    why="The SEG's SecureEmailGateway app pool delegates to Exchange the same way and needs the same two rights.",
    track="b", role="seg", modes=("execute", "verify", "manual"), per_server=True,
    manual=_manual, targets=each_server("seg"),
    applies=needs_seg, automation=UserRights("seg"), effects=_effects("seg"),
)

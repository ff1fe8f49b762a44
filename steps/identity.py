"""Who runs the SEG's ActiveSync proxy, read live before 3b, 4b and 5b act on it.

Network Service, ApplicationPoolIdentity and LocalSystem all authenticate on the network as
the computer account (SEG01$), so delegation (3b) and SPNs (4b) belong there. A pool running as
a domain account moves both to that account: the runbook then refuses with the exact instruction
rather than configure an account that never receives a ticket.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runbook.errors import Refused, RunbookError

if TYPE_CHECKING:
    from runbook.flow.context import StepContext

SEG_POOL = "SecureEmailGateway"
AS_COMPUTER = ("NetworkService", "ApplicationPoolIdentity", "LocalSystem")


def seg_pool(ctx: StepContext, host: str) -> dict[str, Any]:
    pool: dict[str, Any] = ctx.hosts.shell(host).invoke("Get-CertAuthAppPoolIdentity", {"Name": SEG_POOL}).first
    return pool


def seg_runs_as_computer(ctx: StepContext) -> list[str]:
    """Notes for the plan; Refused when the pool runs as a domain account (then 3b/4b belong on that account)."""
    server = ctx.target.server
    if server is None:  # the farm's shared alias account: named in the params, not read from a pool
        return []
    try:
        pool = seg_pool(ctx, server.host)
    except RunbookError as exc:  # unreachable, or no WinRM credentials from this jump host: say so, go on
        return [f"could not read the {SEG_POOL} app pool identity on {server.host} ({exc}): assuming it acts as "
                f"{server.sam} (NetworkService, ApplicationPoolIdentity or LocalSystem); 5b reads it again"]
    kind = pool["IdentityType"]
    if kind in AS_COMPUTER:
        return [f"app pool {SEG_POOL} on {server.host} runs as {kind}, which acts on the network as {server.sam}"]
    account = str(pool.get("UserName") or kind)
    sam = account.split("\\")[-1]
    raise Refused(
        f"{ctx.instance.key}: app pool {SEG_POOL} on {server.host} runs as the domain account {account}, so Kerberos "
        f"tickets for the SEG are issued to {sam}, not {server.sam}. Either set the pool back to NetworkService "
        f"(inetmgr → Application Pools → {SEG_POOL} → Advanced Settings → Identity) and run this again, or do this "
        f"step by hand on {sam} (runbook manual SESSION {ctx.instance.key}, with {sam} in place of {server.sam}) and "
        f"record it with `runbook mark SESSION {ctx.instance.key} --done`")

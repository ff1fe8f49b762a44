"""Apply, check and revert the kinds of change the Windows-host steps make, through the shipped PS functions.

Every value travels as a PSRP parameter of a named function (runbook/hosts/ps/README.md);
each function reports the value before and after so the record is what the host saw.
"""
from __future__ import annotations

from typing import Any

from runbook.errors import HostError, RunbookError, StepFailed
from runbook.flow.changes import Change
from runbook.flow.context import StepContext
from steps import host_reads as reads
from steps.host_reads import EXCHANGE

HOST_KINDS = ("user-right", "web-config", "auth-provider")  # read on the default endpoint


def same(left: Any, right: Any) -> bool:
    """IIS and PowerShell hand back True/'True', 10485760/'10485760', 'Ssl,SslNegotiateCert' in any order."""
    def norm(value: Any) -> Any:
        if isinstance(value, str) and "," in value:
            return frozenset(part.strip().lower() for part in value.split(","))
        return str(value).strip().lower()
    return norm(left) == norm(right)


def read(ctx: StepContext, change: Change) -> Any:
    loc = change.locator
    shell = ctx.hosts.shell(loc["host"])
    if change.kind == "user-right":
        return shell.invoke("Get-CertAuthUserRight", {"Right": loc["right"]}).first["Holders"]
    if change.kind == "web-config":
        return shell.invoke("Get-CertAuthWebConfig", {"Location": loc["location"], "Filter": loc["filter"],
                                                      "Name": loc["name"]}).first["Value"]
    if change.kind == "exchange-vdir":
        reply = shell.invoke("Get-ActiveSyncVirtualDirectory", {"Identity": loc["identity"]}, endpoint=EXCHANGE)
        return reply.first[change.attribute]
    if change.kind == "auth-provider":
        return shell.invoke("Get-CertAuthAuthProviders", {"Location": loc["location"]}).first["Providers"]
    raise StepFailed(f"cannot read {change.kind}")


def read_many(ctx: StepContext, changes: list[Change]) -> list[Any]:
    """What `read` answers for each change, with one Get-CertAuthState per host for its own values and one Exchange
    read per vdir at the same time, instead of one call per change."""
    for change in changes:
        if change.kind not in HOST_KINDS and change.kind != "exchange-vdir":
            read(ctx, change)  # says it cannot
    live: dict[int, Any] = {}
    for host in dict.fromkeys(change.locator["host"] for change in changes):
        mine = [change for change in changes if change.locator["host"] == host]
        own = [(change.kind, change.locator) for change in mine if change.kind in HOST_KINDS]
        identities = list(dict.fromkeys(c.locator["identity"] for c in mine if c.kind == "exchange-vdir"))

        def host_state(host: str = host, own: list[tuple[str, dict]] = own) -> reads.HostState:
            def asked(kind: str, key: Any) -> list[Any]:
                return list(dict.fromkeys(key(loc) for k, loc in own if k == kind))
            return reads.read_state(
                ctx.hosts, host, rights=asked("user-right", lambda loc: loc["right"]),
                settings=asked("web-config", lambda loc: (loc["location"], loc["filter"], loc["name"])),
                providers=asked("auth-provider", lambda loc: loc["location"]))

        def vdirs(host: str = host, identities: list[str] = identities) -> dict[str, dict]:
            return {identity: reads.exchange_vdir(ctx.hosts, host, identity) for identity in identities}
        if own and identities:
            state, later = reads.at_once(host_state, vdirs)
            vdir = later()
        else:
            state, vdir = (host_state() if own else None), (vdirs() if identities else {})
        for change in mine:
            loc = change.locator
            if change.kind == "exchange-vdir":
                live[id(change)] = vdir[loc["identity"]][change.attribute]
                continue
            assert state is not None  # `own` holds this change
            if change.kind == "user-right":
                live[id(change)] = state.right(loc["right"])["Holders"]
            elif change.kind == "web-config":
                live[id(change)] = state.setting(loc["location"], loc["filter"], loc["name"])["Value"]
            else:
                live[id(change)] = state.providers(loc["location"])
    return [live[id(change)] for change in changes]


def apply(ctx: StepContext, change: Change) -> None:
    """Make one change and record it. A write that fails is recorded anyway when a read-back shows it took
    (a non-terminating error after the work, a reply lost on the way back), so undo still knows about it."""
    ctx.intend(change)  # journaled before the write: a crash in between is settled from the live value
    try:
        _write(ctx, change)
    except HostError:
        if _took(ctx, change):
            ctx.record(change)
        raise
    ctx.record(change)


def took(ctx: StepContext, change: Change) -> bool | None:
    """Whether `change` is in force now; None for a restart, which leaves nothing to read."""
    if change.kind == "iisreset":
        return None
    return _took(ctx, change)


def _took(ctx: StepContext, change: Change) -> bool:
    if change.kind == "iisreset":
        return False
    try:
        live = read(ctx, change)
    except RunbookError:
        return False
    if change.kind in ("user-right", "auth-provider"):
        present = {str(v).lower() for v in live}
        wanted = [str(v).lower() for v in change.values]
        return all((v in present) == (change.op == "add") for v in wanted)
    return same(live, change.after)


def _write(ctx: StepContext, change: Change) -> None:
    loc = change.locator
    shell = ctx.hosts.shell(loc["host"])
    if change.kind == "user-right":
        function = "Grant-CertAuthUserRight" if change.op == "add" else "Revoke-CertAuthUserRight"
        reply = shell.invoke(function, {"Right": loc["right"], "Sid": loc["sid"]}).first
        change.before, change.after = reply["Before"], reply["After"]
    elif change.kind == "web-config":
        where = {"Location": loc["location"], "Filter": loc["filter"], "Name": loc["name"]}
        if change.op == "clear":  # the location's own value goes: it inherits again
            reply = shell.invoke("Clear-CertAuthWebConfig", where).first
        else:
            reply = shell.invoke("Set-CertAuthWebConfig", {**where, "Value": change.after}).first
        change.before, change.after = reply["Before"], reply["After"]
    elif change.kind == "auth-provider":
        function = "Add-CertAuthAuthProvider" if change.op == "add" else "Remove-CertAuthAuthProvider"
        for provider in change.values:
            reply = shell.invoke(function, {"Location": loc["location"], "Provider": provider}).first
        change.before, change.after = reply["Before"], reply["After"]
    elif change.kind == "exchange-vdir":
        shell.invoke("Set-ActiveSyncVirtualDirectory", {"Identity": loc["identity"], change.attribute: change.after},
                     endpoint=EXCHANGE)
    elif change.kind == "iisreset":
        shell.invoke("Invoke-CertAuthIisReset", {}, timeout=300)
    else:
        raise StepFailed(f"unknown host change kind {change.kind}")


def undo_problems(ctx: StepContext, changes: list[Change]) -> list[str]:
    problems = []
    changes = [change for change in changes if change.kind != "iisreset"]
    for change, live in zip(changes, read_many(ctx, changes), strict=True):
        if change.kind in ("user-right", "auth-provider"):
            live_set = {str(v).lower() for v in live}
            gone = [v for v in change.values if str(v).lower() not in live_set]
            if gone:
                problems.append(f"{change.target} {change.attribute}: {', '.join(gone)} was removed outside this "
                                "session since it was added")
        elif not same(live, change.after):
            problems.append(f"{change.target} {change.attribute} is {live!r} now, this session set "
                            f"{change.after!r}: someone changed it since")
    return problems


def revert(ctx: StepContext, change: Change) -> None:
    opposite = {"add": "remove", "remove": "add"}.get(change.op, change.op)
    if change.kind == "web-config" and change.locator.get("inherited"):
        opposite = "clear"  # inherited before this session set it: inherit again
    reverse = Change(kind=change.kind, target=change.target, attribute=change.attribute, op=opposite,
                     values=change.values, before=change.after, after=change.before, locator=change.locator,
                     note="undo")
    apply(ctx, reverse)


class HostUndo:
    """Undo shared by the host steps: newest first; a recorded iisreset is repeated once at the end."""

    def undo_problems(self, ctx: StepContext, changes: list[Change]) -> list[str]:
        return undo_problems(ctx, changes)

    def took(self, ctx: StepContext, change: Change) -> bool | None:
        return took(ctx, change)

    def undo(self, ctx: StepContext, changes: list[Change]) -> None:
        resets = [c for c in changes if c.kind == "iisreset"]
        for change in reversed([c for c in changes if c.kind != "iisreset"]):
            revert(ctx, change)
        if resets:  # once, after the values it has to pick up are back; filed as the revert of the recorded ones
            again = resets[-1]
            apply(ctx, Change(kind=again.kind, target=again.target, attribute=again.attribute, op=again.op,
                              values=again.values, locator=again.locator, note="undo"))

"""Apply, check and revert the kinds of change the Windows-host steps make, through the shipped PS functions.

Every value travels as a PSRP parameter of a named function (runbook/ps/README.md);
each function reports the value before and after so the record is what the host saw.
"""
from __future__ import annotations

from typing import Any

from runbook.changes import Change
from runbook.context import StepContext
from runbook.errors import HostError, RunbookError, StepFailed

EXCHANGE = "exchange"


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
    for change in changes:
        if change.kind == "iisreset":
            continue
        live = read(ctx, change)
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
        if resets:
            apply(ctx, resets[-1])

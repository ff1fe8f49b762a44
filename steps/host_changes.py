"""Apply, check and revert the kinds of change the Windows-host steps make, through the shipped PS functions.

Every value travels as a PSRP parameter of a named function (runbook/hosts/ps/README.md);
each function reports the value before and after so the record is what the host saw.
Each kind is registered here once (runbook.flow.change_kinds) with its write, read, revert and flags.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from runbook.errors import HostError, RunbookError, StepFailed
from runbook.flow.change_kinds import ChangeKind, kind_of, opposite, read_live, register
from runbook.flow.changes import Change, revert_order
from steps import host_reads as reads
from steps.host_reads import EXCHANGE

if TYPE_CHECKING:
    from runbook.flow.context import StepContext


def same(left: Any, right: Any) -> bool:
    """IIS and PowerShell hand back True/'True', 10485760/'10485760', 'Ssl,SslNegotiateCert' in any order."""
    def norm(value: Any) -> Any:
        if isinstance(value, str) and "," in value:
            return frozenset(part.strip().lower() for part in value.split(","))
        return str(value).strip().lower()
    return bool(norm(left) == norm(right))


@dataclass(frozen=True)
class StateRead:
    """How a kind's live value comes out of the host's one Get-CertAuthState call (steps/host_reads.py)."""

    asked_in: str  # the read_state list it is asked in: rights, settings or providers
    key: Callable[[dict[str, Any]], Any]  # what is asked for, from the change's locator
    value: Callable[[reads.HostState, Any], Any]  # the live value in the answer, by that key


@dataclass(frozen=True)
class HostKind(ChangeKind):
    """A change on one Windows host (`locator["host"]`), and how a batch of them is read at once."""

    state_read: StateRead | None = None  # read with the host's other values in one Get-CertAuthState
    vdir_read: bool = False  # read from Exchange's ActiveSync vdir (its own endpoint), beside the host's call


# -- what holds: a set of values present (rights, providers) or one value (settings) -------------------------------
def _members_hold(change: Change, live: Any) -> bool:
    present = {str(v).lower() for v in live}
    return all((str(v).lower() in present) == (change.op == "add") for v in change.values)


def _value_holds(change: Change, live: Any) -> bool:
    return same(live, change.after)


def _in_force(holds: Callable[[Change, Any], bool]) -> Callable[[StepContext, Change], bool]:
    def took(ctx: StepContext, change: Change) -> bool:
        try:
            live = read_live(ctx, change)
        except RunbookError:
            return False
        return holds(change, live)
    return took


def _members_drift(change: Change, live: Any) -> str | None:
    live_set = {str(v).lower() for v in live}
    gone = [str(v) for v in change.values if str(v).lower() not in live_set]
    if not gone:
        return None
    return f"{change.target} {change.attribute}: {', '.join(gone)} was removed outside this session since it was added"


def _value_drift(change: Change, live: Any) -> str | None:
    if same(live, change.after):
        return None
    return (f"{change.target} {change.attribute} is {live!r} now, this session set {change.after!r}: someone "
            "changed it since")


# -- the kinds -------------------------------------------------------------------------------------------------------
def _write_user_right(ctx: StepContext, change: Change) -> None:
    loc = change.locator
    function = "Grant-CertAuthUserRight" if change.op == "add" else "Revoke-CertAuthUserRight"
    reply = ctx.hosts.shell(loc["host"]).invoke(function, {"Right": loc["right"], "Sid": loc["sid"]}).first
    change.before, change.after = reply["Before"], reply["After"]


def _read_user_right(ctx: StepContext, change: Change) -> Any:
    loc = change.locator
    return ctx.hosts.shell(loc["host"]).invoke("Get-CertAuthUserRight", {"Right": loc["right"]}).first["Holders"]


USER_RIGHT = register(HostKind(
    name="user-right", apply=_write_user_right, read=_read_user_right, took=_in_force(_members_hold),
    revert=opposite, drift=_members_drift,
    state_read=StateRead("rights", lambda loc: loc["right"], lambda state, key: state.right(key)["Holders"])))


def _where(loc: dict[str, Any]) -> dict[str, Any]:
    return {"Location": loc["location"], "Filter": loc["filter"], "Name": loc["name"]}


def _write_web_config(ctx: StepContext, change: Change) -> None:
    shell = ctx.hosts.shell(change.locator["host"])
    if change.op == "clear":  # the location's own value goes: it inherits again
        reply = shell.invoke("Clear-CertAuthWebConfig", _where(change.locator)).first
    else:
        reply = shell.invoke("Set-CertAuthWebConfig", {**_where(change.locator), "Value": change.after}).first
    change.before, change.after = reply["Before"], reply["After"]


def _read_web_config(ctx: StepContext, change: Change) -> Any:
    shell = ctx.hosts.shell(change.locator["host"])
    return shell.invoke("Get-CertAuthWebConfig", _where(change.locator)).first["Value"]


def _revert_web_config(change: Change) -> Change:
    # Inherited before this session set it: the way back is inheriting again, not writing the inherited value.
    return opposite(change, "clear" if change.locator.get("inherited") else None)


WEB_CONFIG = register(HostKind(
    name="web-config", apply=_write_web_config, read=_read_web_config, took=_in_force(_value_holds),
    revert=_revert_web_config, drift=_value_drift,
    state_read=StateRead("settings", lambda loc: (loc["location"], loc["filter"], loc["name"]),
                         lambda state, key: state.setting(*key)["Value"])))


def _write_auth_provider(ctx: StepContext, change: Change) -> None:
    loc = change.locator
    function = "Add-CertAuthAuthProvider" if change.op == "add" else "Remove-CertAuthAuthProvider"
    for provider in change.values:
        reply = ctx.hosts.shell(loc["host"]).invoke(function, {"Location": loc["location"], "Provider": provider}).first
    change.before, change.after = reply["Before"], reply["After"]


def _read_auth_providers(ctx: StepContext, change: Change) -> Any:
    loc = change.locator
    return ctx.hosts.shell(loc["host"]).invoke("Get-CertAuthAuthProviders", {"Location": loc["location"]}
                                               ).first["Providers"]


AUTH_PROVIDER = register(HostKind(
    name="auth-provider", apply=_write_auth_provider, read=_read_auth_providers, took=_in_force(_members_hold),
    revert=opposite, drift=_members_drift,
    state_read=StateRead("providers", lambda loc: loc["location"], lambda state, key: state.providers(key))))


def _write_exchange_vdir(ctx: StepContext, change: Change) -> None:
    ctx.hosts.shell(change.locator["host"]).invoke(
        "Set-ActiveSyncVirtualDirectory", {"Identity": change.locator["identity"], change.attribute: change.after},
        endpoint=EXCHANGE)


def _read_exchange_vdir(ctx: StepContext, change: Change) -> Any:
    return reads.exchange_vdir(ctx.hosts, change.locator["host"], change.locator["identity"])[change.attribute]


EXCHANGE_VDIR = register(HostKind(
    name="exchange-vdir", apply=_write_exchange_vdir, read=_read_exchange_vdir, took=_in_force(_value_holds),
    revert=opposite, drift=_value_drift, vdir_read=True))


def _restart_iis(ctx: StepContext, change: Change) -> None:
    ctx.hosts.shell(change.locator["host"]).invoke("Invoke-CertAuthIisReset", {}, timeout=300)


IISRESET = register(HostKind(
    name="iisreset", apply=_restart_iis, took=lambda ctx, change: None,
    # Undone by restarting again once the values it picked up are back (revert_order puts it last).
    revert=lambda change: replace(change, revert=True), restarts="IIS"))


# -- the family: write-ahead apply, batched reads, undo ---------------------------------------------------------------
def host_kind(change: Change) -> HostKind:
    kind = kind_of(change.kind)
    if not isinstance(kind, HostKind):
        raise StepFailed(f"{change.describe()}: a {change.kind} is not a change on a Windows host")
    return kind


def read(ctx: StepContext, change: Change) -> Any:
    return read_live(ctx, change)


def read_many(ctx: StepContext, changes: list[Change]) -> list[Any]:
    """What `read` answers for each change, with one Get-CertAuthState per host for its own values and one Exchange
    read per vdir at the same time, instead of one call per change."""
    live: dict[int, Any] = {}
    for change in changes:
        kind = host_kind(change)
        if kind.state_read is None and not kind.vdir_read:
            live[id(change)] = read(ctx, change)  # on its own (or says it cannot)
    batched = [change for change in changes if id(change) not in live]
    for host in dict.fromkeys(change.locator["host"] for change in batched):
        mine = [change for change in batched if change.locator["host"] == host]
        own = [change for change in mine if host_kind(change).state_read is not None]
        identities = list(dict.fromkeys(c.locator["identity"] for c in mine if host_kind(c).vdir_read))

        def host_state(host: str = host, own: list[Change] = own) -> reads.HostState:
            asked: dict[str, list[Any]] = {}
            for change in own:
                how = host_kind(change).state_read
                assert how is not None
                asked.setdefault(how.asked_in, []).append(how.key(change.locator))
            return reads.read_state(ctx.hosts, host, **{name: list(dict.fromkeys(keys))
                                                        for name, keys in asked.items()})

        def vdirs(host: str = host, identities: list[str] = identities) -> dict[str, dict[str, Any]]:
            return {identity: reads.exchange_vdir(ctx.hosts, host, identity) for identity in identities}
        if own and identities:
            state: reads.HostState | None
            state, later = reads.at_once(host_state, vdirs)
            vdir = later()
        else:
            state, vdir = (host_state() if own else None), (vdirs() if identities else {})
        for change in mine:
            how = host_kind(change).state_read
            if how is None:
                live[id(change)] = vdir[change.locator["identity"]][change.attribute]
                continue
            assert state is not None  # `own` holds this change
            live[id(change)] = how.value(state, how.key(change.locator))
    return [live[id(change)] for change in changes]


def apply(ctx: StepContext, change: Change) -> None:
    """Make one change and record it. A write that fails is recorded anyway when a read-back shows it took
    (a non-terminating error after the work, a reply lost on the way back), so undo still knows about it."""
    kind = host_kind(change)
    ctx.intend(change)  # journaled before the write: a crash in between is settled from the live value
    try:
        kind.apply(ctx, change)
    except HostError:
        if kind.took(ctx, change):
            ctx.record(change)
        raise
    ctx.record(change)


def undo_problems(ctx: StepContext, changes: list[Change]) -> list[str]:
    readable = [change for change in changes if host_kind(change).read is not None]
    found = [host_kind(change).drift(change, live) for change, live in zip(readable, read_many(ctx, readable),
                                                                             strict=True)]
    return [problem for problem in found if problem]


def revert(ctx: StepContext, change: Change) -> None:
    apply(ctx, host_kind(change).revert(change))


class HostUndo:
    """Undo shared by the host steps: newest first; a recorded restart is repeated once at the end."""

    def undo_problems(self, ctx: StepContext, changes: list[Change]) -> list[str]:
        return undo_problems(ctx, changes)

    def undo(self, ctx: StepContext, changes: list[Change]) -> None:
        # The one restart at the end is filed as the revert of every recorded one (runbook.record.replay).
        for change in revert_order(changes):
            revert(ctx, change)

"""Apply, check and revert the two kinds of directory change the AD steps make, each registered here once
(runbook.flow.change_kinds): `ldap-values` and `ldap-uac`.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runbook.errors import (
    DirectoryAccessDenied,
    DirectoryError,
    DriftError,
    StepFailed,
    ValueNotPresent,
    write_access_hint,
)
from runbook.flow.change_kinds import ChangeKind, kind_of, opposite, read_live, register
from runbook.flow.changes import Change, Plan

if TYPE_CHECKING:
    from runbook.flow.context import StepContext
    from runbook.flow.ports import Account, DirectoryPort
    from runbook.inputs.params import Params

UAC_FLAGS = {
    0x1000000: "TRUSTED_TO_AUTH_FOR_DELEGATION",
    0x80000: "TRUSTED_FOR_DELEGATION",
}


def lower_set(values: tuple[str, ...] | list[str]) -> set[str]:
    return {value.lower() for value in values}


def missing_account_message(directory: DirectoryPort, sam: str, domain: str) -> str:
    """What `run` and the `directory` pre-flight check both say when an account is not in the domain."""
    close = directory.similar_accounts(sam)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    return (f"account {sam} was not found in {domain}.{hint} Check the computer names in the params "
            "(a computer's account is its NetBIOS name with a trailing $).")


def account_or_fail(ctx: StepContext, sam: str) -> Account:
    account = ctx.directory.find_account(sam)
    if account is None:
        raise StepFailed(missing_account_message(ctx.directory, sam, ctx.params.domain))
    return account


def bind_identity(params: Params) -> str:
    return params.directory.bind_user or "your Kerberos identity"


def write_denied_message(params: Params, account: Account, denied: list[str]) -> str:
    """What `run` and the `directory` pre-flight check both say when the bind account may not write."""
    return (f"{bind_identity(params)} may not write {', '.join(denied)} on {account.sam_account_name} "
            f"({account.dn}): the DC does not list {'it' if len(denied) == 1 else 'them'} in "
            f"allowedAttributesEffective for this bind; {write_access_hint(denied, account.dn)}")


def denied_attributes(directory: DirectoryPort, account: Account, attributes: list[str]) -> list[str]:
    allowed = directory.can_write(account.dn, attributes)
    return [attribute for attribute in attributes if not allowed.get(attribute, False)]


def require_write(ctx: StepContext, account: Account, attributes: list[str]) -> None:
    """Pre-flight inside `run`/`plan`: refuse before the first write when the DC says the bind may not write."""
    wanted = list(dict.fromkeys(attributes))
    if not wanted:
        return
    denied = denied_attributes(ctx.directory, account, wanted)
    if denied:
        raise DirectoryAccessDenied(write_denied_message(ctx.params, account, denied) + "; nothing was changed")


def uac_note(before: int, after: int) -> str:
    parts = []
    for bit, name in UAC_FLAGS.items():
        if after & bit and not before & bit:
            parts.append(f"+{name}")
        if before & bit and not after & bit:
            parts.append(f"-{name}")
    return " ".join(parts)


def add_values_change(account: Account, attribute: str, current: tuple[str, ...], missing: list[str]) -> Change:
    return Change(kind=LDAP_VALUES.name, target=account.sam_account_name, attribute=attribute, op="add",
                  values=missing, before=list(current), after=list(current) + missing,
                  locator={"dn": account.dn})


def remove_values_change(account: Account, attribute: str, current: tuple[str, ...], gone: list[str]) -> Change:
    lowered = {value.lower() for value in gone}
    return Change(kind=LDAP_VALUES.name, target=account.sam_account_name, attribute=attribute, op="remove",
                  values=gone, before=list(current), after=[v for v in current if v.lower() not in lowered],
                  locator={"dn": account.dn})


def uac_change(account: Account, wanted: int) -> Change:
    return Change(kind=LDAP_UAC.name, target=account.sam_account_name, attribute="userAccountControl", op="set",
                  before=account.user_account_control, after=wanted, locator={"dn": account.dn},
                  note=uac_note(account.user_account_control, wanted))


def apply(ctx: StepContext, change: Change) -> None:
    kind = kind_of(change.kind)
    if change.op == "add" and any("*" in str(value) for value in change.values):
        raise StepFailed(f"refusing to write a wildcard SPN to AD ({change.values}): wildcards belong only in "
                         "the TMG rule")
    ctx.intend(change)  # journaled before the write: a crash in between is settled from the live value
    kind.apply(ctx, change)
    ctx.record(change)


def _live_values(ctx: StepContext, change: Change) -> set[str]:
    account = account_or_fail(ctx, change.target)
    values = account.allowed_to_delegate_to if change.attribute == "msDS-AllowedToDelegateTo" \
        else account.service_principal_names
    return lower_set(values)


# -- the kinds -------------------------------------------------------------------------------------------------------
def _write_values(ctx: StepContext, change: Change) -> None:
    if change.op == "add":
        ctx.directory.add_values(change.locator["dn"], change.attribute, change.values)
    elif change.op == "remove":
        ctx.directory.remove_values(change.locator["dn"], change.attribute, change.values)
    else:
        raise StepFailed(f"{change.describe()}: values are added or removed, never {change.op}")


def _values_took(ctx: StepContext, change: Change) -> bool:
    live = _live_values(ctx, change)
    wanted = [value.lower() in live for value in change.values]
    return all(wanted) if change.op == "add" else not any(wanted)


def _values_drift(change: Change, live: Any) -> str | None:
    if change.op == "add" and (gone := [value for value in change.values if value.lower() not in live]):
        return (f"{change.target} {change.attribute}: {', '.join(gone)} was removed outside this session since it "
                "was added")
    if change.op == "remove" and (back := [value for value in change.values if value.lower() in live]):
        return (f"{change.target} {change.attribute}: {', '.join(back)} was added back outside this session since "
                "it was removed")
    return None


# Values added to a multi-valued attribute (never a replace: other services may already be delegated).
LDAP_VALUES = register(ChangeKind(
    name="ldap-values", apply=_write_values, read=_live_values, took=_values_took, revert=opposite,
    drift=_values_drift))


def _write_uac(ctx: StepContext, change: Change) -> None:
    ctx.directory.replace_uac(change.locator["dn"], int(change.before), int(change.after))


def _read_uac(ctx: StepContext, change: Change) -> int:
    return account_or_fail(ctx, change.target).user_account_control


def _uac_drift(change: Change, live: Any) -> str | None:
    if live == change.after:
        return None
    return (f"{change.target} userAccountControl is {hex(live)} now, this session set {hex(int(change.after))}: "
            "someone changed it since")


# A read-modify-write of userAccountControl, recorded with the value seen before.
LDAP_UAC = register(ChangeKind(
    name="ldap-uac", apply=_write_uac, read=_read_uac, took=lambda ctx, change: _read_uac(ctx, change) == change.after,
    revert=opposite, drift=_uac_drift))


def undo_problems(ctx: StepContext, changes: list[Change]) -> list[str]:
    found = [kind_of(change.kind).drift(change, read_live(ctx, change)) for change in changes]
    return [problem for problem in found if problem]


def revert(ctx: StepContext, change: Change) -> None:
    reverse = kind_of(change.kind).revert(change)
    try:
        apply(ctx, reverse)
    except DriftError as exc:
        raise DriftError(_undo_drift(ctx, str(exc))) from exc
    except ValueNotPresent as exc:
        # Gone already: someone removed it outside this session (or an earlier undo wrote it and was cut off
        # before recording). Either way the live state is not what this session recorded: drift, not a crash.
        raise DriftError(_undo_drift(ctx, _gone_problem(ctx, change))) from exc
    except DirectoryError as exc:
        raise StepFailed(f"undo of {change.describe()} failed: {exc}") from exc


def _gone_problem(ctx: StepContext, change: Change) -> str:
    try:
        live = _live_values(ctx, change)
    except DirectoryError:
        live = set()
    gone = [value for value in change.values if value.lower() not in live] or list(change.values)
    kept = [value for value in change.values if value not in gone]
    text = (f"{change.target} {change.attribute}: {', '.join(gone)} {'is' if len(gone) == 1 else 'are'} already "
            "gone (removed outside this session since it was added; the DC answered noSuchAttribute); nothing "
            "was removed")
    return text + (f" ({', '.join(kept)} still there)" if kept else "")


def _undo_drift(ctx: StepContext, problem: str) -> str:
    return (f"{ctx.instance.key}: refusing to undo, the live state moved since this session changed it:\n  "
            f"{problem}\n  See what is there now with `runbook verify SESSION {ctx.instance.key}`.")


class DirectoryUndo:
    """Apply and undo shared by the AD steps: in plan order; undo newest first, after checking nothing moved."""

    def apply(self, ctx: StepContext, plan: Plan) -> None:
        for change in plan.changes:
            apply(ctx, change)

    def undo_problems(self, ctx: StepContext, changes: list[Change]) -> list[str]:
        return undo_problems(ctx, changes)

    def undo(self, ctx: StepContext, changes: list[Change]) -> None:
        for change in reversed(changes):
            revert(ctx, change)

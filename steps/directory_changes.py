"""Apply, check and revert the two kinds of directory change the AD steps make.

`ldap-values`: values added to a multi-valued attribute (never a replace: other
services may already be delegated). `ldap-uac`: a read-modify-write of
userAccountControl, recorded with the value seen before.
"""
from __future__ import annotations

from runbook.changes import Change
from runbook.context import StepContext
from runbook.errors import DirectoryError, DriftError, StepFailed
from runbook.ports import Account

UAC_FLAGS = {
    0x1000000: "TRUSTED_TO_AUTH_FOR_DELEGATION",
    0x80000: "TRUSTED_FOR_DELEGATION",
}


def lower_set(values: tuple[str, ...] | list[str]) -> set[str]:
    return {value.lower() for value in values}


def account_or_fail(ctx: StepContext, sam: str) -> Account:
    account = ctx.directory.find_account(sam)
    if account is None:
        close = ctx.directory.similar_accounts(sam)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise StepFailed(f"account {sam} was not found in {ctx.params.domain}.{hint}")
    return account


def uac_note(before: int, after: int) -> str:
    parts = []
    for bit, name in UAC_FLAGS.items():
        if after & bit and not before & bit:
            parts.append(f"+{name}")
        if before & bit and not after & bit:
            parts.append(f"-{name}")
    return " ".join(parts)


def add_values_change(account: Account, attribute: str, current: tuple[str, ...], missing: list[str]) -> Change:
    return Change(kind="ldap-values", target=account.sam_account_name, attribute=attribute, op="add",
                  values=missing, before=list(current), after=list(current) + missing,
                  locator={"dn": account.dn})


def uac_change(account: Account, wanted: int) -> Change:
    return Change(kind="ldap-uac", target=account.sam_account_name, attribute="userAccountControl", op="set",
                  before=account.user_account_control, after=wanted, locator={"dn": account.dn},
                  note=uac_note(account.user_account_control, wanted))


def apply(ctx: StepContext, change: Change) -> None:
    dn = change.locator["dn"]
    if change.kind == "ldap-values" and change.op == "add":
        if any("*" in value for value in change.values):
            raise StepFailed(f"refusing to write a wildcard SPN to AD ({change.values}): wildcards belong only in "
                             "the TMG rule")
        ctx.directory.add_values(dn, change.attribute, change.values)
    elif change.kind == "ldap-values" and change.op == "remove":
        ctx.directory.remove_values(dn, change.attribute, change.values)
    elif change.kind == "ldap-uac":
        ctx.directory.replace_uac(dn, int(change.before), int(change.after))
    else:
        raise StepFailed(f"unknown directory change kind {change.kind}/{change.op}")
    ctx.record(change)


def _live_values(ctx: StepContext, change: Change) -> tuple[Account, set[str]]:
    account = account_or_fail(ctx, change.target)
    values = account.allowed_to_delegate_to if change.attribute == "msDS-AllowedToDelegateTo" \
        else account.service_principal_names
    return account, lower_set(values)


def undo_problems(ctx: StepContext, changes: list[Change]) -> list[str]:
    problems = []
    for change in changes:
        if change.kind == "ldap-values":
            _, live = _live_values(ctx, change)
            gone = [value for value in change.values if value.lower() not in live]
            if change.op == "add" and gone:
                problems.append(f"{change.target} {change.attribute}: {', '.join(gone)} was removed outside this "
                                "session since it was added")
        elif change.kind == "ldap-uac":
            account = account_or_fail(ctx, change.target)
            if account.user_account_control != change.after:
                problems.append(f"{change.target} userAccountControl is {hex(account.user_account_control)} now, "
                                f"this session set {hex(int(change.after))}: someone changed it since")
    return problems


def revert(ctx: StepContext, change: Change) -> None:
    if change.kind == "ldap-values" and change.op == "add":
        reverse = Change(kind=change.kind, target=change.target, attribute=change.attribute, op="remove",
                         values=change.values, before=change.after, after=change.before, locator=change.locator,
                         note="undo")
    elif change.kind == "ldap-uac":
        reverse = Change(kind=change.kind, target=change.target, attribute=change.attribute, op="set",
                         before=change.after, after=change.before, locator=change.locator,
                         note=uac_note(int(change.after), int(change.before)))
    else:
        raise StepFailed(f"cannot undo {change.kind}/{change.op}")
    try:
        apply(ctx, reverse)
    except DriftError:
        raise
    except DirectoryError as exc:
        raise StepFailed(f"undo of {change.describe()} failed: {exc}") from exc


class DirectoryUndo:
    """Undo shared by the AD steps: newest change first, after checking nothing moved underneath."""

    def undo_problems(self, ctx: StepContext, changes: list[Change]) -> list[str]:
        return undo_problems(ctx, changes)

    def undo(self, ctx: StepContext, changes: list[Change]) -> None:
        for change in reversed(changes):
            revert(ctx, change)

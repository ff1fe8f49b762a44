"""Named errors. Each carries a message an operator can act on; the CLI maps them to exit codes."""
from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1  # step failed, verify mismatch, refused by a safety check
EXIT_BAD_INPUT = 2


class RunbookError(Exception):
    """Base of every error this tool raises on purpose."""

    exit_code = EXIT_FAILED


class BadInput(RunbookError):
    """The operator gave us something we cannot use (params, session file, arguments)."""

    exit_code = EXIT_BAD_INPUT


class ParamsError(BadInput):
    """One or more params fields are wrong; `problems` lists each as 'field: what is wrong'."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid parameters:\n  " + "\n  ".join(problems))


class SessionFileError(BadInput):
    """A session file that cannot be read safely. It is never overwritten."""


class IllegalTransition(RunbookError):
    """A step was asked to move between states the transition table does not allow."""

    def __init__(self, step: str, state: str, event: str, hint: str = ""):
        self.step, self.state, self.event = step, state, event
        text = f"step {step} is {state}: cannot {event.replace('_', ' ')}"
        super().__init__(text + (f" ({hint})" if hint else ""))


class Refused(RunbookError):
    """A safety check said no (dependency not met, lock held, drift before undo, ...)."""


class LockHeld(Refused):
    """Another driver holds the session."""


class NotAvailable(RunbookError):
    """The mode exists in the catalogue but its automation has not been built yet."""


class StepFailed(RunbookError):
    """A step's execution failed; the message says what the outside world answered."""


class DirectoryError(StepFailed):
    """Active Directory (LDAP) said no, or could not be reached.

    The subclasses below are raised by both back ends of `runbook.flow.ports.DirectoryPort` (the ldap3 client and
    the rehearsal lab), so steps and tests can tell the cases apart without importing ldap3.
    """


class DirectoryUnreachable(DirectoryError):
    """The DC could not be reached (name does not resolve, refused, no route) or the connection was lost."""


class DirectoryTlsError(DirectoryError):
    """The DC's certificate did not validate against the configured CA (or the TLS handshake failed)."""


class DirectoryCaFileError(DirectoryTlsError):
    """directory.ca_file cannot be used (missing, unreadable, not a PEM CA bundle): the operator's input is wrong."""

    exit_code = EXIT_BAD_INPUT


class DirectoryTimeout(DirectoryError):
    """The DC did not answer within the timeout."""


class DirectoryBindError(DirectoryError):
    """The DC refused the bind (credentials, account state, missing Kerberos ticket, TLS required)."""


class DirectoryAccessDenied(DirectoryError):
    """The bind account may not make this change (insufficientAccessRights, or a privilege is missing)."""


class DuplicateSpn(DirectoryError):
    """AD refused an SPN that another account already holds (constraintViolation); `holders` names them."""

    def __init__(self, message: str, spns: list[str], holders: list[str]):
        self.spns, self.holders = spns, holders
        super().__init__(message)


class ValueAlreadyPresent(DirectoryError):
    """attributeOrValueExists: a value we were asked to add is already there."""


class ValueNotPresent(DirectoryError):
    """noSuchAttribute: a value we were asked to remove is not there (anymore)."""


class NoSuchObject(DirectoryError):
    """noSuchObject: the DN does not exist (renamed, moved or deleted?)."""


DELEGATION_ATTRIBUTES = frozenset({"msds-allowedtodelegateto", "useraccountcontrol"})


def write_access_hint(attributes: list[str] | tuple[str, ...], dn: str) -> str:
    """Why a bind account may not write `attributes` on `dn`, and what to do: one text for every back end."""
    if any(attribute.lower() in DELEGATION_ATTRIBUTES for attribute in attributes):
        return ("writing delegation settings (msDS-AllowedToDelegateTo, the delegation bits of userAccountControl) "
                "needs SeEnableDelegationPrivilege on the domain controllers, which Domain Admins have by default; "
                "bind as a member of Domain Admins or have the privilege granted")
    shown = ", ".join(attributes) or "this object"
    return (f"the account needs write access to {shown} on {dn} "
            "(for SPNs: 'Validated write to service principal name' or Domain Admins)")


class DriftError(Refused):
    """The live value is not what this session recorded: someone else changed it."""


class HostError(StepFailed):
    """A Windows host (PowerShell remoting) said no, or could not be reached."""

    def __init__(self, host: str, message: str):
        self.host = host
        super().__init__(f"{host}: {message}")


def uac_drift_message(dn: str, live: int | None, expected: int, *, concurrent: bool = False) -> str:
    """The refusal when userAccountControl is not the value a read-modify-write expected (both back ends)."""
    def show(value: int | None) -> str:
        if value is None:
            return "unreadable"
        flags = [name for bit, name in ((0x80000, "TRUSTED_FOR_DELEGATION"),
                                        (0x1000000, "TRUSTED_TO_AUTH_FOR_DELEGATION")) if value & bit]
        return f"{value:#x} ({value}{', ' + ', '.join(flags) if flags else ''})"

    when = "changed while we were writing it" if concurrent else "is not what this session recorded"
    return (f"userAccountControl of {dn} {when}: live value {show(live)}, expected {show(expected)}; "
            "someone else changed it, nothing was written")


class StorageError(RunbookError):
    """The disk refused a write (full, read-only, over quota) or a record file is not a plain file. The message
    names the path and what was kept; nothing is half-written."""

    @classmethod
    def from_os(cls, exc: OSError, path: object, kept: str = "") -> StorageError:
        import errno

        why = {errno.ENOSPC: "no space left on the device", errno.EROFS: "the file system is read-only",
               errno.EDQUOT: "the disk quota is exhausted", errno.EACCES: "permission denied",
               errno.EPERM: "permission denied"}.get(exc.errno or 0, exc.strerror or str(exc))
        text = f"cannot write {path}: {why}"
        return cls(text + (f"; {kept}" if kept else "") + ". Free space (or fix the mount) and run the command again.")


class JournalRefused(RunbookError):
    """The journal's end disagrees with its head anchor: nothing more is appended until an operator acknowledges."""


class TakenOver(Refused):
    """This process's lock was taken over: it may not write the session or its journal any more."""

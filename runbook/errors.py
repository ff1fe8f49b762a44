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
    """Active Directory (LDAP) said no, or could not be reached."""


class DriftError(Refused):
    """The live value is not what this session recorded: someone else changed it."""


class HostError(StepFailed):
    """A Windows host (PowerShell remoting) said no, or could not be reached."""

    def __init__(self, host: str, message: str):
        self.host = host
        super().__init__(f"{host}: {message}")

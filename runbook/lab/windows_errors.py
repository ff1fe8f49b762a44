"""How a simulated Windows host fails, as PowerShell remoting would: a terminating error, no connection, a timeout."""
from __future__ import annotations


class SimCommandError(RuntimeError):
    """A terminating PowerShell error; the text is what PowerShell would report."""


class SimConnectionError(ConnectionError):
    """The host or the requested endpoint cannot be reached."""


class SimTimeout(TimeoutError):
    """The call did not finish within its timeout."""

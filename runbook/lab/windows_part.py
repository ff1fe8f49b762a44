"""What every part of a simulated Windows host shares: which machine it is on, and the shape of a part.

A `SimWindowsHost` (runbook.lab.windows_host) is composed of parts, each holding one piece of the
server's state (Windows itself, LSA, IIS, Exchange, TMG) and answering the PowerShell functions that
read or write that piece. The host owns the lock, the transport and the fault knobs; a part never
sees parameters before PowerShell's binding (`windows_contract.bind`) has run.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

# A function's body as a part answers it: bound parameters in, the objects it writes to the pipeline out.
Answer = Callable[..., list[Any]]


@dataclass(frozen=True)
class Machine:
    """The server a part lives on, as its error messages name it."""

    role: str
    fqdn: str

    @property
    def computer(self) -> str:
        """NetBIOS name, as Exchange and $env:COMPUTERNAME spell it."""
        return self.fqdn.split(".")[0].upper()


class HostPart(Protocol):
    """One piece of a simulated host: its state, the functions it answers, its keys in the saved host."""

    def answers(self) -> dict[str, Answer]:
        """Function name (canonical spelling) → the method answering it."""
        ...

    def load(self, state: Mapping[str, Any]) -> None:
        """Take this part's keys from a whole host's saved state (already migrated to the current shape)."""
        ...

    def saved(self) -> dict[str, Any]:
        """This part's keys of the saved host (plain, YAML-safe data; the host deep-copies it)."""
        ...

"""What a step function gets to work with: the params, its target, and lazily opened ports."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from runbook.flow.cancel import CancelToken, Checked
from runbook.flow.catalogue import StepInstance, Target
from runbook.flow.changes import Change
from runbook.flow.host_state import Gathered
from runbook.flow.ports import DirectoryPort, HostsPort
from runbook.inputs.params import Params


@dataclass
class Ports:
    """Opens each port once, on first use, and keeps it for the whole session (one connection per DC / host)."""

    open_directory: Callable[[], DirectoryPort]
    open_hosts: Callable[[], HostsPort]
    on_manual_done: Callable[[str], None] = lambda key: None  # the lab mirrors console clicks; real hosts need nothing
    on_flush: Callable[[], None] = lambda: None  # the lab writes its simulated state; real hosts keep their own
    _directory: DirectoryPort | None = None
    _hosts: HostsPort | None = None

    @property
    def directory(self) -> DirectoryPort:
        if self._directory is None:
            self._directory = self.open_directory()
        return self._directory

    @property
    def hosts(self) -> HostsPort:
        if self._hosts is None:
            self._hosts = self.open_hosts()
        return self._hosts

    def acting_as(self, change: Change) -> str | None:
        """Who the server that made `change` saw: the directory's bind identity for a change located by DN,
        the hosts' otherwise (None when that port does not say, as in the rehearsal lab)."""
        port = self._directory if "dn" in change.locator else self._hosts
        return getattr(port, "acting_as", None)

    def flush(self) -> None:
        """The end of an operation: what the other side now holds is made durable (only the lab has work here)."""
        self.on_flush()

    def close(self) -> None:
        self.flush()
        for port in (self._directory, self._hosts):
            if port is not None:
                port.close()
        self._directory = self._hosts = None


@dataclass
class StepContext:
    params: Params
    instance: StepInstance
    ports: Ports
    record: Callable[[Change], None] = lambda change: None  # after a write: the change as the host reported it
    intend: Callable[[Change], None] = lambda change: None  # before a write: journaled first (write-ahead)
    allow_restart: bool = False  # points of no return (iisreset) run only when the operator said so
    log: list[str] = field(default_factory=list)
    cancel: CancelToken = field(default_factory=CancelToken)  # checked before every remote call
    gathered: Gathered | None = None  # a verify-all's one read of this step's host, answering the step's own reads

    @property
    def target(self) -> Target:
        return self.instance.target

    @property
    def directory(self) -> DirectoryPort:
        return Checked(self.ports.directory, self.cancel)

    @property
    def hosts(self) -> HostsPort:
        hosts = self.ports.hosts
        return Checked(hosts if self.gathered is None else self.gathered.over(hosts), self.cancel)

    def say(self, line: str) -> None:
        self.log.append(line)

"""The simulated hosts as the runbook reaches them: `HostShell` / `HostsPort` raising HostError where WinRM does."""
from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from runbook.errors import HostError
from runbook.flow.ports import DEFAULT_TIMEOUT, HostReply
from runbook.lab import windows_contract as contract
from runbook.lab.windows_errors import SimCommandError, SimConnectionError, SimTimeout

if TYPE_CHECKING:
    from runbook.lab.windows_host import SimWindowsHost


class SimShell:
    """`runbook.flow.ports.HostShell` on one simulated host, failing with HostError where the WinRM client does."""

    def __init__(self, host: str, sim: SimWindowsHost | None, known: list[str]):
        self.host = host
        self._sim = sim
        self._known = known
        self.closed = False

    def invoke(self, function: str, parameters: dict[str, Any] | None = None, *,
               endpoint: str = "default", timeout: float = DEFAULT_TIMEOUT) -> HostReply:
        if endpoint not in contract.ENDPOINTS:
            raise ValueError(f"unknown endpoint {endpoint!r} (use 'default' or 'exchange')")
        if self._sim is None:
            raise HostError(self.host, f"cannot connect: cannot resolve the host name {self.host} (DNS; the lab "
                                       f"has {', '.join(self._known) or 'no hosts'})")
        timeout = float(timeout if timeout and timeout > 0 else DEFAULT_TIMEOUT)
        try:
            reply = self._sim.invoke(function, parameters, endpoint, timeout=timeout)
        except SimConnectionError as err:
            raise HostError(self.host, f"cannot connect: {err}") from None
        except SimTimeout:
            raise HostError(self.host, f"{function} did not finish within {timeout:g} s; it was stopped") from None
        except SimCommandError as err:
            raise HostError(self.host, f"{function}: {err}") from None
        if reply.errors:
            raise HostError(self.host, f"{function}: " + "; ".join(reply.errors))
        return reply

    def close(self) -> None:
        self.closed = True


class SimHosts:
    """`runbook.flow.ports.HostsPort` over simulated hosts, keyed by FQDN (short names match too)."""

    def __init__(self, hosts: Mapping[str, SimWindowsHost] | Iterable[SimWindowsHost]):
        items = hosts.items() if isinstance(hosts, Mapping) else ((h.fqdn, h) for h in hosts)
        self.hosts: dict[str, SimWindowsHost] = {name.lower(): sim for name, sim in items}
        self._shells: dict[str, SimShell] = {}
        self._lock = threading.Lock()

    def find(self, host: str) -> SimWindowsHost | None:
        wanted = host.strip().lower()
        if wanted in self.hosts:
            return self.hosts[wanted]
        for sim in self.hosts.values():
            if wanted in (sim.fqdn, sim.computer.lower()):
                return sim
        return None

    def shell(self, host: str) -> SimShell:
        with self._lock:
            key = host.strip().lower()
            if key not in self._shells or self._shells[key].closed:
                self._shells[key] = SimShell(host, self.find(host), sorted(self.hosts))
            return self._shells[key]

    def dispatch(self, host_name: str, command: str, parameters: dict[str, Any], endpoint: str) -> HostReply:
        """The loopback WinRM endpoint's hook: one pipeline command on one host (exceptions are terminating)."""
        sim = self.find(host_name)
        if sim is None:
            raise SimConnectionError(f"no simulated host {host_name}")
        return sim.invoke(command, parameters, endpoint)

    def close(self) -> None:
        with self._lock:
            for shell in self._shells.values():
                shell.close()
            self._shells.clear()

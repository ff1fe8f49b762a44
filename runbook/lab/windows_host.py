"""A simulated Windows host (TMG, SEG or Exchange) that answers the runbook's PowerShell calls.

This mocks what cannot exist here, a Windows host's internals (LSA user rights, IIS's
applicationHost.config, Exchange's virtual directory, TMG's COM policy), and it is the ONLY
mocked layer: the rehearsal lab hands it the calls a real client would send, and the tests
reach it through the real pypsrp client and a real WinRM endpoint on loopback
(`testsupport.wsman.endpoint`, a test-only package, whose `dispatch` is `SimHosts.dispatch`).

A host is composed of parts, each with its own state and the functions it answers:
`system` (clock, Windows features; runbook.lab.windows_system), `lsa` (user rights;
windows_lsa), `iis` (web configuration, authentication providers, app pools, iisreset;
windows_iis), `exchange` (the ActiveSync vdir, the alternate service account; windows_exchange)
and `tmg` (the firewall policy; windows_tmg). Lab scenarios set a host up, or change it "behind the
runbook's back" (drift), through those parts' methods.

`SimWindowsHost.invoke(function, parameters, endpoint)` answers each function of
`runbook/hosts/ps/*.ps1` (and, on the `exchange` endpoint of an Exchange server, the Exchange
cmdlets) with the same names, parameter binding, output shapes and errors as the real ones
(`runbook.lab.windows_contract`; `tests/test_ps_scripts.py` keeps it equal to the scripts), through
one dispatch table from function name to the answering part's method. How a failure comes back
mirrors PowerShell remoting:

* a terminating error (unknown command, parameter binding, a `throw` in the function, an
  injected `fail_next`) raises `SimCommandError`;
* a non-terminating error (`nonterminating_next`) comes back in `HostReply.errors`, after the
  function has done its work, as `Write-Error` would;
* an unreachable host (`down`) or endpoint (the Exchange endpoint of a host that is not
  Exchange) raises `SimConnectionError`; a call slower than its timeout raises `SimTimeout`.

`runbook.lab.windows_shells.SimHosts` is `runbook.flow.ports.HostsPort` over several simulated hosts.

State is plain data (`to_dict` / `from_dict`, YAML-safe, the format in runbook.lab.windows_state)
so the lab can persist a host. Everything is guarded by one lock per host, shared by its parts:
steps may run on several hosts in parallel, and a scenario may change a host while a step reads it.
"""
from __future__ import annotations

import copy
import datetime as dt
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from runbook.flow.ports import HostReply
from runbook.lab import windows_contract as contract
from runbook.lab.iis_sim import IisConfigError
from runbook.lab.windows_errors import SimCommandError, SimConnectionError, SimTimeout
from runbook.lab.windows_exchange import ExchangePart
from runbook.lab.windows_iis import IisPart
from runbook.lab.windows_lsa import LsaPart
from runbook.lab.windows_part import Answer, HostPart, Machine
from runbook.lab.windows_state import ROLES, SAVED_KEYS, saved_state
from runbook.lab.windows_system import SystemPart
from runbook.lab.windows_tmg import TmgPart


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


_COMMANDS = frozenset(name for commands in contract.ENDPOINTS.values() for name in commands)


def dispatch_table(parts: tuple[HostPart, ...], own: Mapping[str, Answer]) -> dict[str, Answer]:
    """Function name → the method answering it: every command of the contract answered by exactly one part."""
    table: dict[str, Answer] = dict(own)
    for part in parts:
        for name, answer in part.answers().items():
            if name in table:
                raise ValueError(f"{name} is answered twice ({type(part).__name__} and another part)")
            table[name] = answer
    expected = _COMMANDS
    if set(table) != expected:
        raise ValueError(f"the parts answer {sorted(set(table) - expected)} beyond the contract and leave "
                         f"{sorted(expected - set(table))} unanswered")
    return table


class SimWindowsHost:
    """One simulated Windows host. See the module docstring; its saved keys are in windows_state.SAVED_KEYS."""

    def __init__(
        self,
        role: str,
        fqdn: str,
        *,
        clock: Callable[[], dt.datetime] | None = None,
        sleep: Callable[[float], None] | None = None,
        saved: Mapping[str, Any] | None = None,
    ) -> None:
        """A fresh server of `role`, or, given `saved` (a saved host of any version), that server."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        self.machine = Machine(role, fqdn.lower())
        self._sleep = sleep or time.sleep
        self._lock = threading.RLock()
        self.system = SystemPart(self.machine, self._lock, clock or _utc_now)
        self.lsa = LsaPart(self._lock)
        self.iis = IisPart(self.machine, self._lock, self.system)
        self.exchange = ExchangePart(self.machine, self._lock, self.iis)
        self.tmg = TmgPart(self.machine, self._lock)
        self._parts: tuple[HostPart, ...] = (self.system, self.lsa, self.iis, self.exchange, self.tmg)
        self._answers = dispatch_table(self._parts, {"Get-CertAuthState": self._get_state})
        # fault knobs
        self.latency_ms = 0
        self.down = False
        self.fail_next: dict[str, str] = {}  # function → message: the next call raises it (terminating)
        self.nonterminating_next: dict[str, str] = {}  # function → message: next call does its work AND errs
        # what the host has been asked, in order: (endpoint, function, parameters); not persisted
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        self._load(saved_state(role, self.fqdn, saved or {}))

    @property
    def role(self) -> str:
        return self.machine.role

    @property
    def fqdn(self) -> str:
        return self.machine.fqdn

    @property
    def computer(self) -> str:
        """NetBIOS name, as Exchange and $env:COMPUTERNAME spell it."""
        return self.machine.computer

    # ------------------------------------------------------------------------------ saved state
    def _load(self, state: Mapping[str, Any]) -> None:
        for part in self._parts:
            part.load(state)
        self.latency_ms = state["latency_ms"]
        self.down = state["down"]
        self.fail_next = dict(state["fail_next"])
        self.nonterminating_next = dict(state["nonterminating_next"])

    def to_dict(self) -> dict[str, Any]:
        """The host as YAML-safe plain data (round-trips through `from_dict`)."""
        with self._lock:
            state: dict[str, Any] = {"role": self.role, "fqdn": self.fqdn, "latency_ms": self.latency_ms,
                                     "down": self.down, "fail_next": self.fail_next,
                                     "nonterminating_next": self.nonterminating_next}
            for part in self._parts:
                state |= part.saved()
            return copy.deepcopy({key: state[key] for key in SAVED_KEYS})

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        *,
        clock: Callable[[], dt.datetime] | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> SimWindowsHost:
        """A host from plain data (any version's); each key given replaces that part of the role's defaults."""
        return cls(data["role"], data["fqdn"], clock=clock, sleep=sleep, saved=data)

    # ------------------------------------------------------------------------------ fault knobs
    def fail_once(self, function: str, message: str) -> None:
        with self._lock:
            self.fail_next[function] = message

    def error_once(self, function: str, message: str) -> None:
        """The next call to `function` does its work and also reports a non-terminating error."""
        with self._lock:
            self.nonterminating_next[function] = message

    # ------------------------------------------------------------------------------ calls
    def functions(self, endpoint: str = contract.DEFAULT_ENDPOINT) -> dict[str, tuple[contract.Param, ...]]:
        """The commands this host answers on an endpoint, with their parameters."""
        return dict(contract.ENDPOINTS[endpoint])

    def invoke(self, function: str, parameters: dict[str, Any] | None = None,
               endpoint: str = contract.DEFAULT_ENDPOINT, *, timeout: float | None = None) -> HostReply:
        """Run one function as the real host would. Raises SimCommandError/SimConnectionError/SimTimeout."""
        if self.down:
            raise SimConnectionError(f"connection refused by {self.fqdn} (the host is down)")
        if endpoint not in contract.ENDPOINTS:
            raise ValueError(f"unknown endpoint {endpoint!r} (use 'default' or 'exchange')")
        if endpoint == contract.EXCHANGE_ENDPOINT and self.role != "eas":
            raise SimConnectionError(f"no WinRM endpoint at http://{self.fqdn}/PowerShell (HTTP 404): "
                                     f"{self.fqdn} is not an Exchange server")
        delay = max(0, self.latency_ms) / 1000.0
        if timeout is not None and delay > timeout:
            self._sleep(timeout)
            raise SimTimeout(f"{function} did not finish within {timeout:g} s")
        if delay:
            self._sleep(delay)
        with self._lock:
            self.calls.append((endpoint, function, copy.deepcopy(dict(parameters or {}))))
            table = contract.ENDPOINTS[endpoint]
            name = contract.resolve(table, function)
            if name is None:
                raise SimCommandError(contract.not_recognized(function))
            injected = self._pop(self.fail_next, name)
            if injected is not None:
                raise SimCommandError(injected)
            try:
                bound = contract.bind(table[name], parameters)
                output = self._answers[name](**bound)
            except contract.BindingError as refused:
                raise SimCommandError(str(refused)) from None
            except IisConfigError as refused:
                raise SimCommandError(str(refused)) from None
            errors = []
            soft = self._pop(self.nonterminating_next, name)
            if soft is not None:
                errors.append(soft)
            return HostReply(output=copy.deepcopy(output), errors=errors, warnings=[])

    @staticmethod
    def _pop(knobs: dict[str, str], name: str) -> str | None:
        for key in list(knobs):
            if key.lower() == name.lower():
                return knobs.pop(key)
        return None

    # ------------------------------------------------------------------------------ one call, every read
    def _get_state(self, **lists: Any) -> list[Any]:
        # As the shipped function does: each item through the single-value function (its binding, its errors,
        # a fault planted on it), in the order asked; the TMG policy last, when asked for.
        state: dict[str, Any] = {}
        for key, parameter, function, binds_to in contract.STATE_PARTS:
            signature = contract.HOST_FUNCTIONS[function]
            state[key] = []
            for item in lists.get(parameter) or []:
                arguments = {binds_to: item} if binds_to else {
                    p.name: next((v for k, v in item.items() if k.lower() == p.name.lower()), None) for p in signature}
                if (injected := self._pop(self.fail_next, function)) is not None:
                    raise SimCommandError(injected)
                state[key] += self._answers[function](**contract.bind(signature, arguments))
        state[contract.STATE_TMG_POLICY] = None
        if lists.get(contract.STATE_TMG_POLICY):
            if (injected := self._pop(self.fail_next, "Get-CertAuthTmgPolicy")) is not None:
                raise SimCommandError(injected)
            state[contract.STATE_TMG_POLICY] = self._answers["Get-CertAuthTmgPolicy"]()[0]
        return [state]

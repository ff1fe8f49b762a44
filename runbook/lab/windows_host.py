"""A simulated Windows host (TMG, SEG or Exchange) that answers the runbook's PowerShell calls.

This mocks what cannot exist here, a Windows host's internals (LSA user rights, IIS's
applicationHost.config, Exchange's virtual directory, TMG's COM policy), and it is the ONLY
mocked layer: the rehearsal lab hands it the calls a real client would send, and the tests
reach it through the real pypsrp client and a real WinRM endpoint on loopback
(`testsupport.wsman.endpoint`, a test-only package, whose `dispatch` is `SimHosts.dispatch`).

`SimWindowsHost.invoke(function, parameters, endpoint)` answers each function of
`runbook/hosts/ps/*.ps1` (and, on the `exchange` endpoint of an Exchange server, the two Exchange
cmdlets) with the same names, parameter binding, output shapes and errors as the real ones
(`runbook.lab.windows_contract`; `tests/test_ps_scripts.py` keeps it equal to the scripts).
How a failure comes back mirrors PowerShell remoting:

* a terminating error (unknown command, parameter binding, a `throw` in the function, an
  injected `fail_next`) raises `SimCommandError`;
* a non-terminating error (`nonterminating_next`) comes back in `HostReply.errors`, after the
  function has done its work, as `Write-Error` would;
* an unreachable host (`down`) or endpoint (the Exchange endpoint of a host that is not
  Exchange) raises `SimConnectionError`; a call slower than its timeout raises `SimTimeout`.

`SimHosts` is `runbook.flow.ports.HostsPort` over several simulated hosts: its shells raise
`runbook.errors.HostError` exactly where the real WinRM client does.

State is plain data (`to_dict` / `from_dict`, YAML-safe) so the lab can persist a host; the
mutators are what lab scenarios use to set a host up or to change it "behind the runbook's
back" (drift). Everything is guarded by one lock per host: steps may run on several hosts in
parallel, and a scenario may change a host while a step reads it.
"""
from __future__ import annotations

import copy
import datetime as dt
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from runbook.flow.ports import HostReply
from runbook.lab import windows_contract as contract
from runbook.lab.iis_sim import IisConfig, IisConfigError
from runbook.lab.windows_errors import SimCommandError, SimConnectionError, SimTimeout
from runbook.lab.windows_exchange import ExchangeVdirMixin
from runbook.lab.windows_iis import IisFunctionsMixin
from runbook.lab.windows_shells import SimHosts, SimShell
from runbook.lab.windows_state import (
    FEATURE_CATALOGUE,
    ROLES,
    TmgPolicyMixin,
    default_state,
    identity_of,
)

__all__ = ["SimCommandError", "SimConnectionError", "SimHosts", "SimShell", "SimTimeout", "SimWindowsHost"]


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class SimWindowsHost(TmgPolicyMixin, IisFunctionsMixin, ExchangeVdirMixin):
    """One simulated Windows host. See the module docstring; state attributes are documented in `to_dict`."""

    def __init__(
        self,
        role: str,
        fqdn: str,
        *,
        clock: Callable[[], dt.datetime] | None = None,
        sleep: Callable[[float], None] | None = None,
    ):
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        self.role = role
        self.fqdn = fqdn.lower()
        self._clock = clock or _utc_now
        self._sleep = sleep or time.sleep
        self._lock = threading.RLock()
        # fault knobs
        self.latency_ms = 0
        self.down = False
        self.fail_next: dict[str, str] = {}  # function → message: the next call raises it (terminating)
        self.nonterminating_next: dict[str, str] = {}  # function → message: next call does its work AND errs
        # what the host has been asked, in order: (endpoint, function, parameters); not persisted
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        self._load(default_state(role, fqdn))

    # ------------------------------------------------------------------------------ state
    def _load(self, state: dict[str, Any]) -> None:
        self.clock_offset = float(state["clock_offset"])
        self.rights: dict[str, list[str]] = {r: list(h) for r, h in state["rights"].items()}
        self.gpo_rights: dict[str, dict[str, Any]] = copy.deepcopy(state["gpo_rights"])
        self.app_pools: dict[str, dict[str, Any]] = copy.deepcopy(state["app_pools"])
        self.features: set[str] = set(state["features"])
        self.iis = IisConfig.from_dict(state["iis"])
        self.activesync_vdirs: dict[str, dict[str, Any]] = copy.deepcopy(state["activesync_vdirs"])
        self.iisreset_count = int(state["iisreset"]["count"])
        self.last_iisreset: str | None = state["iisreset"]["last"]
        self.tmg_policy: dict[str, list[dict[str, Any]]] | None = copy.deepcopy(state["tmg_policy"])
        if self.tmg_policy is not None:
            self.tmg_policy.setdefault("ServerRules", [])
        self.asa_credentials: list[str] = list(state.get("asa_credentials") or [])

    def to_dict(self) -> dict[str, Any]:
        """The host as YAML-safe plain data (round-trips through `from_dict`)."""
        with self._lock:
            return copy.deepcopy({
                "role": self.role,
                "fqdn": self.fqdn,
                "clock_offset": self.clock_offset,  # seconds added to the lab clock (skew faults)
                "latency_ms": self.latency_ms,
                "down": self.down,
                "fail_next": self.fail_next,
                "nonterminating_next": self.nonterminating_next,
                "rights": self.rights,  # local policy: right → SIDs
                "gpo_rights": self.gpo_rights,  # right → {holders, gpo_name}: what a domain GPO enforces
                "app_pools": self.app_pools,  # name → {IdentityType, UserName, Sid}
                "features": sorted(self.features),
                "iis": self.iis.to_dict(),
                "activesync_vdirs": self.activesync_vdirs,  # site → {ClientCertAuth, BasicAuthEnabled} (AD side)
                "iisreset": {"count": self.iisreset_count, "last": self.last_iisreset},
                "tmg_policy": self.tmg_policy,
                "asa_credentials": self.asa_credentials,  # Exchange's alternate service account credential(s)
            })

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        *,
        clock: Callable[[], dt.datetime] | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> SimWindowsHost:
        """A host from plain data; each key given replaces that part of the role's defaults, the rest stays."""
        host = cls(data["role"], data["fqdn"], clock=clock, sleep=sleep)
        state = default_state(host.role, host.fqdn) | {k: v for k, v in data.items() if k not in ("role", "fqdn")}
        host._load(state)
        host.latency_ms = int(state.get("latency_ms", 0))
        host.down = bool(state.get("down", False))
        host.fail_next = dict(state.get("fail_next") or {})
        host.nonterminating_next = dict(state.get("nonterminating_next") or {})
        return host

    # ------------------------------------------------------------------------------ mutators
    @property
    def computer(self) -> str:
        """NetBIOS name, as Exchange and $env:COMPUTERNAME spell it."""
        return self.fqdn.split(".")[0].upper()

    def now(self) -> dt.datetime:
        return self._clock() + dt.timedelta(seconds=self.clock_offset)

    def set_clock_offset(self, seconds: float) -> None:
        with self._lock:
            self.clock_offset = float(seconds)

    def set_user_right(self, right: str, holders: Iterable[str]) -> None:
        """Replace the local holders of a right (drift: someone edited local policy)."""
        with self._lock:
            self.rights[self._right(right)] = list(holders)

    def own_right_by_gpo(self, right: str, holders: Iterable[str], gpo_name: str) -> None:
        """A domain GPO defines this right: reads show its list, local grants do not stick."""
        with self._lock:
            self.gpo_rights[self._right(right)] = {"holders": list(holders), "gpo_name": gpo_name}

    def release_right_from_gpo(self, right: str) -> None:
        with self._lock:
            self.gpo_rights.pop(self._right(right), None)

    def set_app_pool(self, name: str, identity_type: str, user_name: str | None = None,
                     sid: str | None = None) -> None:
        """Create or change an IIS app pool's identity (SpecificUser needs user_name and sid)."""
        with self._lock:
            self.app_pools[name] = identity_of(name, identity_type, user_name, sid)

    def remove_app_pool(self, name: str) -> None:
        with self._lock:
            self.app_pools.pop(self._pool_name(name) or name, None)

    def install_feature(self, name: str) -> None:
        with self._lock:
            self.features.add(name)

    def uninstall_feature(self, name: str) -> None:
        with self._lock:
            self.features.discard(name)

    def add_iis_location(self, location: str) -> None:
        """A site or application that exists in IIS (e.g. 'Contoso Web/Microsoft-Server-ActiveSync')."""
        with self._lock:
            self.iis.add_location(location)

    def set_web_config(self, location: str, filter_: str, name: str, value: Any) -> None:
        """Write an IIS value directly (drift, or a pre-configured server)."""
        with self._lock:
            self.iis.add_location(location)
            self.iis.write(location, filter_, name, value)

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
                output = self._handlers()[name](**bound)
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

    def _handlers(self) -> dict[str, Callable[..., list[Any]]]:
        return {
            "Get-CertAuthClock": self._get_clock,
            "Get-CertAuthUserRight": self._get_user_right,
            "Grant-CertAuthUserRight": self._grant_user_right,
            "Revoke-CertAuthUserRight": self._revoke_user_right,
            "Get-CertAuthWindowsFeature": self._get_windows_feature,
            "Get-CertAuthAppPoolIdentity": self._get_app_pool_identity,
            "Get-CertAuthWebConfig": self._get_web_config,
            "Set-CertAuthWebConfig": self._set_web_config,
            "Clear-CertAuthWebConfig": self._clear_web_config,
            "Get-CertAuthAuthProviders": self._get_auth_providers,
            "Add-CertAuthAuthProvider": self._add_auth_provider,
            "Remove-CertAuthAuthProvider": self._remove_auth_provider,
            "Invoke-CertAuthIisReset": self._iis_reset,
            "Get-CertAuthTmgPolicy": self._get_tmg_policy,
            "Get-CertAuthState": self._get_state,
            "Get-ActiveSyncVirtualDirectory": self._get_activesync_vdir,
            "Set-ActiveSyncVirtualDirectory": self._set_activesync_vdir,
            "Get-ClientAccessService": self._get_client_access_service,
        }

    # ------------------------------------------------------------------------------ clock, rights
    def _get_clock(self) -> list[Any]:
        return [{"UtcNow": _iso(self.now())}]

    @staticmethod
    def _right(right: str) -> str:
        for known in contract.RIGHTS:
            if known.lower() == right.lower():
                return known
        raise ValueError(f"unknown user right {right!r} (known: {', '.join(contract.RIGHTS)})")

    def _effective(self, right: str) -> list[str]:
        # What secedit /export shows: a GPO's list wins over local policy once the GPO has applied.
        if right in self.gpo_rights:
            return list(self.gpo_rights[right]["holders"])
        return list(self.rights.get(right, []))

    def _get_user_right(self, Right: str) -> list[Any]:
        gpo = self.gpo_rights.get(Right)
        return [{"Right": Right, "Holders": self._effective(Right), "GpoOwned": gpo is not None,
                 "GpoName": gpo["gpo_name"] if gpo else None}]

    def _change_right(self, right: str, sid: str, add: bool) -> list[Any]:
        before = self._effective(right)
        local = self.rights.setdefault(right, [])
        present = sid.lower() in {h.lower() for h in before}
        if add and not present:
            if sid.lower() not in {h.lower() for h in local}:
                local.append(sid)
        elif not add and present:
            local[:] = [h for h in local if h.lower() != sid.lower()]
        return [{"Right": right, "Before": before, "After": self._effective(right)}]

    def _grant_user_right(self, Right: str, Sid: str) -> list[Any]:
        return self._change_right(Right, Sid.upper(), add=True)

    def _revoke_user_right(self, Right: str, Sid: str) -> list[Any]:
        return self._change_right(Right, Sid.upper(), add=False)

    # ------------------------------------------------------------------------------ features, app pools
    def _get_windows_feature(self, Name: str) -> list[Any]:
        for known in FEATURE_CATALOGUE:
            if known.lower() == Name.lower():
                return [{"Name": known, "Installed": known in self.features}]
        raise SimCommandError(f"Windows feature {Name} is not known on {self.computer}")

    def _pool_name(self, name: str) -> str | None:
        for pool in self.app_pools:
            if pool.lower() == name.lower():
                return pool
        return None

    def _get_app_pool_identity(self, Name: str) -> list[Any]:
        self._require_iis()
        pool = self._pool_name(Name)
        if pool is None:
            raise SimCommandError(f"application pool {Name} does not exist on {self.computer}")
        return [{"Name": Name} | self.app_pools[pool]]

    # ------------------------------------------------------------------------------ IIS (the rest: IisFunctionsMixin)
    def _iis_reset(self) -> list[Any]:
        if "Web-Server" not in self.features:
            raise SimCommandError(f"IIS is not installed on {self.computer}: iisreset.exe was not found")
        self.iisreset_count += 1
        self.last_iisreset = _iso(self.now())
        return [{"Restarted": True, "At": self.last_iisreset}]

    # ------------------------------------------------------------------------------ one call, every read
    def _get_state(self, **lists: list[Any] | None) -> list[Any]:
        # As the shipped function does: each item through the single-value function (its binding, its errors,
        # a fault planted on it), in the order asked.
        state: dict[str, list[Any]] = {}
        for key, parameter, function, binds_to in contract.STATE_PARTS:
            signature = contract.HOST_FUNCTIONS[function]
            state[key] = []
            for item in lists.get(parameter) or []:
                arguments = {binds_to: item} if binds_to else {
                    p.name: next((v for k, v in item.items() if k.lower() == p.name.lower()), None) for p in signature}
                if (injected := self._pop(self.fail_next, function)) is not None:
                    raise SimCommandError(injected)
                state[key] += self._handlers()[function](**contract.bind(signature, arguments))
        return [state]

    # ------------------------------------------------------------------------------ TMG
    def _get_tmg_policy(self) -> list[Any]:
        if self.role != "tmg" or self.tmg_policy is None:
            raise SimCommandError(f"Forefront TMG is not installed on {self.computer} "
                                  "(COM class FPC.Root is not registered)")
        return [{"Listeners": self.tmg_policy["Listeners"], "Rules": self.tmg_policy["Rules"],
                 "ServerRules": self.tmg_policy.get("ServerRules", [])}]

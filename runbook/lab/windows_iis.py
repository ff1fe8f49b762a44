"""IIS on a simulated host: applicationHost.config's values, Windows Authentication providers, app pools and
iisreset, as the runbook/hosts/ps functions read and write them."""
from __future__ import annotations

import copy
import threading
from collections.abc import Mapping
from typing import Any

from runbook.lab.iis_sim import IisConfig
from runbook.lab.windows_errors import SimCommandError
from runbook.lab.windows_part import Answer, Machine
from runbook.lab.windows_state import identity_of
from runbook.lab.windows_system import SystemPart, iso

# What the WebAdministration module needs before any IIS function can run.
IIS_MODULE_FEATURES = frozenset({"Web-Server", "Web-Scripting-Tools"})


class IisPart:
    """Get/Set/Clear-CertAuthWebConfig, *-CertAuthAuthProvider(s), Get-CertAuthAppPoolIdentity,
    Invoke-CertAuthIisReset. Whether IIS is there at all is the Windows features' say (`SystemPart`)."""

    def __init__(self, machine: Machine, lock: threading.RLock, system: SystemPart) -> None:
        self._machine = machine
        self._lock = lock
        self._system = system
        self.config = IisConfig()
        self.app_pools: dict[str, dict[str, Any]] = {}  # name → {IdentityType, UserName, Sid}
        self.reset_count = 0
        self.last_reset: str | None = None

    # -- saved state ------------------------------------------------------------------------------------------
    def load(self, state: Mapping[str, Any]) -> None:
        self.config = IisConfig.from_dict(state["iis"])
        self.app_pools = copy.deepcopy(dict(state["app_pools"]))
        self.reset_count = int(state["iisreset"]["count"])
        self.last_reset = state["iisreset"]["last"]

    def saved(self) -> dict[str, Any]:
        return {"app_pools": self.app_pools, "iis": self.config.to_dict(),
                "iisreset": {"count": self.reset_count, "last": self.last_reset}}

    # -- what the lab changes ---------------------------------------------------------------------------------
    def add_location(self, location: str) -> None:
        """A site or application that exists in IIS (e.g. 'Contoso Web/Microsoft-Server-ActiveSync')."""
        with self._lock:
            self.config.add_location(location)

    def set_web_config(self, location: str, filter_: str, name: str, value: Any) -> None:
        """Write an IIS value directly (drift, or a pre-configured server)."""
        with self._lock:
            self.config.add_location(location)
            self.config.write(location, filter_, name, value)

    def set_providers(self, location: str, providers: list[str]) -> None:
        """Replace a location's Windows Authentication providers (it must exist)."""
        with self._lock:
            self.config.set_providers(location, providers)

    def set_app_pool(self, name: str, identity_type: str, user_name: str | None = None,
                     sid: str | None = None) -> None:
        """Create or change an app pool's identity (SpecificUser needs user_name and sid)."""
        with self._lock:
            self.app_pools[name] = identity_of(name, identity_type, user_name, sid)

    def remove_app_pool(self, name: str) -> None:
        with self._lock:
            self.app_pools.pop(self._pool_name(name) or name, None)

    # -- the functions ----------------------------------------------------------------------------------------
    def answers(self) -> dict[str, Answer]:
        return {
            "Get-CertAuthAppPoolIdentity": self.get_app_pool_identity,
            "Get-CertAuthWebConfig": self.get_web_config,
            "Set-CertAuthWebConfig": self.set_web_config_value,
            "Clear-CertAuthWebConfig": self.clear_web_config,
            "Get-CertAuthAuthProviders": self.get_auth_providers,
            "Add-CertAuthAuthProvider": self.add_auth_provider,
            "Remove-CertAuthAuthProvider": self.remove_auth_provider,
            "Invoke-CertAuthIisReset": self.iis_reset,
        }

    def _require_iis(self) -> None:
        if not IIS_MODULE_FEATURES <= self._system.features:
            raise SimCommandError("The specified module 'WebAdministration' was not loaded because no valid module "
                                  "file was found in any module directory.")

    def _require_location(self, location: str) -> None:
        self._require_iis()
        if not self.config.has_location(location):
            raise SimCommandError(f"IIS location {location} does not exist on {self._machine.computer}")

    def _pool_name(self, name: str) -> str | None:
        for pool in self.app_pools:
            if pool.lower() == name.lower():
                return pool
        return None

    def get_app_pool_identity(self, Name: str) -> list[Any]:
        self._require_iis()
        pool = self._pool_name(Name)
        if pool is None:
            raise SimCommandError(f"application pool {Name} does not exist on {self._machine.computer}")
        return [{"Name": Name} | self.app_pools[pool]]

    def get_web_config(self, Location: str, Filter: str, Name: str) -> list[Any]:
        self._require_location(Location)
        value, local = self.config.read(Location, Filter, Name), self.config.is_local(Location, Filter, Name)
        return [{"Location": Location, "Filter": Filter, "Name": Name, "Value": value, "Local": local}]

    def set_web_config_value(self, Location: str, Filter: str, Name: str, Value: Any) -> list[Any]:
        self._require_location(Location)
        before = self.config.read(Location, Filter, Name)
        self.config.write(Location, Filter, Name, Value)
        return [{"Location": Location, "Filter": Filter, "Name": Name, "Before": before,
                 "After": self.config.read(Location, Filter, Name)}]

    def clear_web_config(self, Location: str, Filter: str, Name: str) -> list[Any]:
        self._require_location(Location)
        before = self.config.read(Location, Filter, Name)
        self.config.clear(Location, Filter, Name)
        return [{"Location": Location, "Filter": Filter, "Name": Name, "Before": before,
                 "After": self.config.read(Location, Filter, Name)}]

    def get_auth_providers(self, Location: str) -> list[Any]:
        self._require_location(Location)
        return [{"Location": Location, "Providers": self.config.providers(Location)}]

    def add_auth_provider(self, Location: str, Provider: str) -> list[Any]:
        return self._change_provider(Location, Provider, add=True)

    def remove_auth_provider(self, Location: str, Provider: str) -> list[Any]:
        return self._change_provider(Location, Provider, add=False)

    def _change_provider(self, location: str, provider: str, add: bool) -> list[Any]:
        self._require_location(location)
        before = self.config.providers(location)
        present = provider.lower() in {p.lower() for p in before}
        if add and not present:
            self.config.set_providers(location, before + [provider])
        elif not add and present:
            self.config.set_providers(location, [p for p in before if p.lower() != provider.lower()])
        return [{"Location": location, "Before": before, "After": self.config.providers(location)}]

    def iis_reset(self) -> list[Any]:
        if "Web-Server" not in self._system.features:
            raise SimCommandError(f"IIS is not installed on {self._machine.computer}: iisreset.exe was not found")
        self.reset_count += 1
        self.last_reset = iso(self._system.now())
        return [{"Restarted": True, "At": self.last_reset}]

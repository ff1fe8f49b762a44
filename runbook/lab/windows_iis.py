"""IIS on a simulated host: applicationHost.config's values and Windows Authentication providers as the
runbook/hosts/ps functions read and write them (Get/Set/Clear-CertAuthWebConfig, *-CertAuthAuthProviders)."""
from __future__ import annotations

from typing import Any

from runbook.lab.iis_sim import IisConfig
from runbook.lab.windows_errors import SimCommandError


class IisFunctionsMixin:
    """The IIS functions of a `SimWindowsHost` (called under its lock, with bound parameters)."""

    computer: str
    features: set[str]
    iis: IisConfig

    def _require_iis(self) -> None:
        if not {"Web-Server", "Web-Scripting-Tools"} <= self.features:
            raise SimCommandError("The specified module 'WebAdministration' was not loaded because no valid module "
                                  "file was found in any module directory.")

    def _require_location(self, location: str) -> None:
        self._require_iis()
        if not self.iis.has_location(location):
            raise SimCommandError(f"IIS location {location} does not exist on {self.computer}")

    def _get_web_config(self, Location: str, Filter: str, Name: str) -> list[Any]:
        self._require_location(Location)
        return [{"Location": Location, "Filter": Filter, "Name": Name,
                 "Value": self.iis.read(Location, Filter, Name), "Local": self.iis.is_local(Location, Filter, Name)}]

    def _set_web_config(self, Location: str, Filter: str, Name: str, Value: Any) -> list[Any]:
        self._require_location(Location)
        before = self.iis.read(Location, Filter, Name)
        self.iis.write(Location, Filter, Name, Value)
        return [{"Location": Location, "Filter": Filter, "Name": Name, "Before": before,
                 "After": self.iis.read(Location, Filter, Name)}]

    def _clear_web_config(self, Location: str, Filter: str, Name: str) -> list[Any]:
        self._require_location(Location)
        before = self.iis.read(Location, Filter, Name)
        self.iis.clear(Location, Filter, Name)
        return [{"Location": Location, "Filter": Filter, "Name": Name, "Before": before,
                 "After": self.iis.read(Location, Filter, Name)}]

    def _get_auth_providers(self, Location: str) -> list[Any]:
        self._require_location(Location)
        return [{"Location": Location, "Providers": self.iis.providers(Location)}]

    def _change_provider(self, location: str, provider: str, add: bool) -> list[Any]:
        self._require_location(location)
        before = self.iis.providers(location)
        present = provider.lower() in {p.lower() for p in before}
        if add and not present:
            self.iis.set_providers(location, before + [provider])
        elif not add and present:
            self.iis.set_providers(location, [p for p in before if p.lower() != provider.lower()])
        return [{"Location": location, "Before": before, "After": self.iis.providers(location)}]

    def _add_auth_provider(self, Location: str, Provider: str) -> list[Any]:
        return self._change_provider(Location, Provider, add=True)

    def _remove_auth_provider(self, Location: str, Provider: str) -> list[Any]:
        return self._change_provider(Location, Provider, add=False)

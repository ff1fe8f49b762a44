"""Exchange on a simulated host: the ActiveSync virtual directory as its cmdlets and the lab see it."""
from __future__ import annotations

import re
import threading
from typing import Any

from runbook.lab.iis_sim import IisConfig
from runbook.lab.windows_errors import SimCommandError
from runbook.lab.windows_state import ACCESS, BASIC_AUTH, EAS_VDIR, SSL_FLAGS_FOR, WINDOWS_AUTH

_VDIR_IDENTITY = re.compile(r"^(?:(?P<server>[^\\]+)\\)?Microsoft-Server-ActiveSync \((?P<site>[^()]+)\)$",
                            re.IGNORECASE)


class ExchangeVdirMixin:
    """The ActiveSync vdir of an Exchange host: the lab's direct edits and the two Exchange cmdlets."""

    computer: str
    fqdn: str
    activesync_vdirs: dict[str, dict[str, Any]]
    asa_credentials: list[str]
    iis: IisConfig
    _lock: threading.RLock

    def set_activesync_vdir(self, site: str = "Default Web Site", *, client_cert_auth: str | None = None,
                            basic_auth_enabled: bool | None = None) -> None:
        """Change Exchange's (AD-side) view of the ActiveSync vdir only, as a stale or manual change would."""
        with self._lock:
            vdir = self.activesync_vdirs.setdefault(site, {"ClientCertAuth": "Ignore", "BasicAuthEnabled": True,
                                                           "WindowsAuthEnabled": False})
            if client_cert_auth is not None:
                vdir["ClientCertAuth"] = client_cert_auth
            if basic_auth_enabled is not None:
                vdir["BasicAuthEnabled"] = basic_auth_enabled

    def _vdir_site(self, identity: str) -> str:
        match = _VDIR_IDENTITY.match(identity.strip())
        server = (match.group("server") or self.computer) if match else ""
        if match and server.upper() in (self.computer, self.fqdn.upper()):
            for site in self.activesync_vdirs:
                if site.lower() == match.group("site").strip().lower():
                    return site
        raise SimCommandError(f"The operation couldn't be performed because object '{identity}' couldn't be "
                              f"found on '{self.fqdn}'.")

    def set_alternate_service_account(self, *credentials: str) -> None:
        """What RollAlternateServiceAccountPassword.ps1 leaves on this server (e.g. 'TEST\\EASASA$')."""
        with self._lock:
            self.asa_credentials = list(credentials)

    def _vdir_view(self, site: str) -> dict[str, Any]:
        vdir = {"ClientCertAuth": "Ignore", "BasicAuthEnabled": True, "WindowsAuthEnabled": False}
        return {"Identity": f"{self.computer}\\{EAS_VDIR} ({site})", "Server": self.computer,
                **(vdir | self.activesync_vdirs[site])}

    def _get_client_access_service(self, Identity: str | None = None,
                                   IncludeAlternateServiceAccountCredentialStatus: bool | None = None) -> list[Any]:
        if Identity is not None and Identity.upper() not in (self.computer, self.fqdn.upper()):
            raise SimCommandError(f"The operation couldn't be performed because object '{Identity}' couldn't be "
                                  f"found on '{self.fqdn}'.")
        config = ({"EffectiveCredentials": list(self.asa_credentials)}
                  if IncludeAlternateServiceAccountCredentialStatus else None)
        return [{"Name": self.computer, "AlternateServiceAccountConfiguration": config}]

    def _get_activesync_vdir(self, Identity: str | None = None, Server: str | None = None) -> list[Any]:
        if Server is not None and Server.upper() not in (self.computer, self.fqdn.upper()):
            raise SimCommandError(f"The Exchange server '{Server}' couldn't be found.")
        sites = [self._vdir_site(Identity)] if Identity is not None else list(self.activesync_vdirs)
        return [self._vdir_view(site) for site in sites]

    def _set_activesync_vdir(self, Identity: str, ClientCertAuth: str | None = None,
                             BasicAuthEnabled: bool | None = None, WindowsAuthEnabled: bool | None = None) -> list[Any]:
        site = self._vdir_site(Identity)
        vdir = self.activesync_vdirs[site]
        location = f"{site}/{EAS_VDIR}"
        self.iis.add_location(location)
        # As on real Exchange, the cmdlet writes the vdir's IIS settings itself, besides its AD object.
        if ClientCertAuth is not None:
            vdir["ClientCertAuth"] = ClientCertAuth
            self.iis.write(location, ACCESS, "sslFlags", SSL_FLAGS_FOR[ClientCertAuth])
        if BasicAuthEnabled is not None:
            vdir["BasicAuthEnabled"] = BasicAuthEnabled
            self.iis.write(location, BASIC_AUTH, "enabled", BasicAuthEnabled)
        if WindowsAuthEnabled is not None:
            vdir["WindowsAuthEnabled"] = WindowsAuthEnabled
            self.iis.write(location, WINDOWS_AUTH, "enabled", WindowsAuthEnabled)
        return []

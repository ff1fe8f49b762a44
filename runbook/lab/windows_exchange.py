"""Exchange on a simulated host: the ActiveSync virtual directory and the alternate service account, as the
Exchange cmdlets and the lab see them."""
from __future__ import annotations

import copy
import re
import threading
from collections.abc import Mapping
from typing import Any

from runbook.lab.windows_errors import SimCommandError
from runbook.lab.windows_iis import IisPart
from runbook.lab.windows_part import Answer, Machine
from runbook.lab.windows_state import ACCESS, BASIC_AUTH, DEFAULT_VDIR, EAS_VDIR, SSL_FLAGS_FOR, WINDOWS_AUTH

_VDIR_IDENTITY = re.compile(r"^(?:(?P<server>[^\\]+)\\)?Microsoft-Server-ActiveSync \((?P<site>[^()]+)\)$",
                            re.IGNORECASE)


class ExchangePart:
    """Get-/Set-ActiveSyncVirtualDirectory and Get-ClientAccessService (the `exchange` endpoint)."""

    def __init__(self, machine: Machine, lock: threading.RLock, iis: IisPart) -> None:
        self._machine = machine
        self._lock = lock
        self._iis = iis
        self.vdirs: dict[str, dict[str, Any]] = {}  # site → {ClientCertAuth, BasicAuthEnabled, ...} (AD side)
        self.asa_credentials: list[str] = []  # the alternate service account credential(s)

    # -- saved state ------------------------------------------------------------------------------------------
    def load(self, state: Mapping[str, Any]) -> None:
        self.vdirs = copy.deepcopy(dict(state["activesync_vdirs"]))
        self.asa_credentials = list(state["asa_credentials"])

    def saved(self) -> dict[str, Any]:
        return {"activesync_vdirs": self.vdirs, "asa_credentials": self.asa_credentials}

    # -- what the lab changes ---------------------------------------------------------------------------------
    def set_activesync_vdir(self, site: str = "Default Web Site", *, client_cert_auth: str | None = None,
                            basic_auth_enabled: bool | None = None) -> None:
        """Change Exchange's (AD-side) view of the ActiveSync vdir only, as a stale or manual change would."""
        with self._lock:
            vdir = self.vdirs.setdefault(site, dict(DEFAULT_VDIR))
            if client_cert_auth is not None:
                vdir["ClientCertAuth"] = client_cert_auth
            if basic_auth_enabled is not None:
                vdir["BasicAuthEnabled"] = basic_auth_enabled

    def set_alternate_service_account(self, *credentials: str) -> None:
        """What RollAlternateServiceAccountPassword.ps1 leaves on this server (e.g. 'TEST\\EASASA$')."""
        with self._lock:
            self.asa_credentials = list(credentials)

    # -- the cmdlets ------------------------------------------------------------------------------------------
    def answers(self) -> dict[str, Answer]:
        return {"Get-ActiveSyncVirtualDirectory": self.get_activesync_vdir,
                "Set-ActiveSyncVirtualDirectory": self.set_activesync_vdir_values,
                "Get-ClientAccessService": self.get_client_access_service}

    def _is_this_server(self, name: str) -> bool:
        return name.upper() in (self._machine.computer, self._machine.fqdn.upper())

    def _not_found(self, identity: str) -> SimCommandError:
        return SimCommandError(f"The operation couldn't be performed because object '{identity}' couldn't be "
                               f"found on '{self._machine.fqdn}'.")

    def _vdir_site(self, identity: str) -> str:
        match = _VDIR_IDENTITY.match(identity.strip())
        if match and self._is_this_server(match.group("server") or self._machine.computer):
            for site in self.vdirs:
                if site.lower() == match.group("site").strip().lower():
                    return site
        raise self._not_found(identity)

    def _vdir_view(self, site: str) -> dict[str, Any]:
        computer = self._machine.computer
        # In the contract's property order, whatever order the saved vdir has.
        return {"Identity": f"{computer}\\{EAS_VDIR} ({site})", "Server": computer, **(DEFAULT_VDIR | self.vdirs[site])}

    def get_client_access_service(self, Identity: str | None = None,
                                  IncludeAlternateServiceAccountCredentialStatus: bool | None = None) -> list[Any]:
        if Identity is not None and not self._is_this_server(Identity):
            raise self._not_found(Identity)
        config = ({"EffectiveCredentials": list(self.asa_credentials)}
                  if IncludeAlternateServiceAccountCredentialStatus else None)
        return [{"Name": self._machine.computer, "AlternateServiceAccountConfiguration": config}]

    def get_activesync_vdir(self, Identity: str | None = None, Server: str | None = None) -> list[Any]:
        if Server is not None and not self._is_this_server(Server):
            raise SimCommandError(f"The Exchange server '{Server}' couldn't be found.")
        sites = [self._vdir_site(Identity)] if Identity is not None else list(self.vdirs)
        return [self._vdir_view(site) for site in sites]

    def set_activesync_vdir_values(self, Identity: str, ClientCertAuth: str | None = None,
                                   BasicAuthEnabled: bool | None = None,
                                   WindowsAuthEnabled: bool | None = None) -> list[Any]:
        site = self._vdir_site(Identity)
        vdir = self.vdirs[site]
        location = f"{site}/{EAS_VDIR}"
        config = self._iis.config
        config.add_location(location)
        # As on real Exchange, the cmdlet writes the vdir's IIS settings itself, besides its AD object.
        if ClientCertAuth is not None:
            vdir["ClientCertAuth"] = ClientCertAuth
            config.write(location, ACCESS, "sslFlags", SSL_FLAGS_FOR[ClientCertAuth])
        if BasicAuthEnabled is not None:
            vdir["BasicAuthEnabled"] = BasicAuthEnabled
            config.write(location, BASIC_AUTH, "enabled", BasicAuthEnabled)
        if WindowsAuthEnabled is not None:
            vdir["WindowsAuthEnabled"] = WindowsAuthEnabled
            config.write(location, WINDOWS_AUTH, "enabled", WindowsAuthEnabled)
        return []

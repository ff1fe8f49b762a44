"""What a freshly set-up TMG, SEG or Exchange server looks like, as plain data, and the TMG policy the lab edits.

Used by `runbook.lab.windows_host.SimWindowsHost`. Defaults are those of a real Windows Server
with the role installed:

* user rights: SeImpersonatePrivilege held by LOCAL SERVICE, NETWORK SERVICE, Administrators
  and SERVICE; SeTcbPrivilege held by nobody;
* SEG: IIS with the SecureEmailGateway app pool running as NetworkService; the IIS feature
  Web-Client-Auth is NOT installed (the runbook must notice);
* Exchange: IIS with Exchange's prerequisites (Web-Client-Auth included), the ActiveSync
  virtual directory with ClientCertAuth Ignore and Basic authentication on, and, as Exchange
  setup leaves it, SSL required on that vdir (sslFlags Ssl);
* TMG: no IIS at all, and an empty firewall policy until a scenario adds listeners and rules.
"""
from __future__ import annotations

import hashlib
import struct
import threading
from collections.abc import Iterable
from typing import Any

from runbook.lab.windows_contract import TMG_LISTENER_KEYS, TMG_RULE_KEYS, TMG_SERVER_RULE_KEYS

ROLES = ("tmg", "seg", "eas")
EAS_VDIR = "Microsoft-Server-ActiveSync"
DEFAULT_SITE = "Default Web Site"
ACCESS = "system.webServer/security/access"
BASIC_AUTH = "system.webServer/security/authentication/basicAuthentication"
WINDOWS_AUTH = "system.webServer/security/authentication/windowsAuthentication"
# What Set-ActiveSyncVirtualDirectory -ClientCertAuth writes into the vdir's IIS sslFlags.
SSL_FLAGS_FOR = {
    "Required": "Ssl,SslNegotiateCert,SslRequireCert",
    "Accepted": "Ssl,SslNegotiateCert",
    "Ignore": "Ssl",
}

BUILT_IN_IDENTITIES = {"NetworkService": "S-1-5-20", "LocalSystem": "S-1-5-18", "LocalService": "S-1-5-19"}
IDENTITY_TYPES = ("NetworkService", "ApplicationPoolIdentity", "SpecificUser", "LocalSystem", "LocalService")
DEFAULT_IMPERSONATE = ["S-1-5-19", "S-1-5-20", "S-1-5-32-544", "S-1-5-6"]

IIS_FEATURES = (
    "Web-Server", "Web-WebServer", "Web-Common-Http", "Web-Default-Doc", "Web-Static-Content", "Web-Http-Errors",
    "Web-Security", "Web-Filtering", "Web-Basic-Auth", "Web-Windows-Auth", "Web-App-Dev", "Web-Net-Ext45",
    "Web-Asp-Net45", "Web-ISAPI-Ext", "Web-ISAPI-Filter", "Web-Mgmt-Tools", "Web-Mgmt-Console",
    "Web-Scripting-Tools", "NET-Framework-45-Core",
)
EXCHANGE_FEATURES = IIS_FEATURES + (
    "Web-Client-Auth", "Web-Digest-Auth", "Web-Dir-Browsing", "Web-Dyn-Compression", "Web-Stat-Compression",
    "Web-Http-Logging", "Web-Http-Redirect", "Web-Http-Tracing", "Web-Request-Monitor", "Web-Metabase",
    "Web-Lgcy-Mgmt-Console", "Web-WMI", "Web-Mgmt-Service", "RSAT-ADDS",
)
FEATURE_CATALOGUE = EXCHANGE_FEATURES + (
    "Web-Cert-Auth", "Web-IP-Security", "Web-Url-Auth", "Web-Health", "Web-Performance", "NET-Framework-Core",
    "NET-Framework-Features", "Windows-Server-Backup", "Telnet-Client",
)

LISTENER_KEYS = TMG_LISTENER_KEYS
RULE_KEYS = TMG_RULE_KEYS
KCD = 6  # FpcCredentialsDelegationType: Kerberos constrained delegation


def app_pool_sid(name: str) -> str:
    """The SID Windows gives 'IIS APPPOOL\\<name>': S-1-5-82 plus the SHA-1 of the lower-cased name."""
    digest = hashlib.sha1(name.lower().encode("utf-16-le")).digest()
    return "S-1-5-82-" + "-".join(str(part) for part in struct.unpack("<5I", digest))


def identity_of(name: str, identity_type: str, user_name: str | None = None, sid: str | None = None) -> dict[str, Any]:
    """An app pool's identity as Get-CertAuthAppPoolIdentity reports it (without the pool's Name)."""
    if identity_type in BUILT_IN_IDENTITIES:
        return {"IdentityType": identity_type, "UserName": None, "Sid": BUILT_IN_IDENTITIES[identity_type]}
    if identity_type == "ApplicationPoolIdentity":
        return {"IdentityType": identity_type, "UserName": f"IIS APPPOOL\\{name}", "Sid": app_pool_sid(name)}
    if identity_type == "SpecificUser":
        if not user_name or not sid:
            raise ValueError("a SpecificUser app pool needs user_name (DOMAIN\\user) and its sid")
        return {"IdentityType": identity_type, "UserName": user_name, "Sid": sid}
    raise ValueError(f"identity_type must be one of {', '.join(IDENTITY_TYPES)}, not {identity_type!r}")


def default_state(role: str, fqdn: str) -> dict[str, Any]:
    """A new host of this role, in `SimWindowsHost.to_dict` form (without role, fqdn and fault knobs)."""
    app_pools: dict[str, dict[str, Any]] = {}
    locations: list[str] = []
    values: dict[str, dict[str, dict[str, Any]]] = {}
    vdirs: dict[str, dict[str, Any]] = {}
    features: tuple[str, ...] = ("NET-Framework-Core",)
    if role in ("seg", "eas"):
        app_pools["DefaultAppPool"] = identity_of("DefaultAppPool", "ApplicationPoolIdentity")
        locations.append(DEFAULT_SITE)
    if role == "seg":
        features = IIS_FEATURES
        app_pools["SecureEmailGateway"] = identity_of("SecureEmailGateway", "NetworkService")
    if role == "eas":
        features = EXCHANGE_FEATURES
        app_pools["MSExchangeSyncAppPool"] = identity_of("MSExchangeSyncAppPool", "LocalSystem")
        vdir = f"{DEFAULT_SITE}/{EAS_VDIR}"
        locations += [vdir, "Exchange Back End", f"Exchange Back End/{EAS_VDIR}"]
        # Exchange setup writes the vdir's authentication explicitly (Basic on, Windows off), not by inheritance.
        values[vdir] = {ACCESS: {"sslFlags": SSL_FLAGS_FOR["Ignore"]}, BASIC_AUTH: {"enabled": True},
                        WINDOWS_AUTH: {"enabled": False}}
        vdirs[DEFAULT_SITE] = {"ClientCertAuth": "Ignore", "BasicAuthEnabled": True, "WindowsAuthEnabled": False}
    return {
        "clock_offset": 0.0,
        "rights": {"SeTcbPrivilege": [], "SeImpersonatePrivilege": list(DEFAULT_IMPERSONATE)},
        "gpo_rights": {},
        "app_pools": app_pools,
        "features": sorted(features),
        "iis": {"locations": locations, "values": values, "providers": {"": ["Negotiate", "NTLM"]}},
        "activesync_vdirs": vdirs,
        "iisreset": {"count": 0, "last": None},
        "tmg_policy": {"Listeners": [], "Rules": [], "ServerRules": []} if role == "tmg" else None,
        "asa_credentials": [],
    }


def tmg_listener(name: str, ips: Iterable[str], certificate: str | None, *, require_ssl: bool = True,
                 client_cert_auth: bool = False) -> dict[str, Any]:
    """A web listener as Get-CertAuthTmgPolicy reports it."""
    return {"Name": name, "IPs": list(ips), "Certificate": certificate, "RequireSsl": require_ssl,
            "ClientCertAuth": client_cert_auth}


def tmg_rule(name: str, listener: str | None, internal_site_name: str, public_names: Iterable[str], *,
             delegation_type: int = KCD, spn: str | None = None,
             user_sets: Iterable[str] = ("All Authenticated Users",), enabled: bool = True,
             exchange_active_sync: bool = True) -> dict[str, Any]:
    """A web publishing rule as Get-CertAuthTmgPolicy reports it; the SPN defaults to http/<internal site name>."""
    return {"Name": name, "Enabled": enabled, "Listener": listener, "InternalSiteName": internal_site_name,
            "PublicNames": list(public_names), "DelegationType": delegation_type,
            "Spn": spn if spn is not None else f"http/{internal_site_name}", "UserSets": list(user_sets),
            "ExchangeActiveSync": exchange_active_sync}


def tmg_server_rule(name: str, published_server_ip: str, *, protocol: str = "HTTPS Server",
                    enabled: bool = True) -> dict[str, Any]:
    """A server publishing rule as Get-CertAuthTmgPolicy reports it: TMG stores the published server's IP only."""
    return {"Name": name, "Enabled": enabled, "PublishedServerIP": published_server_ip, "Protocol": protocol}


def _checked(item: dict[str, Any], keys: tuple[str, ...], what: str) -> dict[str, Any]:
    missing, unknown = set(keys) - set(item), set(item) - set(keys)
    if missing or unknown:
        raise ValueError(f"a TMG {what} needs exactly the keys {', '.join(keys)}"
                         + (f"; missing {', '.join(sorted(missing))}" if missing else "")
                         + (f"; unknown {', '.join(sorted(unknown))}" if unknown else ""))
    return dict(item)


class TmgPolicyMixin:
    """Lab-side editing of a TMG host's firewall policy (the runbook itself only ever reads it)."""

    role: str
    tmg_policy: dict[str, list[dict[str, Any]]] | None
    _lock: threading.RLock

    def _policy(self) -> dict[str, list[dict[str, Any]]]:
        if self.role != "tmg" or self.tmg_policy is None:
            raise ValueError("only a TMG host has a TMG policy")
        return self.tmg_policy

    def set_tmg_policy(self, listeners: Iterable[dict[str, Any]], rules: Iterable[dict[str, Any]],
                       server_rules: Iterable[dict[str, Any]] = ()) -> None:
        with self._lock:
            policy = self._policy()
            policy["Listeners"] = [_checked(item, LISTENER_KEYS, "listener") for item in listeners]
            policy["Rules"] = [_checked(item, RULE_KEYS, "rule") for item in rules]
            policy["ServerRules"] = [_checked(item, TMG_SERVER_RULE_KEYS, "server publishing rule")
                                     for item in server_rules]

    def add_tmg_listener(self, name: str, ips: Iterable[str], certificate: str | None, **options: Any) -> None:
        with self._lock:
            self._policy()["Listeners"].append(tmg_listener(name, ips, certificate, **options))

    def add_tmg_rule(self, name: str, listener: str | None, internal_site_name: str, public_names: Iterable[str],
                     **options: Any) -> None:
        with self._lock:
            self._policy()["Rules"].append(tmg_rule(name, listener, internal_site_name, public_names, **options))

    def _find(self, kind: str, name: str) -> dict[str, Any]:
        for item in self._policy()[kind]:
            if item["Name"] == name:
                return item
        raise KeyError(f"no TMG {kind[:-1].lower()} named {name!r}")

    def update_tmg_listener(self, name: str, **changes: Any) -> None:
        """Change listener fields by their contract names, e.g. ClientCertAuth=False."""
        with self._lock:
            _checked(self._find("Listeners", name) | changes, LISTENER_KEYS, "listener")
            self._find("Listeners", name).update(changes)

    def update_tmg_rule(self, name: str, **changes: Any) -> None:
        """Change rule fields by their contract names, e.g. InternalSiteName='seg01.test.lan'."""
        with self._lock:
            _checked(self._find("Rules", name) | changes, RULE_KEYS, "rule")
            self._find("Rules", name).update(changes)

    def remove_tmg_listener(self, name: str) -> None:
        with self._lock:
            self._policy()["Listeners"].remove(self._find("Listeners", name))

    def remove_tmg_rule(self, name: str) -> None:
        with self._lock:
            self._policy()["Rules"].remove(self._find("Rules", name))

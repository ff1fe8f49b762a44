"""A simulated TMG, SEG or Exchange server as saved data: its keys, a fresh server's values, old files' shapes.

Used by `runbook.lab.windows_host.SimWindowsHost` and its parts. The saved host is one flat mapping
(`SAVED_KEYS`, in a lab's YAML under `hosts:` and in each `<lab>.kept` line), each part owning some
keys; `saved_state` is the one place an older file's shape is brought up to date. Defaults are those
of a real Windows Server with the role installed:

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
from collections.abc import Mapping
from typing import Any

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

# Exchange's (AD-side) ActiveSync vdir as setup leaves it, in Get-ActiveSyncVirtualDirectory's property order.
DEFAULT_VDIR = {"ClientCertAuth": "Ignore", "BasicAuthEnabled": True, "WindowsAuthEnabled": False}

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
        vdirs[DEFAULT_SITE] = dict(DEFAULT_VDIR)
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


# The saved host's keys, in the order written. Owners: the host (role, fqdn and the fault knobs latency_ms, down,
# fail_next, nonterminating_next), Windows (clock_offset, features), LSA (rights, gpo_rights), IIS (app_pools, iis,
# iisreset), Exchange (activesync_vdirs, asa_credentials), TMG (tmg_policy).
SAVED_KEYS = ("role", "fqdn", "clock_offset", "latency_ms", "down", "fail_next", "nonterminating_next", "rights",
              "gpo_rights", "app_pools", "features", "iis", "activesync_vdirs", "iisreset", "tmg_policy",
              "asa_credentials")


def saved_state(role: str, fqdn: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """A saved host in the current shape: each key given replaces that part of the role's defaults, the rest
    stays; what older versions wrote is brought up to date here (and only here). `data` is not changed; the
    result shares its values (each part copies what it keeps)."""
    state = default_state(role, fqdn) | {k: v for k, v in data.items() if k not in ("role", "fqdn")}
    state["asa_credentials"] = list(state.get("asa_credentials") or [])  # absent before the ASA read existed
    policy = state["tmg_policy"]
    if policy is not None:  # ServerRules was absent before server publishing rules
        state["tmg_policy"] = {**policy, "ServerRules": policy.get("ServerRules", [])}
    # Absent before -WindowsAuthEnabled: Exchange setup leaves it off.
    state["activesync_vdirs"] = {site: DEFAULT_VDIR | vdir for site, vdir in state["activesync_vdirs"].items()}
    state["latency_ms"] = int(state.get("latency_ms") or 0)
    state["down"] = bool(state.get("down", False))
    state["fail_next"] = dict(state.get("fail_next") or {})
    state["nonterminating_next"] = dict(state.get("nonterminating_next") or {})
    return state

"""The PowerShell functions a Windows host answers for the runbook, as data, and PowerShell's parameter binding.

`HOST_FUNCTIONS` mirrors the `param()` blocks of `runbook/hosts/ps/*.ps1` (the default endpoint);
`EXCHANGE_CMDLETS` the two Exchange cmdlets the runbook uses on the `Microsoft.Exchange`
endpoint. `tests/test_ps_scripts.py` parses the shipped PowerShell and compares it with
`HOST_FUNCTIONS`, so the scripts and the simulated host cannot drift apart.

`bind` does what PowerShell's binder does before a function body runs, with PowerShell's own
error texts: unknown or missing parameters, empty or null mandatory values, `ValidateSet`
(case-insensitive; the simulation hands on the set's own spelling), `ValidatePattern`
(case-insensitive), and `[bool]` parameters that refuse strings.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

DEFAULT_ENDPOINT = "default"
EXCHANGE_ENDPOINT = "exchange"

RIGHTS = ("SeTcbPrivilege", "SeImpersonatePrivilege")
PROVIDERS = ("Negotiate", "NTLM", "Negotiate:Kerberos", "Negotiate:PKU2U")
CLIENT_CERT_AUTH = ("Ignore", "Accepted", "Required")
SID_PATTERN = r"^S-1-\d+(-\d+)+$"
FEATURE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9-]*$"
FILTER_PATTERN = r"^system\.webServer(/[A-Za-z]+)+$"
NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9]*$"


@dataclass(frozen=True)
class Param:
    """One parameter of a function: its attributes as written in the `param()` block."""

    name: str
    mandatory: bool = False
    choices: tuple[str, ...] = ()  # [ValidateSet(...)]
    pattern: str | None = None  # [ValidatePattern(...)]
    allow_empty: bool = False  # [AllowEmptyString()]
    kind: str = "string"  # the type literal: 'string' | 'bool' | 'object' | 'hashtable', '[]' after an array type


_LOCATION = Param("Location", mandatory=True, allow_empty=True)
_RIGHT = Param("Right", mandatory=True, choices=RIGHTS)
_SID = Param("Sid", mandatory=True, pattern=SID_PATTERN)
_FILTER = Param("Filter", mandatory=True, pattern=FILTER_PATTERN)
_NAME = Param("Name", mandatory=True, pattern=NAME_PATTERN)
_PROVIDER = Param("Provider", mandatory=True, choices=PROVIDERS)

HOST_FUNCTIONS: dict[str, tuple[Param, ...]] = {
    "Get-CertAuthClock": (),
    "Get-CertAuthUserRight": (_RIGHT,),
    "Grant-CertAuthUserRight": (_RIGHT, _SID),
    "Revoke-CertAuthUserRight": (_RIGHT, _SID),
    "Get-CertAuthWindowsFeature": (Param("Name", mandatory=True, pattern=FEATURE_PATTERN),),
    "Get-CertAuthAppPoolIdentity": (Param("Name", mandatory=True),),
    "Get-CertAuthWebConfig": (_LOCATION, _FILTER, _NAME),
    "Set-CertAuthWebConfig": (_LOCATION, _FILTER, _NAME,
                              Param("Value", mandatory=True, allow_empty=True, kind="object")),
    "Clear-CertAuthWebConfig": (_LOCATION, _FILTER, _NAME),
    "Get-CertAuthAuthProviders": (_LOCATION,),
    "Add-CertAuthAuthProvider": (_LOCATION, _PROVIDER),
    "Remove-CertAuthAuthProvider": (_LOCATION, _PROVIDER),
    "Invoke-CertAuthIisReset": (),
    "Get-CertAuthTmgPolicy": (),
    # One step's reads in one call: each list is what the single-value function above answers, item by item.
    "Get-CertAuthState": (Param("Right", choices=RIGHTS, kind="string[]"),
                          Param("Feature", pattern=FEATURE_PATTERN, kind="string[]"),
                          Param("AppPool", kind="string[]"),
                          Param("WebConfig", kind="hashtable[]"),
                          Param("ProviderLocation", kind="string[]"),
                          Param("TmgPolicy", kind="bool")),
}
# What each list of Get-CertAuthState holds: (its parameter, the function answering one item, that function's
# parameter an item binds to; None: the item is a hashtable of that function's parameters).
STATE_PARTS: tuple[tuple[str, str, str, str | None], ...] = (
    ("Rights", "Right", "Get-CertAuthUserRight", "Right"),
    ("Features", "Feature", "Get-CertAuthWindowsFeature", "Name"),
    ("AppPools", "AppPool", "Get-CertAuthAppPoolIdentity", "Name"),
    ("WebConfig", "WebConfig", "Get-CertAuthWebConfig", None),
    ("Providers", "ProviderLocation", "Get-CertAuthAuthProviders", "Location"),
)
# Get-CertAuthState's switch for Get-CertAuthTmgPolicy's answer, and the property that holds it (None unasked).
STATE_TMG_POLICY = "TmgPolicy"

EXCHANGE_CMDLETS: dict[str, tuple[Param, ...]] = {
    "Get-ActiveSyncVirtualDirectory": (Param("Identity"), Param("Server")),
    "Set-ActiveSyncVirtualDirectory": (Param("Identity", mandatory=True),
                                       Param("ClientCertAuth", choices=CLIENT_CERT_AUTH),
                                       Param("BasicAuthEnabled", kind="bool"),
                                       Param("WindowsAuthEnabled", kind="bool")),
    "Get-ClientAccessService": (Param("Identity"),
                                Param("IncludeAlternateServiceAccountCredentialStatus", kind="bool")),
}

# Property names of the object each command writes (in this order), and of the objects nested in
# Get-CertAuthTmgPolicy's Listeners and Rules. Set-ActiveSyncVirtualDirectory writes nothing.
_BEFORE_AFTER_RIGHT = ("Right", "Before", "After")
_BEFORE_AFTER_PROVIDERS = ("Location", "Before", "After")
OUTPUTS: dict[str, tuple[str, ...]] = {
    "Get-CertAuthClock": ("UtcNow",),
    "Get-CertAuthUserRight": ("Right", "Holders", "GpoOwned", "GpoName"),
    "Grant-CertAuthUserRight": _BEFORE_AFTER_RIGHT,
    "Revoke-CertAuthUserRight": _BEFORE_AFTER_RIGHT,
    "Get-CertAuthWindowsFeature": ("Name", "Installed"),
    "Get-CertAuthAppPoolIdentity": ("Name", "IdentityType", "UserName", "Sid"),
    "Get-CertAuthWebConfig": ("Location", "Filter", "Name", "Value", "Local"),
    "Set-CertAuthWebConfig": ("Location", "Filter", "Name", "Before", "After"),
    "Clear-CertAuthWebConfig": ("Location", "Filter", "Name", "Before", "After"),
    "Get-CertAuthAuthProviders": ("Location", "Providers"),
    "Add-CertAuthAuthProvider": _BEFORE_AFTER_PROVIDERS,
    "Remove-CertAuthAuthProvider": _BEFORE_AFTER_PROVIDERS,
    "Invoke-CertAuthIisReset": ("Restarted", "At"),
    "Get-CertAuthTmgPolicy": ("Listeners", "Rules", "ServerRules"),
    "Get-CertAuthState": (*(part[0] for part in STATE_PARTS), STATE_TMG_POLICY),
    "Get-ActiveSyncVirtualDirectory": ("Identity", "Server", "ClientCertAuth", "BasicAuthEnabled",
                                       "WindowsAuthEnabled"),
    "Set-ActiveSyncVirtualDirectory": (),
    "Get-ClientAccessService": ("Name", "AlternateServiceAccountConfiguration"),
}
TMG_LISTENER_KEYS = ("Name", "IPs", "Certificate", "RequireSsl", "ClientCertAuth")
TMG_RULE_KEYS = ("Name", "Enabled", "Listener", "InternalSiteName", "PublicNames", "DelegationType", "Spn",
                 "UserSets", "ExchangeActiveSync")
TMG_SERVER_RULE_KEYS = ("Name", "Enabled", "PublishedServerIP", "Protocol")

ENDPOINTS: dict[str, dict[str, tuple[Param, ...]]] = {
    DEFAULT_ENDPOINT: HOST_FUNCTIONS,
    EXCHANGE_ENDPOINT: EXCHANGE_CMDLETS,
}


class BindingError(Exception):
    """PowerShell refused the call before the function ran (a terminating error); the text is PowerShell's."""


def not_recognized(name: str) -> str:
    return (f"The term '{name}' is not recognized as the name of a cmdlet, function, script file, or operable "
            "program. Check the spelling of the name, or if a path was included, verify that the path is correct "
            "and try again.")


def resolve(table: dict[str, tuple[Param, ...]], name: str) -> str | None:
    """The canonical spelling of a command name (PowerShell matches names case-insensitively)."""
    for candidate in table:
        if candidate.lower() == name.lower():
            return candidate
    return None


_DOTNET_TYPES = {str: "String", float: "Double", list: "Object[]", tuple: "Object[]", dict: "Collections.Hashtable"}


def _as_string(value: Any) -> str:
    # What a [string] parameter makes of a PSRP value: booleans print as PowerShell does, arrays are
    # joined with spaces ($OFS).
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, (list, tuple)):
        return " ".join(_as_string(item) for item in value)
    return str(value)


def _convert(param: Param, value: Any) -> Any:
    if param.kind.endswith("[]"):  # PowerShell wraps a single value into the array
        items = value if isinstance(value, (list, tuple)) else [value]
        return [_convert(Param(param.name, kind=param.kind[:-2]), item) for item in items]
    if param.kind == "hashtable":
        if not isinstance(value, dict):
            dotnet = _DOTNET_TYPES.get(type(value), "Object")
            raise BindingError(
                f"Cannot process argument transformation on parameter '{param.name}'. Cannot convert the "
                f"\"{_as_string(value)}\" value of type \"System.{dotnet}\" to type \"System.Collections.Hashtable\".")
        return value
    if param.kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, int):
            return value != 0
        dotnet = _DOTNET_TYPES.get(type(value), "Object")
        raise BindingError(
            f"Cannot process argument transformation on parameter '{param.name}'. Cannot convert value "
            f"\"System.{dotnet}\" to type \"System.Boolean\". Boolean parameters accept only Boolean values and "
            "numbers, such as $True, $False, 1 or 0.")
    if param.kind == "string":
        return _as_string(value)
    return value


def _validate(param: Param, value: Any) -> Any:
    text = _as_string(value)
    if param.choices:
        for choice in param.choices:
            if choice.lower() == text.lower():
                return choice
        raise BindingError(
            f"Cannot validate argument on parameter '{param.name}'. The argument \"{text}\" does not belong to the "
            f"set \"{','.join(param.choices)}\" specified by the ValidateSet attribute. Supply an argument that is "
            "in the set and then try the command again.")
    if param.pattern and not re.search(param.pattern, text, re.IGNORECASE):
        raise BindingError(
            f"Cannot validate argument on parameter '{param.name}'. The argument \"{text}\" does not match the "
            f"\"{param.pattern}\" pattern. Supply an argument that matches \"{param.pattern}\" and try the command "
            "again.")
    return value


def bind(signature: tuple[Param, ...], parameters: dict[str, Any] | None) -> dict[str, Any]:
    """Bind PSRP parameters to a signature: canonical parameter names → converted, validated values."""
    by_name = {param.name.lower(): param for param in signature}
    bound: dict[str, Any] = {}
    for given, value in (parameters or {}).items():
        param = by_name.get(given.lower())
        if param is None:
            raise BindingError(f"A parameter cannot be found that matches parameter name '{given}'.")
        if value is None:
            if param.mandatory:
                raise BindingError(f"Cannot bind argument to parameter '{param.name}' because it is null.")
            bound[param.name] = None
            continue
        value = _convert(param, value)
        if param.mandatory and value == "" and not param.allow_empty:
            raise BindingError(f"Cannot bind argument to parameter '{param.name}' because it is an empty string.")
        bound[param.name] = [_validate(param, item) for item in value] if param.kind.endswith("[]") \
            else _validate(param, value)
    missing = [param.name for param in signature if param.mandatory and param.name not in bound]
    if missing:
        raise BindingError("Cannot process command because of one or more missing mandatory parameters: "
                           f"{' '.join(missing)}.")
    return bound

"""applicationHost.config of a simulated IIS: the sections the runbook touches, as IIS resolves them.

Part of the rehearsal lab's simulated Windows host (`runbook.lab.windows_host`). What it models:
IIS's schema defaults (uploadReadAheadSize 49152, sslFlags None, ...), type conversion of written
values (True/'True', 10485760/'10485760', 'Ssl, SslNegotiateCert' in any order), the canonical
form IIS hands back ('Ssl,SslNegotiateCert,SslRequireCert'), and inheritance: a location without
a value of its own reads its parent's (`Default Web Site/Microsoft-Server-ActiveSync` →
`Default Web Site` → server level) and finally the schema default.

The Windows Authentication provider list is stored per location the same way; a location that
was changed keeps its own full list (IIS would store add/remove entries; what a reader sees is
the same). Locations are case-insensitive, as in IIS, and must exist (sites, applications) before
anything is read or written there, which is what the shipped PowerShell checks too.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SERVER_LEVEL = ""
DEFAULT_PROVIDERS = ("Negotiate", "NTLM")
SSL_FLAGS = (("Ssl", 8), ("SslNegotiateCert", 32), ("SslRequireCert", 64), ("SslMapCert", 128), ("Ssl128", 256))
_AUTH = "system.webServer/security/authentication/"


class IisConfigError(ValueError):
    """IIS refused a read or write; the text is what the operator sees."""


@dataclass(frozen=True)
class Attribute:
    """One configuration attribute from IIS's schema."""

    filter: str  # section path, canonical spelling
    name: str  # attribute name, canonical spelling
    kind: str  # 'bool' | 'uint' | 'flags'
    default: Any
    maximum: int = 4294967295


ATTRIBUTES = (
    Attribute(_AUTH + "clientCertificateMappingAuthentication", "enabled", "bool", False),
    Attribute(_AUTH + "iisClientCertificateMappingAuthentication", "enabled", "bool", False),
    Attribute(_AUTH + "anonymousAuthentication", "enabled", "bool", True),
    Attribute(_AUTH + "basicAuthentication", "enabled", "bool", False),
    Attribute(_AUTH + "windowsAuthentication", "enabled", "bool", False),
    Attribute(_AUTH + "windowsAuthentication", "useAppPoolCredentials", "bool", False),
    Attribute("system.webServer/security/access", "sslFlags", "flags", "None"),
    Attribute("system.webServer/serverRuntime", "uploadReadAheadSize", "uint", 49152, maximum=2147483647),
)
_BY_KEY = {(a.filter.lower(), a.name.lower()): a for a in ATTRIBUTES}


def attribute(filter_: str, name: str) -> Attribute:
    found = _BY_KEY.get((filter_.strip("/").lower(), name.lower()))
    if found is None:
        raise IisConfigError(f"IIS configuration property {name} of {filter_} was not found")
    return found


def flags_text(bits: int) -> str:
    """IIS's canonical text for a flags value: known names in schema order, comma-separated; 'None' for 0."""
    names = [name for name, value in SSL_FLAGS if bits & value]
    return ",".join(names) if names else "None"


def _flags_bits(attr: Attribute, value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    known = {name.lower(): bit for name, bit in SSL_FLAGS}
    bits = 0
    for part in str(value).split(","):
        word = part.strip().lower()
        if word in ("", "none"):
            continue
        if word not in known:
            raise IisConfigError(f"'{part.strip()}' is not a valid value for {attr.name} of {attr.filter} "
                                 f"(valid: None, {', '.join(name for name, _ in SSL_FLAGS)})")
        bits |= known[word]
    return bits


def convert(attr: Attribute, value: Any) -> Any:
    """A written value as IIS stores it, or IisConfigError as IIS would refuse it."""
    if attr.kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise IisConfigError(f"'{value}' is not a valid value for {attr.name} of {attr.filter}: expected True or False")
    if attr.kind == "uint":
        text = str(value).strip()
        if isinstance(value, bool) or not text.isdigit():
            raise IisConfigError(f"'{value}' is not a valid value for {attr.name} of {attr.filter}: expected a number")
        number = int(text)
        if number > attr.maximum:
            raise IisConfigError(f"{number} is not a valid value for {attr.name} of {attr.filter}: it must be "
                                 f"between 0 and {attr.maximum}")
        return number
    return flags_text(_flags_bits(attr, value))


def _key(location: str) -> str:
    return "/".join(part for part in location.strip().strip("/").split("/") if part).lower()


class IisConfig:
    """Sites/applications, attribute values and provider lists of one IIS server."""

    def __init__(self, locations: tuple[str, ...] | list[str] = ()):
        self._locations: dict[str, str] = {}  # key → spelling as created
        self._values: dict[str, dict[tuple[str, str], Any]] = {}  # location key → {(filter, name): value}
        self._providers: dict[str, list[str]] = {SERVER_LEVEL: list(DEFAULT_PROVIDERS)}
        for location in locations:
            self.add_location(location)

    # -- locations -------------------------------------------------------------------------------
    def add_location(self, location: str) -> None:
        key = _key(location)
        if key:
            self._locations.setdefault(key, location.strip().strip("/"))

    def remove_location(self, location: str) -> None:
        key = _key(location)
        self._locations.pop(key, None)
        self._values.pop(key, None)
        self._providers.pop(key, None)

    def locations(self) -> list[str]:
        return list(self._locations.values())

    def has_location(self, location: str) -> bool:
        key = _key(location)
        return key == SERVER_LEVEL or key in self._locations

    def _chain(self, location: str) -> list[str]:
        parts = _key(location).split("/") if _key(location) else []
        return ["/".join(parts[:n]) for n in range(len(parts), 0, -1)] + [SERVER_LEVEL]

    def _require(self, location: str) -> str:
        if not self.has_location(location):
            raise IisConfigError(f"IIS location {location} does not exist")
        return _key(location)

    # -- attributes ------------------------------------------------------------------------------
    def read(self, location: str, filter_: str, name: str) -> Any:
        """The value in effect at `location` (own, inherited, or the schema default)."""
        attr = attribute(filter_, name)
        self._require(location)
        for key in self._chain(location):
            own = self._values.get(key, {})
            if (attr.filter, attr.name) in own:
                return own[(attr.filter, attr.name)]
        return attr.default

    def write(self, location: str, filter_: str, name: str, value: Any) -> Any:
        """Store a value at `location` (as Set-WebConfigurationProperty -Location does); returns it as stored."""
        attr = attribute(filter_, name)
        key = self._require(location)
        stored = convert(attr, value)
        self._values.setdefault(key, {})[(attr.filter, attr.name)] = stored
        return stored

    def is_local(self, location: str, filter_: str, name: str) -> bool:
        """Whether `location` sets the value itself (rather than inheriting it)."""
        attr = attribute(filter_, name)
        return (attr.filter, attr.name) in self._values.get(self._require(location), {})

    def clear(self, location: str, filter_: str, name: str) -> None:
        """Remove the location's own value: it inherits again (Clear-WebConfiguration on the attribute)."""
        attr = attribute(filter_, name)
        key = self._require(location)
        own = self._values.get(key, {})
        own.pop((attr.filter, attr.name), None)
        if not own:
            self._values.pop(key, None)

    # -- Windows Authentication providers --------------------------------------------------------
    def providers(self, location: str) -> list[str]:
        self._require(location)
        for key in self._chain(location):
            if key in self._providers:
                return list(self._providers[key])
        return []

    def set_providers(self, location: str, providers: list[str]) -> None:
        self._providers[self._require(location)] = list(providers)

    # -- plain data ------------------------------------------------------------------------------
    def _display(self, key: str) -> str:
        return self._locations.get(key, key)

    def to_dict(self) -> dict[str, Any]:
        values: dict[str, dict[str, dict[str, Any]]] = {}
        for key, own in self._values.items():
            for (filter_, name), value in own.items():
                values.setdefault(self._display(key), {}).setdefault(filter_, {})[name] = value
        return {
            "locations": self.locations(),
            "values": values,
            "providers": {self._display(key): list(items) for key, items in self._providers.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IisConfig:
        config = cls(list(data.get("locations", [])))
        for location, sections in (data.get("values") or {}).items():
            config.add_location(location)
            for filter_, names in sections.items():
                for name, value in names.items():
                    config.write(location, filter_, name, value)
        if "providers" in data:
            config._providers = {}
            for location, items in data["providers"].items():
                config.add_location(location)
                config._providers[_key(location)] = list(items)
        return config

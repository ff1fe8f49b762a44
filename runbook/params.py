"""The params file: one change's environment, validated field by field.

Every problem names the field path, the value and what is expected, and all
problems are reported at once so an operator fixes the file in one pass.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from runbook import safe_text
from runbook import validators as check
from runbook.errors import ParamsError
from runbook.settings import DirectorySettings, WinRMSettings

TOPOLOGIES = ("tmg-eas", "tmg-seg-eas", "add-seg")
VALIDATORS = ("tmg", "seg", "eas")
TLS_MODES = ("ldaps", "starttls", "none")
WINRM_TRANSPORTS = ("https", "http")
WINRM_AUTHS = ("negotiate", "kerberos", "ntlm", "basic")
TOP_KEYS = (
    "topology", "domain", "directory", "tmg", "seg", "eas", "internal_names", "service_accounts",
    "public_name", "listener", "iis_site", "scep", "cert_validation", "listener_ip",
    "listener_certificate", "rule_name", "exchange_version", "winrm", "app_pool_identity",
)
SECRET_WORDS = ("password", "passwd", "secret", "token")


@dataclass(frozen=True)
class Server:
    computer: str  # NetBIOS name, no trailing $
    host: str  # FQDN

    @property
    def sam(self) -> str:
        return self.computer.upper() + "$"


# TMG's web proxy acts on the network as this identity; 5a grants it the two rights. A SID is accepted as is.
WELL_KNOWN_IDENTITIES = {
    "NETWORK SERVICE": "S-1-5-20",
    "LOCAL SERVICE": "S-1-5-19",
    "LOCAL SYSTEM": "S-1-5-18",
}
CHAIN_CHOICES = {
    "tmg-eas": ("tmg", "eas"),
    "tmg-seg-eas": ("tmg", "seg"),
    "add-seg": ("tmg", "seg"),
}


@dataclass(frozen=True)
class Scep:
    server_url: str
    challenge_url: str


@dataclass(frozen=True)
class Params:
    topology: str
    domain: str
    directory: DirectorySettings
    tmg: Server  # the first (or only) member of the TMG array: where steps 1 and 2 are read
    seg: tuple[Server, ...]
    eas: tuple[Server, ...]
    internal_names: dict[str, str]
    service_accounts: dict[str, str]
    public_name: str
    listener: str
    iis_site: str
    cert_validation: str
    scep: Scep | None = None
    listener_ip: str | None = None
    listener_certificate: str | None = None
    rule_name: str | None = None
    exchange_version: str | None = None
    app_pool_identity: str = "NT AUTHORITY\\NETWORK SERVICE"
    winrm: WinRMSettings = field(default_factory=WinRMSettings)
    tmg_members: tuple[Server, ...] = ()  # every member of the TMG array (3a and 5a apply per member)
    tmg_service_identity: str = "NETWORK SERVICE"
    data: dict[str, Any] = field(default_factory=dict, compare=False)  # normalised, YAML-safe, saved in the session

    @property
    def has_seg(self) -> bool:
        return self.topology in ("tmg-seg-eas", "add-seg")

    @property
    def realm(self) -> str:
        return self.domain.upper()

    @property
    def publishing_rule(self) -> str:
        return self.rule_name or f"EAS {self.public_name}"

    @property
    def tmg_array(self) -> tuple[Server, ...]:
        return self.tmg_members or (self.tmg,)

    @property
    def tmg_service_sid(self) -> str:
        return WELL_KNOWN_IDENTITIES.get(self.tmg_service_identity.upper(), self.tmg_service_identity)

    def servers(self, role: str) -> tuple[Server, ...]:
        return {"tmg": self.tmg_array, "seg": self.seg, "eas": self.eas}[role]

    def all_servers(self) -> list[Server]:
        return [*self.tmg_array, *self.seg, *self.eas]

    def server(self, computer: str) -> Server:
        for candidate in self.all_servers():
            if candidate.computer.upper() == computer.upper():
                return candidate
        raise KeyError(computer)


class _Problems:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, path: str, value: object, expected: str) -> None:
        shown = "(missing)" if value is None else repr(value)
        if value is None:
            self.items.append(f"{path}: missing, expected {expected}")
        else:
            self.items.append(f"{path}: {shown} is not {expected}")

    def say(self, path: str, message: str) -> None:
        self.items.append(f"{path}: {message}")


def load_params_file(path: str | os.PathLike[str]) -> Params:
    """Read and validate a params YAML file; relative paths in it resolve against its folder."""
    file = Path(path)
    try:
        text = safe_text.read_text(file)
        safe_text.refuse_aliases(text)
        data = yaml.safe_load(text)
    except safe_text.UnsafeFile as exc:
        raise ParamsError([f"{file}: {exc}"]) from None
    except OSError as exc:
        raise ParamsError([f"{file}: cannot read the params file ({exc.strerror})"]) from exc
    except yaml.YAMLError as exc:
        raise ParamsError([f"{file}: not valid YAML ({exc})"]) from exc
    return parse_params(data, base_dir=file.resolve().parent, check_files=True)


def parse_params(data: object, *, base_dir: Path | None = None, check_files: bool = False) -> Params:
    problems = _Problems()
    if not isinstance(data, dict):
        raise ParamsError(["params: expected a mapping of keys (topology, domain, directory, ...)"])
    _reject_secrets(data, "", problems)
    _reject_unsafe_text(data, "", problems)
    for key in data:
        if key not in TOP_KEYS:
            problems.say(str(key), f"unknown key (expected one of: {', '.join(TOP_KEYS)})")

    topology = data.get("topology")
    if topology not in TOPOLOGIES:
        problems.add("topology", topology, "one of " + " | ".join(TOPOLOGIES))
    domain = data.get("domain")
    if check.dns_name(domain):
        problems.add("domain", domain, "a DNS domain name like test.lan")
    directory = _directory(data.get("directory"), str(domain or ""), base_dir, check_files, problems)
    tmg_members, service_identity = _tmg(data.get("tmg"), problems)
    tmg = tmg_members[0] if tmg_members else None
    has_seg = topology in ("tmg-seg-eas", "add-seg")
    seg = _server_list(data.get("seg"), "seg", problems, required=has_seg)
    if topology == "tmg-eas" and seg:
        problems.say("seg", "topology tmg-eas has no SEG: remove the seg list or choose tmg-seg-eas / add-seg")
    eas = _server_list(data.get("eas"), "eas", problems, required=True)
    _unique_servers([*tmg_members, *seg, *eas], problems)

    internal_names = _role_map(data.get("internal_names"), "internal_names", problems, check.dns_name)
    service_accounts = _role_map(data.get("service_accounts"), "service_accounts", problems, check.account_name)
    for role, servers in (("eas", eas), ("seg", seg)):
        if len(servers) > 1 and role in internal_names and role not in service_accounts:
            problems.say(
                f"service_accounts.{role}",
                f"missing: {len(servers)} {role.upper()} servers share the alias {internal_names[role]}, and an SPN "
                "lives on exactly one account, so the alias SPN needs one shared service account "
                f"(the Exchange ASA for EAS); name it in service_accounts.{role}",
            )
    if "seg" in internal_names and not has_seg:
        problems.say("internal_names.seg", "topology tmg-eas has no SEG")

    public_name = data.get("public_name")
    if check.dns_name(public_name):
        problems.add("public_name", public_name, "a fully qualified public DNS name like mail.example.com")
    listener = data.get("listener")
    if check.text(listener):
        problems.add("listener", listener, "the TMG web listener's name (non-empty text)")
    iis_site = data.get("iis_site", "Default Web Site")
    if (why := check.iis_site(iis_site)):
        problems.add("iis_site", iis_site, why)
    # One hop checks the certificate; TMG by default (the guide's own design: Kerberos carries the user on).
    validator = data.get("cert_validation", "tmg")
    allowed = CHAIN_CHOICES.get(str(topology), VALIDATORS)
    if validator not in allowed:
        problems.add("cert_validation", validator, f"one of {' | '.join(allowed)} for topology {topology}"
                     + (" (eas: only without a SEG, which would otherwise receive TLS it cannot check; seg: only "
                        "with one)" if topology in CHAIN_CHOICES else ""))
    scep = _scep(data.get("scep"), problems)
    optional_text = {}
    for key in ("listener_certificate", "rule_name", "exchange_version", "app_pool_identity"):
        if key in data and check.text(data[key]):
            problems.add(key, data[key], "a non-empty text")
        optional_text[key] = data.get(key)
    if "listener_ip" in data and check.ip_address(data["listener_ip"]):
        problems.add("listener_ip", data["listener_ip"], "an IPv4 or IPv6 address")
    winrm = _winrm(data.get("winrm"), base_dir, check_files, problems)

    if problems.items:
        raise ParamsError(problems.items)
    assert directory and tmg
    normalised = _normalise(data, directory, winrm, iis_site, validator)
    return Params(
        topology=str(topology), domain=str(domain).lower(), directory=directory, tmg=tmg,
        seg=tuple(seg), eas=tuple(eas), internal_names=internal_names, service_accounts=service_accounts,
        public_name=str(public_name), listener=str(listener), iis_site=str(iis_site), cert_validation=str(validator),
        scep=scep, listener_ip=data.get("listener_ip"), listener_certificate=optional_text["listener_certificate"],
        rule_name=optional_text["rule_name"], exchange_version=optional_text["exchange_version"],
        app_pool_identity=optional_text["app_pool_identity"] or "NT AUTHORITY\\NETWORK SERVICE",
        winrm=winrm, tmg_members=tuple(tmg_members), tmg_service_identity=service_identity, data=normalised,
    )


def _reject_unsafe_text(node: object, path: str, problems: _Problems) -> None:
    """Every text value ends up on other operators' screens (manual, watch, report): no escapes, no bidi tricks."""
    if isinstance(node, dict):
        for key, value in node.items():
            _reject_unsafe_text(value, f"{path}.{key}" if path else str(key), problems)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            _reject_unsafe_text(value, f"{path}[{index}]", problems)
    elif isinstance(node, str) and (why := check.unsafe_text(node)):
        problems.say(path, why)


def _reject_secrets(node: object, path: str, problems: _Problems) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{path}.{key}" if path else str(key)
            if any(word in str(key).lower() for word in SECRET_WORDS):
                problems.say(here, "passwords are never stored in params or sessions; use RUNBOOK_LDAP_PASSWORD / "
                             "RUNBOOK_WINRM_PASSWORD or the prompt")
            else:
                _reject_secrets(value, here, problems)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            _reject_secrets(value, f"{path}[{index}]", problems)


def _resolve(value: str, base_dir: Path | None) -> str:
    candidate = Path(value).expanduser()
    if not candidate.is_absolute() and base_dir is not None:
        candidate = base_dir / candidate
    return str(candidate)


def _directory(raw: object, domain: str, base_dir: Path | None, check_files: bool,
               problems: _Problems) -> DirectorySettings | None:
    if not isinstance(raw, dict):
        problems.add("directory", raw, "a mapping with server, tls, port, ca_file, bind_user")
        return None
    for key in raw:
        if key not in ("server", "port", "gc_port", "tls", "ca_file", "bind_user"):
            problems.say(f"directory.{key}", "unknown key (expected server, port, gc_port, tls, ca_file, bind_user)")
    server = raw.get("server")
    if check.dns_name(server):
        problems.add("directory.server", server, "the domain controller's DNS name like dc1.test.lan")
    tls = raw.get("tls", "ldaps")
    if tls not in TLS_MODES:
        problems.add("directory.tls", tls, "one of ldaps | starttls | none")
    port = raw.get("port", 636 if tls == "ldaps" else 389)
    gc_port = raw.get("gc_port", 3269 if tls == "ldaps" else 3268)
    for name, value in (("port", port), ("gc_port", gc_port)):
        if (why := check.port(value)):
            problems.add(f"directory.{name}", value, why)
    ca_file = raw.get("ca_file")
    if ca_file is not None:
        if check.text(ca_file):
            problems.add("directory.ca_file", ca_file, "a path to a PEM CA bundle")
            ca_file = None
        else:
            ca_file = _resolve(str(ca_file), base_dir)
            if check_files and not Path(ca_file).is_file():
                problems.say("directory.ca_file", f"{ca_file!r} does not exist (expected a PEM CA bundle)")
    bind_user = raw.get("bind_user")
    if bind_user is not None and check.text(bind_user):
        problems.add("directory.bind_user", bind_user, "a user name like Administrator@TEST.LAN")
    return DirectorySettings(domain=domain.lower(), server=str(server), port=port if isinstance(port, int) else 0,
                             gc_port=gc_port if isinstance(gc_port, int) else 0, tls=str(tls), ca_file=ca_file,
                             bind_user=bind_user)


def _server(raw: object, path: str, problems: _Problems) -> Server | None:
    if not isinstance(raw, dict):
        problems.add(path, raw, "a mapping {computer: NAME, host: FQDN}")
        return None
    for key in raw:
        if key not in ("computer", "host"):
            problems.say(f"{path}.{key}", "unknown key (expected computer, host)")
    computer, host = raw.get("computer"), raw.get("host")
    if (why := check.computer_name(computer)):
        problems.add(f"{path}.computer", computer, why)
    if check.dns_name(host):
        problems.add(f"{path}.host", host, "a DNS name (expected a fully qualified name like eas02.test.lan)")
    return Server(str(computer).upper(), str(host).lower())


def _tmg(raw: object, problems: _Problems) -> tuple[list[Server], str]:
    """`tmg:` is one server, or the members of a TMG array; each may name the web proxy's service identity."""
    items = raw if isinstance(raw, list) else [raw]
    if isinstance(raw, list) and not raw:
        problems.add("tmg", raw, "a mapping {computer, host} or a list of them (the TMG array members)")
        return [], "NETWORK SERVICE"
    members: list[Server] = []
    identities: set[str] = set()
    for index, item in enumerate(items):
        path = f"tmg[{index}]" if isinstance(raw, list) else "tmg"
        if isinstance(item, dict) and "service_identity" in item:
            value = item["service_identity"]
            if not isinstance(value, str) or not (value.upper() in WELL_KNOWN_IDENTITIES or check.sid(value) is None):
                problems.add(f"{path}.service_identity", value,
                             "NETWORK SERVICE | LOCAL SERVICE | LOCAL SYSTEM, or a SID like S-1-5-21-…-1105")
            else:
                identities.add(value.upper() if value.upper() in WELL_KNOWN_IDENTITIES else value)
            item = {k: v for k, v in item.items() if k != "service_identity"}
        server = _server(item, path, problems)
        if server:
            members.append(server)
    if len(identities) > 1:
        problems.say("tmg", "the array members name different service_identity values; TMG runs its web proxy as "
                     "one identity on every member")
    return members, next(iter(identities), "NETWORK SERVICE")


def _server_list(raw: object, path: str, problems: _Problems, *, required: bool) -> list[Server]:
    if raw is None:
        if required:
            problems.add(path, None, "a list of {computer, host} (at least one server)")
        return []
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list) or (required and not raw):
        problems.add(path, raw, "a list of {computer, host} (at least one server)")
        return []
    servers = [_server(item, f"{path}[{index}]", problems) for index, item in enumerate(raw)]
    return [s for s in servers if s]


def _unique_servers(servers: list[Server], problems: _Problems) -> None:
    seen: set[str] = set()
    for server in servers:
        for value in {server.computer, server.host}:
            if value in seen:
                problems.say("servers", f"{value!r} is used by two servers; each TMG, SEG and EAS is a distinct "
                             "machine")
            seen.add(value)


def _role_map(raw: object, path: str, problems: _Problems, validate: Any) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        problems.add(path, raw, "a mapping with keys eas and/or seg")
        return {}
    result = {}
    for role, value in raw.items():
        if role not in ("eas", "seg"):
            problems.say(f"{path}.{role}", "unknown role (expected eas or seg)")
        elif (why := validate(value)):
            problems.add(f"{path}.{role}", value, why)
        else:
            result[role] = str(value).lower() if path == "internal_names" else str(value)
    return result


def _scep(raw: object, problems: _Problems) -> Scep | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        problems.add("scep", raw, "a mapping {server_url, challenge_url}")
        return None
    for key in raw:
        if key not in ("server_url", "challenge_url"):
            problems.say(f"scep.{key}", "unknown key (expected server_url, challenge_url)")
    for key in ("server_url", "challenge_url"):
        if (why := check.url(raw.get(key))):
            problems.add(f"scep.{key}", raw.get(key), why)
    return Scep(str(raw.get("server_url")), str(raw.get("challenge_url")))


def _winrm(raw: object, base_dir: Path | None, check_files: bool, problems: _Problems) -> WinRMSettings:
    if raw is None:
        return WinRMSettings()
    if not isinstance(raw, dict):
        problems.add("winrm", raw, "a mapping {transport, port, auth, user, ca_file, exchange_port, exchange_auth}")
        return WinRMSettings()
    known = ("transport", "port", "auth", "user", "ca_file", "exchange_auth", "exchange_port")
    for key in raw:
        if key not in known:
            problems.say(f"winrm.{key}", f"unknown key (expected {', '.join(known)})")
    transport = raw.get("transport", "https")
    auth = raw.get("auth", "negotiate")
    if transport not in WINRM_TRANSPORTS:
        problems.add("winrm.transport", transport, "one of https | http")
    if auth not in WINRM_AUTHS:
        problems.add("winrm.auth", auth, "one of " + " | ".join(WINRM_AUTHS))
    port = raw.get("port")
    if port is not None and (why := check.port(port)):
        problems.add("winrm.port", port, why)
    ca_file = raw.get("ca_file")
    if ca_file is not None:
        ca_file = _resolve(str(ca_file), base_dir)
        if check_files and not Path(ca_file).is_file():
            problems.say("winrm.ca_file", f"{ca_file!r} does not exist (expected a PEM CA bundle)")
    exchange_auth = raw.get("exchange_auth", "kerberos")
    if exchange_auth not in WINRM_AUTHS:
        problems.add("winrm.exchange_auth", exchange_auth, "one of " + " | ".join(WINRM_AUTHS))
    exchange_port = raw.get("exchange_port", 80)
    if (why := check.port(exchange_port)):
        problems.add("winrm.exchange_port", exchange_port, why)
    return WinRMSettings(transport=str(transport), port=port, auth=str(auth), user=raw.get("user"), ca_file=ca_file,
                         exchange_auth=str(exchange_auth), exchange_port=exchange_port)


def _normalise(data: dict[str, Any], directory: DirectorySettings, winrm: WinRMSettings, iis_site: str,
               validator: str) -> dict[str, Any]:
    """The params as the session keeps them: defaults filled in, paths absolute, plain YAML types."""
    result = {key: value for key, value in data.items() if value is not None}
    result["directory"] = {
        "server": directory.server, "port": directory.port, "gc_port": directory.gc_port, "tls": directory.tls,
        **({"ca_file": directory.ca_file} if directory.ca_file else {}),
        **({"bind_user": directory.bind_user} if directory.bind_user else {}),
    }
    if "winrm" in data:
        result["winrm"] = {key: value for key, value in vars(winrm).items() if value is not None}
    result["iis_site"] = iis_site
    result["cert_validation"] = validator
    return result

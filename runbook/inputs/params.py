"""The params file: one change's environment, validated field by field.

Every problem names the field path, the value and what is expected, and all
problems are reported at once so an operator fixes the file in one pass.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runbook.errors import ParamsError
from runbook.flow.settings import DirectorySettings, WinRMSettings
from runbook.inputs import safe_text, schema
from runbook.inputs import validators as check
from runbook.inputs.schema import TOP_KEYS as TOP_KEYS  # the file's keys, for callers of this module
from runbook.inputs.schema import TOPOLOGIES as TOPOLOGIES
from runbook.inputs.schema import WELL_KNOWN_IDENTITIES, FieldSpec

VALIDATORS = ("tmg", "seg", "eas")
TLS_MODES = schema.BY_PATH["directory.tls"].choice_values()
WINRM_TRANSPORTS = schema.BY_PATH["winrm.transport"].choice_values()
WINRM_AUTHS = schema.BY_PATH["winrm.auth"].choice_values()
SECRET_WORDS = ("password", "passwd", "secret", "token")


@dataclass(frozen=True)
class Server:
    """One server of the change, by computer name and DNS name."""

    computer: str  # NetBIOS name, no trailing $
    host: str  # FQDN

    @property
    def sam(self) -> str:
        return self.computer.upper() + "$"


CHAIN_CHOICES = schema.CHAINS_BY_TOPOLOGY


@dataclass(frozen=True)
class Scep:
    """Where devices enrol for their certificate (params `scep:`)."""

    server_url: str
    challenge_url: str


@dataclass(frozen=True)
class Params:
    """A checked params file, defaults applied: what every step reads."""

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

    def unknown_keys(self, raw: dict[Any, Any], path: str, section: str) -> None:
        for key in raw:
            if key not in schema.keys_in(section):
                self.items.append(schema.unknown_key(f"{path}.{key}" if path else str(key), section))

    def field(self, spec: FieldSpec, value: object, path: str = "") -> Any:
        """The value if it fits the schema's field, its default when absent, None when wrong (and said so)."""
        path = path or spec.path
        if value is None:
            if spec.required:
                self.add(path, None, spec.expected or schema.problem(spec, None) or "")
            return spec.default
        if (why := schema.problem(spec, value)):
            self.add(path, value, why)
            return None
        return value

    def section(self, raw: dict[Any, Any], section: str) -> dict[str, Any]:
        """Every field of a mapping section checked against the schema, keyed by its name."""
        self.unknown_keys(raw, section, section)
        return {spec.key: self.field(spec, raw.get(spec.key)) for spec in schema.fields_in(section)}


def load_params_file(path: str | os.PathLike[str]) -> Params:
    """Read and validate a params YAML file; relative paths in it resolve against its folder."""
    import yaml  # here: opening a session reads its params from the session, never from YAML

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
    problems.unknown_keys(data, "", "")
    field = schema.BY_PATH

    topology = problems.field(field["topology"], data.get("topology"))
    domain = problems.field(field["domain"], data.get("domain"))
    directory = _directory(data.get("directory"), str(domain or ""), base_dir, check_files, problems)
    tmg_members, service_identity = _tmg(data.get("tmg"), problems)
    tmg = tmg_members[0] if tmg_members else None
    has_seg = topology in schema.SEG_TOPOLOGIES
    seg = _server_list(data.get("seg"), "seg", problems, required=has_seg)
    if topology == "tmg-eas" and seg:
        problems.say("seg", "topology tmg-eas has no SEG: remove the seg list or choose tmg-seg-eas / add-seg")
    eas = _server_list(data.get("eas"), "eas", problems, required=True)
    _unique_servers([*tmg_members, *seg, *eas], problems)

    internal_names = {role: str(name).lower() for role, name in
                      _role_map(data.get("internal_names"), "internal_names", problems).items()}
    service_accounts = _role_map(data.get("service_accounts"), "service_accounts", problems)
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

    top = {key: problems.field(field[key], data.get(key)) for key in (
        "public_name", "listener", "iis_site", "listener_ip", "listener_certificate", "rule_name", "exchange_version",
        "app_pool_identity")}
    # One hop checks the certificate; TMG by default (the guide's own design: Kerberos carries the user on).
    validator = data.get("cert_validation", field["cert_validation"].default)
    allowed = CHAIN_CHOICES.get(str(topology), VALIDATORS)
    if validator not in allowed:
        problems.add("cert_validation", validator, f"one of {' | '.join(allowed)} for topology {topology}"
                     + (" (eas: only without a SEG, which would otherwise receive TLS it cannot check; seg: only "
                        "with one)" if topology in CHAIN_CHOICES else ""))
    scep = _scep(data.get("scep"), problems)
    winrm = _winrm(data.get("winrm"), base_dir, check_files, problems)

    if problems.items:
        raise ParamsError(problems.items)
    assert directory and tmg
    normalised = _normalise(data, directory, winrm, top["iis_site"], validator)
    return Params(
        topology=str(topology), domain=str(domain).lower(), directory=directory, tmg=tmg,
        seg=tuple(seg), eas=tuple(eas), internal_names=internal_names, service_accounts=service_accounts,
        public_name=str(top["public_name"]), listener=str(top["listener"]), iis_site=str(top["iis_site"]),
        cert_validation=str(validator), scep=scep, listener_ip=top["listener_ip"],
        listener_certificate=top["listener_certificate"], rule_name=top["rule_name"],
        exchange_version=top["exchange_version"], app_pool_identity=top["app_pool_identity"],
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
    elif isinstance(node, str) and (why := check.unsafe_text(node, schema.limit_for(path))):
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


def _ca_file(value: object, path: str, base_dir: Path | None, check_files: bool, problems: _Problems) -> str | None:
    """A CA bundle path, resolved against the params file's folder (and checked to exist when reading a file)."""
    if not isinstance(value, str):
        return None
    candidate = Path(value).expanduser()
    if not candidate.is_absolute() and base_dir is not None:
        candidate = base_dir / candidate
    if check_files and not candidate.is_file():
        problems.say(path, f"{str(candidate)!r} does not exist (expected a PEM CA bundle)")
    return str(candidate)


def _mapping(raw: object, path: str, problems: _Problems) -> dict[str, Any] | None:
    if raw is not None and not isinstance(raw, dict):
        problems.add(path, raw, "a mapping with " + ", ".join(schema.keys_in(path)))
        return None
    return raw


def _directory(raw: object, domain: str, base_dir: Path | None, check_files: bool,
               problems: _Problems) -> DirectorySettings | None:
    if not isinstance(raw, dict):
        problems.add("directory", raw, "a mapping with " + ", ".join(schema.keys_in("directory")))
        return None
    values = problems.section(raw, "directory")
    tls = values["tls"]
    # The ports follow the TLS mode unless given.
    port = values["port"] if "port" in raw else 636 if tls == "ldaps" else 389
    gc_port = values["gc_port"] if "gc_port" in raw else 3269 if tls == "ldaps" else 3268
    ca_file = _ca_file(values["ca_file"], "directory.ca_file", base_dir, check_files, problems)
    return DirectorySettings(domain=domain.lower(), server=str(values["server"]), port=port or 0,
                             gc_port=gc_port or 0, tls=str(tls), ca_file=ca_file, bind_user=values["bind_user"])


def _server(raw: object, path: str, role: str, problems: _Problems) -> Server | None:
    if not isinstance(raw, dict):
        problems.add(path, raw, "a mapping {computer: NAME, host: FQDN}")
        return None
    problems.unknown_keys(raw, path, role)
    computer, host = (problems.field(spec, raw.get(spec.key), f"{path}.{spec.key}") for spec in schema.SERVER_FIELDS)
    return Server(str(computer).upper(), str(host).lower())


def _tmg(raw: object, problems: _Problems) -> tuple[list[Server], str]:
    """`tmg:` is one server, or the members of a TMG array; each may name the web proxy's service identity."""
    spec = schema.BY_PATH["tmg.service_identity"]
    if raw is None or (isinstance(raw, list) and not raw):
        problems.add("tmg", raw, schema.BY_PATH["tmg"].expected)
        return [], spec.default
    items = raw if isinstance(raw, list) else [raw]
    members: list[Server] = []
    identities: set[str] = set()
    for index, item in enumerate(items):
        path = f"tmg[{index}]" if isinstance(raw, list) else "tmg"
        if isinstance(item, dict) and "service_identity" in item:
            value = problems.field(spec, item["service_identity"], f"{path}.service_identity")
            if value is not None:
                identities.add(value.upper() if value.upper() in WELL_KNOWN_IDENTITIES else value)
        server = _server(item, path, "tmg", problems)
        if server:
            members.append(server)
    if len(identities) > 1:
        problems.say("tmg", "the array members name different service_identity values; TMG runs its web proxy as "
                     "one identity on every member")
    return members, next(iter(identities), spec.default)


def _server_list(raw: object, path: str, problems: _Problems, *, required: bool) -> list[Server]:
    expected = schema.BY_PATH[path].expected
    if raw is None:
        if required:
            problems.add(path, None, expected)
        return []
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list) or (required and not raw):
        problems.add(path, raw, expected)
        return []
    servers = [_server(item, f"{path}[{index}]", path, problems) for index, item in enumerate(raw)]
    return [s for s in servers if s]


def _unique_servers(servers: list[Server], problems: _Problems) -> None:
    seen: set[str] = set()
    for server in servers:
        for value in {server.computer, server.host}:
            if value in seen:
                problems.say("servers", f"{value!r} is used by two servers; each TMG, SEG and EAS is a distinct "
                             "machine")
            seen.add(value)


def _role_map(raw: object, path: str, problems: _Problems) -> dict[str, str]:
    raw = _mapping(raw, path, problems)
    if raw is None:
        return {}
    return {role: value for role, value in problems.section(raw, path).items() if value is not None}


def _scep(raw: object, problems: _Problems) -> Scep | None:
    raw = _mapping(raw, "scep", problems)
    if raw is None:
        return None
    values = problems.section(raw, "scep")
    return Scep(str(values["server_url"]), str(values["challenge_url"]))


def _winrm(raw: object, base_dir: Path | None, check_files: bool, problems: _Problems) -> WinRMSettings:
    raw = _mapping(raw, "winrm", problems)
    if raw is None:
        return WinRMSettings()
    values = problems.section(raw, "winrm")
    values["ca_file"] = _ca_file(values["ca_file"], "winrm.ca_file", base_dir, check_files, problems)
    return WinRMSettings(**{key: value for key, value in values.items() if value is not None})


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

"""The params schema: every field of a params file once, with its type, default, limit, choices and help.

The parser (runbook/inputs/params.py) checks a params mapping against these fields and words its problems from them,
and the TUI wizard builds its form from them, so the file format, the error messages and the form cannot drift
apart. Rules that join several fields (a farm alias needs a service account, which chains a topology allows)
stay in the parser.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from runbook.inputs import validators as check

TOPOLOGIES = ("tmg-eas", "tmg-seg-eas", "add-seg")
SEG_TOPOLOGIES = ("tmg-seg-eas", "add-seg")
# TMG's web proxy acts on the network as this identity; 5a grants it the two rights. A SID is accepted as is.
WELL_KNOWN_IDENTITIES = {"NETWORK SERVICE": "S-1-5-20", "LOCAL SERVICE": "S-1-5-19", "LOCAL SYSTEM": "S-1-5-18"}
TEXT_LIMIT = 256  # names and user names: far beyond any real one, far below what floods a terminal
PATH_LIMIT = 4096  # PATH_MAX on Linux


@dataclass(frozen=True)
class Choice:
    """One allowed value of a choice field, with what choosing it means."""

    value: str
    help: str  # one line: what choosing it means


@dataclass(frozen=True)
class FieldSpec:
    """One field of a params file: how the parser checks it and how the wizard asks for it."""

    path: str  # where the value sits in the params mapping: "directory.server"; "eas" is a list of servers
    kind: str  # how it is checked: see `problem`
    label: str  # the wizard's label
    help: str  # one line for the operator: what it is and when it matters
    expected: str = ""  # "path: 'x' is not <expected>"; empty: the validator's own words
    example: str = ""  # the wizard's placeholder
    default: Any = None  # what the parser uses when the key is absent (the wizard pre-fills it)
    default_note: str = ""  # a default that depends on another field, in words
    required: bool = False
    choices: tuple[Choice, ...] = ()
    max_len: int = TEXT_LIMIT
    topologies: tuple[str, ...] = ()  # the topologies that have this field (empty: every one)
    suggest: str = ""  # the wizard's pre-filled value for a required field that has a customary value
    group: str = ""  # the wizard's heading above it

    @property
    def section(self) -> str:
        return self.path.split(".", 1)[0] if "." in self.path else ""

    @property
    def key(self) -> str:
        return self.path.rsplit(".", 1)[-1]

    def applies_to(self, topology: str) -> bool:
        return not self.topologies or topology in self.topologies

    def choice_values(self) -> tuple[str, ...]:
        return tuple(choice.value for choice in self.choices)


def _choices(*pairs: tuple[str, str]) -> tuple[Choice, ...]:
    return tuple(Choice(value, help) for value, help in pairs)


VALIDATOR_CHOICES = _choices(
    ("tmg", "TMG's listener checks it, then KCD; SEG, EAS accept Kerberos"),
    ("eas", "TMG passes TLS through; EAS checks it (tmg-eas only)"),
    ("seg", "TMG passes TLS through; the SEG checks it, then KCD to EAS"),
)
# eas only without a SEG (a SEG would receive TLS it cannot check), seg only with one.
CHAINS_BY_TOPOLOGY = {"tmg-eas": ("tmg", "eas"), "tmg-seg-eas": ("tmg", "seg"), "add-seg": ("tmg", "seg")}
AUTHS = _choices(("negotiate", "Kerberos, else NTLM"), ("kerberos", "Kerberos only"), ("ntlm", "NTLM only"),
                 ("basic", "user name and password (https only)"))
SERVERS_EXPECTED = "a list of {computer, host} (at least one server)"
# The keys of every server item (in tmg, seg, eas).
SERVER_FIELDS = (
    FieldSpec("computer", "computer", "Computer", "the server's NetBIOS computer name, without the $"),
    FieldSpec("host", "dns", "Host", "the server's fully qualified DNS name",
              "a DNS name (expected a fully qualified name like eas02.test.lan)"),
)

FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("topology", "choice", "Topology", "which hops the change builds (device → TMG [→ SEG] → EAS)",
              required=True, choices=_choices(
                  ("tmg-eas", "TMG publishes EAS directly"), ("tmg-seg-eas", "TMG publishes a SEG in front of EAS"),
                  ("add-seg", "a SEG is added to an existing TMG → EAS setup")), group="Change"),
    FieldSpec("domain", "dns", "AD domain", "the Active Directory DNS domain", "a DNS domain name like test.lan",
              "test.lan", required=True, group="Directory (LDAP)"),
    FieldSpec("directory.server", "dns", "Domain controller", "the DC the tool reads and writes accounts on",
              "the domain controller's DNS name like dc1.test.lan", "dc1.test.lan", required=True),
    FieldSpec("directory.tls", "choice", "LDAP TLS", "how LDAP is protected; none needs --insecure",
              default="ldaps", choices=_choices(("ldaps", "TLS from the first byte (port 636)"),
                                                ("starttls", "StartTLS on port 389"),
                                                ("none", "plain LDAP: only with --insecure"))),
    FieldSpec("directory.port", "port", "LDAP port", "the DC's LDAP port", example="blank: 636 for ldaps, else 389",
              default_note="636 for ldaps, else 389"),
    FieldSpec("directory.gc_port", "port", "Global catalog port", "the DC's global catalog port (SPN searches)",
              example="blank: 3269 for ldaps, else 3268", default_note="3269 for ldaps, else 3268"),
    FieldSpec("directory.ca_file", "file", "LDAP CA bundle", "PEM file that signs the DC's certificate",
              "a path to a PEM CA bundle", "blank: the system trust store", max_len=PATH_LIMIT),
    FieldSpec("directory.bind_user", "text", "LDAP bind user", "a simple bind's user; blank: your Kerberos ticket",
              "a user name like Administrator@TEST.LAN", "blank: your Kerberos ticket; or Administrator@TEST.LAN"),
    FieldSpec("tmg", "servers", "TMG servers", "the TMG server, or every member of the TMG array",
              "a mapping {computer, host} or a list of them (the TMG array members)", "TMG01=tmg01.test.lan",
              required=True, group="Servers"),
    FieldSpec("tmg.service_identity", "identity", "TMG proxy identity",
              "the identity TMG's web proxy acts as on the network (5a grants it the rights)",
              "NETWORK SERVICE | LOCAL SERVICE | LOCAL SYSTEM, or a SID like S-1-5-21-…-1105",
              default="NETWORK SERVICE"),
    FieldSpec("seg", "servers", "SEG servers", "the Secure Email Gateway servers", SERVERS_EXPECTED,
              "SEG01=seg01.test.lan (comma-separated)", required=True, topologies=SEG_TOPOLOGIES),
    FieldSpec("eas", "servers", "EAS servers", "the Exchange servers that serve ActiveSync", SERVERS_EXPECTED,
              "EAS01=eas01.test.lan, EAS02=eas02.test.lan", required=True),
    FieldSpec("internal_names.eas", "dns", "EAS internal alias", "the name TMG or the SEG reaches EAS by, if "
              "not a server's own", example="optional: mail-int.test.lan (a farm's alias)"),
    FieldSpec("internal_names.seg", "dns", "SEG internal alias", "the name TMG reaches the SEGs by, if not a "
              "server's own", example="optional: seg.test.lan (a SEG farm's alias)", topologies=SEG_TOPOLOGIES),
    FieldSpec("service_accounts.eas", "account", "EAS service account", "holds the alias SPN for an EAS farm "
              "(the Exchange ASA)", example="a farm with an alias: the ASA, e.g. EASASA", max_len=21),
    FieldSpec("service_accounts.seg", "account", "SEG service account", "holds the alias SPN for a SEG farm",
              example="a SEG farm with an alias: its account", max_len=21, topologies=SEG_TOPOLOGIES),
    FieldSpec("public_name", "dns", "Public name", "the name devices connect to",
              "a fully qualified public DNS name like mail.example.com", "mail.example.com", required=True,
              group="Publishing"),
    FieldSpec("listener", "text", "TMG listener", "the TMG web listener's name",
              "the TMG web listener's name (non-empty text)", "EAS Listener", required=True, suggest="EAS Listener"),
    FieldSpec("listener_ip", "ip", "Listener IP", "the address the listener answers on",
              example="optional: 203.0.113.10"),
    FieldSpec("listener_certificate", "text", "Listener certificate", "the server certificate the listener presents",
              "a non-empty text", "optional: CN=mail.example.com", max_len=1024),
    FieldSpec("rule_name", "text", "Publishing rule", "the TMG publishing rule's name",
              "a non-empty text", "optional: the existing rule's name (default: EAS <public name>)"),
    FieldSpec("cert_validation", "choice", "Certificates checked on",
              "the one hop that checks the device's certificate", default="tmg", choices=VALIDATOR_CHOICES),
    FieldSpec("iis_site", "iis_site", "IIS site", "the IIS site that serves Microsoft-Server-ActiveSync",
              example="Default Web Site", default="Default Web Site", group="Exchange and IIS"),
    FieldSpec("exchange_version", "text", "Exchange version", "shown in the manual steps and the report",
              "a non-empty text", "optional: 2016", max_len=64),
    FieldSpec("app_pool_identity", "text", "EAS app pool identity", "the identity of the ActiveSync app pool",
              "a non-empty text", "NT AUTHORITY\\NETWORK SERVICE", default="NT AUTHORITY\\NETWORK SERVICE"),
    FieldSpec("scep.server_url", "url", "SCEP server URL", "where devices enrol for their certificate (NDES)",
              example="optional: https://ca.test.lan/certsrv/mscep/", required=True, max_len=2048, group="SCEP"),
    FieldSpec("scep.challenge_url", "url", "SCEP challenge URL", "where the enrolment challenge is fetched",
              example="with the server URL: https://ca.test.lan/certsrv/mscep_admin/", required=True,
              max_len=2048),
    FieldSpec("winrm.transport", "choice", "WinRM transport", "how the tool reaches the Windows hosts",
              default="https", choices=_choices(("https", "port 5986, certificate validated"),
                                                ("http", "port 5985, message encryption (Kerberos/NTLM)")),
              group="WinRM"),
    FieldSpec("winrm.port", "port", "WinRM port", "the hosts' WinRM port", example="blank: 5986 https, 5985 http",
              default_note="5986 for https, 5985 for http"),
    FieldSpec("winrm.auth", "choice", "WinRM auth", "how the tool authenticates to the hosts", default="negotiate",
              choices=AUTHS),
    FieldSpec("winrm.user", "text", "WinRM user", "the user for WinRM; blank: your Kerberos ticket",
              "a user name like TEST\\operator", "blank: your Kerberos ticket; or TEST\\operator"),
    FieldSpec("winrm.ca_file", "file", "WinRM CA bundle", "PEM file that signs the hosts' WinRM certificates",
              "a path to a PEM CA bundle", "blank: the system trust store", max_len=PATH_LIMIT),
    FieldSpec("winrm.exchange_auth", "choice", "Exchange auth", "auth for Exchange's PowerShell endpoint",
              default="kerberos", choices=AUTHS),
    FieldSpec("winrm.exchange_port", "port", "Exchange port", "port of http://<host>/PowerShell", default=80),
)
BY_PATH = {spec.path: spec for spec in FIELDS}
MAPPING_SECTIONS = ("directory", "internal_names", "service_accounts", "scep", "winrm")
# The top-level keys in file order: a field, a section, or the servers of a role.
TOP_KEYS = tuple(dict.fromkeys(spec.path.split(".", 1)[0] for spec in FIELDS))


def fields_in(section: str) -> tuple[FieldSpec, ...]:
    return tuple(spec for spec in FIELDS if spec.section == section)


def keys_in(section: str) -> tuple[str, ...]:
    """The keys a section (or a role's server items) may hold; "" is the top level."""
    if section == "":
        return TOP_KEYS
    own = tuple(spec.key for spec in fields_in(section))
    is_servers = section in BY_PATH and BY_PATH[section].kind == "servers"
    return (*(spec.key for spec in SERVER_FIELDS), *own) if is_servers else own


def unknown_key(path: str, section: str) -> str:
    return f"{path}: unknown key (expected one of: {', '.join(keys_in(section))})"


def spec_for(path: str) -> FieldSpec | None:
    """The field a problem path is about: 'eas[1].host' → the eas servers, 'tmg[0].service_identity' → its own."""
    base = "".join(part.split("]", 1)[-1] if "]" in part else part for part in path.split("["))
    while base:
        if base in BY_PATH:
            return BY_PATH[base]
        base = base.rsplit(".", 1)[0] if "." in base else ""
    return None


def limit_for(path: str) -> int:
    spec = spec_for(path)
    return spec.max_len if spec is not None else check.MAX_TEXT


def problem(spec: FieldSpec, value: object) -> str | None:
    """None when `value` fits the field, else what is expected (the field's own words where it has them)."""
    if spec.kind == "choice":
        return None if value in spec.choice_values() else "one of " + " | ".join(spec.choice_values())
    if spec.kind == "identity":
        fits = isinstance(value, str) and (value.upper() in WELL_KNOWN_IDENTITIES or check.sid(value) is None)
        return None if fits else spec.expected
    validate = {"dns": check.dns_name, "account": check.account_name, "iis_site": check.iis_site, "url": check.url,
                "ip": check.ip_address, "port": check.port, "text": check.text, "file": check.text,
                "computer": check.computer_name}[spec.kind]
    why = validate(value)
    if why is None:
        return None
    # A wildcard or a length says more than the field's general words.
    return spec.expected if spec.expected and "wildcard" not in why else why


def default_text(spec: FieldSpec) -> str:
    """How the wizard pre-fills a field: its default or customary value; "" when the default depends on others."""
    value = spec.default if spec.default is not None else spec.suggest
    return "" if value is None else str(value)

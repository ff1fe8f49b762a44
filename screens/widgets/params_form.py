"""The parameters form: one input per field, checked as you type by the engine's own parser and messages."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.widgets import Input, Static

from runbook.errors import ParamsError
from runbook.params import Params, parse_params
from screens.widgets.steady_input import SteadyInput


@dataclass(frozen=True)
class Field:
    path: str  # where the value goes in the params mapping: "directory.server", "eas" (a server list)
    label: str
    placeholder: str
    roles: tuple[str, ...] = ()  # topologies it applies to (empty: every one)
    default: str = ""


SEG_TOPOLOGIES = ("tmg-seg-eas", "add-seg")
FIELDS = [
    Field("domain", "AD domain", "test.lan"),
    Field("directory.server", "Domain controller", "dc1.test.lan"),
    Field("directory.tls", "LDAP TLS", "ldaps | starttls", default="ldaps"),
    Field("directory.bind_user", "LDAP bind user", "blank: your Kerberos ticket; or Administrator@TEST.LAN"),
    Field("tmg.computer", "TMG computer", "TMG01"),
    Field("tmg.host", "TMG host", "tmg01.test.lan"),
    Field("seg", "SEG servers", "SEG01=seg01.test.lan (comma-separated)", roles=SEG_TOPOLOGIES),
    Field("eas", "EAS servers", "EAS01=eas01.test.lan, EAS02=eas02.test.lan"),
    Field("internal_names.eas", "EAS internal alias", "optional: mail-int.test.lan (a farm's alias)"),
    Field("service_accounts.eas", "EAS service account", "a farm with an alias: the ASA, e.g. EASASA"),
    Field("public_name", "Public name", "mail.example.com"),
    Field("listener", "TMG listener", "EAS Listener", default="EAS Listener"),
    Field("listener_ip", "Listener IP", "optional: 203.0.113.10"),
    Field("listener_certificate", "Listener certificate", "optional: CN=mail.example.com"),
    Field("rule_name", "Publishing rule", "optional: the existing rule's name (default: EAS <public name>)"),
    Field("iis_site", "IIS site", "Default Web Site", default="Default Web Site"),
    Field("cert_validation", "Certificates checked on", "blank: tmg (the TMG listener); eas, seg: TLS passes"),
    Field("winrm.user", "WinRM user", "blank: your Kerberos ticket; or TEST\\operator"),
]
SERVER_ITEM = re.compile(r"^\s*(?:(?P<computer>[^=\s]+)\s*=\s*)?(?P<host>\S+)\s*$")


def input_id(path: str) -> str:
    return "field-" + path.replace(".", "-").replace("_", "-")


def servers_text(raw: Any) -> str:
    items = raw if isinstance(raw, list) else [raw] if isinstance(raw, dict) else []
    return ", ".join(f"{item.get('computer', '')}={item.get('host', '')}" for item in items if isinstance(item, dict))


def parse_servers(text: str) -> list[dict[str, str]] | str:
    """'EAS01=eas01.test.lan, eas02.test.lan' → [{computer, host}, ...]; a bare host names its own computer."""
    servers = []
    for part in [p for p in text.split(",") if p.strip()]:
        match = SERVER_ITEM.match(part)
        if not match:
            return part.strip()  # left as it is: the engine names what is wrong with it
        host = match["host"]
        servers.append({"computer": match["computer"] or host.split(".", 1)[0].upper(), "host": host})
    return servers


def field_of(problem: str) -> str | None:
    """'eas[1].host: ...' → 'eas'; 'directory.server: ...' → 'directory.server'."""
    head = problem.split(":", 1)[0].strip()
    base = re.sub(r"\[\d+\].*$", "", head)
    paths = [f.path for f in FIELDS]
    while base:
        if base in paths:
            return base
        inside = [path for path in paths if path.startswith(base + ".")]
        if inside:
            return inside[0]
        base = base.rsplit(".", 1)[0] if "." in base else ""
    return None


class ParamsForm(VerticalScroll):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.topology = "tmg-eas"
        self.extra: dict[str, Any] = {}  # imported keys the form has no field for (scep, winrm.transport, ...)
        self.touched: set[str] = set()
        self.show_all = False
        self.problems: list[str] = []
        self.params: Params | None = None

    def compose(self) -> ComposeResult:
        for field in FIELDS:
            with Vertical(classes="field", id=f"row-{input_id(field.path)}"):
                with Horizontal(classes="field-row"):
                    yield Static(field.label, classes="field-label", markup=False)
                    yield SteadyInput(value=field.default, placeholder=field.placeholder, id=input_id(field.path),
                                select_on_focus=False, compact=True)
                yield Static("", classes="field-problem -ok", id=f"problem-{input_id(field.path)}")

    def set_topology(self, topology: str) -> None:
        self.topology = topology
        for field in FIELDS:
            shown = not field.roles or topology in field.roles
            self.query_one(f"#row-{input_id(field.path)}").display = shown
        self.validate()

    def load(self, data: dict[str, Any]) -> None:
        """Fill the form from a params mapping (an imported YAML file)."""
        self.extra = {key: value for key, value in data.items()}
        for field in FIELDS:
            value = _get(data, field.path)
            text = servers_text(value) if field.path in ("seg", "eas") else ("" if value is None else str(value))
            self.query_one(f"#{input_id(field.path)}", Input).value = text
            self.touched.add(field.path)
        if isinstance(data.get("topology"), str):
            self.topology = data["topology"]

    def data(self) -> dict[str, Any]:
        data: dict[str, Any] = {key: value for key, value in self.extra.items()
                                if key not in {f.path.split(".")[0] for f in FIELDS if "." not in f.path}}
        for key in ("directory", "tmg", "winrm", "internal_names", "service_accounts"):
            if isinstance(self.extra.get(key), dict):
                data[key] = dict(self.extra[key])
        data["topology"] = self.topology
        for field in FIELDS:
            if field.roles and self.topology not in field.roles:
                _pop(data, field.path)
                continue
            text = self.query_one(f"#{input_id(field.path)}", Input).value.strip()
            if field.path in ("seg", "eas"):
                _put(data, field.path, parse_servers(text) if text else None)
            else:
                _put(data, field.path, text or None)
        return data

    def validate(self) -> list[str]:
        try:
            self.params = parse_params(self.data())
            self.problems = []
        except ParamsError as exc:
            self.params, self.problems = None, list(exc.problems)
        by_field: dict[str, list[str]] = {}
        for problem in self.problems:
            by_field.setdefault(field_of(problem) or "", []).append(problem)
        for field in FIELDS:
            widget = self.query_one(f"#problem-{input_id(field.path)}", Static)
            mine = by_field.get(field.path, []) if (self.show_all or field.path in self.touched) else []
            widget.update(Content("\n".join(mine)))
            widget.set_class(not mine, "-ok")
        return self.problems

    def general_problems(self) -> list[str]:
        return [p for p in self.problems if field_of(p) is None] if self.show_all else []

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id and event.input.has_focus:
            self.touched.update(f.path for f in FIELDS if input_id(f.path) == event.input.id)
        self.validate()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.screen.focus_next()


def _get(data: dict[str, Any], path: str) -> Any:
    node: Any = data
    for part in path.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def _put(data: dict[str, Any], path: str, value: Any) -> None:
    """Set (or with None remove) a dotted path; a parent mapping left empty goes too."""
    *parents, last = path.split(".")
    node = data
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    if value is not None:
        node[last] = value
        return
    node.pop(last, None)
    if parents and data.get(parents[0]) == {}:
        data.pop(parents[0])


def _pop(data: dict[str, Any], path: str) -> None:
    _put(data, path, None)

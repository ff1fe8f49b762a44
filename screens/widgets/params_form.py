"""The parameters form: one input per field of the params schema, checked as you type by the engine's own parser."""
from __future__ import annotations

import copy
import re
from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.widgets import Input, Static

from runbook.errors import ParamsError
from runbook.inputs import schema
from runbook.inputs.params import Params, parse_params
from runbook.inputs.schema import FieldSpec
from screens.widgets.steady_input import SteadyInput

# The topology is chosen on the wizard's first page; every other field of the schema is an input here.
FORM_FIELDS = tuple(spec for spec in schema.FIELDS if spec.path != "topology")
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
    """The form field a parser problem is about: 'eas[1].host: ...' → 'eas'; None for cross-field problems."""
    spec = schema.spec_for(problem.split(":", 1)[0].strip())
    return spec.path if spec is not None and spec in FORM_FIELDS else None


def choices_content(spec: FieldSpec, topology: str) -> Content:
    """One line per choice the topology allows, the default marked: what each value means."""
    allowed = schema.CHAINS_BY_TOPOLOGY.get(topology, ()) if spec.path == "cert_validation" else None
    lines: list[str | tuple[str, str]] = []
    for choice in spec.choices:
        if allowed is not None and choice.value not in allowed:
            continue
        default = " (default)" if choice.value == spec.default else ""
        lines += ["\n" if lines else "", (f"{choice.value}{default}", "bold"), f": {choice.help}"]
    return Content.assemble(*lines)


def help_content(spec: FieldSpec, topology: str) -> Content:
    """The focused field's one line of help, its default and its choices."""
    parts: list[str | tuple[str, str]] = [(spec.label, "bold"), f" ({spec.path}): {spec.help}"]
    if spec.default_note:
        parts.append(f"; blank: {spec.default_note}")
    elif spec.default is not None:
        parts.append(f"; default {spec.default}")
    if spec.choices and spec.path != "cert_validation":  # the chains are explained under their field already
        parts += ["\n", choices_content(spec, topology)]
    return Content.assemble(*parts)


class ParamsForm(VerticalScroll):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.topology = "tmg-eas"
        self.extra: dict[str, Any] = {}  # the imported mapping: keys the schema does not know stay, to be refused
        self.touched: set[str] = set()
        self.show_all = False
        self.problems: list[str] = []
        self.params: Params | None = None

    def compose(self) -> ComposeResult:
        group = ""
        for spec in FORM_FIELDS:
            if spec.group and spec.group != group:
                group = spec.group
                yield Static(group, classes="field-group")
            with Vertical(classes="field", id=f"row-{input_id(spec.path)}"):
                with Horizontal(classes="field-row"):
                    yield Static(spec.label, classes="field-label", markup=False)
                    yield SteadyInput(value=schema.default_text(spec), placeholder=spec.example or spec.help,
                                      id=input_id(spec.path), select_on_focus=False, compact=True,
                                      max_length=spec.max_len if spec.kind != "servers" else 0)
                if spec.choices and spec.path == "cert_validation":
                    yield Static("", classes="field-hint", id=f"hint-{input_id(spec.path)}")
                yield Static("", classes="field-problem -ok", id=f"problem-{input_id(spec.path)}")

    @property
    def fields(self) -> set[str]:
        """Every params path this form (with the topology page) offers."""
        return {"topology", *(spec.path for spec in FORM_FIELDS)}

    def spec_of(self, widget_id: str | None) -> FieldSpec | None:
        return next((spec for spec in FORM_FIELDS if input_id(spec.path) == widget_id), None)

    def set_topology(self, topology: str) -> None:
        self.topology = topology
        for spec in FORM_FIELDS:
            self.query_one(f"#row-{input_id(spec.path)}").display = spec.applies_to(topology)
            if spec.path == "cert_validation":
                self.query_one(f"#hint-{input_id(spec.path)}", Static).update(choices_content(spec, topology))
        self.validate()

    def load(self, data: dict[str, Any]) -> None:
        """Fill the form from a params mapping (an imported YAML file); absent fields go back to their default."""
        self.extra = copy.deepcopy(data)
        for spec in FORM_FIELDS:
            value = _get(data, spec.path)
            if spec.path == "tmg.service_identity":  # kept on each array member in the file, one value here
                members = data.get("tmg") if isinstance(data.get("tmg"), list) else [data.get("tmg")]
                value = next((m["service_identity"] for m in members if isinstance(m, dict)
                              and "service_identity" in m), None)
            if spec.kind == "servers":
                text = servers_text(value)
            else:
                text = schema.default_text(spec) if value is None else str(value)
            self.query_one(f"#{input_id(spec.path)}", Input).value = text
            self.touched.add(spec.path)
        if isinstance(data.get("topology"), str):
            self.topology = data["topology"]

    def value_of(self, spec: FieldSpec) -> str:
        return self.query_one(f"#{input_id(spec.path)}", Input).value.strip()

    def filled(self) -> bool:
        """Anything typed or imported that leaving the wizard would throw away."""
        return bool(self.extra) or any(self.value_of(spec) != schema.default_text(spec) for spec in FORM_FIELDS)

    def data(self) -> dict[str, Any]:
        """The params mapping the form stands for; a default left as it is, is not written (the parser applies it)."""
        data = copy.deepcopy(self.extra)
        data["topology"] = self.topology
        for spec in FORM_FIELDS:
            text = self.value_of(spec)
            if not spec.applies_to(self.topology) or spec.path == "tmg.service_identity":
                _put(data, spec.path, None)
            elif spec.kind == "servers":
                _put(data, spec.path, parse_servers(text) if text else None)
            elif text == str(spec.default) or not text:
                _put(data, spec.path, None)
            else:
                _put(data, spec.path, int(text) if spec.kind == "port" and text.isdigit() else text)
        identity = self.value_of(schema.BY_PATH["tmg.service_identity"])
        if identity and identity != schema.BY_PATH["tmg.service_identity"].default:
            for member in data["tmg"] if isinstance(data.get("tmg"), list) else []:
                if isinstance(member, dict):
                    member["service_identity"] = identity
        if isinstance(data.get("tmg"), list) and len(data["tmg"]) == 1:
            data["tmg"] = data["tmg"][0]  # one TMG reads as a mapping, as in the examples
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
        for spec in FORM_FIELDS:
            widget = self.query_one(f"#problem-{input_id(spec.path)}", Static)
            mine = by_field.get(spec.path, []) if (self.show_all or spec.path in self.touched) else []
            widget.update(Content("\n".join(mine)))
            widget.set_class(not mine, "-ok")
        return self.problems

    def general_problems(self) -> list[str]:
        return [p for p in self.problems if field_of(p) is None] if self.show_all else []

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.has_focus and (spec := self.spec_of(event.input.id)):
            self.touched.add(spec.path)
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
            if value is None:
                return  # nothing there to remove (or a list of servers: not this path's to touch)
            child = node[part] = {}
        node = child
    if value is not None:
        node[last] = value
        return
    node.pop(last, None)
    if parents and data.get(parents[0]) == {}:
        data.pop(parents[0])

"""The PowerShell we ship is parsed by a real PowerShell grammar, and it declares exactly what the lab simulates.

tree-sitter-pwsh parses every runbook/hosts/ps/*.ps1 offline. From the parse tree we read each
function's name, its [CmdletBinding()] marker, its param() block (names, Mandatory,
ValidateSet, ValidatePattern, AllowEmptyString, type) and the property names of the
[pscustomobject] it writes, and compare them with runbook.lab.windows_contract, which is what
the simulated Windows host binds and answers. Advanced functions are the contract; plain
functions are helpers and must be called from somewhere.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import tree_sitter_pwsh
from tree_sitter import Language, Node, Parser

from runbook.lab import windows_contract as contract
from runbook.lab.windows_host import SimWindowsHost

PS_DIR = Path(__file__).resolve().parents[1] / "runbook" / "hosts" / "ps"
SCRIPTS = sorted(PS_DIR.glob("*.ps1"))
PARSER = Parser(Language(tree_sitter_pwsh.language()))


@dataclass
class Function:
    name: str
    file: str
    advanced: bool
    params: tuple[contract.Param, ...]
    objects: list[tuple[str, ...]]  # property names of each [pscustomobject]@{...}, in source order
    body: str
    calls: set[str] = field(default_factory=set)


def _walk(node: Node):
    yield node
    for child in node.children:
        yield from _walk(child)


def _text(node: Node) -> str:
    return node.text.decode("utf-8") if node.text is not None else ""


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1].replace("''", "'") if text[0] == "'" else text[1:-1]
    return text


def _type_name(attribute: Node) -> str:
    names = [n for n in _walk(attribute) if n.type == "type_identifier"]
    return _text(names[0]) if names else ""


def _arguments(attribute: Node) -> list[Node]:
    return [n for n in _walk(attribute) if n.type == "attribute_argument"]


def _strings(node: Node) -> list[str]:
    return [_unquote(_text(n)) for n in _walk(node) if n.type == "string_literal"]


def _param(script_parameter: Node) -> contract.Param:
    name = next(_text(n) for n in script_parameter.children if n.type == "variable").lstrip("$")
    mandatory, pattern, allow_empty, kind = False, None, False, "object"
    choices: tuple[str, ...] = ()
    attributes = next((n for n in script_parameter.children if n.type == "attribute_list"), None)
    for attribute in (attributes.children if attributes is not None else []):
        literal = next((n for n in attribute.children if n.type == "type_literal"), None)
        if literal is not None:  # [string]$Name, [string[]]$Names: the parameter's type
            kind = {"string": "string", "bool": "bool", "switch": "bool",
                    "hashtable": "hashtable"}.get(_type_name(literal).lower(), "object")
            if any(n.type == "array_type_name" for n in _walk(literal)):
                kind += "[]"
            continue
        attr_name = _type_name(attribute).lower()
        if attr_name == "parameter":
            for argument in _arguments(attribute):
                words = _text(argument).replace(" ", "").lower()
                if words in ("mandatory", "mandatory=$true"):
                    mandatory = True
        elif attr_name == "validateset":
            choices = tuple(_strings(attribute))
        elif attr_name == "validatepattern":
            pattern = _strings(attribute)[0]
        elif attr_name == "allowemptystring":
            allow_empty = True
    return contract.Param(name, mandatory=mandatory, choices=choices, pattern=pattern, allow_empty=allow_empty,
                          kind=kind)


def _objects(body: Node) -> list[tuple[str, ...]]:
    found = []
    for node in _walk(body):
        if node.type != "cast_expression":
            continue
        literal = next((n for n in node.children if n.type == "type_literal"), None)
        if literal is None or _type_name(literal).lower() != "pscustomobject":
            continue
        table = next(n for n in _walk(node) if n.type == "hash_literal_expression")
        body_node = next(n for n in table.children if n.type == "hash_literal_body")
        keys = [_unquote(_text(entry.children[0])) for entry in body_node.children if entry.type == "hash_entry"]
        found.append(tuple(keys))
    return found


def _parse(path: Path):
    return PARSER.parse(path.read_bytes())


def _functions() -> dict[str, Function]:
    functions: dict[str, Function] = {}
    for path in SCRIPTS:
        for node in _walk(_parse(path).root_node):
            if node.type != "function_statement":
                continue
            name = _text(next(n for n in node.children if n.type == "function_name"))
            block = next(n for n in node.children if n.type == "script_block")
            param_block = next((n for n in block.children if n.type == "param_block"), None)
            advanced = False
            params: tuple[contract.Param, ...] = ()
            if param_block is not None:
                attributes = next((n for n in param_block.children if n.type == "attribute_list"), None)
                advanced = attributes is not None and any(
                    _type_name(a).lower() == "cmdletbinding" for a in attributes.children)
                plist = next((n for n in param_block.children if n.type == "parameter_list"), None)
                params = tuple(_param(p) for p in (plist.children if plist is not None else [])
                               if p.type == "script_parameter")
            assert name not in functions, f"{name} is defined twice ({functions.get(name)} and {path.name})"
            functions[name] = Function(
                name=name, file=path.name, advanced=advanced, params=params, objects=_objects(block),
                body=_text(block), calls={_text(n) for n in _walk(block) if n.type == "command_name"})
    return functions


FUNCTIONS = _functions() if SCRIPTS else {}


def test_scripts_exist():
    assert SCRIPTS, f"no .ps1 files in {PS_DIR}"


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_script_parses_without_errors(path: Path):
    tree = _parse(path)
    source = path.read_text(encoding="utf-8").splitlines()
    problems = []
    for node in _walk(tree.root_node):
        if node.type == "ERROR" or node.is_missing:
            row, col = node.start_point
            what = f"missing {node.type}" if node.is_missing else "syntax error"
            text = source[row].strip() if row < len(source) else ""
            problems.append(f"{path.name}:{row + 1}:{col + 1}: {what}: {text}")
    assert not problems, "\n".join(problems)
    assert not tree.root_node.has_error


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_script_only_defines_functions(path: Path):
    """Loading a script into a runspace must change nothing on the host: no top-level statement runs."""
    root = _parse(path).root_node
    for child in root.children:
        if child.type in ("comment", "requires_directive_list"):
            continue
        assert child.type == "statement_list", f"{path.name}: unexpected top-level {child.type}"
        for statement in child.children:
            row = statement.start_point[0] + 1
            assert statement.type in ("function_statement", "comment"), \
                f"{path.name}:{row}: top-level {statement.type} does something when the file is loaded"


def test_advanced_functions_are_exactly_the_contract():
    shipped = {name for name, fn in FUNCTIONS.items() if fn.advanced}
    simulated = set(SimWindowsHost("seg", "seg01.test.lan").functions("default"))
    assert shipped == set(contract.HOST_FUNCTIONS) == simulated, (
        f"only in .ps1: {sorted(shipped - simulated)}; only in the simulated host: {sorted(simulated - shipped)}")


@pytest.mark.parametrize("name", sorted(contract.HOST_FUNCTIONS))
def test_parameters_match_the_simulated_host(name: str):
    fn = FUNCTIONS[name]
    assert fn.params == contract.HOST_FUNCTIONS[name], (
        f"{name} in {fn.file}:\n  .ps1: {fn.params}\n  sim:  {contract.HOST_FUNCTIONS[name]}")


@pytest.mark.parametrize("name", sorted(contract.HOST_FUNCTIONS))
def test_output_object_has_the_contract_properties(name: str):
    fn = FUNCTIONS[name]
    assert fn.objects, f"{name} writes no [pscustomobject]"
    assert fn.objects[-1] == contract.OUTPUTS[name], f"{name} writes {fn.objects[-1]}"


def test_tmg_listener_and_rule_objects_have_the_contract_properties():
    assert FUNCTIONS["ConvertFrom-CertAuthTmgListener"].objects[-1] == contract.TMG_LISTENER_KEYS
    assert FUNCTIONS["ConvertFrom-CertAuthTmgRule"].objects[-1] == contract.TMG_RULE_KEYS
    assert FUNCTIONS["ConvertFrom-CertAuthTmgServerRule"].objects[-1] == contract.TMG_SERVER_RULE_KEYS


@pytest.mark.parametrize("name", sorted(contract.HOST_FUNCTIONS))
def test_every_contract_function_stops_on_errors(name: str):
    """Non-terminating errors inside a function must not let it carry on and report success."""
    assert re.search(r"\$ErrorActionPreference\s*=\s*'Stop'", FUNCTIONS[name].body), \
        f"{name} does not set $ErrorActionPreference = 'Stop'"


def test_helpers_are_used():
    called = set().union(*(fn.calls for fn in FUNCTIONS.values()))
    unused = [n for n, fn in FUNCTIONS.items() if not fn.advanced and n not in called]
    assert not unused, f"plain (helper) functions nobody calls: {unused}"


def test_no_value_is_ever_formatted_into_code():
    """Values travel as parameters: no Invoke-Expression, no [scriptblock]::Create, no secedit /configure."""
    for path in SCRIPTS:
        code = "\n".join(line for line in path.read_text(encoding="utf-8").splitlines()
                         if not line.lstrip().startswith("#"))
        for forbidden in ("Invoke-Expression", "iex ", "[scriptblock]::Create", "/configure", "ExpandString"):
            assert forbidden.lower() not in code.lower(), f"{path.name} uses {forbidden}"


def test_tmg_script_never_writes():
    code = (PS_DIR / "CertAuthTmg.ps1").read_text(encoding="utf-8")
    assert ".Save(" not in code and ".Add(" not in code and ".Remove(" not in code
    # no assignment to a property of a COM object: only plain variables are assigned
    assignments = [n for n in _walk(_parse(PS_DIR / "CertAuthTmg.ps1").root_node)
                   if n.type == "left_assignment_expression"]
    assert all(_text(n).startswith("$") and "." not in _text(n) for n in assignments), \
        [_text(n) for n in assignments]


def test_a_call_loads_every_file_its_function_reaches():
    """runbook.hosts.functions reads what each function calls with regular expressions; the grammar's own
    reading (command names in the body, transitively) must never reach a file it leaves out. Every parameter
    passed: nothing is left out for a parameter's sake."""
    from runbook.hosts.functions import FunctionFiles

    files = FunctionFiles([(path.name, path.read_text(encoding="utf-8")) for path in SCRIPTS])
    by_name = {name.lower(): fn for name, fn in FUNCTIONS.items()}
    for name, fn in FUNCTIONS.items():
        reached, todo = {name.lower()}, [fn]
        while todo:
            for called in todo.pop().calls:
                if called.lower() in by_name and called.lower() not in reached:
                    reached.add(called.lower())
                    todo.append(by_name[called.lower()])
        needed = files.needed(name, {p.name: "x" for p in fn.params})
        assert {by_name[n].file for n in reached} <= set(needed), name


def test_get_certauthstate_loads_the_files_of_the_lists_asked():
    from runbook.hosts.functions import FunctionFiles

    files = FunctionFiles([(path.name, path.read_text(encoding="utf-8")) for path in SCRIPTS])
    single = {"Right": "Get-CertAuthUserRight", "Feature": "Get-CertAuthWindowsFeature",
              "AppPool": "Get-CertAuthAppPoolIdentity", "WebConfig": "Get-CertAuthWebConfig",
              "ProviderLocation": "Get-CertAuthAuthProviders", "TmgPolicy": "Get-CertAuthTmgPolicy"}
    assert {p.name for p in FUNCTIONS["Get-CertAuthState"].params} == set(single)
    for parameter, function in single.items():
        needed = files.needed("Get-CertAuthState", {parameter: "x"})
        assert set(needed) == {FUNCTIONS["Get-CertAuthState"].file} | set(files.needed(function, {})), parameter
    assert files.needed("Get-CertAuthState", {"Right": ["SeTcbPrivilege"]}) == ["CertAuthHost.ps1",
                                                                              "CertAuthState.ps1"]

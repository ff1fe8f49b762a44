"""The layering contract: runbook/ is UI-free, screens/ talks to no server, status never loads Textual.

The import rules themselves are import-linter contracts in pyproject.toml ([tool.importlinter]); the tests
here run them and check at run time what a static graph cannot see.
"""
from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUR_PACKAGES = ("runbook", "steps", "screens", "testsupport", "tests", "bench")


def private_imports(source: str, where: str) -> list[str]:
    """`from our.module import _name` lines: a name another module keeps to itself, used from outside."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.ImportFrom):
            continue
        ours = node.level > 0 or (node.module or "").split(".")[0] in OUR_PACKAGES
        for alias in node.names if ours else ():
            if alias.name.startswith("_") and not alias.name.startswith("__"):
                found.append(f"{where}:{node.lineno}: from {'.' * node.level}{node.module or ''} import {alias.name}")
    return found


def test_import_contracts_are_kept() -> None:
    beside = Path(sys.executable).parent / "lint-imports"
    command = str(beside) if beside.exists() else shutil.which("lint-imports")
    assert command, "lint-imports is missing: pip install -e '.[test]'"
    # --no-cache: several runs share this working tree, and a cache would hide nothing here (~1 s without it).
    result = subprocess.run([command, "--no-cache"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert " 0 broken" in result.stdout, result.stdout[-3000:]


def test_engine_loads_without_textual_installed(tmp_path: Path) -> None:
    """Run the CLI's status path with `textual` made unimportable: it must not notice."""
    blocker = tmp_path / "textual.py"
    blocker.write_text("raise ImportError('textual is blocked in this test')\n")
    code = ("import sys; sys.path.insert(0, sys.argv[1]); "
            "import runbook.cli, runbook.commands.core, runbook.flow.engine, "
            "steps; import runbook.reports.text; print('ok')")
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, cwd=ROOT)
    assert result.stdout.strip() == "ok", result.stderr


def test_status_does_not_import_textual_or_clients(sessions_dir: Path, write_params) -> None:
    from runbook.flow.engine import Runbook
    from steps import CATALOGUE

    path = sessions_dir / "c.yaml"
    Runbook.create(path, str(write_params()), CATALOGUE, lambda *a: None)
    code = ("import sys, runbook.cli; rc = runbook.cli.main(['status', sys.argv[1]]); "
            "bad = [m for m in ('textual', 'rich', 'ldap3', 'pypsrp', 'cryptography') if m in sys.modules]; "
            "print('loaded:', bad); raise SystemExit(rc)")
    result = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("loaded: []"), result.stdout


def test_the_scan_finds_a_private_import() -> None:
    source = "from runbook.hosts.transport import Target, _hidden\nfrom .errors import _also\nimport os\n"
    assert private_imports(source, "x.py") == ["x.py:1: from runbook.hosts.transport import _hidden",
                                               "x.py:2: from .errors import _also"]
    assert private_imports("from os import _exit\nfrom __future__ import annotations\n", "y.py") == []


def test_no_module_imports_another_modules_private_names() -> None:
    """A shared helper gets a public name in the module that owns it; `_name` stays inside its module."""
    found = [line for package in OUR_PACKAGES for path in sorted((ROOT / package).rglob("*.py"))
             for line in private_imports(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))]
    assert found == [], "\n".join(found)

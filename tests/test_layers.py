"""The layering contract: runbook/ is UI-free, screens/ talks to no server, status never loads Textual."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMPOSITION_ROOTS = {"cli.py", "commands.py"}  # the one place the engine is wired to the procedure and the UI


def imports_of(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_engine_imports_no_ui_and_no_procedure() -> None:
    for path in (ROOT / "runbook").rglob("*.py"):
        found = imports_of(path)
        assert not found & {"textual", "rich"}, f"{path} imports {found & {'textual', 'rich'}}"
        if path.name not in COMPOSITION_ROOTS:
            assert not found & {"steps", "screens"}, f"{path} imports {found & {'steps', 'screens'}}"


def test_steps_import_no_ui() -> None:
    for path in (ROOT / "steps").rglob("*.py"):
        assert not imports_of(path) & {"textual", "rich", "screens"}, path


def test_screens_talk_to_no_server() -> None:
    for path in (ROOT / "screens").rglob("*.py"):
        found = imports_of(path)
        assert not found & {"ldap3", "pypsrp", "psrpcore"}, f"{path} imports {found}"
        text = path.read_text()
        assert "ldap_directory" not in text and "winrm_shell" not in text, path


def test_engine_loads_without_textual_installed(tmp_path: Path) -> None:
    """Run the CLI's status path with `textual` made unimportable: it must not notice."""
    blocker = tmp_path / "textual.py"
    blocker.write_text("raise ImportError('textual is blocked in this test')\n")
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import runbook.cli, runbook.commands, runbook.engine, "
            "steps; import runbook.render; print('ok')")
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, cwd=ROOT)
    assert result.stdout.strip() == "ok", result.stderr


def test_status_does_not_import_textual_or_clients(sessions_dir: Path, write_params) -> None:
    from runbook.engine import Runbook
    from steps import CATALOGUE

    path = sessions_dir / "c.yaml"
    Runbook.create(path, str(write_params()), CATALOGUE, lambda *a: None)
    code = ("import sys, runbook.cli; rc = runbook.cli.main(['status', sys.argv[1]]); "
            "bad = [m for m in ('textual', 'rich', 'ldap3', 'pypsrp', 'cryptography') if m in sys.modules]; "
            "print('loaded:', bad); raise SystemExit(rc)")
    result = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("loaded: []"), result.stdout

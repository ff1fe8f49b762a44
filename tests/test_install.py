"""The product installs and runs without the `test` extra: a fresh venv gets `pip install .` and nothing else.

Slow (a venv and a pip install, ~30 s): the fast guard for the same rule is the import-linter contract
(tests/test_import_contracts.py), which reads the sources rather than what pip installs.
"""
from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = ("runbook", "steps", "screens")
# psrpcore, pyspnego (module `spnego`), pytest and tree-sitter come with the test extra. pyspnego also arrives as
# pypsrp's own dependency, so for it only the product's own imports are checked, not what is importable.
TEST_ONLY = {"psrpcore", "spnego", "pytest", "_pytest", "tree_sitter", "tree_sitter_pwsh", "syrupy",
             "testsupport", "tests"}
NOT_INSTALLED = sorted(TEST_ONLY - {"spnego", "tests"})

# Imports every installed product module with test-only packages made unimportable, and reports what failed.
IMPORT_ALL = r"""
import importlib, importlib.abc, json, pkgutil, sys, traceback
blocked = set(sys.argv[1].split(","))
attempts = []

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in blocked:
            attempts.append(name)
            raise ImportError(f"{name} is test-only")
        return None

sys.meta_path.insert(0, Block())
failed, loaded = {}, []
for top in sys.argv[2].split(","):
    package = importlib.import_module(top)
    names = [top] + [m.name for m in pkgutil.walk_packages(package.__path__, top + ".")]
    for name in names:
        if name.endswith(".__main__"):  # runs the command when imported
            continue
        try:
            importlib.import_module(name)
            loaded.append(name)
        except Exception:
            failed[name] = traceback.format_exc(limit=3)
files = {top: sys.modules[top].__file__ for top in sys.argv[2].split(",")}
print(json.dumps({"failed": failed, "loaded": loaded, "attempts": attempts, "files": files}))
"""


def copy_source(dest: Path) -> None:
    """Only what the package build reads: a stale build/ or egg-info in the working tree must not leak in."""
    dest.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, dest / name)
    for package in PRODUCT:
        shutil.copytree(ROOT / package, dest / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def imported_names(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("install")
    copy_source(base / "src")
    subprocess.run([sys.executable, "-m", "venv", str(base / "venv")], check=True, timeout=120)
    python = base / "venv" / "bin" / "python"
    result = subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                             str(base / "src")], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    return base / "venv"


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    return {**env, **extra}


def site_packages(venv: Path) -> Path:
    found = list((venv / "lib").glob("python3*/site-packages"))
    assert len(found) == 1, found
    return found[0]


@pytest.mark.slow
def test_no_test_only_package_is_installed(venv: Path) -> None:
    code = "import importlib.util, sys; print([n for n in sys.argv[1:] if importlib.util.find_spec(n)])"
    result = subprocess.run([str(venv / "bin" / "python"), "-c", code, *NOT_INSTALLED], capture_output=True,
                            text=True, env=clean_env(), cwd=venv, timeout=60)
    assert result.stdout.strip() == "[]", result.stdout + result.stderr


@pytest.mark.slow
def test_every_installed_module_imports_without_test_packages(venv: Path) -> None:
    blocked = ",".join(sorted(TEST_ONLY - {"spnego"}))  # pypsrp itself imports spnego
    result = subprocess.run([str(venv / "bin" / "python"), "-c", IMPORT_ALL, blocked, ",".join(PRODUCT)],
                            capture_output=True, text=True, env=clean_env(), cwd=venv, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["failed"] == {}, "\n".join(report["failed"].values())
    assert report["attempts"] == []
    for top, file in report["files"].items():
        assert file.startswith(str(venv)), f"{top} was imported from {file}, not the venv"
    assert "runbook.lab.windows_host" in report["loaded"] and "screens.app" in report["loaded"]
    assert not [name for name in report["loaded"] if "wsman" in name]


@pytest.mark.slow
def test_no_installed_module_imports_a_test_only_package(venv: Path) -> None:
    offenders = {}
    for package in PRODUCT:
        for path in (site_packages(venv) / package).rglob("*.py"):
            found = imported_names(path) & TEST_ONLY
            if found:
                offenders[str(path)] = sorted(found)
    assert offenders == {}


@pytest.mark.slow
def test_the_installed_command_rehearses(venv: Path, tmp_path: Path) -> None:
    env = clean_env(RUNBOOK_SESSIONS_DIR=str(tmp_path / "sessions"))
    runbook = str(venv / "bin" / "runbook")
    created = subprocess.run([runbook, "demo", "--init", "x"], capture_output=True, text=True, env=env,
                             cwd=tmp_path, timeout=120)
    assert created.returncode == 0, created.stderr
    status = subprocess.run([runbook, "status", "x"], capture_output=True, text=True, env=env, cwd=tmp_path,
                            timeout=120)
    assert status.returncode == 0, status.stderr
    assert "NOT COMPLETE" in status.stdout and "Traceback" not in status.stderr
    # A change on a simulated Windows host: the rehearsal lab's Windows side works without WinRM.
    run = subprocess.run([runbook, "run", "x", "6b@SEG01", "--yes"], capture_output=True, text=True, env=env,
                         cwd=tmp_path, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "6b@SEG01: done and verified" in run.stdout

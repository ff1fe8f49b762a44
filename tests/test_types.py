"""`mypy --strict` on the engine and the procedure, with the configuration in pyproject.toml ([tool.mypy])."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_runbook_and_steps_are_mypy_strict_clean() -> None:
    # The default .mypy_cache (git-ignored) keeps a repeated run under a second; a cold one takes ~15 s. mypy
    # checks each cached module against its source, so a cache shared with other runs cannot hide an error.
    result = subprocess.run([sys.executable, "-m", "mypy"], capture_output=True, text=True, cwd=ROOT, timeout=240)
    assert "No module named mypy" not in result.stderr, "mypy is missing: pip install -e '.[test]'"
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]
    assert "Success: no issues found" in result.stdout, result.stdout[-3000:]

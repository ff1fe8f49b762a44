"""The benchmarks still run (on tiny inputs): their figures are read by people, never asserted by the suite."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
@pytest.mark.parametrize("script,args", [
    ("cli.py", ["--entries", "30", "--runs", "1"]),
    ("scale.py", ["--sizes", "12,20", "--runs", "1"]),
    ("tui_start.py", ["--runs", "1", "--entries", "500"]),
    ("report.py", ["--entries", "50,100", "--runs", "1"]),
])
def test_a_benchmark_runs_and_prints_its_goals(tmp_path: Path, script: str, args: list[str]) -> None:
    env = {**os.environ, "RUNBOOK_SESSIONS_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, str(ROOT / "bench" / script), *args], capture_output=True, text=True,
                            env=env, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "goal" in result.stdout

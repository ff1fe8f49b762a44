"""What `runbook status` loads (issue 23: status within 1.5× of reading the session with PyYAML).

Its time is nearly all import: each module found and run, each dataclass's methods compiled. These tests keep the
driving half of the engine, the procedure (the kept outline stands for it), PyYAML (the parsed twin stands for
the unchanged session file) and argparse off its path, and keep every dataclass on it documented: `@dataclass`
computes `inspect.signature` for a class without a docstring, at import.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOT_ON_THE_PATH = ("runbook.flow.context", "runbook.flow.ports", "runbook.flow.cancel", "runbook.flow.engine",
                   "runbook.record.journal_check", "steps", "runbook.flow.catalogue", "argparse")
# A real session's status parses its params for the Kerberos ticket warning (tests/test_outline.py and
# tests/test_parsed_twin.py show a lab session's status without the params, nor PyYAML).
PROBE = """
import dataclasses, json, sys
import runbook.cli
rc = runbook.cli.main(['status', sys.argv[1]])
loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('runbook', 'steps', 'yaml', 'argparse'))
classes = [value for name in loaded for value in vars(sys.modules[name]).values()
           if isinstance(value, type) and value.__module__ == name and dataclasses.is_dataclass(value)]
generated = [f'{c.__module__}.{c.__qualname__}' for c in classes if (c.__doc__ or '').startswith(c.__name__ + '(')]
print(json.dumps({'loaded': loaded, 'dataclasses': len(classes), 'undocumented': generated}))
raise SystemExit(rc)
"""


def _status_probe(sessions_dir: Path, write_params) -> dict[str, object]:
    from runbook.flow.engine import Runbook
    from steps import CATALOGUE

    path = sessions_dir / "probe.yaml"
    Runbook.create(path, str(write_params()), CATALOGUE, lambda *a: None)
    result = subprocess.run([sys.executable, "-c", PROBE, str(path)], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    found: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return found


def test_status_keeps_the_driving_modules_off_its_path(sessions_dir: Path, write_params) -> None:
    found = _status_probe(sessions_dir, write_params)
    loaded = found["loaded"]
    assert isinstance(loaded, list) and "runbook.flow.view" in loaded  # the probe saw status load its view
    assert [name for name in NOT_ON_THE_PATH if name in loaded] == []


def test_every_dataclass_status_loads_has_a_docstring(sessions_dir: Path, write_params) -> None:
    found = _status_probe(sessions_dir, write_params)
    assert isinstance(found["dataclasses"], int) and found["dataclasses"] > 5  # the probe found them
    assert found["undocumented"] == []

"""The step outline the driver keeps beside a session (runbook.flow.outline): `runbook status` reads it instead of
loading the procedure, must print exactly what the full view prints, must never trust an outline made from other
params or by other code, and writes nothing itself."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from runbook.backends import Options, ports_factory
from runbook.flow import outline as outlines
from runbook.flow.engine import Runbook
from runbook.flow.view import SessionView
from runbook.lab.lab import SCENARIOS, create_demo
from runbook.reports.text import status_data, status_text
from steps import CATALOGUE

ROOT = Path(__file__).resolve().parent.parent
PROBE = """
import sys
import runbook.cli
rc = runbook.cli.main(['status', sys.argv[1]])
print('LOADED', ' '.join(sorted(m for m in sys.modules if m.split('.')[0] in ('runbook', 'steps'))))
raise SystemExit(rc)
"""


def _started(path: Path, scenario: str) -> Path:
    """A lab session with some history: a step skipped, one marked done by hand, one run."""
    create_demo(path, scenario, CATALOGUE)
    book = Runbook.open(path, CATALOGUE, ports_factory(Options()), drive=True)
    try:
        keys = [i.key for i in book.instances if not i.not_applicable]
        book.mark(keys[-1], "skip", "outline test")
        ready = book.next_pending()
        assert ready is not None and not book.waiting_for(ready)
        book.mark(ready.key, "done", "outline test")
    finally:
        book.close()
    return path


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_outlined_view_prints_what_the_full_view_prints(sessions_dir: Path, scenario: str) -> None:
    path = _started(sessions_dir / f"{scenario}.yaml", scenario)
    assert oct(outlines.outline_path(path).stat().st_mode & 0o777) == "0o600"  # kept by the driver
    full = SessionView.load(path, CATALOGUE)
    kept = SessionView.outlined(path, lambda: pytest.fail("the kept outline should have been read"))
    assert status_text(kept) == status_text(full)
    assert status_data(kept) == status_data(full)
    assert [s.to_dict() for s in kept.outline.steps] == [s.to_dict() for s in full.outline.steps]


def test_status_reads_the_kept_outline_and_leaves_the_procedure_unloaded(sessions_dir: Path) -> None:
    path = _started(sessions_dir / "probe.yaml", "tmg-seg-eas")
    kept = outlines.outline_path(path).read_bytes()
    outlines.outline_path(path).unlink()
    runs = []
    for _ in range(2):
        runs.append(subprocess.run([sys.executable, "-c", PROBE, str(path)], capture_output=True, text=True, cwd=ROOT))
        outlines.outline_path(path).write_bytes(kept)
    assert [run.returncode for run in runs] == [0, 0], runs[0].stderr + runs[1].stderr
    without, with_outline = ([line for line in run.stdout.splitlines() if line.startswith("LOADED ")][0].split()[1:]
                             for run in runs)
    assert "steps" in without and "runbook.inputs.params" in without  # no outline: the catalogue made it
    assert [m for m in with_outline if m == "steps" or m.startswith(("steps.", "runbook.inputs.params",
                                                                      "runbook.flow.catalogue"))] == []
    assert runs[0].stdout.split("LOADED")[0] == runs[1].stdout.split("LOADED")[0]


def test_a_reader_never_writes_the_outline_and_a_driver_writes_a_missing_one(sessions_dir: Path) -> None:
    path = _started(sessions_dir / "reader.yaml", "tmg-eas")
    outlines.outline_path(path).unlink()
    SessionView.outlined(path, lambda: CATALOGUE).outline  # noqa: B018 - made from the catalogue, in memory
    assert not outlines.outline_path(path).exists()
    Runbook.open(path, CATALOGUE, ports_factory(Options()), drive=False).close()
    assert not outlines.outline_path(path).exists()
    Runbook.open(path, CATALOGUE, ports_factory(Options()), drive=True).close()
    assert outlines.read_kept(path, SessionView.load(path, CATALOGUE).session.params) is not None


def test_an_outline_made_from_other_params_or_by_other_code_is_not_used(sessions_dir: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    path = _started(sessions_dir / "stale.yaml", "tmg-eas")
    params = dict(SessionView.load(path, CATALOGUE).session.params)
    assert outlines.read_kept(path, params) is not None
    assert outlines.read_kept(path, {**params, "topology": "add-seg"}) is None
    monkeypatch.setattr(outlines, "_CODE", ["another version"])
    assert outlines.read_kept(path, params) is None
    loaded: list[bool] = []
    view = SessionView.outlined(path, lambda: loaded.append(True) or CATALOGUE)
    assert loaded == [True] and view.outline.steps  # the catalogue made it
    Runbook.open(path, CATALOGUE, ports_factory(Options()), drive=True).close()
    assert outlines.read_kept(path, params) is not None  # the driver kept one for this code


@pytest.mark.parametrize("damage", ["", "{not json", "[]", '{"made_from": 1}', "null"])
def test_a_damaged_outline_is_ignored(sessions_dir: Path, damage: str) -> None:
    path = _started(sessions_dir / "damaged.yaml", "tmg-eas")
    expected = status_text(SessionView.load(path, CATALOGUE))
    outlines.outline_path(path).write_text(damage)
    assert status_text(SessionView.outlined(path, lambda: CATALOGUE)) == expected


def test_an_outline_that_cannot_be_written_costs_only_time(sessions_dir: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    def refused(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(outlines, "keep", lambda *a: None)  # the demo's own files are written as usual
    path = _started(sessions_dir / "readonly.yaml", "tmg-eas")
    monkeypatch.undo()
    monkeypatch.setattr("runbook.record.store.write_atomic", refused)
    outlines.keep(path, SessionView.load(path, CATALOGUE).session.params,
                  SessionView.load(path, CATALOGUE).outline)
    assert not outlines.outline_path(path).exists()
    assert status_text(SessionView.outlined(path, lambda: CATALOGUE)) == status_text(SessionView.load(path, CATALOGUE))

"""The session file's parsed twin (runbook.record.parsed): written by the driver with each snapshot, used only while
the session file is the very file it was written as, never instead of refusing a file that must be refused, and
never the record. Readers write nothing."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from runbook.backends import Options, ports_factory
from runbook.errors import SessionFileError
from runbook.flow.engine import Runbook
from runbook.lab.lab import SCENARIOS, create_demo
from runbook.record import parsed, store
from steps import CATALOGUE

ROOT = Path(__file__).resolve().parent.parent
PROBE = """
import sys
import runbook.cli
rc = runbook.cli.main(['status', sys.argv[1]])
print('YAML', 'yaml' in sys.modules)
raise SystemExit(rc)
"""


@pytest.fixture
def session(sessions_dir: Path) -> Path:
    return create_demo(sessions_dir / "twin.yaml", "tmg-eas", CATALOGUE)


def _folder(path: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in path.parent.iterdir()}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_twin_holds_what_parsing_the_yaml_gives(sessions_dir: Path, scenario: str) -> None:
    path = create_demo(sessions_dir / f"{scenario}.yaml", scenario, CATALOGUE)
    book = Runbook.open(path, CATALOGUE, ports_factory(Options()), drive=True)
    try:
        ready = book.next_pending()
        assert ready is not None
        book.mark(ready.key, "skip", "twin test: a note with 'quotes', a colon: and ünïcode")
        book.add_note(ready.key, "yes")  # YAML 1.1 would read a bare yes as true: the dumper quotes it
    finally:
        book.close()
    assert oct(parsed.twin_path(path).stat().st_mode & 0o777) == "0o600"
    assert parsed.read(path) == store.read_snapshot(path)[0]


def test_status_on_an_unchanged_session_does_without_pyyaml_and_writes_nothing(session: Path) -> None:
    before = _folder(session)
    runs = [subprocess.run([sys.executable, "-c", PROBE, str(session)], capture_output=True, text=True, cwd=ROOT)
            for _ in range(2)]
    assert [run.returncode for run in runs] == [0, 0], runs[0].stderr
    assert [run.stdout.splitlines()[-1] for run in runs] == ["YAML False", "YAML False"]
    assert _folder(session) == before
    parsed.twin_path(session).unlink()
    run = subprocess.run([sys.executable, "-c", PROBE, str(session)], capture_output=True, text=True, cwd=ROOT)
    assert run.stdout.splitlines()[-1] == "YAML True" and run.stdout.rsplit("YAML", 1)[0] == \
        runs[0].stdout.rsplit("YAML", 1)[0]
    assert not parsed.twin_path(session).exists()  # a reader does not write it


def test_a_rewritten_or_edited_session_file_is_parsed_again(session: Path) -> None:
    assert parsed.read(session) is not None
    text = session.read_text()
    assert "created_by: " in text
    session.write_text(text.replace("created_by: ", "created_by: X", 1))  # in place: same inode
    assert parsed.read(session) is None
    assert store.load(session).created_by.startswith("X")
    store.write_atomic(session, text)  # a new file renamed into place, by someone other than the store
    assert parsed.read(session) is None
    assert not store.load(session).created_by.startswith("X")


@pytest.mark.parametrize("twin", ["", "{", "[]", '{"format": 1, "of": [], "data": {}}', '{"format": 2}'])
def test_a_damaged_or_foreign_twin_is_not_used(session: Path, twin: str) -> None:
    expected = store.load(session).to_dict()
    parsed.twin_path(session).write_text(twin)
    assert parsed.read(session) is None
    assert store.load(session).to_dict() == expected


def test_a_twin_of_other_data_for_this_very_file_would_be_believed_so_only_the_store_writes_it(session: Path) -> None:
    """The identity is the whole check: what makes it safe is that the twin is written right after the file, by
    the one process that holds the lock (store.save), from the same data."""
    twin = json.loads(parsed.twin_path(session).read_text())
    assert twin["of"] == parsed._identity(os.lstat(session)) and twin["data"] == store.read_snapshot(session)[0]


def test_a_symlinked_twin_is_not_followed(session: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere.json"
    parsed.twin_path(session).rename(elsewhere)
    parsed.twin_path(session).symlink_to(elsewhere)
    assert parsed.read(session) is None


def test_a_session_file_replaced_by_a_symlink_is_still_refused(session: Path, tmp_path: Path) -> None:
    real = tmp_path / "real.yaml"
    os.replace(session, real)
    session.symlink_to(real)
    with pytest.raises(SessionFileError, match="symbolic link"):
        store.load(session)


def test_data_json_would_change_is_not_kept(session: Path) -> None:
    parsed.twin_path(session).unlink()
    parsed.keep(session, {"schema": 2, "steps": {1: "an integer key JSON would make a string"}})
    parsed.keep(session, {"schema": 2, "steps": ("a tuple JSON would make a list",)})
    assert not parsed.twin_path(session).exists()
    parsed.keep(session, {"schema": 2, "steps": {"1": ["text"]}})
    assert parsed.read(session) == {"schema": 2, "steps": {"1": ["text"]}}


def test_a_twin_that_cannot_be_written_costs_only_time(session: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parsed.twin_path(session).unlink()
    real = store.write_atomic

    def twin_refused(path: Path, *args: object, **kwargs: object) -> None:
        if path.name.endswith(".parsed.json"):
            raise PermissionError(13, "Permission denied")
        real(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "write_atomic", twin_refused)
    store.save(store.load(session), session)
    assert not parsed.twin_path(session).exists() and store.load(session).params

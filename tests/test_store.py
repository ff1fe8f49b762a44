"""Session files: atomic writes, clear refusals, never overwriting what we cannot read."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from runbook.errors import SessionFileError, StorageError
from runbook.flow.engine import Runbook
from runbook.flow.states import State
from runbook.record import parsed, store
from runbook.record.session import Session
from steps import CATALOGUE


def no_ports(path, session, params):
    raise AssertionError("these tests never reach the outside world")


def test_session_round_trips(sessions_dir: Path, write_params) -> None:
    path = sessions_dir / "c.yaml"
    book = Runbook.create(path, str(write_params()), CATALOGUE, no_ports)
    again = store.load(path)
    assert again.to_dict() == book.session.to_dict()
    assert again.steps["7"].state == State.NOT_APPLICABLE
    assert path.read_text().startswith("# certauth-runbook session")


def test_crash_mid_write_leaves_the_old_file_intact(sessions_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = sessions_dir / "c.yaml"
    store.save(Session(name="c", params={"topology": "tmg-eas"}), path)
    before = path.read_bytes()

    def crash(fd: int) -> None:
        raise OSError(5, "simulated power loss during fsync")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(StorageError):
        store.save(Session(name="c", params={"topology": "tmg-seg-eas", "big": "x" * 100_000}), path)
    assert path.read_bytes() == before
    # the temp file is gone too; the parsed twin still describes the file that is there
    assert sorted(p.name for p in sessions_dir.iterdir()) == ["c.parsed.json", "c.yaml"]
    assert parsed.read(path) == store.read_snapshot(path)[0]


def test_malformed_file_is_bad_input_and_untouched(sessions_dir: Path) -> None:
    path = sessions_dir / "broken.yaml"
    path.write_text("schema: 1\nparams: [not: closed\n")
    before = path.read_bytes()
    with pytest.raises(SessionFileError) as caught:
        Runbook.open(path, CATALOGUE, no_ports, drive=True)
    assert caught.value.exit_code == 2 and "not valid YAML" in str(caught.value)
    assert path.read_bytes() == before
    assert not store.lock_path(path).exists()


def test_newer_schema_refused(sessions_dir: Path) -> None:
    path = sessions_dir / "future.yaml"
    path.write_text("schema: 99\nparams: {}\nsteps: {}\n")
    with pytest.raises(SessionFileError, match="newer than this runbook"):
        store.load(path)


def test_unknown_state_named(sessions_dir: Path) -> None:
    path = sessions_dir / "odd.yaml"
    path.write_text("schema: 1\nparams: {}\nsteps: {'3a': {state: sleeping}}\n")
    with pytest.raises(SessionFileError, match=r"steps.3a.state: 'sleeping' is not a known state"):
        store.load(path)


def test_bare_name_resolves_in_sessions_dir(sessions_dir: Path) -> None:
    assert store.session_path("night2") == sessions_dir / "night2.yaml"
    assert store.session_path("./x.yaml") == Path("./x.yaml")


def test_bare_step_id_of_a_single_instance_acts_on_that_instance(sessions_dir: Path, write_params) -> None:
    from runbook.backends import Options, ports_factory
    from runbook.lab.lab import create_demo

    path = create_demo(sessions_dir / "one.yaml", "tmg-eas", CATALOGUE)
    book = Runbook.open(path, CATALOGUE, ports_factory(Options()), drive=True)
    try:
        book.run("4a", confirm=lambda question, lines: True)
        book.mark("6a", "skip", "not tonight")
        assert book.record("4a@EAS01").state == State.DONE
        assert book.record("6a@EAS01").state == State.SKIPPED
        assert "4a" not in book.session.steps and "6a" not in book.session.steps
    finally:
        book.close()


def test_a_fifo_symlink_or_alias_bomb_at_the_session_path_is_refused_untouched(sessions_dir: Path) -> None:
    fifo = sessions_dir / "f.yaml"
    os.mkfifo(fifo)
    with pytest.raises(SessionFileError, match="not a regular file"):
        store.load(fifo)
    target = sessions_dir / "elsewhere.yaml"
    target.write_text("schema: 1\n")
    link = sessions_dir / "l.yaml"
    link.symlink_to(target)
    with pytest.raises(SessionFileError, match="symbolic link"):
        store.load(link)
    bomb = sessions_dir / "b.yaml"
    bomb.write_text('schema: 1\nx: &a [1, 2]\ny: [*a, *a]\n')
    with pytest.raises(SessionFileError, match="YAML aliases"):
        store.load(bomb)
    assert bomb.read_text() == 'schema: 1\nx: &a [1, 2]\ny: [*a, *a]\n'

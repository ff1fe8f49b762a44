"""The record under faults: a displaced driver, a full or read-only disk, a tampered journal, symlinks, a cut
session file, loose file modes, a closed terminal. Real processes, real files, a real tmpfs (root, as in CI)."""
from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runbook.errors import StorageError
from runbook.record import store
from runbook.record.journal import Journal, entry_digest
from tests.pair_helpers import ROOT, environment, runbook, start

EXAMPLES = ROOT / "examples"


def demo(folder: Path, *extra: str) -> Path:
    made = runbook(folder, "demo", "--scenario", "tmg-eas", "--init", "k", *extra)
    assert made.returncode == 0, made.stderr
    return folder / "k.yaml"


def journal_of(folder: Path) -> Journal:
    return Journal(folder / "k.journal.jsonl")


def lab_state(folder: Path) -> dict:
    from tests.test_record_crash import lab_state as state

    return state(folder)


def no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr, result.stderr


# -- fencing ------------------------------------------------------------------------------------------------------
def on_host(host: str, sessions: Path, *args: str, operator: str, **env: str) -> subprocess.Popen[str]:
    command = ["unshare", "-u", "sh", "-c", f'hostname {host} && exec "$0" -m runbook "$@"', sys.executable, *args]
    return subprocess.Popen(command, cwd=ROOT, text=True, env=environment(sessions, operator, **env),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)


def unshare_works() -> bool:
    if not shutil.which("unshare"):
        return False
    return subprocess.run(["unshare", "-u", "true"], capture_output=True).returncode == 0


@pytest.mark.skipif(not unshare_works(), reason="needs unshare -u (root) for two host names")
def test_a_driver_taken_over_alive_on_another_host_stops_writing(tmp_path: Path) -> None:
    demo(tmp_path, "--latency", "700")
    pristine = lab_state(tmp_path)
    alice = on_host("jumpa", tmp_path, "run", "k", "3a", "--yes", operator="alice@jumpa")
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any(e.get("action") == "intent" for e in journal_of(tmp_path)
                                                      .entries()):
            time.sleep(0.05)  # alice is inside her step: the intent of her first write is journaled
        refused = on_host("jumpb", tmp_path, "note", "k", "taking over", "--step", "3a", "--takeover",
                          operator="bob@jumpb", RUNBOOK_TAKEOVER_WAIT="0.5")
        out, err = refused.communicate(timeout=60)
        assert refused.returncode == 1 and "which is alive" in err, err  # no reason: a live driver stays
        bob = on_host("jumpb", tmp_path, "note", "k", "taking over", "--step", "3a", "--takeover", "--reason",
                      "alice's terminal froze", operator="bob@jumpb", RUNBOOK_TAKEOVER_WAIT="0.5")
        out, err = bob.communicate(timeout=60)
        assert bob.returncode == 0, err
        _, alice_err = alice.communicate(timeout=60)
    finally:
        alice.kill()
    assert alice.returncode == 1 and "this session was taken over by bob@jumpb" in alice_err, alice_err
    entries = list(journal_of(tmp_path).entries())
    takeover = next(e for e in entries if e["action"] == "takeover")
    assert takeover["operator"] == "bob@jumpb" and "alice@jumpa" in takeover["details"]["from"]
    assert takeover["details"]["reason"] == "alice's terminal froze"
    after = entries[entries.index(takeover):]
    assert all(e.get("epoch") == takeover["epoch"] for e in after), "the displaced driver wrote after the takeover"
    assert all(e["operator"] != "alice@jumpa" for e in after)
    assert runbook(tmp_path, "journal", "k", "--check", operator="bob@jumpb").returncode == 0
    verified = runbook(tmp_path, "verify", "k", "3a", operator="bob@jumpb")
    assert verified.returncode in (0, 1), verified.stderr
    if store.load(tmp_path / "k.yaml").record("3a").changes:
        assert runbook(tmp_path, "undo", "k", "3a", "--yes", operator="bob@jumpb").returncode == 0
    journal_text = runbook(tmp_path, "journal", "k").stdout
    assert lab_state(tmp_path) == pristine, f"a change of alice's is in force, unknown to the record:\n{journal_text}"


# -- disk faults ----------------------------------------------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path: Path):
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
                                           capture_output=True).returncode != 0:
        pytest.skip("needs root to mount a small tmpfs (CI runs as root)")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def fill(disk: Path) -> Path:
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 4096)
                handle.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


def test_a_full_disk_is_a_clear_refusal_that_keeps_everything(small_disk: Path) -> None:
    sessions = small_disk / "sessions"
    demo(sessions)
    before = journal_of(sessions).path.read_bytes()
    filler = fill(small_disk)
    for free in (0, 4096):  # nothing free, then one page: a long note does not fit in it
        os.truncate(filler, max(0, filler.stat().st_size - free))
        full = runbook(sessions, "note", "k", "x" * 20000, "--step", "3a")
        no_traceback(full)
        assert full.returncode == 1 and "no space left on the device" in full.stderr, full.stderr
        assert str(sessions) in full.stderr
        assert not (sessions / "k.lock").exists(), "a lock was left behind"
        assert journal_of(sessions).path.read_bytes() == before, "a partial entry was kept"
        assert runbook(sessions, "journal", "k", "--check").returncode == 0
    filler.unlink()
    again = runbook(sessions, "note", "k", "x" * 20000, "--step", "3a")  # no --takeover needed
    assert again.returncode == 0, again.stderr
    assert runbook(sessions, "journal", "k", "--check").returncode == 0


def test_a_read_only_mount_is_a_clear_refusal(small_disk: Path) -> None:
    sessions = small_disk / "sessions"
    demo(sessions)
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    try:
        refused = runbook(sessions, "note", "k", "hello", "--step", "3a")
        no_traceback(refused)
        assert refused.returncode == 1 and "read-only" in refused.stderr, refused.stderr
        shown = runbook(sessions, "status", "k")
        assert shown.returncode in (0, 1), shown.stderr
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)
    assert runbook(sessions, "note", "k", "hello", "--step", "3a").returncode == 0


def test_a_short_write_is_rolled_back_not_glued_to_the_next_entry(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    journal = Journal(tmp_path / "j.journal.jsonl")
    journal.append(step=None, action="note", outcome="noted", note="first")
    before = journal.path.read_bytes()
    real_write = os.write

    def short(fd: int, data: bytes) -> int:
        if len(data) > 200:
            real_write(fd, data[:100])
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", short)
    with pytest.raises(StorageError, match="no space left"):
        journal.append(step=None, action="note", outcome="noted", note="y" * 500)
    monkeypatch.setattr(os, "write", real_write)
    assert journal.path.read_bytes() == before
    journal.append(step=None, action="note", outcome="noted", note="after")
    assert journal.check() == []


# -- tamper evidence that stays -----------------------------------------------------------------------------------
def cut_tail(path: Path) -> None:
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:-2]))


def rewrite_last(path: Path) -> None:
    lines = path.read_text().splitlines(keepends=True)
    entry = json.loads(lines[-1])
    entry["note"] = "nothing to see"
    entry["hash"] = entry_digest(entry)
    path.write_text("".join(lines[:-1]) + json.dumps(entry) + "\n")


TAMPERING = {
    "cut tail": cut_tail,
    "last entry rewritten": rewrite_last,
    "emptied": lambda path: path.write_text(""),
    "garbage anchor": lambda path: path.with_suffix(".head").write_text("not json"),
    "anchor deleted": lambda path: path.with_suffix(".head").unlink(),
}


@pytest.mark.parametrize("how", list(TAMPERING))
def test_a_tampered_journal_stays_failed_until_someone_acknowledges_it(tmp_path: Path, how: str) -> None:
    demo(tmp_path)
    assert runbook(tmp_path, "note", "k", "one", "--step", "3a").returncode == 0
    assert runbook(tmp_path, "note", "k", "two", "--step", "3a").returncode == 0
    TAMPERING[how](journal_of(tmp_path).path)
    assert runbook(tmp_path, "journal", "k", "--check").returncode == 1
    for command in (("note", "k", "three", "--step", "3a"), ("run", "k", "3a", "--yes"), ("mark", "k", "1", "--done")):
        written = runbook(tmp_path, *command)
        no_traceback(written)
        assert written.returncode == 1 and "Nothing more is written until an operator looks" in written.stderr, \
            (command, written.stderr)
        assert runbook(tmp_path, "journal", "k", "--check").returncode == 1, "a write command re-anchored it"
    missing_note = runbook(tmp_path, "journal", "k", "--acknowledge")
    assert missing_note.returncode == 2
    acked = runbook(tmp_path, "journal", "k", "--acknowledge", "--note", "restored from backup", operator="carol@j")
    assert acked.returncode == 0, acked.stderr
    checked = runbook(tmp_path, "journal", "k", "--check")
    assert checked.returncode == 0 and "acknowledged" in checked.stdout, checked.stdout
    assert runbook(tmp_path, "note", "k", "four", "--step", "3a").returncode == 0
    report = runbook(tmp_path, "report", "k", "--format", "md")
    assert "restored from backup" in report.stdout and "carol@j" in report.stdout


def test_a_symlinked_journal_is_not_written_through(tmp_path: Path) -> None:
    demo(tmp_path)
    elsewhere = tmp_path / "elsewhere.jsonl"
    shutil.move(journal_of(tmp_path).path, elsewhere)
    journal_of(tmp_path).path.symlink_to(elsewhere)
    before = elsewhere.read_bytes()
    refused = runbook(tmp_path, "note", "k", "hello", "--step", "3a")
    no_traceback(refused)
    assert refused.returncode == 1 and "symbolic link" in refused.stderr, refused.stderr
    assert elsewhere.read_bytes() == before


# -- a cut session file ---------------------------------------------------------------------------------------------
def test_a_cut_session_file_is_rebuilt_from_the_journal_and_kept_aside(tmp_path: Path) -> None:
    path = demo(tmp_path)
    assert runbook(tmp_path, "run", "k", "3a", "--yes").returncode == 0
    assert runbook(tmp_path, "mark", "k", "1", "--done", "--note", "made").returncode == 0
    whole = store.load(path)
    text = path.read_text()
    wanted = {key: record.to_dict() for key, record in whole.steps.items()}
    for cut in range(0, len(text) - 1, max(1, len(text) // 150)):
        path.write_text(text[:cut])
        loaded = store.load(path)
        assert {key: record.to_dict() for key, record in loaded.steps.items()} == wanted, cut
        assert loaded.lab == whole.lab and loaded.params == whole.params, cut
    path.write_text(text[: len(text) // 2])
    shown = runbook(tmp_path, "status", "k", "--json")
    assert shown.returncode in (0, 1) and json.loads(shown.stdout)["rehearsal"] is True
    assert path.read_text() == text[: len(text) // 2], "a read-only command wrote the session"
    assert "rebuilt from its journal (the session file is cut off" in shown.stderr
    noted = runbook(tmp_path, "note", "k", "after the cut")
    assert noted.returncode == 0 and "the damaged file is kept as k.yaml.damaged-" in noted.stderr, noted.stderr
    kept = list(tmp_path.glob("k.yaml.damaged-*"))
    assert len(kept) == 1 and kept[0].read_text() == text[: len(text) // 2]
    assert store.load(path).record("3a").state.value == "done"


def test_a_session_edited_into_garbage_is_left_untouched(tmp_path: Path) -> None:
    path = demo(tmp_path)
    path.write_text(path.read_text().replace("steps:", "steps: [oops"))
    before = path.read_text()
    refused = runbook(tmp_path, "note", "k", "x")
    assert refused.returncode == 2 and "left untouched" in refused.stderr
    assert path.read_text() == before


# -- modes and signals ----------------------------------------------------------------------------------------------
def test_the_record_is_private_whatever_the_umask(tmp_path: Path) -> None:
    sessions = tmp_path / "fresh"
    env = environment(sessions)
    made = subprocess.run(["sh", "-c", f'umask 000 && exec "{sys.executable}" -m runbook new k --params '
                                       f'{EXAMPLES / "tmg-seg-eas.yaml"}'], cwd=ROOT, env=env, capture_output=True,
                          text=True)
    assert made.returncode == 0, made.stderr
    assert oct(sessions.stat().st_mode & 0o777) == "0o700"
    for name in ("k.yaml", "k.journal.jsonl", "k.journal.head"):
        assert oct((sessions / name).stat().st_mode & 0o777) == "0o600", name
    from runbook.record.lock import SessionLock

    old = os.umask(0)
    try:
        lock = SessionLock(sessions / "k.lock").acquire()
        assert oct((sessions / "k.lock").stat().st_mode & 0o777) == "0o600"
        lock.release()
    finally:
        os.umask(old)


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGTERM])
def test_closing_the_terminal_releases_the_lock(tmp_path: Path, sig: signal.Signals) -> None:
    demo(tmp_path, "--latency", "1500")
    driver = start(tmp_path, "run", "k", "3a", "--yes")
    lock = tmp_path / "k.lock"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not lock.exists():
        time.sleep(0.02)
    assert lock.exists()
    driver.send_signal(sig)
    driver.wait(timeout=30)
    assert not lock.exists(), f"{sig.name} left the lock behind"

"""Helpers for tests with several real `runbook` processes: a driver here, a follower there."""
from __future__ import annotations

import datetime as dt
import json
import os
import pty
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ALICE, BOB = "alice@jump1", "bob@jump2"


def environment(sessions: Path, operator: str = ALICE, **extra: str) -> dict[str, str]:
    return {**os.environ, "RUNBOOK_SESSIONS_DIR": str(sessions), "RUNBOOK_OPERATOR": operator,
            "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", **extra}


def runbook(sessions: Path, *args: str, operator: str = ALICE, timeout: float = 60,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "runbook", *args], capture_output=True, text=True, cwd=ROOT,
                          start_new_session=True,  # each command its own login session (see two_person)
                          env=environment(sessions, operator, **(env or {})), timeout=timeout,
                          stdin=subprocess.DEVNULL)


def start(sessions: Path, *args: str, operator: str = ALICE,
          env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "runbook", *args], cwd=ROOT, text=True,
                            env=environment(sessions, operator, **(env or {})), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


class Follower:
    """A `runbook watch` process; its stdout lines are collected (with arrival times) by a reader thread."""

    def __init__(self, sessions: Path, name: str, *args: str, operator: str = BOB,
                 env: dict[str, str] | None = None):
        self.proc = start(sessions, "watch", name, *args, operator=operator, env=env)
        self.lines: list[tuple[float, str]] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._changed:
                self.lines.append((time.monotonic(), line.rstrip("\n")))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def text(self) -> str:
        return "\n".join(line for _, line in self.lines)

    def wait_for(self, needle: str, timeout: float = 15.0, after: int = 0) -> tuple[int, float, str]:
        """(index, arrival time, line) of the first line from `after` on containing `needle`; fails after `timeout`."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for index in range(after, len(self.lines)):
                    arrived, line = self.lines[index]
                    if needle in line:
                        return index, arrived, line
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    raise AssertionError(f"{needle!r} not seen within {timeout} s; the watcher printed:\n"
                                         f"{self.text()}\nstderr: {self._stderr()}")
                self._changed.wait(min(left, 0.2))

    def _stderr(self) -> str:
        if self.proc.poll() is None or self.proc.stderr is None:
            return "(still running)"
        return self.proc.stderr.read()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(timeout=10)


class Terminal:
    """A `runbook` process on a pseudo-terminal, as an operator at a keyboard runs it."""

    def __init__(self, sessions: Path, *args: str, operator: str = BOB):
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen([sys.executable, "-m", "runbook", *args], cwd=ROOT,
                                     env=environment(sessions, operator), stdin=slave, stdout=slave, stderr=slave,
                                     close_fds=True)
        os.close(slave)
        self.seen = ""

    def read_until(self, needle: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while needle not in self.seen:
            if time.monotonic() > deadline:
                raise AssertionError(f"{needle!r} not seen within {timeout} s; the terminal showed:\n{self.seen}")
            ready, _, _ = select.select([self.master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:  # the process ended and the terminal closed
                    chunk = b""
                if not chunk and self.proc.poll() is not None:
                    raise AssertionError(f"{needle!r} never came; the process ended; it showed:\n{self.seen}")
                self.seen += chunk.decode(errors="replace").replace("\r\n", "\n")
        return self.seen

    def type(self, text: str) -> None:
        os.write(self.master, text.encode() + b"\n")

    def finish(self, timeout: float = 20.0) -> tuple[int, str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.master], [], [], 0.2)
            chunk = b""
            if ready:
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:
                    chunk = b""
                self.seen += chunk.decode(errors="replace").replace("\r\n", "\n")
            if not chunk and self.proc.poll() is not None:
                break
        os.close(self.master)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout=10), self.seen


def iso(seconds_ago: float) -> str:
    moment = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=seconds_ago)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def stale_lock(session: Path, *, operator: str = "carol@jump9", host: str = "jump9.example.test", pid: int = 4242,
               age: float = 600) -> dict[str, object]:
    """A lock left by a driver on another machine that stopped beating `age` seconds ago."""
    holder = {"operator": operator, "host": host, "pid": pid, "since": iso(age + 300), "heartbeat": iso(age),
              "token": "feedfacecafe0001", "purpose": "open"}
    session.with_name(session.stem + ".lock").write_text(json.dumps(holder), encoding="utf-8")
    return holder


def journal(session: Path) -> list[dict[str, object]]:
    path = session.with_name(session.stem + ".journal.jsonl")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def file_states(folder: Path) -> dict[str, tuple[int, int, int]]:
    return {path.name: (path.stat().st_ino, path.stat().st_mtime_ns, path.stat().st_size)
            for path in folder.iterdir()}

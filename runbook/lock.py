"""One driver per session: a lock file beside it naming the holder, refreshed by a heartbeat.

Creation uses O_EXCL and takeover renames the old lock away first, so when two
processes race for the same session exactly one wins.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from runbook.errors import LockHeld
from runbook.session import now_iso, operator

HEARTBEAT_SECONDS = 10.0
STALE_SECONDS = 120.0
CLAIM_STALE_SECONDS = 10.0
CLAIM_WAIT_SECONDS = 2.0  # a claim is held for microseconds; waiting this long means its holder died inside it


def _age(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


@dataclass
class Holder:
    operator: str
    host: str
    pid: int
    since: str
    heartbeat: str
    token: str
    purpose: str = ""

    def describe(self) -> str:
        """Who holds the lock, and — when the holder looks gone — why, in the words every view uses."""
        stale = staleness(self)
        return (f"{self.operator} (pid {self.pid} on {self.host}, {self.purpose or 'driving'} since {self.since}, "
                f"last heartbeat {self.heartbeat})") + (f" — {stale}" if stale else "")

    def heartbeat_age(self) -> float:
        try:
            beat = dt.datetime.fromisoformat(self.heartbeat.replace("Z", "+00:00"))
        except ValueError:
            return float("inf")
        return (dt.datetime.now(dt.timezone.utc) - beat).total_seconds()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_holder(path: Path) -> Holder | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Holder(**data)
    except FileNotFoundError:
        return None
    except (ValueError, TypeError):
        return Holder(operator="(unreadable lock)", host="?", pid=-1, since="?", heartbeat="?", token="?")


def staleness(holder: Holder) -> str | None:
    """Why the holder can no longer be driving ("stale: …"), or None while it may be. A pid is checked only on
    its own host: elsewhere the heartbeat is all there is to go on."""
    if holder.host == socket.gethostname() and not pid_alive(holder.pid):
        return f"stale: pid {holder.pid} on {holder.host} is gone"
    age = holder.heartbeat_age()
    return f"stale: no heartbeat for {age_words(age)}" if age >= STALE_SECONDS else None


def is_live(holder: Holder) -> bool:
    return staleness(holder) is None


def age_words(seconds: float) -> str:
    if seconds == float("inf"):
        return "an unknown time"
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return str(dt.timedelta(seconds=seconds))


class SessionLock:
    def __init__(self, path: Path, purpose: str = ""):
        self.path = path
        self.purpose = purpose
        self.holder: Holder | None = None
        self.took_over: Holder | None = None  # whom we displaced, for the journal
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _new_holder(self) -> Holder:
        stamp = now_iso()
        return Holder(operator=operator(), host=socket.gethostname(), pid=os.getpid(), since=stamp, heartbeat=stamp,
                      token=secrets.token_hex(8), purpose=self.purpose)

    def _create(self, holder: Holder) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(asdict(holder), handle)
        return True

    def acquire(self, *, takeover: bool = False) -> SessionLock:
        mine = self._new_holder()
        if self._create(mine):
            self.holder = mine
            return self
        current = read_holder(self.path)
        if current is None:  # released between our two looks
            return self.acquire(takeover=takeover)
        same_host = current.host == socket.gethostname()
        dead_here = same_host and not pid_alive(current.pid)
        if not dead_here:
            if not takeover and not is_live(current):
                raise LockHeld(f"session is locked by {current.describe()}; take it over with --takeover "
                               "(journaled), or follow it with `runbook watch`")
            if not takeover:
                raise LockHeld(f"session is being driven by {current.describe()}; follow it with `runbook watch`, "
                               "or take over a stale lock with --takeover")
            if same_host and is_live(current):
                raise LockHeld(f"session is being driven by {current.describe()}, which is alive; ask them to "
                               "hand over")
        self._replace(current, mine)
        self.holder, self.took_over = mine, current
        return self

    @property
    def _claim(self) -> Path:
        return self.path.with_name(self.path.name + ".takeover")

    def _try_claim(self) -> bool:
        try:
            os.close(os.open(self._claim, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
        except FileExistsError:
            if _age(self._claim) > CLAIM_STALE_SECONDS:  # a writer died inside the microseconds it holds the claim
                self._claim.unlink(missing_ok=True)
            return False
        return True

    @contextmanager
    def _claimed(self, wait: float = CLAIM_WAIT_SECONDS) -> Iterator[bool]:
        """Every write to the lock file (takeover, heartbeat, release) is a compare-and-swap under one claim: a
        heartbeat can never overwrite the holder that took over between its check and its write."""
        deadline = time.monotonic() + wait
        got = self._try_claim()
        while not got and time.monotonic() < deadline:
            time.sleep(0.002)
            got = self._try_claim()
        try:
            yield got
        finally:
            if got:
                self._claim.unlink(missing_ok=True)

    def _replace(self, stale: Holder, mine: Holder) -> None:
        """Swap the stale lock for ours in one rename, so the lock file never goes missing (a newcomer's plain
        create would win unseen); the claim makes racing takeovers, heartbeats and releases take turns."""
        with self._claimed(wait=0.0) as got:
            if not got:
                raise LockHeld("another process took over this session at the same moment (its takeover is still "
                               "in progress); try again to see who")
            now = read_holder(self.path)
            if now is None or now.token != stale.token:
                raise LockHeld("another process took over this session first: "
                               + (now.describe() if now else "(the lock was released)"))
            self._write(mine)

    def _write(self, holder: Holder) -> None:
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        tmp.write_text(json.dumps(asdict(holder)), encoding="utf-8")
        os.replace(tmp, self.path)

    def still_mine(self) -> bool:
        current = read_holder(self.path)
        return bool(self.holder and current and current.token == self.holder.token)

    def beat(self) -> None:
        if not self.holder:
            return
        with self._claimed() as got:
            if not got or not self.still_mine():  # no claim now: the next beat tries again
                return
            self.holder.heartbeat = now_iso()
            self._write(self.holder)

    def start_heartbeat(self, interval: float = HEARTBEAT_SECONDS) -> None:
        def run() -> None:
            while not self._stop.wait(interval):
                try:
                    self.beat()
                except OSError:
                    pass
        self._thread = threading.Thread(target=run, name="session-heartbeat", daemon=True)
        self._thread.start()

    def release(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=2)
        if self.holder:
            with self._claimed() as got:
                # Without the claim the lock stays: a dead pid on this host is taken over without --takeover.
                if got and self.still_mine():
                    self.path.unlink(missing_ok=True)
        self.holder = None

    def __enter__(self) -> SessionLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

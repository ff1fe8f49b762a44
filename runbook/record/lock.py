"""One driver per session: a lock file beside it naming the holder, refreshed by a heartbeat.

Creation links a fully written file into place (never a 0-byte lock, even on a full disk) and
takeover swaps the old lock under a claim, so when two processes race exactly one wins. Each
acquisition gets the next epoch number; every journal append of the driver carries it and is
refused once the lock is no longer its own (fencing, in runbook.flow.engine). A live driver is taken
over only with a typed reason and after one heartbeat period. SIGHUP and SIGTERM release the lock.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

from runbook import clock
from runbook.errors import LockHeld, StorageError
from runbook.record.plain import Plain
from runbook.record.session import host_name, operator

HEARTBEAT_SECONDS = 10.0
STALE_SECONDS = 120.0
CLAIM_STALE_SECONDS = 10.0
CLAIM_WAIT_SECONDS = 2.0  # a claim is held for microseconds; waiting this long means its holder died inside it


def _age(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


class Holder(Plain):
    """Who holds a session's lock, as its lock file says (a plain class: see runbook.record.plain)."""

    FIELDS = ("operator", "host", "pid", "since", "heartbeat", "token", "purpose", "epoch")
    __slots__ = FIELDS

    def __init__(self, operator: str, host: str, pid: int, since: str, heartbeat: str, token: str,
                 purpose: str = "", epoch: int = 0):
        self.operator = operator
        self.host = host
        self.pid = pid
        self.since = since
        self.heartbeat = heartbeat
        self.token = token
        self.purpose = purpose
        self.epoch = epoch

    def to_dict(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in self.FIELDS}

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
        return (clock.SYSTEM.now() - beat).total_seconds()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
UNREADABLE = "(unreadable lock)"


def read_holder(path: Path) -> Holder | None:
    try:
        fd = os.open(path, os.O_RDONLY | NOFOLLOW)
    except FileNotFoundError:
        return None
    except OSError:
        return Holder(operator=UNREADABLE, host="?", pid=-1, since="?", heartbeat="?", token="?")
    try:
        with os.fdopen(fd, "rb") as handle:
            data = json.loads(handle.read(65536))
        return Holder(**{k: v for k, v in data.items() if k in Holder.FIELDS})
    except (ValueError, TypeError, AttributeError):
        return Holder(operator=UNREADABLE, host="?", pid=-1, since="?", heartbeat="?", token="?")


def next_epoch(journal: Path) -> int:
    """One more than the highest epoch the journal names (each driver's entries carry its epoch)."""
    from runbook.record.journal_tail import needle, newest

    # Epochs only grow and a displaced driver cannot append, so the newest entry naming one names the highest.
    found = newest(journal, needle("epoch"), lambda entry: isinstance(entry.get("epoch"), int))
    return (found["epoch"] if found else 0) + 1


def staleness(holder: Holder) -> str | None:
    """Why the holder can no longer be driving ("stale: …"), or None while it may be. A pid is checked only on
    its own host: elsewhere the heartbeat is all there is to go on."""
    if holder.operator == UNREADABLE:
        return "stale: the lock file is unreadable (no live runbook writes one like it)"
    if holder.host == host_name() and not pid_alive(holder.pid):
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


HELD: set[SessionLock] = set()  # released by the SIGHUP/SIGTERM handler


class SessionLock:
    def __init__(self, path: Path, purpose: str = "", epoch: Callable[[], int] | None = None):
        self.path = path
        self.purpose = purpose
        self.holder: Holder | None = None
        self.took_over: Holder | None = None  # whom we displaced, for the journal
        self.reason: str | None = None  # why a live driver was taken over (typed by the operator)
        self._next_epoch = epoch or (lambda: 0)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def epoch(self) -> int | None:
        return self.holder.epoch if self.holder else None

    def _new_holder(self) -> Holder:
        stamp = clock.wall_iso()  # real time under any record clock: other processes judge liveness by it
        return Holder(operator=operator(), host=host_name(), pid=os.getpid(), since=stamp, heartbeat=stamp,
                      token=os.urandom(8).hex(), purpose=self.purpose, epoch=self._next_epoch())

    def _create(self, holder: Holder) -> bool:
        """Link a complete lock file into place: it exists whole or not at all."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._write_tmp(holder)
        try:
            os.link(tmp, self.path)
        except FileExistsError:
            return False
        except OSError as exc:
            raise StorageError.from_os(exc, self.path, kept="no lock was taken, nothing was changed") from None
        finally:
            _forget(tmp)
        return True

    def _write_tmp(self, holder: Holder) -> Path:
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | NOFOLLOW, 0o600)
            try:
                os.fchmod(fd, 0o600)
                data = json.dumps(holder.to_dict()).encode()
                if os.write(fd, data) != len(data):
                    raise OSError(28, "short write")
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            _forget(tmp)
            raise StorageError.from_os(exc, self.path, kept="no lock was taken, nothing was changed") from None
        return tmp

    def acquire(self, *, takeover: bool = False, reason: str | None = None) -> SessionLock:
        # Handlers installed and the lock counted as held before its file exists: a hangup landing anywhere in
        # between still releases it (release checks the file's token: before our write it lets go of nothing).
        release_on_hangup()
        mine = self._new_holder()
        self.holder = mine
        HELD.add(self)
        try:
            return self._acquire(mine, takeover=takeover, reason=reason)
        except BaseException:
            self.holder = None
            HELD.discard(self)
            raise

    def _acquire(self, mine: Holder, *, takeover: bool, reason: str | None) -> SessionLock:
        if self._create(mine):
            return self
        current = read_holder(self.path)
        if current is None:  # released between our two looks
            return self._acquire(mine, takeover=takeover, reason=reason)
        same_host = current.host == host_name()
        dead = (same_host and not pid_alive(current.pid)) or current.operator == UNREADABLE
        if not dead:
            if not takeover and not is_live(current):
                raise LockHeld(f"session is locked by {current.describe()}; take it over with --takeover "
                               "(journaled), or follow it with `runbook watch`")
            if not takeover:
                raise LockHeld(f"session is being driven by {current.describe()}; follow it with `runbook watch`, "
                               "or take over a stale lock with --takeover")
            if is_live(current):
                if not (reason or "").strip():
                    raise LockHeld(f"session is being driven by {current.describe()}, which is alive; ask them to "
                                   "hand over (`runbook handover`), or take over with --takeover --reason WHY "
                                   "(waits one heartbeat period; journaled with both names)")
                self.reason = reason
                time.sleep(takeover_wait())  # the holder's next heartbeat and the watchers see what is coming
                current = read_holder(self.path) or current
        self._replace(current, mine)
        self.took_over = current
        return self

    def taken_by(self) -> str:
        current = read_holder(self.path)
        return f"{current.operator} at {current.since}" if current else "nobody (the lock was released)"

    @property
    def _claim(self) -> Path:
        return self.path.with_name(self.path.name + ".takeover")

    def _try_claim(self) -> bool:
        try:
            os.close(os.open(self._claim, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
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
        tmp = self._write_tmp(holder)
        try:
            os.replace(tmp, self.path)
        except OSError as exc:
            _forget(tmp)
            raise StorageError.from_os(exc, self.path) from None

    def still_mine(self) -> bool:
        current = read_holder(self.path)
        return bool(self.holder and current and current.token == self.holder.token)

    def beat(self) -> None:
        if not self.holder:
            return
        with self._claimed() as got:
            if not got or not self.still_mine():  # no claim now: the next beat tries again
                return
            self.holder.heartbeat = clock.wall_iso()
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
        HELD.discard(self)

    def __enter__(self) -> SessionLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _forget(tmp: Path) -> None:
    try:
        tmp.unlink(missing_ok=True)
    except OSError:  # a read-only mount never let it be created
        pass


def takeover_wait() -> float:
    """One heartbeat period (RUNBOOK_TAKEOVER_WAIT overrides it for tests)."""
    try:
        return float(os.environ.get("RUNBOOK_TAKEOVER_WAIT", HEARTBEAT_SECONDS))
    except ValueError:
        return HEARTBEAT_SECONDS


_installed = False


def release_on_hangup() -> None:
    """Closing the terminal (SIGHUP) or a `kill` (SIGTERM) lets go of the lock before the process ends."""
    global _installed
    if _installed or threading.current_thread() is not threading.main_thread():
        return
    import signal  # only a driving process installs the handlers

    def handler(signum: int, frame: object) -> None:
        for lock in list(HELD):
            try:
                lock.release()
            except Exception:
                pass
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    for sig in (signal.SIGHUP, signal.SIGTERM):
        try:
            if signal.getsignal(sig) in (signal.SIG_DFL, None):
                signal.signal(sig, handler)
        except (ValueError, OSError):
            pass
    _installed = True

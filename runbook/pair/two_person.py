"""Two-person confirm: a point of no return runs only after a second operator acknowledged that exact plan.

The driver journals an `ack-request` (step, plan hash, the plan's lines, until when it waits) and
waits. A follower who sees it in `runbook watch` answers with `runbook ack` (or in `watch --ack`),
which writes one small file beside the session — `<session>.ack.<step>.json` naming who, where,
when, the request and the plan hash. Followers never write the session, its lock or its journal:
the driver checks the file, journals the acknowledgement (or the timeout) and goes on (or refuses).
"""
from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

from runbook import clock
from runbook.errors import BadInput, Refused
from runbook.record import journal_read, store
from runbook.record.lock import HEARTBEAT_SECONDS
from runbook.record.session import operator

if TYPE_CHECKING:
    from runbook.flow.engine import Runbook

SETTING = "two_person_confirm"
WAIT_SETTING = "ack_wait_seconds"
DEFAULT_WAIT_SECONDS = 300.0
POLL_SECONDS = 0.2
REQUEST, ACKED, TIMED_OUT = "ack-request", "ack", "ack-timeout"


def _stderr(message: str) -> None:
    import sys

    print(message, file=sys.stderr, flush=True)


# Where the waiting driver's messages go; a UI replaces it (set_reporter) to show them its own way.
_reporter: Callable[[str], None] = _stderr


def set_reporter(report: Callable[[str], None]) -> None:
    global _reporter
    _reporter = report


def reset_reporter() -> None:
    set_reporter(_stderr)


def report(message: str) -> None:
    _reporter(message)


@dataclass(frozen=True)
class Ack:
    operator: str
    host: str
    pid: int
    step: str
    time: str
    request: int  # journal seq of the ack-request it answers
    plan_hash: str
    uid: int = -1  # the OS account that wrote it (RUNBOOK_OPERATOR is only a name)
    login: str = ""  # its login session: audit session id, terminal or SSH connection


def login_session() -> str:
    """This process's login session, as the OS knows it: the audit session (set at login), else the terminal,
    else the SSH connection, else the process session. Two shells of one SSH login share it; two logins do not."""
    try:
        with open("/proc/self/sessionid", encoding="ascii") as handle:
            audit = handle.read().strip()
        if audit and audit != "4294967295":
            return f"login session {audit}"
    except OSError:
        pass
    for fd in (0, 1, 2):
        try:
            return f"terminal {os.ttyname(fd)}"
        except OSError:
            continue
    if os.environ.get("SSH_CONNECTION"):
        return "ssh " + " ".join(os.environ["SSH_CONNECTION"].split()[:2])
    return f"process session {os.getsid(0)}"


def same_person(uid: int, login: str) -> bool:
    """Whether an acknowledgement written by (uid, login) could only have come from this very person."""
    return uid == os.getuid() and login == login_session()


def enabled(settings: dict[str, Any]) -> bool:
    return bool(settings.get(SETTING))


def wait_seconds(settings: dict[str, Any]) -> float:
    return float(settings.get(WAIT_SETTING, DEFAULT_WAIT_SECONDS))


def plan_hash(step: str, action: str, lines: list[str]) -> str:
    body = json.dumps({"step": step, "action": action, "lines": lines}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def ack_path(session_path: Path, step: str) -> Path:
    safe = "".join(ch if ch.isalnum() or ch in "@-_" else "_" for ch in step)
    return session_path.with_name(f"{session_path.stem}.ack.{safe}.json")


def read_ack(path: Path) -> Ack | None:
    try:
        return Ack(**json.loads(path.read_text(encoding="utf-8")))
    except (FileNotFoundError, ValueError, TypeError):
        return None


# -- the driver's side (called by Runbook.run / undo before a point of no return) ---------------------------------
def require_ack(book: Runbook, key: str, action: str, lines: list[str]) -> None:
    """Return once a different operator acknowledged this plan; refuse (journaled) after the bounded wait."""
    settings = book.session.settings
    if not enabled(settings):
        return
    wait = wait_seconds(settings)
    digest = plan_hash(key, action, lines)
    path = ack_path(book.path, key)
    path.unlink(missing_ok=True)  # an answer to an earlier request never counts for this one
    deadline = time.time() + wait
    request = book.journal.append(step=key, action=REQUEST, outcome="waiting for a second operator",
                                  details={"action": action, "plan_hash": digest, "lines": lines,
                                           "until": _iso(deadline), "wait_seconds": wait,
                                           "uid": os.getuid(), "login": login_session()})
    me = operator()
    _reporter(f"{key}: two-person confirm is on: waiting up to {wait:g} s for a second operator to acknowledge "
              f"plan {digest[:12]} (they run `runbook watch {book.path.stem} --ack`, or "
              f"`runbook ack {book.path.stem} {key}`)")
    rejected: set[str] = set()
    next_beat = time.monotonic() + HEARTBEAT_SECONDS
    while True:
        ack = read_ack(path)
        problem = _ack_problem(ack, key, request["seq"], digest, me) if ack else None
        if ack and problem is None:
            break
        if ack and problem and problem not in rejected:
            rejected.add(problem)
            _reporter(f"{key}: acknowledgement from {ack.operator} not accepted: {problem}")
        if book.lock is not None and time.monotonic() >= next_beat:
            book.lock.beat()
            next_beat = time.monotonic() + HEARTBEAT_SECONDS
        if book.lock is not None and not book.lock.still_mine():
            raise Refused(f"{key}: the lock was taken over while waiting for the acknowledgement; nothing changed")
        if time.time() >= deadline:
            book.journal.append(step=key, action=TIMED_OUT, outcome="no acknowledgement: refused",
                                details={"plan_hash": digest, "request": request["seq"],
                                         "rejected": sorted(rejected)} if rejected else
                                {"plan_hash": digest, "request": request["seq"]})
            path.unlink(missing_ok=True)
            reason = f" ({'; '.join(sorted(rejected))})" if rejected else ""
            raise Refused(f"{key}: two-person confirm is on for this session and no valid acknowledgement from a "
                          f"DIFFERENT operator arrived within {wait:g} s{reason}; nothing changed. Ask a second "
                          f"operator to follow with `runbook watch {book.path.stem} --ack`, then run again")
        time.sleep(POLL_SECONDS)
    path.unlink(missing_ok=True)
    book.journal.append(step=key, action=ACKED, outcome=f"acknowledged by {ack.operator}",
                        details={"by": ack.operator, "host": ack.host, "pid": ack.pid, "at": ack.time,
                                 "plan_hash": digest, "request": request["seq"], "uid": ack.uid,
                                 "login": ack.login, "person": _how_different(ack)})
    _reporter(f"{key}: acknowledged by {ack.operator} at {ack.time}")


def _ack_problem(ack: Ack, key: str, request: int, digest: str, me: str) -> str | None:
    if ack.step != key or ack.request != request:
        return "it answers another request"
    if ack.plan_hash != digest:
        return "it acknowledges a different plan"
    if ack.operator == me:
        return "the driver cannot acknowledge their own point of no return"
    if ack.uid < 0 or same_person(ack.uid, ack.login):
        return (f"it was written by the driver's own OS account in the driver's own login session "
                f"({ack.login or 'unknown'}): a second person means another account, or the same account logged "
                "in separately")
    return None


def _how_different(ack: Ack) -> str:
    return ("another OS account" if ack.uid != os.getuid() else
            f"the same OS account in another login session ({ack.login})")


def _iso(epoch: float) -> str:
    import datetime as dt

    return clock.iso(dt.datetime.fromtimestamp(epoch, dt.timezone.utc))


# -- the follower's side --------------------------------------------------------------------------------------------
def open_requests(entries: Iterable[dict[str, Any]], *, now: str | None = None) -> dict[str, dict[str, Any]]:
    """Requests still being waited for, by step: the newest entry of that step is the request, and not expired."""
    latest: dict[str, dict[str, Any]] = {}
    for entry in entries:
        if entry.get("step"):
            latest[entry["step"]] = entry
    current = now or clock.wall_iso()
    return {step: entry for step, entry in latest.items()
            if entry.get("action") == REQUEST and (entry.get("details") or {}).get("until", "") >= current}


def requests_for(session_path: Path) -> dict[str, dict[str, Any]]:
    """The open requests of a session, from its journal (read whole lines only: the driver may be appending)."""
    return open_requests(entry for _, entry in journal_read.entries(store.journal_path(session_path), whole=True))


def find_request(requests: dict[str, dict[str, Any]], step: str | None) -> dict[str, Any]:
    if not requests:
        raise Refused("no acknowledgement is being asked for right now: the driver's run asks when it reaches a "
                      "point of no return (follow with `runbook watch SESSION --ack`)")
    if step is None:
        if len(requests) > 1:
            raise BadInput(f"STEP: several steps wait for an acknowledgement ({', '.join(requests)}); name one")
        return next(iter(requests.values()))
    wanted = step.lower()
    matches = [entry for key, entry in requests.items() if key.lower() == wanted or
               key.split("@", 1)[0].lower() == wanted]
    if len(matches) != 1:
        raise BadInput(f"STEP: {step!r} {'matches several' if matches else 'is not one of the'} steps waiting "
                       f"for an acknowledgement ({', '.join(requests)})")
    return matches[0]


def request_lines(request: dict[str, Any]) -> list[str]:
    details = request.get("details") or {}
    return ([f"{request['operator']} asks to {details.get('action', 'run')} {request['step']} "
             f"(plan {details.get('plan_hash', '')[:12]}, waiting until {details.get('until', '?')}):"]
            + ["  " + line for line in details.get("lines", [])])


def acknowledge(session_path: Path, request: dict[str, Any], plan_prefix: str | None = None) -> Ack:
    """Write the follower's acknowledgement of `request` (only the ack file; nothing else is touched)."""
    details = request.get("details") or {}
    digest = details.get("plan_hash", "")
    if plan_prefix is not None and (len(plan_prefix) < 8 or not digest.startswith(plan_prefix.lower())):
        raise Refused(f"--plan: {plan_prefix!r} is not the plan waiting for acknowledgement ({digest[:12]}); "
                      "the plan changed or another step is waiting: look again with `runbook watch`")
    me = operator()
    if me == request["operator"]:
        raise Refused(f"you ({me}) are the driver asking: a DIFFERENT operator must acknowledge")
    if (details.get("uid") == os.getuid() and details.get("login") == login_session()):
        raise Refused(f"you are the driver's own OS account in the driver's own login session ({login_session()}), "
                      "whatever RUNBOOK_OPERATOR says: a second person acknowledges from their own login")
    ack = Ack(operator=me, host=socket.gethostname(), pid=os.getpid(), step=request["step"], time=clock.now_iso(),
              request=int(request["seq"]), plan_hash=digest, uid=os.getuid(), login=login_session())
    path = ack_path(session_path, request["step"])
    store.write_atomic(path, json.dumps(asdict(ack), indent=1) + "\n", mode=0o600)
    return ack

"""What every driving command does first (`runbook.cli` calls it): show a pending handover note, and the holder of
a lock about to be taken over, asking on a terminal (without one, `--takeover` is the explicit confirmation).

Its own module, so `open` reaches its first frame without the report, watch and two-person code."""
from __future__ import annotations

import argparse
import sys

from runbook.errors import Refused
from runbook.pair import handover
from runbook.record import store

READ_IF_HELD = ("verify", "check", "open")  # go on read-only (the TUI follows) when another operator drives


def warn(*lines: str) -> None:
    print("\n".join(lines), file=sys.stderr, flush=True)


def before_driving(args: argparse.Namespace) -> None:
    """Ahead of a driving command: show a pending handover, and the lock holder before any takeover."""
    path = store.session_path(args.session)
    if not path.exists():
        return
    if args.command == "settings" and args.two_person is None and args.ack_wait is None:
        return  # only shows them
    note = handover.pending_for(path)
    if note is not None:
        warn(*handover.describe_pending(note))
    view = handover.lock_view(path)
    if view is None:
        return
    if view.verdict == "gone":
        warn(*view.lines(), "taking over (journaled)")
        return
    if view.verdict == "live":
        if args.takeover and not view.same_host:
            warn(*view.lines(), "--takeover: taking over although its heartbeat is fresh (journaled)")
        return  # otherwise the lock refuses with its own message
    if args.takeover:
        warn(*view.lines(), "--takeover: taking over (journaled)")
        return
    if not sys.stdin.isatty():
        warn(*view.lines(), "no terminal to confirm on: pass --takeover to take the session over (journaled)")
        return
    warn(*view.lines())
    if input(f"Take the session over from {view.holder.operator}? [y/N] ").strip().lower() not in ("y", "yes"):
        if args.command in READ_IF_HELD:
            warn("not taken over; going on read-only")
            return
        raise Refused("not taken over; the lock is left as it is")
    args.takeover = True

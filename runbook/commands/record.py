"""CLI subcommands for pair work and the change record: watch, handover, ack, settings, report, backout.

Each returns an exit code; errors propagate as RunbookError (runbook.cli maps them). What runs ahead of
every driving command (a pending handover note, the holder of a lock about to be taken over) is
runbook.commands.driving.
"""
from __future__ import annotations

import argparse
import select
import sys
import time
from pathlib import Path
from typing import Any

from runbook.commands import catalogue
from runbook.commands import core as commands
from runbook.errors import EXIT_FAILED, EXIT_OK, BadInput, LockHeld, Refused
from runbook.flow.states import SETTLED, State
from runbook.pair import handover, two_person
from runbook.pair import watch as live
from runbook.record import store
from runbook.record.session import operator
from runbook.reports.text import GLYPHS, status_text

HOLD_SECONDS = 0.3  # a step change waits this long for the journal entry that explains it, then shows by itself
DRIVER_HOLD_SECONDS = 1.0  # a driver is announced once it held the lock this long (not every short CLI command)


def _existing(args: argparse.Namespace) -> Path:
    path = store.session_path(args.session)
    if not path.exists():
        raise BadInput(f"SESSION: {path} does not exist")
    return path


def _say(*lines: str) -> None:
    print("\n".join(lines), flush=True)


def _warn(*lines: str) -> None:
    print("\n".join(lines), file=sys.stderr, flush=True)


# -- watch ----------------------------------------------------------------------------------------------------------
class _Printer:
    """Turns watch events into terminal lines: journal entries as they come, plus what the journal does not say."""

    def __init__(self, session: str):
        self.session = session
        self.announced: dict[str, str] = {}  # step -> state its newest journal entry moved it to
        self.held: list[tuple[float, live.StepChanged]] = []
        self.progress: tuple[int, int] | None = None
        self.driver_held: tuple[float, live.DriverChanged] | None = None
        self.driver_shown: str | None = None  # token of the driver last announced

    def show(self, event: live.Event) -> None:
        if isinstance(event, live.Snapshot):
            _say(f"following {self.session} read-only (Ctrl-C to stop)", status_text(event.book))
            if event.handover:
                _say("", *handover.describe_pending(event.handover))
            for request in event.requests.values():
                _say("", *live.request_hint(self.session, request))
            if event.recent:
                _say("", "recent:", *("  " + live.entry_line(entry) for entry in event.recent))
            _say("", "live:")
            self.progress = _progress(event.states)
            self.driver_shown = event.driver.token if event.driver else None
        elif isinstance(event, live.NewEntry):
            entry = event.entry
            _say(live.entry_line(entry))
            outcome = str(entry.get("outcome", ""))
            if entry.get("step") and " → " in outcome:
                self.announced[entry["step"]] = outcome.rsplit(" → ", 1)[1]
            if entry.get("action") == two_person.REQUEST:
                _say(*("    " + line for line in live.request_hint(self.session, entry)))
            elif entry.get("action") == handover.HANDOVER:
                _say(*("    " + line for line in handover.describe_pending(entry)))
        elif isinstance(event, live.StepChanged):
            self.held.append((time.monotonic(), event))
        elif isinstance(event, live.DriverChanged):
            if event.holder is None and self.driver_shown is None:
                self.driver_held = None  # a short CLI command came and went: its journal lines say enough
            elif event.holder is None or not event.live:
                self.driver_held = None
                if event.holder is not None or self.driver_shown is not None:
                    _say(live.driver_line(event))
                self.driver_shown = None if event.holder is None else event.holder.token
            else:
                self.driver_held = (time.monotonic(), event)
        elif isinstance(event, live.Problem):
            _say(f"WARNING: {event.message}")

    def flush(self, states: dict[str, str], *, force: bool = False) -> None:
        now = time.monotonic()
        keep = []
        for since, change in self.held:
            if self.announced.get(change.key) == change.after:
                continue
            if force or now - since >= HOLD_SECONDS:
                glyph = GLYPHS.get(State(change.after), "[?]") if change.after in State._value2member_map_ else "[?]"
                why = " (its driver is gone: verify it)" if change.after == State.INTERRUPTED.value else ""
                _say(f"{'':<8} {glyph} {change.key} {change.before} → {change.after}{why}")
            else:
                keep.append((since, change))
        self.held = keep
        if self.driver_held and (force or now - self.driver_held[0] >= DRIVER_HOLD_SECONDS):
            event = self.driver_held[1]
            self.driver_held = None
            if event.holder is not None and event.holder.token != self.driver_shown:
                _say(live.driver_line(event))
                self.driver_shown = event.holder.token
        progress = _progress(states)
        if progress != self.progress and not keep:
            self.progress = progress
            _say(f"{'':<8} progress: {progress[0]}/{progress[1]} settled")


def _progress(states: dict[str, str]) -> tuple[int, int]:
    return sum(1 for state in states.values() if State(state) in SETTLED), len(states)


def cmd_watch(args: argparse.Namespace) -> int:
    path = _existing(args)
    if args.ack and not sys.stdin.isatty():
        raise BadInput("--ack: needs a terminal to type `ack` in; without one use `runbook ack SESSION STEP --plan "
                       "HASH`")
    if args.timeout is not None and args.timeout <= 0:
        raise BadInput(f"--timeout: {args.timeout} is not a positive number of seconds")
    watcher = live.Watcher(path, catalogue())
    printer = _Printer(args.session)
    deadline = None if args.timeout is None else time.monotonic() + args.timeout
    reading = bool(args.ack)
    try:
        for event in watcher.start():
            printer.show(event)
        if args.ack:
            _say(f"--ack: type `ack` (or `ack STEP`) and Enter to acknowledge a waiting plan as {operator()}")
        while True:
            if args.until_settled and watcher.settled:
                printer.flush(watcher.states, force=True)
                _say("all steps settled")
                return EXIT_OK
            if deadline is not None and time.monotonic() >= deadline:
                printer.flush(watcher.states, force=True)
                if args.until_settled:
                    _say(f"not settled within {args.timeout:g} s")
                    return EXIT_FAILED
                return EXIT_OK
            if reading:
                ready, _, _ = select.select([sys.stdin], [], [], live.POLL_SECONDS)
                if ready:
                    reading = _answer(path, watcher, sys.stdin.readline())
            else:
                time.sleep(live.POLL_SECONDS)
            for event in watcher.poll():
                printer.show(event)
            printer.flush(watcher.states)
    except KeyboardInterrupt:
        _say("stopped watching")
        return EXIT_OK


def _answer(path: Path, watcher: live.Watcher, line: str) -> bool:
    """One line typed in `watch --ack`; returns whether to keep reading the terminal."""
    if not line:
        return False
    words = line.split()
    if not words:
        return True
    if words[0].lower() != "ack":
        _say("(type `ack` or `ack STEP` to acknowledge a waiting plan; Ctrl-C to stop)")
        return True
    try:
        request = two_person.find_request(watcher.requests, words[1] if len(words) > 1 else None)
        ack = two_person.acknowledge(path, request)
    except (Refused, BadInput) as exc:
        _say(f"not acknowledged: {exc}")
        return True
    _say(f"acknowledged {ack.step} (plan {ack.plan_hash[:12]}) as {ack.operator}")
    return True


# -- two-person confirm -----------------------------------------------------------------------------------------------
def cmd_ack(args: argparse.Namespace) -> int:
    path = _existing(args)
    request = two_person.find_request(two_person.requests_for(path), args.step)
    _say(*two_person.request_lines(request))
    if args.plan is None:
        if not sys.stdin.isatty():
            raise BadInput("--plan: no terminal to confirm on; pass --plan HASH (the plan hash `runbook watch` "
                           "shows) to acknowledge that exact plan")
        if input(f"Acknowledge this plan as {operator()}? [y/N] ").strip().lower() not in ("y", "yes"):
            raise Refused("not acknowledged")
    ack = two_person.acknowledge(path, request, args.plan)
    _say(f"acknowledged {ack.step} (plan {ack.plan_hash[:12]}) as {ack.operator}; the driver goes on")
    return EXIT_OK


def cmd_settings(args: argparse.Namespace) -> int:
    wanted: dict[str, Any] = {}
    if args.two_person is not None:
        wanted[two_person.SETTING] = args.two_person == "on"
    if args.ack_wait is not None:
        if not 1 <= args.ack_wait <= 3600:
            raise BadInput(f"--ack-wait: {args.ack_wait} is not between 1 and 3600 seconds")
        wanted[two_person.WAIT_SETTING] = args.ack_wait
    with commands.opened(args, drive=bool(wanted), purpose="settings") as book:
        settings = book.session.settings
        changed = {key: value for key, value in wanted.items() if settings.get(key) != value}
        if changed:
            book.recorder.commit(step=None, action="settings", outcome="changed", details=changed)
        _say(f"two-person confirm: {'on' if two_person.enabled(settings) else 'off'} "
             f"(a second operator has {two_person.wait_seconds(settings):g} s to acknowledge a point of no return)")
    return EXIT_OK


# -- handover and takeover --------------------------------------------------------------------------------------------
def cmd_handover(args: argparse.Namespace) -> int:
    path = _existing(args)
    try:
        with commands.opened(args, drive=True, purpose="handover") as book:
            handover.hand_over(book, args.note)
    except LockHeld:
        view = handover.lock_view(path)
        if view and view.holder.operator == operator() and view.verdict == "live":
            raise Refused(f"your own session is open for driving (pid {view.holder.pid} on {view.holder.host}, "
                          f"{view.holder.purpose or 'driving'}): hand over from there, or close it and run this "
                          "again") from None
        raise
    _say(f"handed over {args.session}: the lock is released; the next driver and every `runbook watch` see "
         "your note")
    return EXIT_OK


# -- the change record ------------------------------------------------------------------------------------------------
def _write_out(args: argparse.Namespace, text: str) -> None:
    if args.output:
        target = Path(args.output)
        store.write_atomic(target, text)
        _warn(f"wrote {target}")
    else:
        sys.stdout.write(text)


def cmd_report(args: argparse.Namespace) -> int:
    from runbook.reports import change_record as report

    target = Path(args.output) if args.output else None
    with commands.opened(args, drive=False) as book:
        report.write(book, args.format, target)  # streamed: a 50,000-entry journal never sits in memory
    if target:
        _warn(f"wrote {target}")
    return EXIT_OK


def cmd_backout(args: argparse.Namespace) -> int:
    from runbook.reports import backout

    with commands.opened(args, drive=False) as book:
        text = backout.render(book, args.format)
    _write_out(args, text)
    return EXIT_OK

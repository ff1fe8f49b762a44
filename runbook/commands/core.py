"""What each CLI subcommand does. Each returns an exit code; errors propagate as RunbookError."""
from __future__ import annotations

import argparse
import sys
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Callable, Iterator

from runbook.backends import Options, ports_factory
from runbook.commands import catalogue
from runbook.errors import EXIT_FAILED, EXIT_OK, BadInput, LockHeld, NotAvailable, Refused, RunbookError
from runbook.flow.engine import Runbook
from runbook.record import store
from runbook.record.journal import Journal
from runbook.record.lock import SessionLock, next_epoch
from runbook.reports import text as render


def _options(args: argparse.Namespace) -> Options:
    return Options(insecure=bool(getattr(args, "insecure", False)))


def _open(args: argparse.Namespace, *, drive: bool, purpose: str = "") -> Runbook:
    book = Runbook.open(store.session_path(args.session), catalogue(), ports_factory(_options(args)), drive=drive,
                        takeover=bool(getattr(args, "takeover", False)), purpose=purpose or args.command,
                        reason=getattr(args, "reason", None))
    for notice in book.notices:
        print(f"note: {notice}", file=sys.stderr)
    return book


@contextmanager
def _closing(book: Runbook) -> Iterator[Runbook]:
    try:
        yield book
    finally:
        book.close()


def opened(args: argparse.Namespace, *, drive: bool, purpose: str = "") -> AbstractContextManager[Runbook]:
    return _closing(_open(args, drive=drive, purpose=purpose))


def opened_for_reading_or_driving(args: argparse.Namespace) -> AbstractContextManager[Runbook]:
    """Verify and check record their findings when they can; while another operator drives they only read.

    Only opening falls back: a LockHeld raised later, inside the command, is that command's own error.
    """
    try:
        book = _open(args, drive=True)
    except LockHeld as held:
        print(f"note: not recorded in the session ({held})", file=sys.stderr)
        book = _open(args, drive=False)
    return _closing(book)


def confirm_on_terminal(args: argparse.Namespace) -> Callable[[str, list[str]], bool]:
    def confirm(question: str, lines: list[str]) -> bool:
        print("\n".join("  " + line for line in lines))
        if args.yes:
            return True
        if not sys.stdin.isatty():
            raise BadInput("--yes: no terminal to confirm on; review `runbook plan` and pass --yes")
        return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")
    return confirm


def cmd_new(args: argparse.Namespace) -> int:
    path = store.session_path(args.session)
    book = Runbook.create(path, args.params, catalogue(), ports_factory(_options(args)))
    print(f"created {path} ({book.params.topology}, {len(book.instances)} steps)")
    print(render.status_text(book))
    return EXIT_OK


def cmd_mark(args: argparse.Namespace) -> int:
    if args.force and args.how != "done":
        raise BadInput("--force: only with --done (it records a step done although its verification disagrees)")
    if args.force and not (args.note or "").strip():
        raise BadInput("--note: --force needs a reason, journaled with your name (e.g. --note 'verified in the "
                       "TMG console; the read-back is wrong because ...')")
    refused = []
    with opened(args, drive=True) as book:
        def override(question: str, mismatches: list[str]) -> str | None:
            return args.note if args.force else None

        for instance in book.resolve(args.step):  # every instance is tried: one refusal does not hide the others
            try:
                print(book.mark(instance.key, args.how, args.note, override=override))
            except Refused as exc:
                print(f"runbook mark: {exc}", file=sys.stderr)
                refused.append(instance.key)
    return EXIT_FAILED if refused else EXIT_OK


def cmd_tick(args: argparse.Namespace) -> int:
    with opened(args, drive=True) as book:
        for instance in book.resolve(args.step):
            book.tick(instance.key, args.item - 1, not args.untick)
            print(f"{instance.key}: item {args.item} {'unticked' if args.untick else 'ticked'}")
    return EXIT_OK


def cmd_note(args: argparse.Namespace) -> int:
    with opened(args, drive=True) as book:
        if args.step:
            book.instance(args.step)
        book.add_note(args.step, args.text)
    return EXIT_OK


def cmd_plan(args: argparse.Namespace) -> int:
    with opened(args, drive=False) as book:
        for instance in book.resolve(args.step):
            if instance.not_applicable:
                print(f"{instance.key}: does not apply: {instance.not_applicable}")
                continue
            plan = book.plan(instance.key)
            print(f"{instance.key}:")
            print("\n".join("  " + line for line in plan.lines()))
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    with opened(args, drive=True) as book:
        for instance in book.resolve(args.step):
            outcome = book.run(instance.key, confirm=confirm_on_terminal(args), allow_restart=args.allow_restart)
            if outcome.result == "already-in-place":
                print(f"{instance.key}: already in place, nothing changed")
            else:
                print(f"{instance.key}: done and verified")
    return EXIT_OK


def cmd_undo(args: argparse.Namespace) -> int:
    with opened(args, drive=True) as book:
        for instance in reversed(book.resolve(args.step)):
            book.undo(instance.key, confirm=confirm_on_terminal(args), allow_restart=args.allow_restart)
            print(f"{instance.key}: undone")
    return EXIT_OK


def cmd_verify(args: argparse.Namespace) -> int:
    failed = False
    with opened_for_reading_or_driving(args) as book:
        if args.step:
            chosen = book.resolve(args.step)
            for instance in [i for i in chosen if i.not_applicable]:
                print(f"{instance.key}: does not apply: {instance.not_applicable}")
            chosen = [i for i in chosen if not i.not_applicable]
        else:
            chosen = [i for i in book.instances if book.record(i.key).state.value in
                      ("done", "manual-done", "failed", "interrupted", "undone", "running")]
            others = [i.key for i in book.instances if i not in chosen]
            if others:
                print("not checked (never run or marked done): " + ", ".join(others))
        for key, result in book.verify_many([i.key for i in chosen]).items():  # hosts in parallel
            if isinstance(result, NotAvailable):
                print(f"{key}: not verifiable automatically ({result})")
                continue
            if isinstance(result, RunbookError):
                print(f"{key}: could not verify: {result}")
                failed = True
                continue
            print(render.verification_text(key, result))
            failed = failed or not result.ok
    return EXIT_FAILED if failed else EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    if args.name == "device":
        from runbook.commands.device import cmd_check_device

        return cmd_check_device(args)
    if args.name == "auth":
        from runbook.checks.auth import check_auth

        with opened(args, drive=False) as book:
            ok, lines = check_auth(book.params, book.ports)
        print("auth: " + ("ok" if ok else "fail"))
        print("\n".join("  " + line for line in lines))
        return EXIT_OK if ok else EXIT_FAILED
    from runbook.checks import runs as troubleshooting
    from steps.checks import CHECKS

    options = {"file": args.file, "keytab": args.keytab, "user": args.user, "role": args.role}
    with opened_for_reading_or_driving(args) as book:
        runs = []
        for check in troubleshooting.choose(CHECKS, args.name, options):
            run = troubleshooting.run_check(book, check, options)
            print(f"{check.name}: {run.status}")
            print("\n".join("  " + line for line in run.result.lines))
            runs.append(run)
        troubleshooting.record(book, runs)
    faults = [run.spec.name for run in runs if run.status == "fail"]
    if faults:
        print("faults found in: " + ", ".join(faults), file=sys.stderr)
    return EXIT_FAILED if faults else EXIT_OK


def cmd_journal(args: argparse.Namespace) -> int:
    path = store.session_path(args.session)
    if not path.exists():
        raise BadInput(f"SESSION: {path} does not exist")
    journal = Journal(store.journal_path(path))
    if getattr(args, "acknowledge", False):
        return _acknowledge(args, path, journal)
    if args.check:
        intact, lines = journal.verdict()
        print("\n".join(lines))
        return EXIT_OK if intact else EXIT_FAILED
    for entry in journal.entries():
        print(f"{entry['seq']:>5} {entry['time']} {entry['operator']:<20} {entry.get('step') or '-':<10} "
              f"{entry['action']:<12} {entry['outcome']}" + (f" — {entry['note']}" if entry.get("note") else ""))
    return EXIT_OK


def _acknowledge(args: argparse.Namespace, path: Path, journal: Journal) -> int:
    """An operator accepts a broken journal as it is (who and why are journaled), so drivers may append again."""
    from runbook.record.journal_check import acknowledge

    if not (args.note or "").strip():
        raise BadInput("--note: say why the journal is accepted as it is (journaled with your name, shown in the "
                       "report), e.g. --note 'restored from backup after the disk filled'")
    intact, lines = journal.verdict()
    if intact:
        print("\n".join(lines))
        print("nothing to acknowledge: the journal checks out")
        return EXIT_OK
    lock = SessionLock(store.lock_path(path), "acknowledge", epoch=lambda: next_epoch(journal.path))
    lock.acquire(takeover=bool(args.takeover), reason=args.reason)  # no other driver writes meanwhile
    try:
        journal.epoch = lambda: lock.epoch
        entry = acknowledge(journal, args.note)
    finally:
        lock.release()
    print("\n".join(lines))
    print(f"acknowledged at seq {entry['seq']} by {entry['operator']}: {args.note}")
    return EXIT_OK

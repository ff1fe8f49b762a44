"""Verifying many step instances at once: one worker per Windows host (a farm in parallel), one for the directory."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runbook.errors import RunbookError
from runbook.flow.automation import DIRECTORY, checker_of, verified_on
from runbook.flow.changes import Verification
from runbook.flow.context import StepContext
from runbook.flow.host_state import gather

if TYPE_CHECKING:
    from runbook.flow.engine import Runbook


def verify_many(book: Runbook, keys: list[str], max_workers: int = 32) -> dict[str, Verification | RunbookError]:
    """Verify several instances at once: one worker per Windows host (a farm in parallel), and one for the
    directory; the instances of one host run in order on its worker.

    Each key's result is its Verification, or the RunbookError that stopped it (the others still run). Step
    code runs on the workers; the ports are opened before, and the session and journal written after, here on
    the calling thread (a password prompt, the lock and the journal stay where they always were).
    """

    book.cancel.reset()
    keys = [book.instance(key).key for key in keys]
    results: dict[str, Verification | RunbookError] = {}
    for key in keys:
        if book.record(key).intents:
            try:
                book.recover(key)
            except RunbookError as exc:
                results[key] = exc
    groups: dict[str, list[tuple[StepContext, Any]]] = {}
    for key in dict.fromkeys(keys):
        if key in results:
            continue
        instance = book.instance(key)
        try:
            checker = checker_of(instance)
        except RunbookError as exc:
            results[key] = exc
            continue
        groups.setdefault(verified_on(instance), []).append((book.context(instance, False), checker))
    for where in list(groups):
        try:
            open_port(book, where)
        except RunbookError as exc:
            results.update({ctx.instance.key: exc for ctx, _ in groups.pop(where)})

    def work(group: list[tuple[StepContext, Any]]) -> list[tuple[str, Verification | RunbookError]]:
        read_together(group)
        done: list[tuple[str, Verification | RunbookError]] = []
        for ctx, checker in group:
            try:
                done.append((ctx.instance.key, checker.verify(ctx)))
            except RunbookError as exc:
                done.append((ctx.instance.key, exc))
        return done

    if groups:
        from concurrent.futures import ThreadPoolExecutor  # here: `runbook status` never needs it (nor logging)

        with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(groups))),
                                thread_name_prefix="verify") as pool:
            futures = [pool.submit(work, group) for group in groups.values()]
        for future in futures:
            results.update(future.result())
    ordered = {key: results[key] for key in dict.fromkeys(keys)}
    book.settle_verifications({k: r for k, r in ordered.items() if isinstance(r, Verification)})
    return ordered


def read_together(group: list[tuple[StepContext, Any]]) -> None:
    """One Get-CertAuthState call for what every check of this host reads (each says so with `state_reads(ctx)`),
    when more than one does: a single check's own call is as few, and runs beside its Exchange read."""
    declared = [(ctx, reads(ctx)) for ctx, checker in group
                if (reads := getattr(checker, "state_reads", None)) is not None]
    declared = [(ctx, asked) for ctx, asked in declared if asked]
    if len(declared) < 2:
        return
    first = declared[0][0]
    assert first.target.server is not None  # a check that reads a host names it
    gathered = gather(first.hosts, first.target.server.host, [asked for _, asked in declared])
    for ctx, _ in declared:
        ctx.gathered = gathered


def open_port(book: Runbook, where: str) -> object:
    return book.ports.directory if where == DIRECTORY else book.ports.hosts

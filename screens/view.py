"""How engine data reads on screen: the top and status lines, hints, journal lines (the step list: step_rows).

Everything here is a pure function of the engine's objects, so the widgets stay
thin and these decisions are tested without a terminal. Text that came from an
operator or a remote host is only ever placed as plain text inside `Content`,
never parsed as markup.
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Callable, Iterable

from textual.content import Content

from runbook.device.record import last_proof
from runbook.flow.catalogue import StepInstance
from runbook.flow.changes import Change
from runbook.flow.completion import Completion, completion
from runbook.flow.engine import Runbook
from runbook.flow.states import IN_PLACE, SETTLED, Event, State, allowed_events
from screens.step_rows import drifted, settled_count

Clock = Callable[[], dt.datetime]

LEGEND = [
    ("[ ]", "pending"), ("[~]", "running"), ("[x]", "done"), ("[m]", "done by hand"), ("[!]", "failed"),
    ("[?]", "interrupted: verify first"), ("[≠]", "drift: done, but verify now disagrees"), ("[u]", "undone"),
    ("[-]", "skipped"), ("[/]", "does not apply here"),
]


def state_word(book: Runbook, key: str) -> str:
    state = book.display_state(key)
    if drifted(book, key):
        return f"{state.value}, drift"
    return state.value


def top_line(book: Runbook, name: str, *, driving: bool, done: Completion | None = None) -> Content:
    """`done`: the completion the caller already computed (it reads the journal), else computed here."""
    settled, total = settled_count(book)
    done = done or completion(book)
    rehearsal = " (lab)" if book.session.lab else ""
    # Short of settled the count already says it is not done; settled and still not complete must say so.
    verdict = (" · COMPLETE", "bold $success") if done.complete else \
        (" · NOT COMPLETE", "bold $warning") if settled == total else ("", "")
    return Content.assemble((name, "bold"), f" · {book.params.topology}{rehearsal} · {settled}/{total} settled · ",
                            ("driving", "bold $success") if driving else ("READ-ONLY", "bold $warning"), verdict)


def status_line(book: Runbook | None, key: str | None, *, driving: bool, busy: str | None, following: str | None,
                driver_left: bool, resuming: bool, plan_failed: bool = False, waiting: bool = False,
                done: Completion | None = None, checks: Iterable[dict[str, Any]] | None = None) -> Content:
    """The line above the footer: what is happening, or what to do next with the selected step."""
    if busy and waiting:  # the plan is read and shown: nothing is in flight, nothing for x to stop
        return Content.assemble(("waiting for ", "bold $warning"), busy)
    if busy:
        return Content.assemble(("working: ", "bold $accent"), busy,
                                ("  (x stops it after the remote call in flight; each call has a timeout)",
                                 "$text-muted"))
    if following is not None:
        return Content.assemble(("read-only: ", "bold $warning"), "the driver has left; t takes the wheel"
                                if driver_left else f"driven by {following}")
    if book is not None and settled_count(book)[0] == settled_count(book)[1]:
        done = done or completion(book)
        if done.complete:
            proof = last_proof(book.journal.entries() if checks is None else checks)
            if proof is None:
                return Content.assemble(("Complete: ", "bold $success"), "done, verified, no open check fault. "
                                        "Last item: P proves a device with the test user's certificate syncs.")
            return Content.assemble(("Complete: ", "bold $success"), f"device proof {proof.line}")
        more = f" (+{len(done.reasons) - 1} more: runbook status lists them)" if len(done.reasons) > 1 else ""
        return Content.assemble(("Not complete: ", "bold $warning"), done.reasons[0], (more, "$text-muted"))
    if book is not None and key is not None:
        resume = ("Resuming: V re-verifies every done step and flags changes made outside the tool. ", "$accent")
        if plan_failed and driving and book.display_state(key) == State.PENDING:
            return Content.assemble(("What now: ", "bold $accent"), resume if resuming else "",
                                    "the plan could not be made (see Plan): r would fail the same way. Fix the "
                                    "cause it names, then p plans again; or s skips it with a reason.")
        return Content.assemble(("What now: ", "bold $accent"), resume if resuming else "",
                                hint(book, book.instance(key), driving=driving))
    return Content("? help · ctrl+p every action by name · ctrl+q quits and releases the session")


def can(book: Runbook, key: str, event: Event) -> bool:
    return event in allowed_events(book.display_state(key))


def hint(book: Runbook, instance: StepInstance, *, driving: bool) -> str:
    """What the operator can do next with this step, in words and keys."""
    key, state = instance.key, book.display_state(instance.key)
    if instance.not_applicable:
        return f"Nothing to do here: it does not apply ({instance.not_applicable}). n goes to the next pending step."
    automated = instance.spec.automation is not None
    verifiable = automated or instance.spec.verify_only is not None
    if not driving:
        return "Read-only: another operator drives this session; this view follows their changes live."
    if drifted(book, key):
        if not automated:
            return "Verify disagrees with what was done by hand: see below. Redo it from the checklist, then v."
        return "Verify disagrees with what this step set: see below. r re-applies the difference, u undoes it."
    if state == State.INTERRUPTED:
        return ("It was running when the last process died: v verifies it first (and records what its writes in "
                "flight did) "
                "(o reopens it if you know it did not run).")
    if state == State.FAILED:
        return ("It failed: read the error below. v shows what took; u undoes what was recorded; r tries again; "
                "d records it done by hand.")
    if state in SETTLED:
        rest = " v re-verifies it." if verifiable and state in IN_PLACE else ""
        return f"Settled ({state.value}).{rest} n goes to the next pending step."
    if (waits := book.waiting_for(instance)):
        return f"Waits for {', '.join(waits)}: n goes to the next pending step."
    if automated:
        return ("r runs it: you see the exact change and confirm first. p refreshes the plan; or do it by hand "
                "from the checklist (space ticks, c copies) and press d.")
    check = " v then checks it read-only." if verifiable else ""
    return f"Done by hand: follow the checklist (space ticks an item, c copies), then d records it done.{check}"


def verify_lines(verified: dict[str, Any] | None, *, stale: bool = False) -> list[tuple[str, str]]:
    """The stored result of the last verify, each finding with a style (`stale`: read before it was done)."""
    if not verified:
        return []
    if verified.get("unverified"):  # done by hand where the verification could not run at all
        return [(f"not verified ({verified.get('by', '?')}): {verified['unverified']}", "$warning"),
                ("  v tries again once it can reach it", "$text-muted")]
    head = "in place" if verified.get("ok") else "MISMATCH"
    if stale:
        head += ", read before it was done: v reads it again"
    lines = [(f"last verify: {head} ({verified.get('by', '?')})", "$success" if verified.get("ok") else "bold $error")]
    for finding in verified.get("findings") or []:
        lines.append((f"  {finding}", "" if str(finding).startswith("[ok]") else "$error"))
    return lines


def clock_time(stamp: str | None) -> str:
    """'2026-01-01T09:00:05Z' → '09:00:05' (UTC, as journaled)."""
    if not stamp or "T" not in stamp:
        return stamp or ""
    return stamp.split("T", 1)[1].rstrip("Z")[:8]


def age(stamp: str | None, clock: Clock) -> str:
    if not stamp:
        return "never"
    try:
        then = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return stamp
    seconds = max(0.0, (clock() - then).total_seconds())
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    return f"{int(seconds // 86400)} d ago"


def journal_lines(entries: Iterable[dict[str, Any]], key: str | None) -> list[str]:
    """The step's own journal: who did what, with the plan and changes each event carried."""
    lines: list[str] = []
    for entry in entries:
        if key is not None and entry.get("step") != key:
            continue
        if entry.get("action") == "intent":  # the write-ahead record: the change entry after it says what landed
            continue
        text = f"{clock_time(entry.get('time'))} {entry.get('operator', '?')} {entry.get('action')}: " \
               f"{entry.get('outcome')}"
        if entry.get("note"):
            text += f" — {entry['note']}"
        lines.append(text)
        details = entry.get("details") or {}
        for name in ("plan", "revert", "mismatches", "log"):
            listed = details.get(name)
            if isinstance(listed, list):  # a change entry's `revert` is its flag, not lines
                lines.extend(f"    {line}" for line in listed)
        if entry.get("action") == "change" and details.get("kind"):
            try:
                lines.append("    " + Change.from_dict(details).describe())
            except TypeError:  # a journal written by a newer version: show the raw record rather than nothing
                lines.append(f"    {details}")
    return lines

"""Which step actions apply now, and why not: one pure function behind the footer, the palette and the keys."""
from __future__ import annotations

from typing import Callable

from runbook.flow.engine import Runbook
from runbook.flow.states import Event, State
from screens import view

DRIVING_ACTIONS = {"run", "undo", "done", "skip", "reopen", "note", "handover"}
ENGINE_ACTIONS = DRIVING_ACTIONS | {"verify", "plan", "verify_all", "checks", "proof"}
RECORD_ACTIONS = {"checks", "journal", "backout", "report", "proof"}  # screens of their own, for the whole change
ACTION_TITLES = {
    "run": ("Run the selected step", "show the exact change, confirm, apply, then verify"),
    "verify": ("Verify the selected step", "compare the live state with what the step wants (read-only)"),
    "plan": ("Plan the selected step", "what running it would change now (read-only)"),
    "undo": ("Undo the selected step", "revert exactly what this session changed"),
    "done": ("Mark the selected step done by hand", "after following its checklist"),
    "skip": ("Skip the selected step", "with a reason, journaled"),
    "reopen": ("Reopen the selected step", "back to pending (skipped, interrupted or done by hand)"),
    "note": ("Add a note to the selected step", "journaled with your name"),
    "copy": ("Copy the command (OSC 52)", "the highlighted checklist command, or the step's first command"),
    "next": ("Go to the next pending step", "the first step that is not settled"),
    "verify_all": ("Verify every done step", "re-check everything done so far; flags drift"),
    "drive": ("Drive this session", "when the operator you follow has left"),
    "handover": ("Hand the session over", "a note for the next driver, journaled; this view then only follows"),
    "help": ("Help", "keys, glyphs and the order of work"),
    "zoom": ("Zoom the step detail", "the step list steps aside: why, plan and log get the room (z again: back)"),
    "checks": ("Troubleshooting checks", "clock, SPNs, GPO rights, SCEP, 401 providers, AD pre-flight, cert, KCD"),
    "journal": ("Journal", "every entry, and whether the hash chain is intact"),
    "backout": ("Back-out plan", "the undo of every change still in force, newest first"),
    "report": ("Export the change record", "the report as Markdown or HTML, to a path you type"),
    "proof": ("Device proof", "a device with the test user's certificate syncs through the whole chain (rehearsal)"),
}


def why_not(action: str, book: Runbook | None, key: str | None, *, driving: bool, busy: str | None) -> str | None:
    """None when `action` can run now on step `key`, else the reason in the operator's words."""
    if action in ("help", "back", "zoom"):
        return None
    if book is None:
        return "the session is still opening"
    if action in ENGINE_ACTIONS and busy:
        return f"wait: {busy}"
    if action in DRIVING_ACTIONS and not driving:
        return "this view is read-only: another operator drives the session"
    if action in ("next", "verify_all", "handover") or action in RECORD_ACTIONS:
        return None
    if key is None:
        return "no step selected"
    instance = book.instance(key)
    record = book.record(key)
    state = book.display_state(key)
    if action == "copy":
        return None if instance.manual(book.params) else "this step has nothing to copy"
    if action == "note":
        return None
    if instance.not_applicable:
        return f"{key} does not apply: {instance.not_applicable}"
    if action in ("run", "plan") and instance.spec.automation is None:
        return f"{key} is done by hand: follow its checklist, then d records it"
    if action == "run":
        if not view.can(book, key, Event.START):
            return f"{key} is {state.value}" + (": verify it first" if state == State.INTERRUPTED else "")
        if (waits := book.waiting_for(instance)):
            return f"{key} waits for {', '.join(waits)}"
    if action == "verify" and instance.spec.automation is None and instance.spec.verify_only is None:
        return f"{key} can only be checked by hand"
    if action == "undo" and (not record.changes or not view.can(book, key, Event.START_UNDO)):
        return f"{key}: nothing recorded to undo" if not record.changes else f"{key} is {state.value}"
    event = {"done": Event.MARK_DONE, "skip": Event.SKIP, "reopen": Event.REOPEN}.get(action)
    if event is not None and not view.can(book, key, event):
        return f"{key} is {state.value}"
    return None


def offered(action: str, why_not: Callable[[str], str | None], *, busy: str | None, following: str | None,
            from_start: bool) -> bool | None:
    """`check_action`'s answer, from `why_not`'s: shown (True), dimmed (None: its key says why) or hidden."""
    if action == "stop":
        return bool(busy)
    if busy and action in ENGINE_ACTIONS:
        return False  # hidden while busy, so 80 columns still show x Stop and ^q Quit
    if (action in DRIVING_ACTIONS or action == "tick") and following is not None:
        return False  # a follower's footer offers what a follower can do; the key still says why not
    if action == "drive":
        return why_not(action) is None
    if action == "back":
        return from_start
    if action not in ACTION_TITLES:
        return True
    return True if why_not(action) is None else None

"""Plain-text views of a session for the CLI (the TUI has its own widgets over the same engine data)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runbook.device.record import proof_text
from runbook.flow.completion import completion, verification_word
from runbook.flow.states import IN_PLACE, SETTLED, State
from runbook.flow.view import SessionView
from runbook.pair import handover
from runbook.record import store
from runbook.record.journal_tail import check_runs
from runbook.record.lock import read_holder, staleness

if TYPE_CHECKING:
    from runbook.flow.changes import Verification

GLYPHS = {
    State.PENDING: "[ ]", State.RUNNING: "[~]", State.DONE: "[x]", State.FAILED: "[!]", State.SKIPPED: "[-]",
    State.INTERRUPTED: "[?]", State.MANUAL_DONE: "[m]", State.UNDONE: "[u]", State.NOT_APPLICABLE: "[/]",
}


def status_rows(book: SessionView) -> list[dict[str, Any]]:
    rows = []
    for instance in book.outline.steps:
        record = book.record(instance.key)
        state = book.display_state(instance.key)
        rows.append({
            "step": instance.key, "title": instance.title, "state": state.value,
            "updated": record.updated, "by": record.by, "note": record.note, "error": record.error,
            "verified": (record.verified or {}).get("ok"), "waits_for": book.waiting_for(instance),
            "unverified": (record.verified or {}).get("unverified"),
            "modes": list(instance.modes),
        })
    return rows


def status_data(book: SessionView) -> dict[str, Any]:
    rows = status_rows(book)
    holder = read_holder(store.lock_path(book.path))
    last = book.journal.last()
    settled = sum(1 for row in rows if State(row["state"]) in SETTLED)
    checks = check_runs(book.journal.path)  # all completion and the device proof read of the journal
    done = completion(book, checks)
    return {
        "session": str(book.path), "topology": book.outline.topology, "chain": book.outline.chain,
        "cert_validation": book.outline.cert_validation,
        "rehearsal": bool(book.session.lab), "progress": {"settled": settled, "total": len(rows)},
        "complete": done.complete, "reasons": done.reasons, "notes": done.notes,
        "device_proof": proof_text(checks),
        "driver": holder.describe() if holder else None,
        "lock_stale": staleness(holder) if holder else None,
        "last_activity": {"time": last["time"], "operator": last["operator"], "step": last["step"],
                          "action": last["action"]} if last else None,
        "journal_entries": last["seq"] if last else 0,
        "handover": handover.describe_pending(last) if last and last.get("action") == handover.HANDOVER else None,
        "steps": rows,
    }


def status_text(book: SessionView) -> str:
    data = status_data(book)
    lines = [f"{data['session']} — {data['topology']}{' (rehearsal lab)' if data['rehearsal'] else ''}",
             f"  {data['chain']}",
             f"  progress: {data['progress']['settled']}/{data['progress']['total']} settled · "
             + ("COMPLETE" if data["complete"] else "NOT COMPLETE")]
    lines += [f"    - {reason}" for reason in data["reasons"]]
    lines += [f"    note: {note}" for note in data["notes"]]
    lines.append(f"  device proof: {data['device_proof']}")
    if data["driver"]:
        lines.append(f"  {'locked' if data['lock_stale'] else 'driven'} by {data['driver']}")
    for line in data["handover"] or []:
        lines.append(f"  {line}")
    if data["last_activity"]:
        act = data["last_activity"]
        lines.append(f"  last: {act['time']} {act['operator']} {act['action']} {act['step'] or ''}".rstrip())
    lines.append("")
    for row in data["steps"]:
        state = State(row["state"])
        extra = row["error"] or (row["note"] if state in (State.NOT_APPLICABLE, State.SKIPPED) else "")
        if state in IN_PLACE and (word := verification_word(book.record(row["step"]).verified)) != "ok":
            extra = {"-": "never verified", "MISMATCH": "last verify MISMATCH"}.get(word) or \
                f"not verified: {row['unverified']}"
        if row["waits_for"] and state not in SETTLED:
            extra = (extra + "; " if extra else "") + "waits for " + ", ".join(row["waits_for"])
        lines.append(f"  {GLYPHS[state]} {row['step']:<11} {state.value:<14} {row['title']}"
                     + (f" — {extra}" if extra else ""))
    return "\n".join(lines)


def steps_text(book: SessionView) -> str:
    from runbook.flow import chain

    lines = [f"chain: {chain.chain_line(book.params)}",
             f"{book.params.topology}, cert_validation {book.params.cert_validation}: "
             f"{chain.validator_summary(book.params)}", ""]
    for instance in book.instances:
        spec = instance.spec
        if instance.not_applicable:
            lines.append(f"  {instance.key:<11} does not apply: {instance.not_applicable}")
            continue
        lines.append(f"  {instance.key:<11} {instance.title}  [{', '.join(spec.modes)}]")
        lines.append(f"  {'':<11} why: {instance.why}")
        for detail in spec.detail(book.params):
            lines.append(f"  {'':<11} {detail}")
        if instance.depends_on:
            lines.append(f"  {'':<11} after: {', '.join(instance.depends_on)}")
    return "\n".join(lines)


def manual_text(book: SessionView, key: str) -> str:
    instance = book.instance(key)
    record = book.record(key)
    if instance.not_applicable:
        return f"{instance.key} — {instance.title}\ndoes not apply: {instance.not_applicable}"
    lines = [f"{instance.key} — {instance.title}", f"why: {instance.why}"]
    lines += [f"     {detail}" for detail in instance.spec.detail(book.params)]
    lines.append("")
    for index, item in enumerate(instance.manual(book.params)):
        tick = record.ticks.get(str(index))
        box = "[x]" if tick else "[ ]"
        lines.append(f"{box} {index + 1}. {item.text}" + (f"  (ticked by {tick['by']})" if tick else ""))
        if item.command:
            lines.append(f"       $ {item.command}")
    lines.append("")
    lines.append(f"When done: runbook mark {book.path.stem} {key} --done --note '...'")
    return "\n".join(lines)


def verification_text(key: str, result: Verification) -> str:
    head = f"{key}: {'in place' if result.ok else 'MISMATCH'}"
    return "\n".join([head] + [f"  {f.describe()}" for f in result.findings] + [f"  note: {n}" for n in result.notes])

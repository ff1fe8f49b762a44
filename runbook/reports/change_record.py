"""The change record: what a change board reads after the window — Markdown, or one self-contained HTML page.

`build()` turns the session and one pass over its journal into the typed record (runbook.reports.model); one
template per format lays it out (runbook.reports.markdown, runbook.reports.html), chunk by chunk: the journal's long
lists are read as they are written (runbook.reports.journal_pass), so a 50,000-entry record costs the memory of a
5,000-entry one. No secrets: params never hold passwords (the params parser refuses such keys), and every chunk is
checked again, with the end of the one before, before it is written.
"""
from __future__ import annotations

import os
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Iterator

from runbook.device.record import proof_text
from runbook.errors import BadInput, Refused
from runbook.flow import chain
from runbook.flow import topology as topo
from runbook.flow.changes import Change, show_plain
from runbook.flow.completion import completion, verification_word
from runbook.flow.engine import Runbook
from runbook.flow.states import SETTLED, State
from runbook.inputs.params import SECRET_WORDS, Params
from runbook.pair import two_person
from runbook.pair.watch import entry_text
from runbook.reports import html, markdown
from runbook.reports.journal_pass import Items, JournalPass, StepShare
from runbook.reports.model import (
    Ack,
    ChangeLine,
    ChangeRecord,
    ChecklistItem,
    Event,
    JournalFacts,
    JournalRow,
    StepNote,
    StepSection,
    Verified,
)

SECRET_ENV = ("RUNBOOK_LDAP_PASSWORD", "RUNBOOK_WINRM_PASSWORD")
FORMATS: dict[str, Callable[[ChangeRecord], Iterator[str]]] = {"md": markdown.chunks, "html": html.chunks}


def render(book: Runbook, fmt: str) -> str:
    return "".join(chunks(book, fmt))


def chunks(book: Runbook, fmt: str) -> Iterator[str]:
    """The record as text, piece by piece; Refused (before the piece) if a secret would be in it."""
    template = FORMATS.get(fmt)
    if template is None:
        raise BadInput(f"--format: {fmt!r} is not md or html")
    record = build(book)
    try:
        yield from _without_secrets(template(record))
    finally:
        record.close()


def write(book: Runbook, fmt: str, target: Path | None, out: IO[str] | None = None) -> None:
    """The record into `target` (atomically) or onto `out` (standard output); nothing is written when it is
    refused."""
    folder = target.parent if target else None
    if folder:
        folder.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=folder, prefix=".report.", delete=False) as spool:
        try:
            for piece in chunks(book, fmt):
                spool.write(piece)
            spool.flush()
            os.fsync(spool.fileno())
        except BaseException:
            os.unlink(spool.name)
            raise
    if target:
        os.replace(spool.name, target)
        return
    try:
        with open(spool.name, encoding="utf-8") as finished:
            while piece := finished.read(1 << 16):
                (out or sys.stdout).write(piece)
    finally:
        os.unlink(spool.name)


def _without_secrets(pieces: Iterable[str]) -> Iterator[str]:
    """Each piece, checked with the end of the one before: a secret cut in two by a boundary is still found."""
    longest = max((len(os.environ.get(name) or "") for name in SECRET_ENV), default=0)
    tail = ""
    for piece in pieces:
        assert_no_secrets(tail + piece)
        tail = (tail + piece)[-longest:] if longest else ""
        yield piece


def assert_no_secrets(text: str) -> None:
    for name in SECRET_ENV:
        secret = os.environ.get(name)
        if secret and len(secret) >= 4 and secret in text:
            raise Refused(f"refusing to write the report: it would contain the value of ${name}")


# -- gathering ------------------------------------------------------------------------------------------------------
def build(book: Runbook) -> ChangeRecord:
    """The record, from one pass over the journal; its long lists (each step's history and notes, the journal's
    rows) are read back from that pass's spools as they are iterated. `close()` releases them."""
    journal = JournalPass(book.journal.path, book.journal.anchor(), [instance.key for instance in book.instances],
                          _journal_row)
    states = {i.key: book.display_state(i.key) for i in book.instances}
    counts = Counter(state.value for state in states.values())
    session = book.session
    return ChangeRecord(
        name=session.name or book.path.stem, path=str(book.path), topology=book.params.topology,
        chain=chain.chain_line(book.params),
        environment=f"rehearsal lab (scenario {session.lab.get('scenario')})" if session.lab else "production",
        created=session.created, created_by=session.created_by,
        operators=sorted(journal.operators | ({session.created_by} - {""})),
        progress=f"{sum(1 for s in states.values() if s in SETTLED)}/{len(states)} settled",
        counts=", ".join(f"{state.value} {counts[state.value]}" for state in State if counts[state.value]),
        completion=completion(book, journal.checks), two_person=two_person.enabled(session.settings),
        device_proof=proof_text(journal.checks), diagram=diagram(book.params), params=params_rows(session.params),
        steps=[_step(book, instance, states[instance.key], journal.steps[instance.key])
               for instance in book.instances],
        events=_events(journal),
        journal=JournalFacts(entries=journal.last_seq, head=book.journal.head(),
                             problems=[f"line {p.line}: {p.message}" for p in journal.problems], first=journal.first,
                             last=journal.last, rows=Items(journal.rows, iter, journal.rows.count > 0)),
        close=journal.close)


def diagram(params: Params) -> list[str]:
    """The path a request takes, hop by hop: where the certificate is checked, where Kerberos is delegated."""
    validator = params.cert_validation
    roles = ["tmg", "seg", "eas"] if params.has_seg else ["tmg", "eas"]
    lines = [f"chain: {chain.chain_line(params)}",
             f"where the certificate is checked: {chain.validator_summary(params)}", "",
             "mobile device", "    |  HTTPS to " + params.public_name + ", client certificate", "    v"]
    for index, role in enumerate(roles):
        servers = ", ".join(f"{s.computer} ({s.host})" for s in params.servers(role))
        lines.append(f"{topo.ROLE_NAMES[role]}: {servers}")
        if role == "tmg" and validator == "tmg":
            where = f" on {params.listener_ip}" if params.listener_ip else ""
            lines.append(f"    listener \"{params.listener}\"{where}; web publishing rule \"{params.publishing_rule}\"")
        elif role == "tmg":
            lines.append(f"    server publishing rule \"{params.publishing_rule}\" (HTTPS): TLS passes through")
        alias = params.internal_names.get(role)
        if alias:
            account = topo.alias_account(params, role)
            lines.append(f"    alias {alias}" + (f" (SPN on the account {account})" if account else ""))
        if role == validator:
            lines.append("    * the client certificate is checked here, and only here")
        elif role != "tmg":
            lines.append("    * accepts Kerberos (Windows authentication, Negotiate)")
        if index + 1 < len(roles):
            if role == "tmg" and validator != "tmg":
                lines += ["    |  TLS passed through unchanged", "    v"]
            else:
                spns = topo.delegation_targets(params, role)
                lines += [f"    |  Kerberos constrained delegation (KCD) to {', '.join(spns)}", "    v"]
    if params.topology == "add-seg":
        lines.append("(before this change: TMG published straight to EAS)")
    return lines


def params_rows(data: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for key, value in data.items():
        name = f"{prefix}{key}"
        if any(word in str(key).lower() for word in SECRET_WORDS):
            raise Refused(f"params.{name}: looks like a secret; the report never shows one")
        if isinstance(value, dict):
            rows += params_rows(value, name + ".")
        elif isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
            for number, item in enumerate(value):
                rows += params_rows(item, f"{name}[{number}].")
        else:
            rows.append((name, show_plain(value) if isinstance(value, list) else str(value)))
    return rows


def _step(book: Runbook, instance: Any, state: State, share: StepShare) -> StepSection:
    record = book.record(instance.key)
    in_force = [dict(change) for change in record.changes]

    def history(records: Iterable[tuple[Any, ...]]) -> Iterator[ChangeLine]:
        remaining = list(in_force)
        for _kind, time, operator, details in (r for r in records if r[0] == "change"):
            change = dict(details)
            reverted = _reverts(change)
            still = not reverted and change in remaining
            if still:
                remaining.remove(change)
            yield ChangeLine(time, operator, _change_text(change),
                             "revert" if reverted else "done" if change.get("op") == "action" else
                             "in force" if still else "reverted since")
        for change in remaining:  # recorded in the session but missing from the journal: show it, flagged
            yield ChangeLine("?", "?", _change_text(change), "in force (no journal entry)")

    manual = []
    if record.ticks or state == State.MANUAL_DONE:
        for index, item in enumerate(instance.manual(book.params)):
            tick = record.ticks.get(str(index)) or {}
            manual.append(ChecklistItem(index + 1, item.text, tick.get("by"), tick.get("at")))
    before: list[str] = []
    if state == State.MANUAL_DONE and share.last_mark is not None:
        from runbook.reports.backout import before_values

        seen = [share.verify_before_mark] if share.verify_before_mark else []
        before = before_values(seen, share.last_mark)
    spool = share.spool
    return StepSection(key=instance.key, title=instance.title, why=instance.why, state=state.value, by=record.by,
                       when=record.updated, not_applicable=instance.not_applicable, error=record.error,
                       verified=_verified(record.verified), before=before, manual=manual,
                       history=Items(spool, history, bool(share.changes or in_force)),
                       log=Items(spool, _log_lines, share.log > 0), acks=Items(spool, _acks, share.acks > 0),
                       notes=Items(spool, _notes, share.notes > 0))


def _verified(data: dict[str, Any] | None) -> Verified | None:
    if not data:
        return None
    return Verified(verification_word(data), data.get("at"), data.get("by"), data.get("unverified"),
                    [str(finding) for finding in data.get("findings", [])])


def _log_lines(records: Iterable[tuple[Any, ...]]) -> Iterator[str]:
    for record in records:
        if record[0] == "log":
            yield from record[1]


def _acks(records: Iterable[tuple[Any, ...]]) -> Iterator[Ack]:
    for _kind, time, by, plan in (r for r in records if r[0] == "ack"):
        yield Ack(time, by, plan)


def _notes(records: Iterable[tuple[Any, ...]]) -> Iterator[StepNote]:
    for _kind, time, operator, action, note in (r for r in records if r[0] == "note"):
        yield StepNote(time, operator, action, note)


def _reverts(data: dict[str, Any]) -> bool:
    try:
        return Change.from_dict(data).revert
    except TypeError:
        return False


def _change_text(data: dict[str, Any]) -> str:
    try:
        change = Change.from_dict(data)
    except TypeError:
        return str(data)
    text = change.describe()
    if change.op in ("add", "remove") and (change.before is not None or change.after is not None):
        text += f"  (before {show_plain(change.before)} → after {show_plain(change.after)})"
    return text


def _events(journal: JournalPass) -> list[Event]:
    events = []
    for event in journal.handovers:
        if event["kind"] == "handover":
            picked = event["picked_up"]
            then = f"; picked up by {picked['by']} at {picked['time']}" if picked else "; not picked up yet"
            events.append(Event(event["time"], event["operator"], f"handed over: {event['note']}{then}"))
        else:
            events.append(Event(event["time"], event["operator"], f"took over the lock from {event['note']}"))
    for entry in journal.others:
        details = entry.get("details") or {}
        if entry.get("action") == two_person.ACKED:
            events.append(Event(entry["time"], details.get("by", "?"),
                                f"acknowledged the point of no return of {entry['step']} "
                                f"(plan {details.get('plan_hash', '')[:12]}, for {entry['operator']})"))
        elif entry.get("action") == two_person.TIMED_OUT:
            events.append(Event(entry["time"], entry["operator"],
                                f"{entry['step']} refused: no second operator acknowledged in time"))
        elif entry.get("action") == "settings":
            events.append(Event(entry["time"], entry["operator"],
                                "settings changed: " + ", ".join(f"{k} = {v}" for k, v in details.items())))
    return sorted(events, key=lambda event: event.time)


def _journal_row(entry: dict[str, Any]) -> JournalRow:
    return JournalRow(str(entry.get("seq")), str(entry.get("time", "")), str(entry.get("operator", "")),
                      str(entry.get("step") or "-"), str(entry.get("action", "")), entry_text(entry),
                      str(entry.get("note") or ""))

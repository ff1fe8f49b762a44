"""The change record: what a change board reads after the window — Markdown, or one self-contained HTML page.

`collect()` gathers everything from the session and its journal into plain data; the two
renderers only lay it out (report_html.py holds the HTML one), chunk by chunk: the journal's
long lists are read as they are written (runbook.reports.journal_pass), so a 50,000-entry record
costs the memory of a 5,000-entry one. No secrets: params never hold passwords (the params
parser refuses such keys), and every chunk is checked again before it is written.
"""
from __future__ import annotations

import os
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import IO, Any, Iterable, Iterator

from runbook.device.record import proof_text
from runbook.errors import BadInput, Refused
from runbook.flow import chain
from runbook.flow import topology as topo
from runbook.flow.changes import Change, _show
from runbook.flow.completion import completion, verification_word
from runbook.flow.engine import Runbook
from runbook.flow.states import SETTLED, State
from runbook.inputs.params import SECRET_WORDS, Params
from runbook.pair import two_person
from runbook.pair.watch import entry_text
from runbook.reports.journal_pass import Items, JournalPass, StepShare

SECRET_ENV = ("RUNBOOK_LDAP_PASSWORD", "RUNBOOK_WINRM_PASSWORD")


def render(book: Runbook, fmt: str) -> str:
    return "".join(chunks(book, fmt))


def chunks(book: Runbook, fmt: str) -> Iterator[str]:
    """The record as text, piece by piece; Refused (before the piece) if a secret would be in it."""
    if fmt not in ("md", "html"):
        raise BadInput(f"--format: {fmt!r} is not md or html")
    data = collect(book)
    try:
        if fmt == "md":
            pieces = markdown_chunks(data)
        else:
            from runbook.reports.html import html_chunks

            pieces = html_chunks(data)
        yield from _without_secrets(pieces)
    finally:
        data["close"]()


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
def collect(book: Runbook) -> dict[str, Any]:
    """The record as data; its long lists (each step's history and notes, the journal's rows) are read from the
    journal as they are iterated. `close` releases the steps' spools."""
    journal = JournalPass(book.journal.path, [instance.key for instance in book.instances], _journal_row)
    problems = book.journal.check()
    states = {i.key: book.display_state(i.key) for i in book.instances}
    counts = Counter(state.value for state in states.values())
    session = book.session
    done = completion(book, journal.checks)
    return {
        "name": session.name or book.path.stem, "path": str(book.path), "topology": book.params.topology,
        "chain": chain.chain_line(book.params),
        "environment": (f"rehearsal lab (scenario {session.lab.get('scenario')})" if session.lab else "production"),
        "created": session.created, "created_by": session.created_by,
        "operators": sorted(journal.operators | ({session.created_by} - {""})),
        "progress": f"{sum(1 for s in states.values() if s in SETTLED)}/{len(states)} settled",
        "completion": {"complete": done.complete, "headline": done.headline, "reasons": done.reasons,
                       "notes": done.notes},
        "counts": ", ".join(f"{state.value} {counts[state.value]}" for state in State if counts[state.value]),
        "two_person": two_person.enabled(session.settings),
        "device_proof": proof_text(journal.checks),
        "diagram": diagram(book.params),
        "params": params_rows(session.params),
        "steps": [_step(book, instance, states[instance.key], journal.steps[instance.key])
                  for instance in book.instances],
        "events": _events(journal),
        "journal": {"entries": journal.last_seq, "head": book.journal.head(),
                    "intact": not problems, "problems": [f"line {p.line}: {p.message}" for p in problems],
                    "first": journal.first, "last": journal.last,
                    "lines": Items(journal.rows, iter, journal.rows.count > 0)},
        "close": journal.close,
    }


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
            rows.append((name, _show(value) if isinstance(value, list) else str(value)))
    return rows


def _step(book: Runbook, instance: Any, state: State, share: StepShare) -> dict[str, Any]:
    record = book.record(instance.key)
    in_force = [dict(change) for change in record.changes]

    def history(records: Iterable[tuple[Any, ...]]) -> Iterator[dict[str, str]]:
        remaining = list(in_force)
        for _kind, time, operator, details in (r for r in records if r[0] == "change"):
            change = dict(details)
            reverted = change.get("note") == "undo"
            still = not reverted and change in remaining
            if still:
                remaining.remove(change)
            yield {"time": time, "operator": operator, "text": _change_text(change),
                   "status": "revert" if reverted else "done" if change.get("op") == "action" else
                   "in force" if still else "reverted since"}
        for change in remaining:  # recorded in the session but missing from the journal: show it, flagged
            yield {"time": "?", "operator": "?", "text": _change_text(change), "status": "in force (no journal entry)"}

    manual = []
    if record.ticks or state == State.MANUAL_DONE:
        for index, item in enumerate(instance.manual(book.params)):
            tick = record.ticks.get(str(index)) or {}
            manual.append({"n": index + 1, "text": item.text, "by": tick.get("by"), "at": tick.get("at")})
    before: list[str] = []
    if state == State.MANUAL_DONE and share.last_mark is not None:
        from runbook.reports.backout import before_values

        seen = [share.verify_before_mark] if share.verify_before_mark else []
        before = before_values(seen, share.last_mark)
    verified = record.verified or None
    spool = share.spool
    return {"key": instance.key, "title": instance.title, "why": instance.why, "state": state.value,
            "before": before, "by": record.by, "when": record.updated, "not_applicable": instance.not_applicable,
            "error": record.error, "note": record.note, "verified": verified, "manual": manual,
            "history": Items(spool, history, bool(share.changes or in_force)),
            "log": Items(spool, _log_lines, share.log > 0),
            "acks": Items(spool, _acks, share.acks > 0), "notes": Items(spool, _notes, share.notes > 0)}


def _log_lines(records: Iterable[tuple[Any, ...]]) -> Iterator[str]:
    for record in records:
        if record[0] == "log":
            yield from record[1]


def _acks(records: Iterable[tuple[Any, ...]]) -> Iterator[dict[str, str]]:
    for _kind, time, by, plan in (r for r in records if r[0] == "ack"):
        yield {"time": time, "by": by, "plan": plan}


def _notes(records: Iterable[tuple[Any, ...]]) -> Iterator[dict[str, str]]:
    for _kind, time, operator, action, note in (r for r in records if r[0] == "note"):
        yield {"time": time, "operator": operator, "action": action, "note": note}


def _change_text(data: dict[str, Any]) -> str:
    try:
        change = Change.from_dict(data)
    except TypeError:
        return str(data)
    text = change.describe()
    if change.op in ("add", "remove") and (change.before is not None or change.after is not None):
        text += f"  (before {_show(change.before)} → after {_show(change.after)})"
    return text


def _events(journal: JournalPass) -> list[dict[str, str]]:
    events = []
    for event in journal.handovers:
        if event["kind"] == "handover":
            picked = event["picked_up"]
            then = f"; picked up by {picked['by']} at {picked['time']}" if picked else "; not picked up yet"
            events.append({"time": event["time"], "operator": event["operator"],
                           "text": f"handed over: {event['note']}{then}"})
        else:
            events.append({"time": event["time"], "operator": event["operator"],
                           "text": f"took over the lock from {event['note']}"})
    for entry in journal.others:
        details = entry.get("details") or {}
        if entry.get("action") == two_person.ACKED:
            events.append({"time": entry["time"], "operator": details.get("by", "?"),
                           "text": f"acknowledged the point of no return of {entry['step']} "
                                   f"(plan {details.get('plan_hash', '')[:12]}, for {entry['operator']})"})
        elif entry.get("action") == two_person.TIMED_OUT:
            events.append({"time": entry["time"], "operator": entry["operator"],
                           "text": f"{entry['step']} refused: no second operator acknowledged in time"})
        elif entry.get("action") == "settings":
            events.append({"time": entry["time"], "operator": entry["operator"],
                           "text": "settings changed: " + ", ".join(f"{k} = {v}" for k, v in details.items())})
    return sorted(events, key=lambda event: event["time"])


def _journal_row(entry: dict[str, Any]) -> dict[str, str]:
    return {"seq": str(entry.get("seq")), "time": str(entry.get("time", "")),
            "operator": str(entry.get("operator", "")), "step": str(entry.get("step") or "-"),
            "action": str(entry.get("action", "")), "outcome": entry_text(entry),
            "note": str(entry.get("note") or "")}


# -- Markdown ---------------------------------------------------------------------------------------------------
def _md(text: Any) -> str:
    """Free text in Markdown: no HTML gets through, table cells stay cells, lines stay lines."""
    value = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return value.replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def _code(text: Any) -> str:
    value = str(text).replace("|", "\\|").replace("\n", " ")
    fence = "``" if "`" in value else "`"
    pad = " " if fence == "``" else ""
    return f"{fence}{pad}{value}{pad}{fence}"


def markdown_chunks(data: dict[str, Any]) -> Iterator[str]:
    journal = data["journal"]
    check = "intact" if journal["intact"] else f"BROKEN ({len(journal['problems'])} problems)"
    head = [f"# Change record: {_md(data['name'])}", "", *_md_completion(data["completion"]), "", "| | |", "|---|---|",
            f"| Session | {_code(data['path'])} |", f"| Topology | {_code(data['topology'])}: {_md(data['chain'])} |",
            f"| Environment | {_md(data['environment'])} |",
            f"| Created | {_md(data['created'])} by {_md(data['created_by'])} |",
            f"| Operators | {_md(', '.join(data['operators']))} |",
            f"| Progress | {_md(data['progress'])} ({_md(data['counts'])}) |",
            f"| Two-person confirm | {'on' if data['two_person'] else 'off'} |",
            f"| Device proof | {_md(data['device_proof'])} |",
            f"| Journal | {journal['entries']} entries, {_md(journal['first'] or '-')} to "
            f"{_md(journal['last'] or '-')}; chain {check} |", f"| Journal head | {_code(journal['head'])} |",
            "", "## Topology", "", "```text", *[line.replace("```", "'''") for line in data["diagram"]], "```",
            "", "## Parameters", "", "| Parameter | Value |", "|---|---|",
            *[f"| {_code(key)} | {_code(value)} |" for key, value in data["params"]],
            "", "## Steps", "", "| Step | Title | State | By | When | Verified |", "|---|---|---|---|---|---|"]
    for step in data["steps"]:
        verified = step["verified"]
        mark = verification_word(verified)
        head.append(f"| {_code(step['key'])} | {_md(step['title'])} | {_md(step['state'])} | "
                    f"{_md(step['by'] or '-')} | {_md(step['when'] or '-')} | {mark} |")
    yield text_of(head)
    for step in data["steps"]:
        yield "\n"
        yield from chunked(_md_step(step))
    out = ["", "## Handovers, takeovers and acknowledgements", ""]
    out += [f"- {_md(e['time'])} {_md(e['operator'])}: {_md(e['text'])}" for e in data["events"]] or ["- none"]
    out += ["", "## Journal", "", f"- Head hash: {_code(journal['head'])}", f"- Entries: {journal['entries']}",
            f"- Chain check (`runbook journal SESSION --check`): {check}"]
    out += [f"  - {_md(problem)}" for problem in journal["problems"]]
    out += ["", "| # | Time | Operator | Step | Action | Outcome | Note |", "|---|---|---|---|---|---|---|"]
    yield text_of(out)
    yield from chunked(f"| {row['seq']} | {_md(row['time'])} | {_md(row['operator'])} | {_code(row['step'])} | "
                            f"{_md(row['action'])} | {_md(row['outcome'])} | {_md(row['note'])} |"
                            for row in journal["lines"])


def text_of(lines: list[str]) -> str:
    return "".join(line + "\n" for line in lines)


def chunked(lines: Iterable[str], size: int = 500) -> Iterator[str]:
    """Lines as chunks of `size` lines: few writes, and never the whole list in memory."""
    batch: list[str] = []
    for line in lines:
        batch.append(line)
        if len(batch) == size:
            yield text_of(batch)
            batch = []
    if batch:
        yield text_of(batch)


def _md_completion(done: dict[str, Any]) -> list[str]:
    """The headline a change board reads first: complete or not, and every reason why not."""
    out = [f"**{_md(done['headline'])}**" + (":" if done["reasons"] else "")]
    if done["reasons"] or done["notes"]:
        out.append("")
    out += [f"- {_md(reason)}" for reason in done["reasons"]]
    out += [f"- note: {_md(note)}" for note in done["notes"]]
    return out


def _md_step(step: dict[str, Any]) -> Iterator[str]:
    who = f" by {_md(step['by'])} at {_md(step['when'])}" if step["by"] else ""
    yield from [f"### {_md(step['key'])} — {_md(step['title'])}", "", f"- State: **{_md(step['state'])}**{who}"]
    if step["not_applicable"]:
        yield f"- Does not apply: {_md(step['not_applicable'])}"
        return
    yield f"- Why: {_md(step['why'])}"
    if step["error"]:
        yield f"- Error: {_md(step['error'])}"
    if step["history"]:
        yield "- What changed (before → after):"
        yield from (f"  - {_md(h['time'])} {_md(h['operator'])}: {_code(h['text'])} — {_md(h['status'])}"
                    for h in step["history"])
    if step["before"]:
        yield "- Before it was done by hand:"
        yield from (f"  - {_md(line)}" for line in step["before"])
    yield from (f"- Left alone: {_md(line)}" for line in step["log"])
    yield from (f"- Point of no return acknowledged by {_md(a['by'])} at {_md(a['time'])} (plan {_code(a['plan'])})"
                for a in step["acks"])
    verified = step["verified"]
    if verified:
        result = f"not verified: {verified['unverified']}" if verified.get("unverified") else \
            verification_word(verified)
        yield f"- Verification at {_md(verified.get('at'))} by {_md(verified.get('by'))}: {_md(result)}"
        yield from (f"  - {_md(finding)}" for finding in verified.get("findings", []))
    if step["manual"]:
        yield "- Manual checklist:"
        yield from (f"  - [{'x' if m['by'] else ' '}] {m['n']}. {_md(m['text'])}" +
                    (f" — ticked by {_md(m['by'])} at {_md(m['at'])}" if m["by"] else "") for m in step["manual"])
    yield from (f"- Note ({_md(n['action'])}, {_md(n['time'])}, {_md(n['operator'])}): {_md(n['note'])}"
                for n in step["notes"])

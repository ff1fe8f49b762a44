"""The change record: what a change board reads after the window — Markdown, or one self-contained HTML page.

`collect()` gathers everything from the session and its journal into plain data; the two
renderers only lay it out (report_html.py holds the HTML one). Nothing here writes: the
CLI writes the text where it was asked to. No secrets: params never hold passwords (the
params parser refuses such keys), and `render()` checks again, on the finished text.
"""
from __future__ import annotations

import os
from collections import Counter
from typing import Any

from runbook import chain, handover, two_person
from runbook import topology as topo
from runbook.changes import Change, _show
from runbook.completion import completion, verification_word
from runbook.device_record import proof_text
from runbook.engine import Runbook
from runbook.errors import BadInput, Refused
from runbook.params import SECRET_WORDS, Params
from runbook.states import SETTLED, State
from runbook.watch import entry_text

SECRET_ENV = ("RUNBOOK_LDAP_PASSWORD", "RUNBOOK_WINRM_PASSWORD")


def render(book: Runbook, fmt: str) -> str:
    data = collect(book)
    if fmt == "md":
        text = markdown(data)
    elif fmt == "html":
        from runbook.report_html import html

        text = html(data)
    else:
        raise BadInput(f"--format: {fmt!r} is not md or html")
    assert_no_secrets(text)
    return text


def assert_no_secrets(text: str) -> None:
    for name in SECRET_ENV:
        secret = os.environ.get(name)
        if secret and len(secret) >= 4 and secret in text:
            raise Refused(f"refusing to write the report: it would contain the value of ${name}")


# -- gathering ------------------------------------------------------------------------------------------------------
def collect(book: Runbook) -> dict[str, Any]:
    entries = list(_entries(book))
    problems = book.journal.check()
    states = {i.key: book.display_state(i.key) for i in book.instances}
    counts = Counter(state.value for state in states.values())
    session = book.session
    done = completion(book, entries)
    return {
        "name": session.name or book.path.stem, "path": str(book.path), "topology": book.params.topology,
        "chain": chain.chain_line(book.params),
        "environment": (f"rehearsal lab (scenario {session.lab.get('scenario')})" if session.lab else "production"),
        "created": session.created, "created_by": session.created_by,
        "operators": sorted({e["operator"] for e in entries} | ({session.created_by} - {""})),
        "progress": f"{sum(1 for s in states.values() if s in SETTLED)}/{len(states)} settled",
        "completion": {"complete": done.complete, "headline": done.headline, "reasons": done.reasons,
                       "notes": done.notes},
        "counts": ", ".join(f"{state.value} {counts[state.value]}" for state in State if counts[state.value]),
        "two_person": two_person.enabled(session.settings),
        "device_proof": proof_text(entries),
        "diagram": diagram(book.params),
        "params": params_rows(session.params),
        "steps": [_step(book, instance, states[instance.key], entries) for instance in book.instances],
        "events": _events(entries),
        "journal": {"entries": entries[-1]["seq"] if entries else 0, "head": book.journal.head(),
                    "intact": not problems, "problems": [f"line {p.line}: {p.message}" for p in problems],
                    "first": entries[0]["time"] if entries else None, "last": entries[-1]["time"] if entries else None,
                    "lines": [_journal_row(entry) for entry in entries]},
    }


def _entries(book: Runbook) -> Any:
    import json

    if not book.journal.path.exists():
        return
    with book.journal.path.open(encoding="utf-8") as handle:
        for line in handle:
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # the chain check names the line
            if isinstance(entry, dict) and "seq" in entry:
                yield entry


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


def _step(book: Runbook, instance: Any, state: State, entries: list[dict[str, Any]]) -> dict[str, Any]:
    record = book.record(instance.key)
    mine = [entry for entry in entries if entry.get("step") == instance.key]
    in_force = [dict(change) for change in record.changes]
    history = []
    for entry in mine:
        if entry.get("action") != "change" or not entry.get("details"):
            continue
        change = dict(entry["details"])
        reverted = change.get("note") == "undo"
        still = not reverted and change in in_force
        if still:
            in_force.remove(change)
        history.append({"time": entry["time"], "operator": entry["operator"], "text": _change_text(change),
                        "status": "revert" if reverted else "done" if change.get("op") == "action" else
                        "in force" if still else "reverted since"})
    for change in in_force:  # recorded in the session but missing from the journal: show it, flagged
        history.append({"time": "?", "operator": "?", "text": _change_text(change),
                        "status": "in force (no journal entry)"})
    manual = []
    if record.ticks or state == State.MANUAL_DONE:
        for index, item in enumerate(instance.manual(book.params)):
            tick = record.ticks.get(str(index)) or {}
            manual.append({"n": index + 1, "text": item.text, "by": tick.get("by"), "at": tick.get("at")})
    notes = [{"time": e["time"], "operator": e["operator"], "action": e["action"], "note": e["note"]}
             for e in mine if e.get("note") and e.get("action") not in ("tick", "untick", "change")]
    log = [line for e in mine for line in (e.get("details") or {}).get("log", [])]
    acks = [{"time": e["time"], "by": e["details"].get("by", "?"), "plan": e["details"].get("plan_hash", "")[:12]}
            for e in mine if e.get("action") == two_person.ACKED and e.get("details")]
    before: list[str] = []
    if state == State.MANUAL_DONE:
        from runbook.backout import before_values

        marks = [e["seq"] for e in mine if e.get("action") == "mark_done"]
        before = before_values(mine, marks[-1]) if marks else []
    verified = record.verified or None
    return {"key": instance.key, "title": instance.title, "why": instance.why, "state": state.value,
            "before": before, "by": record.by, "when": record.updated, "not_applicable": instance.not_applicable,
            "error": record.error, "note": record.note, "history": history, "log": log, "acks": acks,
            "verified": verified, "manual": manual, "notes": notes}


def _change_text(data: dict[str, Any]) -> str:
    try:
        change = Change.from_dict(data)
    except TypeError:
        return str(data)
    text = change.describe()
    if change.op in ("add", "remove") and (change.before is not None or change.after is not None):
        text += f"  (before {_show(change.before)} → after {_show(change.after)})"
    return text


def _events(entries: list[dict[str, Any]]) -> list[dict[str, str]]:
    events = []
    for event in handover.history(entries):
        if event["kind"] == "handover":
            picked = event["picked_up"]
            then = f"; picked up by {picked['by']} at {picked['time']}" if picked else "; not picked up yet"
            events.append({"time": event["time"], "operator": event["operator"],
                           "text": f"handed over: {event['note']}{then}"})
        else:
            events.append({"time": event["time"], "operator": event["operator"],
                           "text": f"took over the lock from {event['note']}"})
    for entry in entries:
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


def markdown(data: dict[str, Any]) -> str:
    journal = data["journal"]
    check = "intact" if journal["intact"] else f"BROKEN ({len(journal['problems'])} problems)"
    out = [f"# Change record: {_md(data['name'])}", "", *_md_completion(data["completion"]), "", "| | |", "|---|---|",
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
        out.append(f"| {_code(step['key'])} | {_md(step['title'])} | {_md(step['state'])} | {_md(step['by'] or '-')} "
                   f"| {_md(step['when'] or '-')} | {mark} |")
    for step in data["steps"]:
        out += ["", *_md_step(step)]
    out += ["", "## Handovers, takeovers and acknowledgements", ""]
    out += [f"- {_md(e['time'])} {_md(e['operator'])}: {_md(e['text'])}" for e in data["events"]] or ["- none"]
    out += ["", "## Journal", "", f"- Head hash: {_code(journal['head'])}", f"- Entries: {journal['entries']}",
            f"- Chain check (`runbook journal SESSION --check`): {check}"]
    out += [f"  - {_md(problem)}" for problem in journal["problems"]]
    out += ["", "| # | Time | Operator | Step | Action | Outcome | Note |", "|---|---|---|---|---|---|---|"]
    out += [f"| {row['seq']} | {_md(row['time'])} | {_md(row['operator'])} | {_code(row['step'])} | "
            f"{_md(row['action'])} | {_md(row['outcome'])} | {_md(row['note'])} |" for row in journal["lines"]]
    return "\n".join(out) + "\n"


def _md_completion(done: dict[str, Any]) -> list[str]:
    """The headline a change board reads first: complete or not, and every reason why not."""
    out = [f"**{_md(done['headline'])}**" + (":" if done["reasons"] else "")]
    if done["reasons"] or done["notes"]:
        out.append("")
    out += [f"- {_md(reason)}" for reason in done["reasons"]]
    out += [f"- note: {_md(note)}" for note in done["notes"]]
    return out


def _md_step(step: dict[str, Any]) -> list[str]:
    who = f" by {_md(step['by'])} at {_md(step['when'])}" if step["by"] else ""
    out = [f"### {_md(step['key'])} — {_md(step['title'])}", "", f"- State: **{_md(step['state'])}**{who}"]
    if step["not_applicable"]:
        out.append(f"- Does not apply: {_md(step['not_applicable'])}")
        return out
    out.append(f"- Why: {_md(step['why'])}")
    if step["error"]:
        out.append(f"- Error: {_md(step['error'])}")
    if step["history"]:
        out.append("- What changed (before → after):")
        out += [f"  - {_md(h['time'])} {_md(h['operator'])}: {_code(h['text'])} — {_md(h['status'])}"
                for h in step["history"]]
    if step["before"]:
        out.append("- Before it was done by hand:")
        out += [f"  - {_md(line)}" for line in step["before"]]
    out += [f"- Left alone: {_md(line)}" for line in step["log"]]
    out += [f"- Point of no return acknowledged by {_md(a['by'])} at {_md(a['time'])} (plan {_code(a['plan'])})"
            for a in step["acks"]]
    verified = step["verified"]
    if verified:
        result = f"not verified: {verified['unverified']}" if verified.get("unverified") else \
            verification_word(verified)
        out.append(f"- Verification at {_md(verified.get('at'))} by {_md(verified.get('by'))}: {_md(result)}")
        out += [f"  - {_md(finding)}" for finding in verified.get("findings", [])]
    if step["manual"]:
        out.append("- Manual checklist:")
        out += [f"  - [{'x' if m['by'] else ' '}] {m['n']}. {_md(m['text'])}" +
                (f" — ticked by {_md(m['by'])} at {_md(m['at'])}" if m["by"] else "") for m in step["manual"]]
    out += [f"- Note ({_md(n['action'])}, {_md(n['time'])}, {_md(n['operator'])}): {_md(n['note'])}"
            for n in step["notes"]]
    return out

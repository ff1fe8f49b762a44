"""The change record as one self-contained HTML page: inline CSS, no scripts, no outside resources, prints well.

Every value goes through `_h` (html.escape, quotes included); the only markup is written here.
"""
from __future__ import annotations

from html import escape
from typing import Any, Iterator

from runbook.flow.completion import verification_word
from runbook.reports.change_record import chunked, text_of

CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1b1b1b; margin: 2em auto;
       max-width: 72em; padding: 0 1.5em; }
h1 { font-size: 1.6em; margin-bottom: .2em; } h2 { border-bottom: 2px solid #444; padding-bottom: .15em;
  margin-top: 1.8em; } h3 { margin: 1.2em 0 .3em; font-size: 1.05em; }
table { border-collapse: collapse; width: 100%; margin: .5em 0; } th, td { border: 1px solid #bbb;
  padding: .25em .5em; text-align: left; vertical-align: top; } th { background: #eee; }
table.facts th { width: 12em; } code, pre { font: 12.5px/1.4 ui-monospace, Menlo, Consolas, monospace; }
pre { background: #f6f6f6; border: 1px solid #ccc; padding: .7em; white-space: pre-wrap; }
.state { font-weight: 600; } .state-done, .state-manual-done, .ok { color: #14632b; }
.state-failed, .state-interrupted, .bad { color: #a40000; } .state-not-applicable, .state-skipped { color: #666; }
section.step { border-left: 4px solid #999; padding: .1em 0 .3em .9em; margin: 1em 0; }
ul { margin: .2em 0; padding-left: 1.4em; } .muted { color: #666; }
p.headline { font-size: 1.25em; font-weight: 700; margin: .3em 0; }
@page { margin: 14mm; }
@media print { body { margin: 0; max-width: none; font-size: 10.5pt; } h2 { break-after: avoid; }
  section.step, tr, pre { break-inside: avoid; } th { background: #eee !important;
  -webkit-print-color-adjust: exact; print-color-adjust: exact; } }
"""


def _h(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def _state(value: str) -> str:
    return f'<span class="state state-{_h(value)}">{_h(value)}</span>'


def _completion(done: dict[str, Any]) -> str:
    """The headline a change board reads first: complete or not, and every reason why not."""
    out = [f'<p id="completion" class="headline {"ok" if done["complete"] else "bad"}">{_h(done["headline"])}</p>']
    items = [_h(reason) for reason in done["reasons"]] + [f'<span class="muted">note: {_h(n)}</span>'
                                                         for n in done["notes"]]
    if items:
        out.append("<ul>" + "".join(f"<li>{item}</li>" for item in items) + "</ul>")
    return "".join(out)


def _verification(verified: dict[str, Any] | None, *, detail: bool = False) -> str:
    word = verification_word(verified)
    if word == "ok":
        return '<span class="ok">ok</span>'
    if word == "MISMATCH":
        return '<span class="bad">MISMATCH</span>'
    if verified and verified.get("unverified") and detail:
        return f'<span class="muted">not verified: {_h(verified["unverified"])}</span>'
    return _h(word)


def _facts(rows: list[tuple[str, str]]) -> str:
    return '<table class="facts">' + "".join(f"<tr><th>{_h(k)}</th><td>{v}</td></tr>" for k, v in rows) + "</table>"


def html_chunks(data: dict[str, Any]) -> Iterator[str]:
    journal = data["journal"]
    check = ('<span class="ok">intact</span>' if journal["intact"] else
             f'<span class="bad">BROKEN ({len(journal["problems"])} problems)</span>')
    parts = [
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        f"<title>Change record: {_h(data['name'])}</title>", f"<style>{CSS}</style>", "</head>", "<body>",
        f"<h1>Change record: {_h(data['name'])}</h1>",
        _completion(data["completion"]),
        '<section id="summary">',
        _facts([("Session", f"<code>{_h(data['path'])}</code>"),
                ("Topology", f"<code>{_h(data['topology'])}</code>: {_h(data['chain'])}"),
                ("Environment", _h(data["environment"])),
                ("Created", f"{_h(data['created'])} by {_h(data['created_by'])}"),
                ("Operators", _h(", ".join(data["operators"]))),
                ("Progress", f"{_h(data['progress'])} ({_h(data['counts'])})"),
                ("Two-person confirm", "on" if data["two_person"] else "off"),
                ("Device proof", _h(data["device_proof"])),
                ("Journal", f"{journal['entries']} entries, {_h(journal['first'] or '-')} to "
                            f"{_h(journal['last'] or '-')}; chain {check}"),
                ("Journal head", f"<code>{_h(journal['head'])}</code>")]),
        "</section>",
        '<section id="topology"><h2>Topology</h2>', f"<pre>{_h(chr(10).join(data['diagram']))}</pre></section>",
        '<section id="parameters"><h2>Parameters</h2><table><tr><th>Parameter</th><th>Value</th></tr>',
        *[f"<tr><td><code>{_h(k)}</code></td><td><code>{_h(v)}</code></td></tr>" for k, v in data["params"]],
        "</table></section>",
        '<section id="steps"><h2>Steps</h2><table><tr><th>Step</th><th>Title</th><th>State</th><th>By</th>'
        "<th>When</th><th>Verified</th></tr>",
    ]
    for step in data["steps"]:
        verified = step["verified"]
        mark = _verification(verified)
        parts.append(f"<tr><td><code>{_h(step['key'])}</code></td><td>{_h(step['title'])}</td>"
                     f"<td>{_state(step['state'])}</td><td>{_h(step['by'] or '-')}</td>"
                     f"<td>{_h(step['when'] or '-')}</td><td>{mark}</td></tr>")
    parts.append("</table>")
    yield text_of(parts)
    for step in data["steps"]:
        yield from chunked(_step(step))
    parts = ["</section>"]
    parts.append('<section id="events"><h2>Handovers, takeovers and acknowledgements</h2><ul>')
    parts += [f"<li>{_h(e['time'])} {_h(e['operator'])}: {_h(e['text'])}</li>" for e in data["events"]] or \
        ["<li>none</li>"]
    parts.append("</ul></section>")
    parts += ['<section id="journal"><h2>Journal</h2><ul>',
              f"<li>Head hash: <code>{_h(journal['head'])}</code></li>", f"<li>Entries: {journal['entries']}</li>",
              f"<li>Chain check (<code>runbook journal SESSION --check</code>): {check}</li>",
              *[f'<li class="bad">{_h(problem)}</li>' for problem in journal["problems"]], "</ul>",
              "<table><tr><th>#</th><th>Time</th><th>Operator</th><th>Step</th><th>Action</th><th>Outcome</th>"
              "<th>Note</th></tr>"]
    yield text_of(parts)
    yield from chunked(f"<tr><td>{_h(r['seq'])}</td><td>{_h(r['time'])}</td><td>{_h(r['operator'])}</td>"
                       f"<td><code>{_h(r['step'])}</code></td><td>{_h(r['action'])}</td>"
                       f"<td>{_h(r['outcome'])}</td><td>{_h(r['note'])}</td></tr>" for r in journal["lines"])
    yield text_of(["</table></section>", "</body>", "</html>"])


def _step(step: dict[str, Any]) -> Iterator[str]:
    who = f" by {_h(step['by'])} at {_h(step['when'])}" if step["by"] else ""
    yield from [f'<section class="step" id="step-{_h(step["key"])}">',
                f"<h3>{_h(step['key'])} — {_h(step['title'])}</h3>", "<ul>",
                f"<li>State: {_state(step['state'])}{who}</li>"]
    if step["not_applicable"]:
        yield from [f"<li>Does not apply: {_h(step['not_applicable'])}</li>", "</ul></section>"]
        return
    yield f"<li>Why: {_h(step['why'])}</li>"
    if step["error"]:
        yield f'<li class="bad">Error: {_h(step["error"])}</li>'
    if step["history"]:
        yield "<li>What changed (before → after):<ul>"
        yield from (f"<li>{_h(h['time'])} {_h(h['operator'])}: <code>{_h(h['text'])}</code> — {_h(h['status'])}"
                    "</li>" for h in step["history"])
        yield "</ul></li>"
    if step["before"]:
        yield "<li>Before it was done by hand:<ul>"
        yield from (f"<li>{_h(line)}</li>" for line in step["before"])
        yield "</ul></li>"
    yield from (f"<li>Left alone: {_h(line)}</li>" for line in step["log"])
    yield from (f"<li>Point of no return acknowledged by {_h(a['by'])} at {_h(a['time'])} "
                f"(plan <code>{_h(a['plan'])}</code>)</li>" for a in step["acks"])
    verified = step["verified"]
    if verified:
        result = _verification(verified, detail=True)
        yield f"<li>Verification at {_h(verified.get('at'))} by {_h(verified.get('by'))}: {result}<ul>"
        yield from (f"<li>{_h(finding)}</li>" for finding in verified.get("findings", []))
        yield "</ul></li>"
    if step["manual"]:
        yield "<li>Manual checklist:<ul>"
        yield from (f"<li>{'☑' if m['by'] else '☐'} {m['n']}. {_h(m['text'])}"
                    + (f' <span class="muted">— ticked by {_h(m["by"])} at {_h(m["at"])}</span>' if m["by"] else "")
                    + "</li>" for m in step["manual"])
        yield "</ul></li>"
    yield from (f"<li>Note ({_h(n['action'])}, {_h(n['time'])}, {_h(n['operator'])}): {_h(n['note'])}</li>"
                for n in step["notes"])
    yield from ["</ul>", "</section>"]

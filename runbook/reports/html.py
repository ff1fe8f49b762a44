"""The change record as one self-contained HTML page: inline CSS, no scripts, no outside resources, prints well.

The one template of that format over runbook.reports.model. Every value is escaped by the template machinery
(runbook.reports.template: html.escape, quotes included), so the only markup is the templates' own text.
"""
from __future__ import annotations

from functools import partial
from html import escape
from typing import Any, Iterator

from runbook.flow.completion import Completion
from runbook.reports.model import ChangeRecord, StepSection, Verified
from runbook.reports.template import Format, Markup, Template, chunked, text_of

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


def _text(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


HTML = Format(_text)
_ = partial(Template, HTML)

PAGE = _("""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Change record: {record.name}</title>
<style>{css}</style>
</head>
<body>
<h1>Change record: {record.name}</h1>
{completion}
<section id="summary">
<table class="facts"><tr><th>Session</th><td><code>{record.path}</code></td></tr>\
<tr><th>Topology</th><td><code>{record.topology}</code>: {record.chain}</td></tr>\
<tr><th>Environment</th><td>{record.environment}</td></tr>\
<tr><th>Created</th><td>{record.created} by {record.created_by}</td></tr>\
<tr><th>Operators</th><td>{operators}</td></tr>\
<tr><th>Progress</th><td>{record.progress} ({record.counts})</td></tr>\
<tr><th>Two-person confirm</th><td>{two_person}</td></tr>\
<tr><th>Device proof</th><td>{record.device_proof}</td></tr>\
<tr><th>Journal</th><td>{journal.entries} entries, {first} to {last}; chain {check}</td></tr>\
<tr><th>Journal head</th><td><code>{journal.head}</code></td></tr></table>
</section>
<section id="topology"><h2>Topology</h2>
<pre>{diagram}</pre></section>
<section id="parameters"><h2>Parameters</h2><table><tr><th>Parameter</th><th>Value</th></tr>""")
PARAM = _("<tr><td><code>{name}</code></td><td><code>{value}</code></td></tr>")
STEPS = _("""</table></section>
<section id="steps"><h2>Steps</h2><table><tr><th>Step</th><th>Title</th><th>State</th><th>By</th>\
<th>When</th><th>Verified</th></tr>""")
STEP_ROW = _("<tr><td><code>{step.key}</code></td><td>{step.title}</td><td>{state}</td><td>{by}</td>"
             "<td>{when}</td><td>{mark}</td></tr>")
STATE = _('<span class="state state-{state}">{state}</span>')
HEADLINE = _('<p id="completion" class="headline {tone}">{done.headline}</p>')
LIST = _("<ul>{items}</ul>")
ITEM = _("<li>{item}</li>")
MUTED_NOTE = _('<span class="muted">note: {note}</span>')
OK, BAD = Markup('<span class="ok">ok</span>'), Markup('<span class="bad">MISMATCH</span>')
NOT_VERIFIED = _('<span class="muted">not verified: {verified.unverified}</span>')
INTACT = Markup('<span class="ok">intact</span>')
BROKEN = _('<span class="bad">BROKEN ({count} problems)</span>')

STEP_HEAD = _("""<section class="step" id="step-{step.key}">
<h3>{step.key} — {step.title}</h3>
<ul>
<li>State: {state}{who}</li>""")
WHO = _(" by {step.by} at {step.when}")
NOT_APPLICABLE = _("<li>Does not apply: {step.not_applicable}</li>\n</ul></section>")
WHY = _("<li>Why: {step.why}</li>")
ERROR = _('<li class="bad">Error: {step.error}</li>')
CHANGE = _("<li>{change.time} {change.operator}: <code>{change.text}</code> — {change.status}</li>")
LINE = _("<li>{line}</li>")
LEFT_ALONE = _("<li>Left alone: {line}</li>")
ACK = _("<li>Point of no return acknowledged by {ack.by} at {ack.time} (plan <code>{ack.plan}</code>)</li>")
VERIFIED = _("<li>Verification at {verified.at} by {verified.by}: {result}<ul>")
CHECKLIST = _("<li>{box} {item.number}. {item.text}{ticked}</li>")
TICKED = _(' <span class="muted">— ticked by {item.by} at {item.at}</span>')
STEP_NOTE = _("<li>Note ({note.action}, {note.time}, {note.operator}): {note.note}</li>")

EVENT = _("<li>{event.time} {event.operator}: {event.text}</li>")
JOURNAL = _("""</ul></section>
<section id="journal"><h2>Journal</h2><ul>
<li>Head hash: <code>{journal.head}</code></li>
<li>Entries: {journal.entries}</li>
<li>Chain check (<code>runbook journal SESSION --check</code>): {check}</li>""")
PROBLEM = _('<li class="bad">{problem}</li>')
ROW = _("<tr><td>{row.seq}</td><td>{row.time}</td><td>{row.operator}</td><td><code>{row.step}</code></td>"
        "<td>{row.action}</td><td>{row.outcome}</td><td>{row.note}</td></tr>")


def chunks(record: ChangeRecord) -> Iterator[str]:
    journal = record.journal
    check = INTACT if journal.intact else BROKEN(count=len(journal.problems))
    head: list[str] = [
        PAGE(record=record, css=Markup(CSS), completion=completion(record.completion), journal=journal,
             operators=", ".join(record.operators), two_person="on" if record.two_person else "off",
             first=journal.first or "-", last=journal.last or "-", check=check, diagram="\n".join(record.diagram)),
        *(PARAM(name=name, value=value) for name, value in record.params), STEPS(),
        *(STEP_ROW(step=step, state=STATE(state=step.state), by=step.by or "-", when=step.when or "-",
                   mark=verification(step.verified)) for step in record.steps), "</table>"]
    yield text_of(head)
    for step in record.steps:
        yield from chunked(section(step))
    tail: list[str] = ["</section>", '<section id="events"><h2>Handovers, takeovers and acknowledgements</h2><ul>']
    tail += list(EVENT.each("event", record.events)) or ["<li>none</li>"]
    tail += [JOURNAL(journal=journal, check=check), *PROBLEM.each("problem", journal.problems), "</ul>",
             "<table><tr><th>#</th><th>Time</th><th>Operator</th><th>Step</th><th>Action</th><th>Outcome</th>"
             "<th>Note</th></tr>"]
    yield text_of(tail)
    yield from chunked(ROW.each("row", journal.rows))
    yield text_of(["</table></section>", "</body>", "</html>"])


def completion(done: Completion) -> Markup:
    """The headline a change board reads first: complete or not, and every reason why not."""
    headline = HEADLINE(done=done, tone="ok" if done.complete else "bad")
    items = [*ITEM.each("item", done.reasons), *(ITEM(item=MUTED_NOTE(note=note)) for note in done.notes)]
    return Markup(headline + LIST(items=Markup("".join(items)))) if items else headline


def verification(verified: Verified | None, *, detail: bool = False) -> Markup | str:
    word = verified.word if verified else "-"
    if word == "ok":
        return OK
    if word == "MISMATCH":
        return BAD
    if verified and verified.unverified and detail:
        return NOT_VERIFIED(verified=verified)
    return word


def section(step: StepSection) -> Iterator[str]:
    yield STEP_HEAD(step=step, state=STATE(state=step.state), who=WHO(step=step) if step.by else "")
    if step.not_applicable:
        yield NOT_APPLICABLE(step=step)
        return
    yield WHY(step=step)
    if step.error:
        yield ERROR(step=step)
    if step.history:
        yield "<li>What changed (before → after):<ul>"
        yield from CHANGE.each("change", step.history)
        yield "</ul></li>"
    if step.before:
        yield "<li>Before it was done by hand:<ul>"
        yield from LINE.each("line", step.before)
        yield "</ul></li>"
    yield from LEFT_ALONE.each("line", step.log)
    yield from ACK.each("ack", step.acks)
    verified = step.verified
    if verified:
        yield VERIFIED(verified=verified, result=verification(verified, detail=True))
        yield from LINE.each("line", verified.findings)
        yield "</ul></li>"
    if step.manual:
        yield "<li>Manual checklist:<ul>"
        for item in step.manual:
            yield CHECKLIST(item=item, box="☑" if item.by else "☐", ticked=TICKED(item=item) if item.by else "")
        yield "</ul></li>"
    yield from STEP_NOTE.each("note", step.notes)
    yield from ["</ul>", "</section>"]

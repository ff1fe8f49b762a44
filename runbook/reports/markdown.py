"""The change record in Markdown: the one template of that format over runbook.reports.model.

Every value is escaped by the template (runbook.reports.template): free text lets no HTML through, keeps table cells
cells and lines lines; `{name:code}` is a code span, `{name:fenced}` lines inside a fenced block.
"""
from __future__ import annotations

import re
from functools import partial
from typing import Any, Iterator

from runbook.flow.completion import Completion
from runbook.reports.model import ChangeRecord, StepSection
from runbook.reports.template import Format, Markup, Template, chunked, text_of


def _text(value: Any) -> str:
    text = str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def _code(value: Any) -> Markup:
    """A code span: its fence is longer than any run of backticks in the value, so the value cannot close it."""
    text = str(value).replace("|", "\\|").replace("\n", " ")
    if "`" not in text:
        return Markup(f"`{text}`")
    fence = "`" * (max(len(run) for run in re.findall("`+", text)) + 1)
    return Markup(f"{fence} {text} {fence}")  # spaced: a value's own backtick at either end stays inside


def _fenced(lines: list[str]) -> Markup:
    return Markup("\n".join(line.replace("```", "'''") for line in lines))


MARKDOWN = Format(_text, {"code": _code, "fenced": _fenced})
_ = partial(Template, MARKDOWN)

TITLE = _("# Change record: {record.name}")
HEADLINE = _("**{done.headline}**{colon}")
REASON = _("- {reason}")
NOTE = _("- note: {note}")
FACTS = _("""| | |
|---|---|
| Session | {record.path:code} |
| Topology | {record.topology:code}: {record.chain} |
| Environment | {record.environment} |
| Created | {record.created} by {record.created_by} |
| Operators | {operators} |
| Progress | {record.progress} ({record.counts}) |
| Two-person confirm | {two_person} |
| Device proof | {record.device_proof} |
| Journal | {journal.entries} entries, {first} to {last}; chain {check} |
| Journal head | {journal.head:code} |

## Topology

```text
{record.diagram:fenced}
```

## Parameters

| Parameter | Value |
|---|---|""")
PARAM = _("| {name:code} | {value:code} |")
STEPS = _("""
## Steps

| Step | Title | State | By | When | Verified |
|---|---|---|---|---|---|""")
STEP_ROW = _("| {step.key:code} | {step.title} | {step.state} | {by} | {when} | {step.mark} |")

STEP_HEAD = _("### {step.key} — {step.title}\n\n- State: **{step.state}**{who}")
WHO = _(" by {step.by} at {step.when}")
NOT_APPLICABLE = _("- Does not apply: {step.not_applicable}")
WHY = _("- Why: {step.why}")
ERROR = _("- Error: {step.error}")
CHANGE = _("  - {change.time} {change.operator}: {change.text:code} — {change.status}")
BEFORE = _("  - {line}")
LEFT_ALONE = _("- Left alone: {line}")
ACK = _("- Point of no return acknowledged by {ack.by} at {ack.time} (plan {ack.plan:code})")
VERIFIED = _("- Verification at {verified.at} by {verified.by}: {result}")
FINDING = _("  - {finding}")
CHECKLIST = _("  - [{box}] {item.number}. {item.text}{ticked}")
TICKED = _(" — ticked by {item.by} at {item.at}")
STEP_NOTE = _("- Note ({note.action}, {note.time}, {note.operator}): {note.note}")

EVENT = _("- {event.time} {event.operator}: {event.text}")
JOURNAL = _("""
## Journal

- Head hash: {journal.head:code}
- Entries: {journal.entries}
- Chain check (`runbook journal SESSION --check`): {check}""")
PROBLEM = _("  - {problem}")
ROW = _("| {row.seq} | {row.time} | {row.operator} | {row.step:code} | {row.action} | {row.outcome} | {row.note} |")


def chunks(record: ChangeRecord) -> Iterator[str]:
    journal = record.journal
    check = "intact" if journal.intact else f"BROKEN ({len(journal.problems)} problems)"
    head = [TITLE(record=record), "", *completion(record.completion), "",
            FACTS(record=record, journal=journal, operators=", ".join(record.operators), check=check,
                  two_person="on" if record.two_person else "off", first=journal.first or "-",
                  last=journal.last or "-"),
            *(PARAM(name=name, value=value) for name, value in record.params), STEPS(),
            *(STEP_ROW(step=step, by=step.by or "-", when=step.when or "-") for step in record.steps)]
    yield text_of(head)
    for step in record.steps:
        yield "\n"
        yield from chunked(section(step))
    tail = ["", "## Handovers, takeovers and acknowledgements", ""]
    tail += list(EVENT.each("event", record.events)) or ["- none"]
    tail += [JOURNAL(journal=journal, check=check), *PROBLEM.each("problem", journal.problems), "",
             "| # | Time | Operator | Step | Action | Outcome | Note |", "|---|---|---|---|---|---|---|"]
    yield text_of(tail)
    yield from chunked(ROW.each("row", journal.rows))


def completion(done: Completion) -> list[str]:
    """The headline a change board reads first: complete or not, and every reason why not."""
    out: list[str] = [HEADLINE(done=done, colon=":" if done.reasons else "")]
    if done.reasons or done.notes:
        out.append("")
    out += REASON.each("reason", done.reasons)
    out += NOTE.each("note", done.notes)
    return out


def section(step: StepSection) -> Iterator[str]:
    yield STEP_HEAD(step=step, who=WHO(step=step) if step.by else "")
    if step.not_applicable:
        yield NOT_APPLICABLE(step=step)
        return
    yield WHY(step=step)
    if step.error:
        yield ERROR(step=step)
    if step.history:
        yield "- What changed (before → after):"
        yield from CHANGE.each("change", step.history)
    if step.before:
        yield "- Before it was done by hand:"
        yield from BEFORE.each("line", step.before)
    yield from LEFT_ALONE.each("line", step.log)
    yield from ACK.each("ack", step.acks)
    verified = step.verified
    if verified:
        result = f"not verified: {verified.unverified}" if verified.unverified else verified.word
        yield VERIFIED(verified=verified, result=result)
        yield from FINDING.each("finding", verified.findings)
    if step.manual:
        yield "- Manual checklist:"
        for item in step.manual:
            yield CHECKLIST(item=item, box="x" if item.by else " ", ticked=TICKED(item=item) if item.by else "")
    yield from STEP_NOTE.each("note", step.notes)

"""The change record's templates escape every value by themselves: a record whose every text field is hostile
renders as text in both formats (runbook.reports.template, runbook.reports.markdown, runbook.reports.html)."""
from __future__ import annotations

import dataclasses
import re
from html.parser import HTMLParser
from typing import Any

import pytest

from runbook.flow.completion import Completion
from runbook.reports import html, markdown
from runbook.reports.journal_pass import Items
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
from runbook.reports.template import Format, Markup, Template

NASTY = "<b onclick='x()'>&amp; \"q\"</b> | `tick` ``two`` ```fence``` \\ back\nline"
# A code span as CommonMark reads one: a run of backticks closed by a run of the same length.
CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`).+?(?<!`)\1(?!`)")


def items(*values: Any) -> Items[Any]:
    return Items(values, iter, bool(values))


def hostile_record() -> ChangeRecord:
    """Every str field of the model holds NASTY (a few only accept a fixed set: the state, the verification word)."""
    step = StepSection(key=NASTY, title=NASTY, why=NASTY, state=NASTY, by=NASTY, when=NASTY, not_applicable=None,
                       error=NASTY, verified=Verified("not verified", NASTY, NASTY, NASTY, [NASTY]), before=[NASTY],
                       manual=[ChecklistItem(1, NASTY, NASTY, NASTY), ChecklistItem(2, NASTY, None, None)],
                       history=items(ChangeLine(NASTY, NASTY, NASTY, NASTY)), log=items(NASTY),
                       acks=items(Ack(NASTY, NASTY, NASTY)), notes=items(StepNote(NASTY, NASTY, NASTY, NASTY)))
    skipped = dataclasses.replace(step, key="2", not_applicable=NASTY)
    return ChangeRecord(name=NASTY, path=NASTY, topology=NASTY, chain=NASTY, environment=NASTY, created=NASTY,
                        created_by=NASTY, operators=[NASTY, NASTY], progress=NASTY, counts=NASTY,
                        completion=Completion(False, [NASTY], [NASTY]), two_person=True, device_proof=NASTY,
                        diagram=[NASTY, NASTY], params=[(NASTY, NASTY)], steps=[step, skipped],
                        events=[Event(NASTY, NASTY, NASTY)],
                        journal=JournalFacts(entries=1, head=NASTY, problems=[NASTY], first=NASTY, last=NASTY,
                                             rows=items(JournalRow(*[NASTY] * 7))),
                        close=lambda: None)


class Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: set[str] = set()
        self.attributes: set[str] = set()
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attributes.update(name for name, _ in attrs)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_html_shows_every_hostile_value_as_text() -> None:
    page_text = "".join(html.chunks(hostile_record()))
    page = Page()
    page.feed(page_text)
    assert "b" not in page.tags and "onclick" not in page.attributes
    assert page.attributes <= {"lang", "charset", "id", "class"}
    assert "<b " not in page_text and "onclick='" not in page_text
    assert "".join(page.text).count(NASTY) >= 40  # each value shown as text, none dropped


def test_markdown_lets_no_hostile_value_out_of_its_place() -> None:
    text = "".join(markdown.chunks(hostile_record()))
    fenced = False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        if fenced:
            continue  # the diagram: a fenced block shows its lines as they are
        outside = CODE_SPAN.sub("", line)  # a code span shows what it holds as it is, never as markup
        assert "<b" not in outside, line
        if line.startswith("| ") and "|---" not in line:
            cells = outside.replace("\\|", "").count("|")
            assert cells in (3, 7, 8), line  # the facts, a step row, a journal row: no cell split by a value
    free = "&lt;b onclick='x()'&gt;&amp;amp; \"q\"&lt;/b&gt; \\| `tick` ``two`` ```fence``` \\\\ back line"
    assert text.count(free) >= 25
    assert "```text\n" in text and "'''fence'''" in text  # a fence inside the diagram cannot close it
    assert "```` <b onclick" in text  # a code span's fence is longer than the value's longest run of backticks


def test_a_template_escapes_unless_markup_and_knows_its_filters() -> None:
    fmt = Format(lambda value: str(value).upper(), {"wrap": lambda value: Markup(f"[{value}]"), "raw": str})
    row = Template(fmt, "{a} {b} {c:wrap} {d.real} {e:raw} {{literal}}")
    assert row(a="x", b=Markup("y"), c="z", d=3, e="w") == "X y [z] 3 W {literal}"
    assert isinstance(row(a="", b="", c="", d=0, e=""), Markup)
    assert list(Template(fmt, "<{item}>").each("item", ["a", "b"])) == ["<A>", "<B>"]
    with pytest.raises(ValueError, match="no filter 'code'"):
        Template(fmt, "{a:code}")
    with pytest.raises(ValueError, match="conversions"):
        Template(fmt, "{a!r}")
    with pytest.raises(ValueError, match="fields are named"):
        Template(fmt, "{0}")

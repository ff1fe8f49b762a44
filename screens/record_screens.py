"""The change record on screen: the journal (with its `journal --check` verdict first) and the back-out plan.

Both are read in a thread worker (a journal grows to thousands of lines) from the engine's own functions —
Journal.verdict, watch.entry_line, backout.render — so the screen says exactly what the CLI prints.
Journal text is operator and remote text: it is shown as plain Content, never as markup.
"""
from __future__ import annotations

from dataclasses import dataclass

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Static

from runbook.flow.engine import Runbook
from runbook.pair.watch import entry_line
from runbook.reports import backout


@dataclass
class RecordRead(Message):
    head: list[str]  # the verdict lines shown first (journal check, back-out headline)
    ok: bool
    body: list[str]


class RecordPage(Screen[None]):
    """A read-only page of the change record: a verdict line, then the text; esc goes back to the steps."""

    BINDINGS = [
        Binding("escape,q", "back", "Back", id="record.back"),
        Binding("g", "reread", "Read again", id="record.reread"),
    ]
    DEFAULT_CSS = """
    RecordPage #record-head { height: auto; padding: 0 1; background: $panel; }
    RecordPage #record-head.-bad { background: $error-muted; }
    RecordPage #record-scroll { height: 1fr; padding: 0 1; }
    """
    heading = ""

    def __init__(self, book: Runbook) -> None:
        super().__init__()
        self.book = book

    def compose(self) -> ComposeResult:
        yield Static(Content(f"{self.heading} · {self.book.path.stem}"), id="topbar")
        yield Static(Content("reading…"), id="record-head")
        with VerticalScroll(id="record-scroll"):
            yield Static("", id="record-body")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one("#record-scroll").focus()
        self.action_reread()

    def action_reread(self) -> None:
        self.read_record()

    def action_back(self) -> None:
        self.dismiss(None)

    @work(thread=True, exclusive=True, exit_on_error=False, group="record")
    def read_record(self) -> None:
        try:
            self.post_message(self.read(self.book))
        except Exception as exc:  # an unreadable file is said on the page, never a traceback
            self.post_message(RecordRead([f"could not read it: {type(exc).__name__}: {exc}"], False, []))

    def read(self, book: Runbook) -> RecordRead:
        raise NotImplementedError

    def on_record_read(self, message: RecordRead) -> None:
        head = self.query_one("#record-head", Static)
        head.update(Content("\n".join(message.head)))
        head.set_class(not message.ok, "-bad")
        self.query_one("#record-body", Static).update(Content("\n".join(message.body)))


class JournalScreen(RecordPage):
    heading = "Journal"

    def read(self, book: Runbook) -> RecordRead:
        intact, verdict = book.journal.verdict()
        rows = []
        try:
            for entry in book.journal.entries():
                rows.append(f"{entry.get('seq', '?'):>4} {str(entry.get('time', ''))[:10]} {entry_line(entry)}")
        except ValueError:  # a line that is not JSON: the verdict above names it
            rows.append("… the rest cannot be read: see the line the check names")
        return RecordRead(verdict if intact else ["journal NOT intact:", *verdict], intact,
                          rows or ["(no entries yet)"])


class BackoutScreen(RecordPage):
    heading = "Back-out plan"

    def read(self, book: Runbook) -> RecordRead:
        lines = backout.render(book, "text").rstrip("\n").split("\n")
        return RecordRead(lines[:1], True, lines[2:] if len(lines) > 2 else lines[1:])

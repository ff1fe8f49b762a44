"""Export the change record (`runbook report`) as Markdown or HTML to a path the operator types.

The default lands beside the session file. runbook.reports.change_record renders and refuses text that would carry
a secret;
this modal only chooses the format and the place, and writes atomically in a thread worker.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Input, RadioButton, RadioSet, Static

from runbook.errors import RunbookError
from runbook.flow.engine import Runbook
from runbook.reports import change_record as report
from screens.widgets.path_input import PathInput

FORMATS = {"md": "Markdown (.md)", "html": "HTML, one self-contained page (.html)"}


def default_path(book: Runbook, fmt: str) -> Path:
    return book.path.with_name(f"{book.path.stem}-report.{fmt}")


@dataclass
class ReportWritten(Message):
    path: Path  # written
    error: str | None = None


class ReportModal(ModalScreen[Path | None]):
    """Dismissed with the path written, or None when the operator left without writing."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="modal.no")]

    def __init__(self, book: Runbook) -> None:
        super().__init__(classes="modal")
        self.book = book
        self.fmt = "md"
        self.replace: Path | None = None  # an existing file the operator was told about: enter again replaces it

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as dialog:
            dialog.border_title = "Export the change record"
            yield Static("The report for the change board: every step, who did it, its verification, the journal.",
                         markup=False, classes="modal-question")
            with RadioSet(id="report-format"):
                for fmt, label in FORMATS.items():
                    yield RadioButton(label, value=fmt == self.fmt, name=fmt)
            yield PathInput(value=str(default_path(self.book, self.fmt)), id="report-path", select_on_focus=False,
                            compact=True)
            yield Static("", id="report-problem", classes="modal-error")
            yield Static("enter writes · → completes a path · tab to the format · esc cancels", classes="modal-keys",
                         markup=False)

    def on_mount(self) -> None:
        self.query_one("#report-path", Input).focus()

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        event.stop()
        fmt = event.pressed.name or "md"
        path_input = self.query_one("#report-path", Input)
        typed = Path(path_input.value)
        if typed.suffix.lstrip(".") == self.fmt:  # follow the format only while the name still says the old one
            path_input.value = str(typed.with_suffix(f".{fmt}"))
        self.fmt = fmt

    def on_input_changed(self, event: Input.Changed) -> None:
        self.replace = None
        self._problem("")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if not event.value.strip():
            self._problem("type where to write it")
            return
        target = Path(event.value.strip()).expanduser()
        if target.is_dir():
            self._problem(f"{target} is a folder: add a file name")
            return
        if target.exists() and self.replace != target:
            self.replace = target
            self._problem(f"{target} exists: enter again replaces it")
            return
        self._problem("writing…")
        self.write_report(target, self.fmt)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def _problem(self, text: str) -> None:
        self.query_one("#report-problem", Static).update(Content(text))

    @work(thread=True, exclusive=True, exit_on_error=False, group="report")
    def write_report(self, target: Path, fmt: str) -> None:
        try:
            report.write(self.book, fmt, target)
        except (RunbookError, OSError) as exc:
            self.post_message(ReportWritten(target, str(exc)))
            return
        self.post_message(ReportWritten(target))

    def on_report_written(self, message: ReportWritten) -> None:
        if message.error:
            self._problem(f"not written: {message.error}")
        else:
            self.dismiss(message.path)

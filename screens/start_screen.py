"""The start screen: the sessions in the sessions folder, and the ways to begin (open, new change, demo)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, OptionList, Static
from textual.widgets.option_list import Option

from runbook.backends import prepare_rehearsal, rehearsal_scenarios
from runbook.errors import RunbookError
from runbook.flow.engine import Runbook
from runbook.record import store
from runbook.record.lock import read_holder, staleness
from runbook.reports import text as render
from screens import view
from screens.app import app_of
from screens.messages import OpenFailed, SessionCreated
from screens.modals import ErrorModal
from screens.widgets.bounded_list import BoundedOptionList

COLUMNS = ("session", "topology", "progress", "driver", "last activity")


def session_files(folder: Path) -> list[Path]:
    """Session files only: not labs, params, journals, or the temp files of an atomic write."""
    files = [p for p in folder.glob("*.yaml") if not p.name.startswith(".")
             and not p.name.endswith((".lab.yaml", ".params.yaml"))]
    return sorted(files, key=lambda p: (-p.stat().st_mtime, p.name))


def describe_session(path: Path, catalogue: list[Any], clock: view.Clock) -> dict[str, Any]:
    try:
        book = Runbook.open(path, catalogue, lambda *args: None, drive=False)  # type: ignore[arg-type,return-value]
        data = render.status_data(book)
    except RunbookError as exc:
        return {"path": path, "cells": (path.stem, "unreadable", "", "", str(exc)[:60])}
    holder = read_holder(store.lock_path(path))
    if holder is None:
        driver = "—"
    elif (stale := staleness(holder)) is None:
        driver = f"{holder.operator}"
    else:
        driver = f"{holder.operator} — {stale}"  # the same words as status, watch and the CLI
    last = data["last_activity"]
    activity = f"{view.age(last['time'], clock)} · {last['action']} {last['step'] or ''}".rstrip() if last else "—"
    topology = data["topology"] + (" (lab)" if data["rehearsal"] else "")
    settled, total = data["progress"]["settled"], data["progress"]["total"]
    # Short of settled the count says enough; settled is not complete until every step is verified: say which.
    progress = "complete" if data["complete"] else f"{settled}/{total}" + (" NOT complete" if settled == total else "")
    warning = None if data["rehearsal"] or data["complete"] else ticket_warning(book.params)
    return {"path": path, "cells": (path.stem, topology, progress, driver, activity), "warning": warning}


def ticket_warning(params: Any) -> str | None:
    """The operator's Kerberos ticket, checked before the window starts (not for sessions using passwords)."""
    from runbook.checks.auth import ticket_warning as warning_for

    try:
        return warning_for(params)
    except RunbookError as exc:
        return str(exc)


@dataclass
class SessionsListed(Message):
    rows: list[dict[str, Any]]


class DemoPicker(ModalScreen[str | None]):
    """Which rehearsal scenario to start."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="modal.no")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as dialog:
            dialog.border_title = "Rehearse on the built-in lab"
            yield Static("No servers are touched: a simulated domain and hosts stand in for them.",
                         classes="modal-question")
            options = []
            for name, description in rehearsal_scenarios():
                options.append(Option(Content.assemble((name, "bold"), "\n", (description, "$text-muted")), id=name))
            yield BoundedOptionList(*options, id="scenarios")
            yield Static("enter starts · esc cancels", classes="modal-keys")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)


class StartScreen(Screen[None]):
    BINDINGS = [
        Binding("o", "open", "Open", id="start.open"),
        Binding("n", "new", "New change", id="start.new"),
        Binding("d", "demo", "Demo", id="start.demo"),
        Binding("r", "refresh", "Refresh", id="start.refresh"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.paths: list[Path] = []

    def compose(self) -> ComposeResult:
        yield Static(Content.assemble(("certauth-runbook", "bold"), "  ·  sessions in ",
                                      str(store.sessions_dir())), id="topbar")
        table: DataTable[str] = DataTable(id="sessions", cursor_type="row", zebra_stripes=True)
        table.add_columns(*COLUMNS)
        yield table
        yield Static("", id="start-empty")
        yield Static("", id="ticket-warning")
        yield Static("Certificate authentication for ActiveSync behind TMG (and SEG) with Kerberos constrained "
                     "delegation. Each session is one change; n starts one from your parameters, d rehearses "
                     "a whole change on the built-in lab.", classes="start-hint")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.list_sessions()

    def on_screen_resume(self) -> None:
        self.list_sessions()

    @work(thread=True, exclusive=True, exit_on_error=False, group="list")
    def list_sessions(self) -> None:
        folder = store.sessions_dir()
        rows = []
        if folder.is_dir():
            for path in session_files(folder):
                rows.append(describe_session(path, app_of(self).config.catalogue, app_of(self).config.clock))
        self.post_message(SessionsListed(rows))

    def on_sessions_listed(self, message: SessionsListed) -> None:
        table = self.query_one(DataTable)
        table.clear()
        self.paths = [row["path"] for row in message.rows]
        for row in message.rows:
            table.add_row(*(Text(cell) for cell in row["cells"]), key=str(row["path"]))
        empty = self.query_one("#start-empty", Static)
        empty.update("" if self.paths else
                     f"No sessions yet in {store.sessions_dir()}. n starts a new change; d rehearses one on the lab.")
        empty.display = not self.paths
        table.display = bool(self.paths)
        warnings = sorted({f"{row['path'].stem}: {row['warning']}" for row in message.rows if row.get("warning")})
        notice = self.query_one("#ticket-warning", Static)
        notice.update(Content.assemble(("warning: ", "bold $warning"), "; ".join(warnings)) if warnings else "")
        notice.display = bool(warnings)
        if self.paths:
            table.focus()
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "open":
            return True if self.paths else None
        return True

    def action_open(self) -> None:
        table = self.query_one(DataTable)
        if self.paths and table.cursor_row is not None and table.cursor_row < len(self.paths):
            self._open(self.paths[table.cursor_row])

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self._open(Path(str(event.row_key.value)))

    def _open(self, path: Path) -> None:
        from screens.runbook_screen import RunbookScreen

        self.app.push_screen(RunbookScreen(path, from_start=True))

    def action_refresh(self) -> None:
        self.list_sessions()

    def action_new(self) -> None:
        from screens.wizard import NewChangeWizard

        self.app.push_screen(NewChangeWizard())

    def action_demo(self) -> None:
        def chosen(name: str | None) -> None:
            if name:
                self.start_demo(name)

        self.app.push_screen(DemoPicker(), chosen)

    @work(thread=True, exclusive=True, exit_on_error=False, group="demo")
    def start_demo(self, name: str) -> None:
        try:
            path = prepare_rehearsal(name, app_of(self).config.catalogue)
        except RunbookError as exc:
            self.post_message(OpenFailed(f"cannot start the rehearsal: {exc}"))
            return
        self.post_message(SessionCreated(path))

    def on_open_failed(self, message: OpenFailed) -> None:
        self.app.push_screen(ErrorModal("Cannot start", message.message))

    def on_session_created(self, message: SessionCreated) -> None:
        self._open(Path(message.path))

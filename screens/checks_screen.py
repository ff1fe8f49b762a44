"""The checks view: `runbook check` on screen — every finding with the steps it blocks and the fix, as it arrives.

The checks run in a thread worker through runbook.checks.runs (the screen talks to no server itself), one at a
time under the runbook screen's engine lock, so they never share a connection with a step in flight. A driving
view journals the run as the CLI does, which keeps a fault open in the header until the same check passes.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Input, Static
from textual.worker import get_current_worker

from runbook.checks import runs as troubleshooting
from runbook.checks.runs import CheckRun, CheckSpec
from runbook.errors import BadInput
from runbook.flow.engine import Runbook
from runbook.record.journal_tail import JournalSummary
from screens.widgets.path_input import PathInput
from screens.widgets.steady_input import SteadyInput
from steps.checks import CHECKS

STATUS_WORDS = {"ok": ("ok", "$success"), "warn": ("warning", "$warning"), "fail": ("FAULT", "bold $error"),
                "skip": ("skipped", "$text-muted")}
SEVERITY_STYLES = {"fault": "bold $error", "warning": "$warning", "info": "$text-muted"}


@dataclass
class CheckStarted(Message):
    name: str
    index: int  # 1-based, of `total`
    total: int


@dataclass
class CheckFinished(Message):
    run: CheckRun


@dataclass
class CheckRefused(Message):
    name: str
    message: str  # the input it needs (a file that is not there), or why it could not run at all


@dataclass
class ChecksEnded(Message):
    journal: JournalSummary | None  # the journal after the run was recorded; None: nothing recorded
    stopped: bool = False


class ChecksScreen(Screen[JournalSummary | None]):
    """Dismissed with the journal after a recorded run (the runbook screen re-reads completion), else None."""

    BINDINGS = [
        Binding("r", "run", "Run checks", id="checks.run"),
        Binding("i", "toggle_info", "Info lines", id="checks.info"),
        Binding("escape", "back", "Back", id="checks.back"),
    ]
    DEFAULT_CSS = """
    ChecksScreen #checks-inputs { height: auto; padding: 0 1; }
    ChecksScreen .checks-label { width: auto; padding: 0 1 0 0; color: $text-muted; }
    ChecksScreen #cert-file, ChecksScreen #keytab { width: 2fr; }
    ChecksScreen #kcd-user { width: 1fr; }
    ChecksScreen #checks-progress { height: auto; padding: 0 1; background: $panel; }
    ChecksScreen #checks-results { height: 1fr; padding: 0 1; }
    ChecksScreen #checks-results > Static { margin-bottom: 1; }
    """

    def __init__(self, book: Runbook, engine_lock: threading.Lock) -> None:
        super().__init__()
        self.book, self.engine_lock = book, engine_lock
        self.runs: dict[str, CheckRun] = {}
        self.problems: dict[str, str] = {}  # check name -> why it did not run (its input)
        self.running: str | None = None
        self.leaving = False
        self.journal: JournalSummary | None = None
        self.show_info = False  # at 2 a.m. the faults matter; what was fine is one key away

    @property
    def driving(self) -> bool:
        return self.book.lock is not None

    def compose(self) -> ComposeResult:
        record = "results are journaled" if self.driving else "read-only: results are shown, not journaled"
        yield Static(Content(f"Troubleshooting checks · {self.book.path.stem} · {record}"), id="topbar")
        with Horizontal(id="checks-inputs"):
            yield Static("cert", classes="checks-label")
            yield PathInput(placeholder="user certificate (PEM)", id="cert-file", compact=True)
            yield Static(" kcd", classes="checks-label")
            yield PathInput(placeholder="TMG keytab", id="keytab", compact=True)
            yield SteadyInput(placeholder="user", id="kcd-user", compact=True)
        yield Static("", id="checks-progress")
        with VerticalScroll(id="checks-results"):
            for spec in CHECKS:
                yield Static(self._block(spec), id=f"check-{spec.name}")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self._say("r runs the checks (read-only) · type a certificate file, or a keytab and a user, to add cert, kcd")
        self.query_one("#checks-results").focus()
        self.action_run()

    # -- what is asked --------------------------------------------------------------------------------------
    def options(self) -> dict[str, Any]:
        return {"file": self._value("#cert-file"), "keytab": self._value("#keytab"),
                "user": self._value("#kcd-user"), "role": "tmg"}

    def _value(self, selector: str) -> str | None:
        return self.query_one(selector, Input).value.strip() or None

    def chosen(self, options: dict[str, Any]) -> list[CheckSpec]:
        chosen = troubleshooting.choose(CHECKS, None, options)
        if options["keytab"] and options["user"]:
            chosen += [spec for spec in CHECKS if spec.name == "kcd"]
        return chosen

    def action_run(self) -> None:
        if self.running:
            self.notify(f"wait: {self.running} is running", severity="warning", markup=False)
            return
        specs = self.chosen(self.options())
        for spec in specs:
            self.runs.pop(spec.name, None)
            self.problems.pop(spec.name, None)
            self._show(spec, waiting=True)
        self.running = "the checks"
        self.run_checks(specs, self.options())

    def action_toggle_info(self) -> None:
        self.show_info = not self.show_info
        for spec in CHECKS:
            if spec.name != self.running:
                self._show(spec)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_run()

    def action_back(self) -> None:
        if self.running:  # the check in flight ends at its own timeout; the others are not started
            self.leaving = True
            self.workers.cancel_group(self, "checks")
            self._say("stopping after the check in flight…")
            return
        self.dismiss(self.journal)

    # -- the worker ---------------------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, exit_on_error=False, group="checks")
    def run_checks(self, specs: list[CheckSpec], options: dict[str, Any]) -> None:
        worker = get_current_worker()
        runs: list[CheckRun] = []
        journal = None
        stopped = False
        with self.engine_lock:
            for index, spec in enumerate(specs, 1):
                if worker.is_cancelled:
                    stopped = True
                    break
                self.post_message(CheckStarted(spec.name, index, len(specs)))
                try:
                    run = troubleshooting.run_check(self.book, spec, options)
                except BadInput as exc:
                    self.post_message(CheckRefused(spec.name, str(exc)))
                    continue
                except Exception as exc:  # a check that breaks must still end as words on screen, never a crash
                    self.post_message(CheckRefused(spec.name, f"could not run ({type(exc).__name__}: {exc})"))
                    continue
                runs.append(run)
                self.post_message(CheckFinished(run))
            try:
                if troubleshooting.record(self.book, runs) is not None:
                    journal = JournalSummary(self.book.journal.path).advance()
            except Exception as exc:
                self.post_message(CheckRefused("journal", f"the results were not journaled ({exc})"))
        self.post_message(ChecksEnded(journal, stopped=stopped))

    def on_check_started(self, message: CheckStarted) -> None:
        self.running = message.name
        self._say(f"running {message.name} ({message.index} of {message.total})…")
        self._show(self._spec(message.name), running=True)

    def on_check_finished(self, message: CheckFinished) -> None:
        run: CheckRun = message.run
        self.runs[run.spec.name] = run
        self._show(run.spec)

    def on_check_refused(self, message: CheckRefused) -> None:
        if message.name == "journal":
            self.notify(message.message, severity="error", markup=False)
            return
        self.problems[message.name] = message.message
        self._show(self._spec(message.name))

    def on_checks_ended(self, message: ChecksEnded) -> None:
        self.running = None
        if message.journal is not None:
            self.journal = message.journal
        faults = [name for name, run in self.runs.items() if run.status == "fail"]
        warnings = [name for name, run in self.runs.items() if run.status == "warn"]
        summary = ("faults in " + ", ".join(faults)) if faults else "no faults"
        summary += ("; warnings in " + ", ".join(warnings)) if warnings else ""
        summary += " (stopped)" if message.stopped else ""
        recorded = "journaled" if message.journal is not None else "not journaled"
        self._say(f"{summary} · {recorded} · r runs them again · esc back to the steps")
        if self.leaving:
            self.dismiss(self.journal)

    # -- drawing ------------------------------------------------------------------------------------------------
    def _spec(self, name: str) -> CheckSpec:
        return next(spec for spec in CHECKS if spec.name == name)

    def _say(self, text: str) -> None:
        self.query_one("#checks-progress", Static).update(Content(text))

    def _show(self, spec: CheckSpec, *, waiting: bool = False, running: bool = False) -> None:
        self.query_one(f"#check-{spec.name}", Static).update(self._block(spec, waiting=waiting, running=running))

    def _block(self, spec: CheckSpec, *, waiting: bool = False, running: bool = False) -> Content:
        """One check: its verdict and title, then every finding (remote text, so plain) with what it blocks."""
        run = self.runs.get(spec.name)
        if running:
            word, style = "running…", "$accent"
        elif waiting:
            word, style = "waiting", "$text-muted"
        elif spec.name in self.problems:
            word, style = "not run", "$warning"
        elif run is not None:
            word, style = STATUS_WORDS.get(run.status, (run.status, ""))
        else:
            word, style = ("needs input" if spec.needs_input else "not run"), "$text-muted"
        parts: list[str | tuple[str, str]] = [(f"{word:<8} ", style), (spec.name, "bold"), f" — {spec.title}"]
        if spec.name in self.problems and not running:
            parts += ["\n  ", (self.problems[spec.name], "$warning")]
        elif run is not None and not (running or waiting):
            hidden = 0
            for finding in run.findings:
                if finding.severity == "info" and not self.show_info:
                    hidden += 1
                    continue
                label = {"fault": "FAULT", "warning": "warning", "info": "·"}[finding.severity]
                parts += ["\n  ", (f"{label:<7} ", SEVERITY_STYLES[finding.severity]), finding.text]
                if finding.blocks:
                    parts += ["\n          ", ("blocks " + ", ".join(finding.blocks), "$text-muted")]
            if run.status == "fail" and spec.fix:
                parts += ["\n  ", ("fix: ", "bold"), spec.fix]
            if hidden:
                parts += ["\n  ", (f"{hidden} info line{'s' if hidden > 1 else ''} (i shows them)", "$text-muted")]
        elif spec.needs_input and run is None and not (running or waiting):
            needs = "a certificate file (above)" if spec.name == "cert" else "a keytab and a user (above)"
            parts += ["\n  ", (f"needs {needs}", "$text-muted")]
        return Content.assemble(*parts)

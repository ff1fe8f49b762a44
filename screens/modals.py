"""Typed modals: each returns its answer through `dismiss`, and shows remote text as plain text only."""
from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from screens.widgets.steady_input import SteadyInput


def _lines(lines: list[str], style_of=None) -> Static:
    """A block of plain lines; POINT OF NO RETURN and mismatch lines stand out."""
    parts: list[str | tuple[str, str]] = []
    for index, line in enumerate(lines):
        style = style_of(line) if style_of else ""
        parts.append((line, style) if style else line)
        if index < len(lines) - 1:
            parts.append("\n")
    return Static(Content.assemble(*parts), classes="modal-lines")


def _plan_style(line: str) -> str:
    if line.startswith("POINT OF NO RETURN"):
        return "bold $error"
    return ""


class ScrollsBody:
    """pgup / pgdn scroll a long list of changes whatever has the focus (the typed host name, a button)."""

    BODY_BINDINGS = [
        Binding("pagedown", "scroll_body(1)", "More", id="modal.more", show=False),
        Binding("pageup", "scroll_body(-1)", "Back", id="modal.back", show=False),
    ]

    def action_scroll_body(self, direction: int) -> None:
        body = self.query_one(".modal-body", VerticalScroll)  # type: ignore[attr-defined]
        if direction > 0:
            body.scroll_page_down(animate=False)
        else:
            body.scroll_page_up(animate=False)


class ConfirmModal(ScrollsBody, ModalScreen[bool]):
    """Yes or no about an exact list of changes; nothing is preselected as yes."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes", id="modal.yes"),
        Binding("n,escape", "answer(False)", "No", id="modal.no"),
        *ScrollsBody.BODY_BINDINGS,
    ]

    def __init__(self, question: str, lines: list[str], *, yes: str = "Apply", no: str = "Cancel",
                 title: str = "Confirm") -> None:
        super().__init__(classes="modal")
        self.question, self.change_lines, self.yes, self.no, self.heading = question, lines, yes, no, title

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as dialog:
            dialog.border_title = Content(self.heading)
            yield Static(self.question, markup=False, classes="modal-question")
            with VerticalScroll(classes="modal-body", can_focus=False):
                yield _lines(self.change_lines, _plan_style)
            yield Static(f"y {self.yes.lower()} · n / esc {self.no.lower()} · pgup / pgdn scroll", classes="modal-keys",
                         markup=False)
            with Horizontal(classes="modal-buttons"):
                yield Button(f"{self.yes} (y)", id="yes", variant="primary")
                yield Button(f"{self.no} (n)", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


class PointOfNoReturnModal(ScrollsBody, ModalScreen[bool]):
    """Consent to an interruption of service: the operator types the host name that will be restarted."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="modal.no"), *ScrollsBody.BODY_BINDINGS]

    def __init__(self, question: str, lines: list[str], host: str) -> None:
        super().__init__(classes="modal")
        self.question, self.change_lines, self.host = question, lines, host

    def accepts(self, typed: str) -> bool:
        """Only the name exactly as shown: a short name or another case could be a reflex, or another host."""
        return typed.strip() == self.host

    def compose(self) -> ComposeResult:
        changes = [line for line in self.change_lines if not line.startswith("POINT OF NO RETURN")]
        warnings = [line for line in self.change_lines if line.startswith("POINT OF NO RETURN")]
        with Vertical(classes="dialog danger") as dialog:
            dialog.border_title = "Point of no return"
            yield Static(self.question, markup=False, classes="modal-question")
            with VerticalScroll(classes="modal-body", can_focus=False):
                yield _lines(changes)
            for warning in warnings:
                yield Static(warning, markup=False, classes="modal-warning")
            yield Static(Content.assemble("To go ahead, type the host name ", (self.host, "bold"),
                                          " and press enter; esc cancels; pgup / pgdn scroll."), classes="modal-keys")
            yield SteadyInput(placeholder=self.host, id="host", select_on_focus=False, compact=True)
            yield Static("", id="mismatch", classes="modal-error")

    def on_mount(self) -> None:
        self.query_one("#host", Input).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.query_one("#mismatch", Static).update("")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self.accepts(event.value):
            self.dismiss(True)
        else:
            self.query_one("#mismatch", Static).update(
                Content(f"that is not {self.host}; type the full name exactly as shown, or esc to cancel"))

    def action_cancel(self) -> None:
        self.dismiss(False)


class OverrideModal(ScrollsBody, ModalScreen[str | None]):
    """Record a step done although its verification disagrees: the findings, then the operator's reason."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="modal.no"), *ScrollsBody.BODY_BINDINGS]

    def __init__(self, question: str, findings: list[str]) -> None:
        super().__init__(classes="modal")
        self.question, self.findings = question, findings

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog danger") as dialog:
            dialog.border_title = "Mark done anyway?"
            yield Static(self.question, markup=False, classes="modal-question")
            with VerticalScroll(classes="modal-body", can_focus=False):
                yield _lines(self.findings)
            yield Static("To record it done anyway, type why (journaled with your name) and press enter; esc leaves "
                         "it as it is; pgup / pgdn scroll.", classes="modal-keys", markup=False)
            yield SteadyInput(placeholder="why it is done anyway", id="reason", select_on_focus=False, compact=True)
            yield Static("", id="missing", classes="modal-error")

    def on_mount(self) -> None:
        self.query_one("#reason", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.value.strip():
            self.dismiss(event.value.strip())
        else:
            self.query_one("#missing", Static).update(Content("a reason is needed to record it anyway; esc cancels"))

    def action_cancel(self) -> None:
        self.dismiss(None)


class TextModal(ModalScreen[str | None]):
    """One line of text (a note); enter returns it, esc returns None."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="modal.no")]

    def __init__(self, title: str, prompt: str, *, placeholder: str = "", value: str = "", password: bool = False,
                 allow_empty: bool = True) -> None:
        super().__init__(classes="modal")
        self.heading, self.prompt_text, self.placeholder = title, prompt, placeholder
        self.value, self.password, self.allow_empty = value, password, allow_empty

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog small") as dialog:
            dialog.border_title = Content(self.heading)
            yield Static(self.prompt_text, markup=False, classes="modal-question")
            yield SteadyInput(value=self.value, placeholder=self.placeholder, password=self.password, id="text")
            yield Static("enter accepts · esc cancels", classes="modal-keys")

    def on_mount(self) -> None:
        self.query_one("#text", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.value or self.allow_empty:
            self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class PasswordModal(TextModal):
    """A password for this process only: never echoed, never written, forgotten when the modal closes."""

    def __init__(self, prompt: str) -> None:
        super().__init__("Password", f"{prompt} (not echoed, not stored; esc cancels)", password=True,
                         allow_empty=False)


class ErrorModal(ModalScreen[None]):
    """The specific message of a failure, as the engine worded it. Never a traceback."""

    BINDINGS = [Binding("escape,enter", "close", "Close", id="modal.close")]

    def __init__(self, title: str, message: str, *, advice: str = "") -> None:
        super().__init__(classes="modal")
        self.heading, self.message, self.advice = title, message, advice

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog danger") as dialog:
            dialog.border_title = Content(self.heading)
            with VerticalScroll(classes="modal-body"):
                yield Static(self.message, markup=False, classes="modal-error-text")
            if self.advice:
                yield Static(self.advice, markup=False, classes="modal-advice")
            yield Static("enter / esc closes", classes="modal-keys")

    def action_close(self) -> None:
        self.dismiss(None)


class InfoModal(ModalScreen[None]):
    """Read-only text (help, a list of drifted steps)."""

    BINDINGS = [Binding("escape,enter,question_mark,f1", "close", "Close", id="modal.close")]

    def __init__(self, title: str, body: Content) -> None:
        super().__init__(classes="modal")
        self.heading, self.body = title, body

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide") as dialog:
            dialog.border_title = Content(self.heading)
            with VerticalScroll(classes="modal-body tall"):
                yield Static(self.body, id="help-text")
            yield Static("esc closes", classes="modal-keys")

    def action_close(self) -> None:
        self.dismiss(None)


def resume_modal(key: str, found: str | None = None) -> ConfirmModal:
    """Opening a session whose step was running when its driver died: verify it before anything else. `found`
    is what the journal says of it (runbook.flow.recovery.interrupted_note: the changes in force, the writes
    in flight)."""
    return ConfirmModal(f"{key} was interrupted: verify it before anything else?", [
        f"{key} {found}" if found else f"{key} was running when the last process died.",
        "Verify reads the live state (changing nothing), records what the writes in flight did, and settles it "
        "as done or failed.",
        "Run and undo stay refused until it is verified (or reopened with o).",
    ], yes="Verify now", no="Later", title="Resume")


def failed_modal(action: str, key: str | None, message: str, *, step_failed: bool) -> ErrorModal:
    """An operation that failed, in the engine's words; when it left its step failed, what can be done next."""
    subject = f"{action} {key}" if key else action
    advice = ("The step is now failed and the journal has the details. v shows what took; u undoes what was "
              "recorded; r tries again; d records it done by hand.") if step_failed else ""
    return ErrorModal(f"{subject} failed", message, advice=advice)

"""The runbook screen's session controller without a screen: a stand-in runs its workers at once and keeps what
they post, so what each operation does to the session, and what it tells the screen, is read directly."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from runbook.flow.states import State
from runbook.record import store
from screens.app import RunbookApp
from screens.messages import ActionCancelled, ActionDone, BusyChanged, SessionOpened
from screens.session_controller import SessionController
from tests.tui_support import advance, app_for, demo, tui_env

__all__ = ["tui_env"]


class StandInScreen:
    """Runs each worker on the spot; keeps every message and each `busy` the controller announces."""

    def __init__(self, app: RunbookApp) -> None:
        self.runbook_app = app
        self.messages: list[Any] = []
        self.busy_seen: list[str | None] = []
        self.session: SessionController | None = None
        self.answer = True
        self.asked: list[tuple[str, str | None]] = []

    def run_worker(self, work: Any, **options: Any) -> None:
        work()

    def post_message(self, message: Any) -> bool:
        self.messages.append(message)
        return True

    def busy_changed(self) -> None:
        assert self.session is not None
        self.busy_seen.append(self.session.busy)

    def confirm_change(self, question: str, lines: list[str], restart_host: str | None) -> bool:
        self.asked.append((question, restart_host))
        return self.answer

    def reason_to_override(self, question: str, mismatches: list[str]) -> str | None:
        return None


def opened(path: Path) -> tuple[SessionController, StandInScreen]:
    screen = StandInScreen(app_for(path))
    session = screen.session = SessionController(screen, path, questions=screen)
    session.open()
    message = screen.messages.pop()
    assert isinstance(message, SessionOpened)
    session.opened(message)
    return session, screen


def test_a_run_says_what_it_does_then_ends_in_one_message_the_screen_hands_back(tui_env: Path) -> None:
    path = demo("tmg-eas")
    advance(path, "1", "2")
    session, screen = opened(path)
    try:
        assert session.driving and session.done is not None and not session.done.complete
        assert session.why_not("drive", "3a") == "only when the driver left"
        session.run("3a")
        assert screen.busy_seen == ["reading the live state for 3a (nothing changes before you confirm)"]
        assert screen.asked and screen.asked[0][1] is None  # no restart: no host to type
        asking, applying, done = screen.messages
        assert isinstance(asking, BusyChanged) and asking.waiting
        assert asking.text == "your answer on 3a's plan (read; nothing has changed yet)"
        assert isinstance(applying, BusyChanged) and applying.text.startswith("running 3a: applying")
        assert isinstance(done, ActionDone) and done.summary == "3a: done and verified"
        assert session.busy is not None  # the state moves only when the screen hands the message back
        session.finished(done.journal)
        assert session.busy is None and store.load(path).record("3a").state == State.DONE
        assert session.journal.last is not None and session.journal.last.get("step") == "3a"
    finally:
        session.close()


def test_a_no_is_a_cancel_not_a_failure_and_nothing_changes(tui_env: Path) -> None:
    path = demo("tmg-eas")
    advance(path, "1", "2")
    session, screen = opened(path)
    try:
        screen.answer = False
        session.run("3a")
        asking, cancelled = screen.messages
        assert isinstance(asking, BusyChanged) and asking.waiting and "your answer on 3a" in asking.text
        assert isinstance(cancelled, ActionCancelled) and "cancelled by the operator" in cancelled.message
        assert store.load(path).record("3a").state == State.PENDING
        assert not session.stop()  # nothing is running any more: there is nothing to stop
    finally:
        session.close()

"""Shared pieces of the TUI tests: a deterministic environment, demo sessions, and waiting without sleeping."""
from __future__ import annotations

import asyncio
import datetime as dt
import functools
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterator

import pytest
from textual.pilot import Pilot
from textual.worker import WorkerCancelled, WorkerFailed

from runbook import clock
from runbook.backends import Options, ports_factory
from runbook.flow.engine import Runbook
from runbook.lab import lab
from runbook.record import store
from runbook.record.journal import Journal
from screens.app import RunbookApp, make_app
from screens.runbook_screen import RunbookScreen
from steps import CATALOGUE

FIXED_NOW = dt.datetime(2026, 1, 5, 21, 30, tzinfo=dt.timezone.utc)


@pytest.fixture
def tui_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Sessions in tmp_path/sessions (shown as the relative `sessions`), a fixed operator and a fixed clock.

    The clock fixes what records say (steps, journal, "3 min ago"); a lock's heartbeat keeps real time, as liveness
    must (runbook.clock).
    """
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RUNBOOK_SESSIONS_DIR", "sessions")
    monkeypatch.setenv("RUNBOOK_OPERATOR", "alice@jump1")
    for name in ("NO_COLOR", "TEXTUAL_THEME", "RUNBOOK_LDAP_PASSWORD", "RUNBOOK_WINRM_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    folder = tmp_path / "sessions"
    folder.mkdir()
    with clock.use(FIXED_NOW):
        yield folder


def tui_test(test: Callable[..., Awaitable[None]]) -> Callable[..., None]:
    """Run an async Pilot test on its own event loop (no asyncio plugin needed); fixtures pass through."""
    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))
    return run


def demo(scenario: str = "tmg-eas", *, fail: str | None = None, cert_validation: str | None = None) -> Path:
    """A fresh rehearsal session: sessions/demo-<scenario>-1.yaml."""
    return lab.prepare_demo(scenario, CATALOGUE, init=None, resume=False, latency_ms=0.0, fail=fail, seed=1,
                            cert_validation=cert_validation)


def drive(path: Path) -> Runbook:
    """Hold the session as another driver would (the caller closes it)."""
    return Runbook.open(path, CATALOGUE, ports_factory(Options(interactive=False)), drive=True, purpose="test")


def advance(path: Path, *steps: str) -> None:
    """Bring a session forward through the engine, as an earlier night's work would have."""
    book = drive(path)
    try:
        for instance in [i for step in steps for i in book.resolve(step)]:
            if instance.spec.automation is None:
                book.mark(instance.key, "done", None)
            else:
                book.run(instance.key, confirm=lambda question, lines: True, allow_restart=True)
    finally:
        book.close()


def app_for(path: Path | None = None, **settings: Any) -> RunbookApp:
    app = make_app(path, **settings)
    app.animation_level = "none"
    return app


async def settle(pilot: Pilot, rounds: int = 3) -> None:
    """Let messages, timers and workers run (workers waiting on a modal are left waiting)."""
    for _ in range(rounds):
        await pilot.pause()
        try:
            await asyncio.wait_for(pilot.app.workers.wait_for_complete(), 0.5)
        except (asyncio.TimeoutError, WorkerCancelled, WorkerFailed):
            pass
    await pilot.pause()


async def until(pilot: Pilot, condition: Callable[[], Any], timeout: float = 10.0) -> None:
    """Pause until `condition()` holds (messages from threads and timers arrive in their own time)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {condition}")
        await pilot.pause(0.02)


async def opened(pilot: Pilot) -> RunbookScreen:
    """Wait for the runbook screen to be on top with its session open."""
    await until(pilot, lambda: isinstance(pilot.app.screen, RunbookScreen) and pilot.app.screen.book is not None)
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, RunbookScreen)
    return screen


def journal(path: Path) -> list[dict[str, Any]]:
    """Every entry of the session's journal, oldest first."""
    return list(Journal(store.journal_path(path)).entries())


def screen_text(app: RunbookApp) -> str:
    """What the terminal shows now, as plain text."""
    strips = app.screen._compositor.render_strips()
    return "\n".join("".join(segment.text for segment in strip) for strip in strips)


def log_text(app: RunbookApp) -> str:
    """The step log's text as written (the screen wraps its long lines)."""
    from textual.widgets import Static

    return "\n".join(str(block.content) for block in app.screen.query(".log-block").results(Static))

"""The status line says what is really happening: reading the live state, then waiting for the operator's answer
while the plan is shown, and only once confirmed that the step is running."""
from __future__ import annotations

from pathlib import Path

import pytest

from runbook.record import store
from screens.modals import ConfirmModal
from screens.runbook_screen import RunbookScreen
from screens.widgets.step_list import StepList
from tests.tui_support import advance, app_for, demo, log_text, screen_text, settle, tui_env, tui_test, until

__all__ = ["tui_env"]
SIZE = (120, 32)


@pytest.mark.slow  # the lab is slowed down so that each phase stays on screen long enough to be read
@tui_test
async def test_running_is_said_only_after_the_confirmation(tui_env: Path) -> None:
    path = demo("tmg-eas")
    advance(path, "1", "2")
    session = store.load(path)
    session.lab["latency_ms"] = 400.0
    store.save(session, path)
    app = app_for(path)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, RunbookScreen) and app.screen.book is not None)
        screen = app.screen
        screen.query_one(StepList).select_key("3a")
        await settle(pilot)
        await pilot.press("r")
        await until(pilot, lambda: "reading the live state for 3a" in screen_text(app))
        assert "running 3a" not in screen_text(app)
        await until(pilot, lambda: isinstance(app.screen, ConfirmModal), timeout=30)
        await until(pilot, lambda: "waiting for your answer on 3a's plan" in screen_text(app))
        assert "reading the live state" not in screen_text(app) and "x stops it" not in screen_text(app)
        await pilot.press("y")
        await until(pilot, lambda: "running 3a: applying the confirmed change" in screen_text(app), timeout=30)
        # each journaled change shows in the step's log as it lands, before the step is over
        await until(pilot, lambda: screen.busy and "change: applied" in log_text(app), timeout=30)
        await until(pilot, lambda: not screen.busy, timeout=30)

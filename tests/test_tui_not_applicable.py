"""Every step instance of every scenario × cert_validation, selected in the TUI: its detail, plan, manual and verify
keys answer without an exception, and a step that does not apply says why instead of reaching its automation."""
from __future__ import annotations

from pathlib import Path

import pytest

from screens.runbook_screen import RunbookScreen
from screens.widgets.step_list import StepList
from tests.tui_support import app_for, demo, screen_text, settle, tui_env, tui_test, until

SIZE = (100, 32)
CHAINS = [("tmg-eas", "tmg"), ("tmg-eas", "eas"), ("tmg-seg-eas", "tmg"), ("tmg-seg-eas", "seg"),
          ("add-seg", "tmg"), ("add-seg", "seg"), ("broken", "tmg")]
__all__ = ["tui_env"]


@pytest.mark.slow
@pytest.mark.parametrize("scenario,chain", CHAINS, ids=["/".join(c) for c in CHAINS])
@tui_test
async def test_every_step_opens_plans_and_shows_its_checklist(tui_env: Path, scenario: str, chain: str) -> None:
    path = demo(scenario, cert_validation=chain)
    app = app_for(path)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, RunbookScreen) and app.screen.book is not None)
        screen = app.screen
        assert isinstance(screen, RunbookScreen) and screen.book is not None
        for instance in screen.book.instances:
            screen.query_one(StepList).select_key(instance.key)
            await settle(pilot)
            assert screen.selected == instance.key
            for key in ("p", "m", "v"):
                await pilot.press(key)
                await settle(pilot)
                while app.screen is not screen:  # a modal (plan, checklist, error) was opened: read and close it
                    text = screen_text(app)
                    assert "Traceback" not in text and "AssertionError" not in text, (instance.key, key, text)
                    await pilot.press("escape")
                    await settle(pilot)
            text = screen_text(app)
            assert "AssertionError" not in text, instance.key
            if instance.not_applicable:
                assert "does not apply" in text, (instance.key, text)

"""The last item of a change on screen: P proves that a device with the test user's certificate syncs."""
from __future__ import annotations

from pathlib import Path

from screens.runbook_screen import RunbookScreen
from tests.tui_support import advance, app_for, demo, log_text, screen_text, settle, tui_env, tui_test, until

__all__ = ["tui_env"]
SIZE = (120, 32)


@tui_test
async def test_the_device_proof_runs_from_the_screen_and_is_the_complete_line(tui_env: Path) -> None:
    path = demo("tmg-eas")
    advance(path, "1", "2", "3a", "4a", "5a", "6a")
    app = app_for(path)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, RunbookScreen) and app.screen.book is not None)
        await settle(pilot)
        assert "P proves a device with the test user's certificate syncs" in screen_text(app)
        await pilot.press("P")
        await until(pilot, lambda: "Complete: device proof ok" in screen_text(app), timeout=30)
        assert "ActiveSync 14.1, 16.0, 16.1" in screen_text(app)
    journal = (path.parent / f"{path.stem}.journal.jsonl").read_text()
    assert '"device"' in journal and "BEGIN" not in journal  # journaled as the CLI does; no key material


@tui_test
async def test_a_proof_before_the_change_is_done_names_the_broken_hop(tui_env: Path) -> None:
    path = demo("tmg-eas")
    app = app_for(path)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, RunbookScreen) and app.screen.book is not None)
        await settle(pilot)
        assert "check the TMG listener (step 1)" not in screen_text(app)
        await pilot.press("P")
        await until(pilot, lambda: "check the TMG listener (step 1)" in log_text(app), timeout=30)
        assert "lab: TMG has no web listener" in log_text(app)

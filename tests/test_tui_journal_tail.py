"""The step log reads only the newest page of a long journal, older pages when scrolled to its top, and new
entries as one more block (the blocks already shown are not rendered again)."""
from __future__ import annotations

from pathlib import Path

from textual.containers import VerticalScroll
from textual.widgets import Static

from screens.runbook_screen import RunbookScreen
from screens.widgets.step_detail import LOG_PAGE, StepDetail
from tests.tui_support import app_for, demo, drive, settle, tui_env, tui_test, until

__all__ = ["tui_env"]
NOTES = LOG_PAGE * 2 + 50


def log_lines(detail: StepDetail) -> list[str]:
    return [line for block in detail.query(".log-block") for line in str(block.content).splitlines()]


def notes_shown(detail: StepDetail) -> list[int]:
    return [int(line.rsplit(" ", 1)[1]) for line in log_lines(detail) if " note" in line and "rehearsal" in line]


@tui_test
async def test_a_long_step_log_opens_on_its_newest_page_and_pages_back_on_scroll(tui_env: Path) -> None:
    path = demo("tmg-eas")
    book = drive(path)
    try:
        for number in range(NOTES):
            book.add_note("1", f"rehearsal {number}")
    finally:
        book.close()
    async with app_for(path).run_test(size=(100, 32)) as pilot:
        await until(pilot, lambda: isinstance(pilot.app.screen, RunbookScreen) and pilot.app.screen.book is not None)
        await settle(pilot)
        detail = pilot.app.screen.query_one(StepDetail)
        assert detail.instance is not None and detail.instance.key == "1"
        assert notes_shown(detail) == list(range(NOTES - LOG_PAGE, NOTES))
        log = detail.query_one("#log", VerticalScroll)
        for oldest in (NOTES - 2 * LOG_PAGE, 0):
            log.scroll_home(animate=False)
            await until(pilot, lambda first=oldest: notes_shown(detail)[0] == first)
            await settle(pilot)
            assert log.scroll_y > 0, "what was on screen stays on screen"
        assert notes_shown(detail) == list(range(NOTES))
        await pilot.press("down")  # another step, and back: its newest page again, nothing read ahead
        await settle(pilot)
        await pilot.press("up")
        await until(pilot, lambda: detail.instance is not None and detail.instance.key == "1")
        await settle(pilot)
        assert notes_shown(detail) == list(range(NOTES - LOG_PAGE, NOTES))
        for oldest in (NOTES - 2 * LOG_PAGE, 0):
            log.scroll_home(animate=False)
            await until(pilot, lambda first=oldest: notes_shown(detail)[0] == first)
            await settle(pilot)

        blocks = list(detail.query(".log-block"))
        await pilot.press("a")
        await settle(pilot)
        await pilot.press(*"one more", "enter")
        await until(pilot, lambda: "one more" in log_lines(detail)[-1])
        now = list(detail.query(".log-block"))
        assert now[:-1] == blocks and isinstance(now[-1], Static)  # appended, the rest untouched

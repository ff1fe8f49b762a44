"""The runbook screen's layout at the smallest supported terminal (80×24) and a roomy one (120×40): z zooms the
selected step, notifications leave the "What now" line readable, and the room of a big terminal goes to whole
step titles and the log."""
from __future__ import annotations

from pathlib import Path

from textual.widgets import Static

from screens.widgets.step_list import StepList
from tests.tui_support import app_for, demo, opened, screen_text, settle, tui_env, tui_test, until

__all__ = ["tui_env"]
SMALL = (80, 24)
LARGE = (120, 40)


@tui_test
async def test_z_zooms_the_selected_steps_why_and_log_at_80x24(tui_env: Path) -> None:
    path = demo("tmg-eas")
    app = app_for(path)
    async with app.run_test(size=SMALL) as pilot:
        screen = await opened(pilot)
        steps = screen.query_one(StepList)
        steps.select_key("3a")
        steps.focus()
        await settle(pilot)
        why, log = screen.query_one("#detail-scroll"), screen.query_one("#log")
        before = (why.size.height, log.size.height, why.size.width)
        await pilot.press("z")
        await settle(pilot)
        assert not screen.query_one("#left").display
        assert why.size.width > before[2] and log.size.height > before[1]
        assert why.size.area > before[0] * before[2] * 1.3  # the why wraps less and has more rows to wrap in
        assert app.focused is not None and app.focused is not steps  # the hidden list keeps no focus
        await pilot.press("tab", "tab", "tab")
        await settle(pilot)
        assert app.focused is not steps
        await pilot.press("z")
        await settle(pilot)
        assert screen.query_one("#left").display
        assert (why.size.height, log.size.height, why.size.width) == before
        assert app.focused is steps  # back in the list: up and down move from step to step again


@tui_test
async def test_notifications_never_cover_the_what_now_line(tui_env: Path) -> None:
    path = demo("tmg-eas")
    app = app_for(path)
    async with app.run_test(size=SMALL, notifications=True) as pilot:  # headless tests hide toasts by default
        screen = await opened(pilot)
        status = screen.query_one("#statusbar", Static)
        assert "What now" in str(status.render())
        for index in range(3):
            screen.notify(f"a long notification number {index} that wraps over two or three lines of its toast",
                          title="copied", timeout=30)
        await until(pilot, lambda: len(screen.query("Toast")) == 3)
        await settle(pilot)
        toasts = list(screen.query("Toast"))
        assert all(toast.region.bottom <= status.region.y for toast in toasts), (
            [toast.region for toast in toasts], status.region)
        assert "What now" in screen_text(app).splitlines()[status.region.y]


@tui_test
async def test_at_120x40_whole_titles_show_and_the_log_gets_the_spare_rows(tui_env: Path) -> None:
    path = demo("tmg-seg-eas")
    app = app_for(path)
    async with app.run_test(size=LARGE) as pilot:
        screen = await opened(pilot)
        steps = screen.query_one(StepList)
        rows = [line[steps.region.x + 1: steps.region.right - 1] for line in
                screen_text(app).splitlines()[steps.region.y: steps.region.bottom]]
        flat = " ".join(" ".join(rows).split())  # a long title may wrap onto a second row of the list
        for instance in screen.book.instances:
            assert " ".join(instance.title.split()) in flat, instance.title
        steps.select_key("3a")
        await settle(pilot)
        why, log = screen.query_one("#detail-scroll"), screen.query_one("#log")
        assert log.size.height > 6  # the fixed height of the 80×24 layout
        assert why.size.height <= why.virtual_size.height  # no empty rows above the checklist: they went to the log

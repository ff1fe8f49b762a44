"""Focus and cursor on the runbook screen: space ticks from the step list, Tab visits only panes on screen, lists
stop at their ends instead of wrapping round."""
from __future__ import annotations

from pathlib import Path

from runbook.record import store
from screens.widgets.checklist import Checklist
from screens.widgets.step_list import StepList
from tests.tui_support import app_for, demo, opened, settle, tui_env, tui_test, until

__all__ = ["tui_env"]
SMALL = (80, 24)


@tui_test
async def test_space_on_the_step_list_ticks_the_highlighted_checklist_item(tui_env: Path) -> None:
    path = demo("tmg-eas")
    app = app_for(path)
    async with app.run_test(size=SMALL) as pilot:
        screen = await opened(pilot)
        steps = screen.query_one(StepList)
        steps.select_key("1")
        steps.focus()
        await settle(pilot)
        await pilot.press("space")
        await until(pilot, lambda: "0" in store.load(path).record("1").ticks)
        assert app.focused is steps  # the cursor stays where the operator is working
        assert "[x] 1." in str(screen.query_one(Checklist).get_option_at_index(0).prompt)


@tui_test
async def test_lists_stop_at_their_ends(tui_env: Path) -> None:
    path = demo("tmg-eas")
    app = app_for(path)
    async with app.run_test(size=SMALL) as pilot:
        screen = await opened(pilot)
        steps = screen.query_one(StepList)
        first = next(row for row in steps._keys if row)
        steps.select_key(first)
        steps.focus()
        await pilot.press("up")
        await settle(pilot)
        assert screen.selected == first
        last = [row for row in steps._keys if row][-1]
        steps.select_key(last)
        await pilot.press("down")
        await settle(pilot)
        assert screen.selected == last
        steps.select_key("1")
        await settle(pilot)
        checklist = screen.query_one(Checklist)
        checklist.focus()
        await pilot.press("end", "down")
        await settle(pilot)
        assert checklist.highlighted == checklist.option_count - 1
        await pilot.press("home", "up")
        await settle(pilot)
        assert checklist.highlighted == 0


@tui_test
async def test_tab_visits_only_the_panes_on_screen(tui_env: Path) -> None:
    path = demo("tmg-eas")
    app = app_for(path)
    async with app.run_test(size=SMALL) as pilot:
        screen = await opened(pilot)
        book = screen.book
        bare = next(i.key for i in book.instances if not i.manual(book.params) or i.not_applicable)
        steps = screen.query_one(StepList)
        steps.select_key("1")
        screen.query_one(Checklist).focus()
        await settle(pilot)
        steps.select_key(bare)  # as the palette's "Go to step" does, with the checklist focused
        await settle(pilot)
        assert app.focused is steps  # the checklist went away with the step: it keeps no focus
        seen = []
        for _ in range(4):
            await pilot.press("tab")
            await settle(pilot, rounds=1)
            focused = app.focused
            assert focused is not None and focused.display and focused.region.area > 0, focused
            seen.append(focused.id)
        assert "checklist" not in seen and "steps" in seen, seen  # round the visible panes, back to the list

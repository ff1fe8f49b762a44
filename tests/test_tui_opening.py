"""The first frame lists the steps from the kept outline (screens/opening.py), and the runbook screen replaces it
with the same list in the same place; without an outline that can be trusted, the first frame only says what is
being opened, as before."""
from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path
from typing import Any

import pytest
from textual.geometry import Region

from runbook.flow import outline as outlines
from runbook.lab import lab, rehearsal_outline
from runbook.record import store
from screens import session_controller
from screens.opening import OutlineScreen
from screens.runbook_screen import RunbookScreen
from screens.widgets.step_list import StepList
from steps import CATALOGUE
from tests.tui_support import advance, app_for, demo, settle, tui_env, tui_test, until

__all__ = ["tui_env"]
SIZE = (120, 40)


def held_open(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """The app's open of the session waits for the returned event: the first screen stays until then."""
    gate, opening = threading.Event(), session_controller.open_session

    def open_session(*args: Any, **kwargs: Any) -> Any:
        assert gate.wait(10)
        return opening(*args, **kwargs)

    monkeypatch.setattr(session_controller, "open_session", open_session)
    return gate


def listed(screen: Any, height: int = 30) -> tuple[Any, ...]:
    """The step list as the operator sees it: each row's text and styles, the cursor, where the list starts and
    how wide it is, its first `height` lines as drawn (the status line under it may take another line or two once
    it says what to do next: the list's bottom then moves up)."""
    steps = screen.query_one(StepList)
    rows = [(option.id, option.disabled, str(option.prompt), option.prompt.spans) for option in steps.options]
    region = steps.region
    drawn = [list(strip) for strip in steps.render_lines(Region(0, 0, region.width, height))]
    return rows, steps.highlighted, region.offset, region.width, steps.has_focus, steps.scroll_y, drawn


async def first_then_runbook(app: Any, gate: threading.Event, pilot: Any, *,
                             outlined: bool = True) -> tuple[OutlineScreen, Any]:
    """The screen shown before the runbook screen (with the steps, when `outlined`), and its step list."""
    await settle(pilot)
    if outlined:
        await until(pilot, lambda: isinstance(app.screen, OutlineScreen) and app.screen.steps_shown)
    first = app.screen
    assert isinstance(first, OutlineScreen)
    shown = listed(first) if first.steps_shown else None
    gate.set()
    await until(pilot, lambda: isinstance(app.screen, RunbookScreen) and app.screen.book is not None)
    await settle(pilot)
    assert not first.is_attached  # replaced, not left underneath
    return first, shown


@tui_test
async def test_the_first_frame_lists_what_the_runbook_screen_then_shows_in_its_place(
        tui_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = demo("tmg-seg-eas")  # 7 does not apply here
    advance(path, "1", "2")
    gate = held_open(monkeypatch)
    app = app_for(path)
    async with app.run_test(size=SIZE) as pilot:
        first, shown = await first_then_runbook(app, gate, pilot)
        assert first.steps_shown
        rows = shown[0]
        assert [row[2][:3] for row in rows if row[0] in ("1", "2", "3a", "7")] == ["[m]", "[m]", "[ ]", "[/]"]
        assert "TMG web listener" in rows[1][2] and shown[1] == [row[0] for row in rows].index("3a")
        assert listed(app.screen) == shown


@tui_test
async def test_the_runbook_screen_starts_where_the_operator_moved_on_the_first_frame(
        tui_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = demo("tmg-eas")
    gate = held_open(monkeypatch)
    app = app_for(path)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, OutlineScreen) and app.screen.steps_shown)
        await pilot.press("down", "down")
        moved = app.screen.query_one(StepList).selected_key
        assert moved not in (None, "1")
        await first_then_runbook(app, gate, pilot)
        assert app.screen.selected == moved


@tui_test
async def test_demo_lists_a_fresh_rehearsal_from_the_outline_its_last_build_kept(
        tui_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    demo("tmg-seg-eas")  # the first build keeps the scenario's outline
    sessions, gate = Path("sessions"), threading.Event()

    def prepare() -> Path:
        assert gate.wait(10)
        return lab.create_demo(sessions / "second.yaml", "tmg-seg-eas", CATALOGUE)

    app = app_for(prepare=prepare, rehearsal=lambda: rehearsal_outline.fresh_view(sessions, "tmg-seg-eas", None))
    async with app.run_test(size=SIZE) as pilot:
        first, shown = await first_then_runbook(app, gate, pilot)
        assert first.steps_shown
        assert listed(app.screen) == shown


def _stale(path: Path) -> None:
    kept = outlines.outline_path(path)
    data = json.loads(kept.read_text())
    data["made_from"]["params"] = "00000000-0"  # made from other params
    kept.write_text(json.dumps(data))


@pytest.mark.parametrize("outline", ["missing", "stale"])
@tui_test
async def test_without_a_trusted_outline_the_first_frame_only_says_what_is_opened(
        tui_env: Path, monkeypatch: pytest.MonkeyPatch, outline: str) -> None:
    path = demo("tmg-eas")
    outlines.outline_path(path).unlink() if outline == "missing" else _stale(path)
    gate = held_open(monkeypatch)
    app = app_for(path)
    async with app.run_test(size=SIZE) as pilot:
        first, shown = await first_then_runbook(app, gate, pilot, outlined=False)
        assert not first.steps_shown and shown is None and not first.query(StepList)
        assert app.screen.query_one(StepList).option_count > 0
    assert outlines.read_kept(path, store.load(path).params) is not None  # the driver kept a true one again


def test_a_rehearsal_outline_is_read_only_for_the_same_scenario_file_chain_and_code(
        tui_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sessions = Path("sessions")
    assert rehearsal_outline.fresh_view(sessions, "tmg-eas", None) is None  # never built here
    demo("tmg-eas")
    fresh = rehearsal_outline.fresh_view(sessions, "tmg-eas", None)
    assert fresh is not None and [s.key for s in fresh.outline.steps][:2] == ["1", "2"]
    assert rehearsal_outline.fresh_view(sessions, "tmg-eas", "tmg") is None  # another chain asked for
    assert rehearsal_outline.fresh_view(sessions, "tmg-seg-eas", None) is None  # another scenario
    edited = tmp_path / "scenarios"
    shutil.copytree(rehearsal_outline.SCENARIO_FOLDER, edited)
    with (edited / "tmg-eas.yaml").open("a") as handle:
        handle.write("# edited\n")
    monkeypatch.setattr(rehearsal_outline, "SCENARIO_FOLDER", edited)
    assert rehearsal_outline.fresh_view(sessions, "tmg-eas", None) is None  # the scenario file changed
    monkeypatch.undo()
    monkeypatch.setattr(outlines, "_CODE", ["another version"])
    assert rehearsal_outline.fresh_view(sessions, "tmg-eas", None) is None  # other code

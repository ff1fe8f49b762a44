"""Snapshots of the main screens at 80×24 and 120×40 (update deliberately: pytest --snapshot-update).

Deterministic by construction: fixed sizes, an explicit theme, animations off, a fixed clock and operator,
session files in tmp_path under the relative name `sessions`, no blinking cursor.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from screens.modals import ConfirmModal, ErrorModal, InfoModal, PointOfNoReturnModal
from screens.runbook_screen import RunbookScreen
from screens.start_screen import StartScreen
from screens.widgets.step_list import StepList
from screens.wizard import NewChangeWizard
from tests.tui_support import advance, app_for, demo, drive, settle, tui_env, until

__all__ = ["tui_env"]
SMALL, LARGE = (80, 24), (120, 40)
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "tmg-seg-eas.yaml"


def runbook_ready(key: str | None = None, *, planned: bool = False):
    async def run_before(pilot) -> None:
        app = pilot.app
        await until(pilot, lambda: isinstance(app.screen, RunbookScreen) and app.screen.book is not None)
        screen = app.screen
        if key:
            screen.query_one(StepList).select_key(key)
        await settle(pilot)
        if planned:
            await until(pilot, lambda: (plan := screen.session.plans.get(screen.selected)) is not None
                        and not plan.computing)
        await settle(pilot)
    return run_before


def then_press(before, *keys: str, modal: type | None = None):
    async def run_before(pilot) -> None:
        await before(pilot)
        await pilot.press(*keys)
        if modal is not None:
            await until(pilot, lambda: isinstance(pilot.app.screen, modal))
        await settle(pilot, rounds=1)
    return run_before


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "120x40"])
def test_start_screen(snap_compare, tui_env: Path, size: tuple[int, int]) -> None:
    demo("tmg-eas")
    busy = demo("tmg-seg-eas")
    advance(busy, "1", "2")
    other = drive(busy)

    async def listed(pilot) -> None:
        await until(pilot, lambda: isinstance(pilot.app.screen, StartScreen) and len(pilot.app.screen.paths) == 2)
        await settle(pilot)

    try:
        assert snap_compare(app_for(None), terminal_size=size, run_before=listed)
    finally:
        other.close()


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "120x40"])
def test_runbook_screen_fresh_farm(snap_compare, tui_env: Path, size: tuple[int, int]) -> None:
    path = demo("tmg-seg-eas")
    assert snap_compare(app_for(path), terminal_size=size, run_before=runbook_ready())


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "120x40"])
def test_runbook_screen_live_plan(snap_compare, tui_env: Path, size: tuple[int, int]) -> None:
    path = demo("tmg-eas")
    advance(path, "1", "2")
    assert snap_compare(app_for(path), terminal_size=size, run_before=runbook_ready("3a", planned=True))


def test_runbook_screen_complete(snap_compare, tui_env: Path) -> None:
    path = demo("tmg-eas")
    advance(path, "1", "2", "3a", "4a", "5a", "6a")
    assert snap_compare(app_for(path), terminal_size=LARGE, run_before=runbook_ready("6a@EAS01"))


def test_confirm_modal(snap_compare, tui_env: Path) -> None:
    path = demo("tmg-eas")
    advance(path, "1", "2")
    run_before = then_press(runbook_ready("3a", planned=True), "r", modal=ConfirmModal)
    assert snap_compare(app_for(path), terminal_size=SMALL, run_before=run_before)


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "120x40"])
def test_point_of_no_return_modal(snap_compare, tui_env: Path, size: tuple[int, int]) -> None:
    path = demo("tmg-eas", cert_validation="eas")  # the EAS checks the certificate: 6a ends with iisreset
    advance(path, "2")
    run_before = then_press(runbook_ready("6a@EAS01", planned=True), "r", modal=PointOfNoReturnModal)
    assert snap_compare(app_for(path), terminal_size=size, run_before=run_before)


def test_error_modal_on_an_injected_failure(snap_compare, tui_env: Path) -> None:
    path = demo("tmg-eas", fail="3a")
    advance(path, "1", "2")

    async def failed(pilot) -> None:
        await then_press(runbook_ready("3a", planned=True), "r", modal=ConfirmModal)(pilot)
        await pilot.press("y")
        await until(pilot, lambda: isinstance(pilot.app.screen, ErrorModal))
        await settle(pilot, rounds=1)

    assert snap_compare(app_for(path), terminal_size=SMALL, run_before=failed)


def test_follow_mode(snap_compare, tui_env: Path) -> None:
    path = demo("tmg-eas")
    other = drive(path)
    try:
        assert snap_compare(app_for(path), terminal_size=SMALL, run_before=runbook_ready())
    finally:
        other.close()


def test_help(snap_compare, tui_env: Path) -> None:
    path = demo("tmg-eas")
    run_before = then_press(runbook_ready(), "question_mark", modal=InfoModal)
    assert snap_compare(app_for(path), terminal_size=LARGE, run_before=run_before)


def test_wizard_params_with_a_problem(snap_compare, tui_env: Path) -> None:
    async def typing(pilot) -> None:
        await until(pilot, lambda: isinstance(pilot.app.screen, StartScreen))
        await pilot.press("n")
        await until(pilot, lambda: isinstance(pilot.app.screen, NewChangeWizard))
        await pilot.press("enter", *"test.lan", "tab", *"dc1")
        await settle(pilot)

    assert snap_compare(app_for(None), terminal_size=SMALL, run_before=typing)


def test_wizard_summary(snap_compare, tui_env: Path) -> None:
    Path("params.yaml").write_text(EXAMPLE.read_text())  # a relative name: the import toast shows it

    async def summary(pilot) -> None:
        await until(pilot, lambda: isinstance(pilot.app.screen, StartScreen))
        await pilot.press("n")
        await until(pilot, lambda: isinstance(pilot.app.screen, NewChangeWizard))
        screen = pilot.app.screen
        screen._import("params.yaml")
        await settle(pilot)
        await pilot.press("ctrl+n")
        await until(pilot, lambda: screen.page == "page-summary")
        await settle(pilot)

    assert snap_compare(app_for(None), terminal_size=LARGE, run_before=summary)

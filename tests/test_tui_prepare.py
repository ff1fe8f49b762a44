"""`runbook demo` paints its first frame before the rehearsal lab exists, then opens the session built behind it."""
from __future__ import annotations

from pathlib import Path

from runbook.errors import BadInput
from runbook.lab import lab
from screens.app import make_app
from screens.opening import OutlineScreen
from screens.runbook_screen import RunbookScreen
from steps import CATALOGUE
from tests.tui_support import tui_env, tui_test, until

__all__ = ["tui_env"]


@tui_test
async def test_demo_opens_the_session_prepared_behind_the_first_frame(tui_env: Path) -> None:
    built: list[Path] = []

    def prepare() -> Path:
        built.append(lab.create_demo(tui_env / "demo.yaml", "tmg-eas", CATALOGUE))
        return built[0]

    app = make_app(prepare=prepare)
    async with app.run_test(size=(100, 32)) as pilot:
        assert isinstance(app.screen, OutlineScreen) or built
        await until(pilot, lambda: isinstance(app.screen, RunbookScreen))
        assert app.config.path == built[0]


@tui_test
async def test_a_failed_preparation_ends_the_app_with_the_error(tui_env: Path) -> None:
    def prepare() -> Path:
        raise BadInput("--resume: no demo session in sessions; start one with `runbook demo`")

    app = make_app(prepare=prepare)
    async with app.run_test(size=(100, 32)) as pilot:
        await until(pilot, lambda: app.prepare_error is not None)  # built after the first frame
    assert app.return_code == 2
    assert isinstance(app.prepare_error, BadInput) and "--resume" in str(app.prepare_error)


@tui_test
async def test_two_person_waiting_messages_reach_the_screen_not_stderr(tui_env: Path, capsys) -> None:
    import asyncio

    from runbook.pair import two_person

    app = make_app(prepare=lambda: lab.create_demo(tui_env / "d.yaml", "tmg-eas", CATALOGUE))
    async with app.run_test(size=(100, 32)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, RunbookScreen))  # the lab is built after the first frame
        await asyncio.to_thread(two_person.report, "6a@EAS01: waiting for a second operator")
        await pilot.pause()
        assert any("waiting for a second operator" in n.message for n in app._notifications)
    assert "waiting for a second operator" not in capsys.readouterr().err

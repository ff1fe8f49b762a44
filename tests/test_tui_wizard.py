"""The new-change wizard: topology with its chain, parameters checked as typed, import, summary, create."""
from __future__ import annotations

from pathlib import Path

from textual.widgets import Input, Static

from runbook import store
from screens.modals import TextModal
from screens.runbook_screen import RunbookScreen
from screens.start_screen import StartScreen
from screens.widgets.params_form import ParamsForm, field_of, parse_servers
from screens.wizard import NewChangeWizard
from tests.tui_support import app_for, screen_text, settle, tui_env, tui_test, until

__all__ = ["tui_env"]
SIZE = (100, 32)
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "tmg-seg-eas.yaml"


def test_server_lists_and_problem_fields() -> None:
    assert parse_servers("EAS01=eas01.test.lan, eas02.test.lan") == [
        {"computer": "EAS01", "host": "eas01.test.lan"}, {"computer": "EAS02", "host": "eas02.test.lan"}]
    assert field_of("eas[1].host: 'x' is not a DNS name") == "eas"
    assert field_of("tmg: missing, expected a mapping") == "tmg.computer"
    assert field_of("directory.port: 0 is not a port") == "directory.server"
    assert field_of("scep.server_url: bad") is None


async def wizard(pilot) -> NewChangeWizard:
    await until(pilot, lambda: isinstance(pilot.app.screen, StartScreen))
    await pilot.press("n")
    await until(pilot, lambda: isinstance(pilot.app.screen, NewChangeWizard))
    await settle(pilot)
    return pilot.app.screen


@tui_test
async def test_topology_shows_its_chain_and_the_form_speaks_the_engines_words(tui_env: Path) -> None:
    app = app_for(None)
    async with app.run_test(size=SIZE) as pilot:
        screen = await wizard(pilot)
        assert "device → TMG → SEG → EAS" in screen_text(app)
        await pilot.press("down", "enter")  # tmg-seg-eas
        await settle(pilot)
        form = screen.query_one(ParamsForm)
        assert form.topology == "tmg-seg-eas"
        assert screen.query_one("#row-field-seg").display
        field = screen.query_one("#field-directory-server", Input)
        field.focus()
        await pilot.press(*"dc1")
        await settle(pilot)
        problem = str(screen.query_one("#problem-field-directory-server", Static).content)
        assert problem == "directory.server: 'dc1' is not the domain controller's DNS name like dc1.test.lan"
        assert str(screen.query_one("#problem-field-domain", Static).content) == ""  # untouched: not nagged yet
        field.value = "dc1.test.lan"
        await settle(pilot)
        assert str(screen.query_one("#problem-field-directory-server", Static).content) == ""
        await pilot.press("ctrl+n")  # refused: other fields are still missing, now all shown
        await settle(pilot)
        assert screen.page == "page-params"
        assert "domain: missing" in str(screen.query_one("#problem-field-domain", Static).content)


@tui_test
async def test_import_summarise_and_create_a_session(tui_env: Path) -> None:
    app = app_for(None)
    async with app.run_test(size=SIZE) as pilot:
        screen = await wizard(pilot)
        await pilot.press("ctrl+o")
        await until(pilot, lambda: isinstance(app.screen, TextModal))
        app.screen.query_one("#text", Input).value = str(EXAMPLE)
        await pilot.press("enter")
        await until(pilot, lambda: screen.page == "page-params")
        form = screen.query_one(ParamsForm)
        assert form.topology == "tmg-seg-eas" and form.params is not None
        assert screen.query_one("#field-eas", Input).value == "EAS01=eas01.test.lan, EAS02=eas02.test.lan"
        await pilot.press("ctrl+n")
        await until(pilot, lambda: screen.page == "page-summary")
        summary = str(screen.query_one("#summary-text", Static).content)
        assert "6a" in summary and "accepts Kerberos" in summary
        assert "does not apply: only when a SEG is added" in summary
        assert "[ ] 3b@SEG01" in summary and "why: The SEG authenticates to Exchange" in summary
        await pilot.press(*"night1", "enter")
        await until(pilot, lambda: isinstance(app.screen, RunbookScreen) and app.screen.book is not None)
        assert app.screen.book.params.topology == "tmg-seg-eas"
        assert app.screen.book.params.eas[1].host == "eas02.test.lan"
        assert app.screen.book.params.scep is not None  # kept from the import though the form has no field
    session = store.load(tui_env / "night1.yaml")
    assert session.params["service_accounts"] == {"eas": "EASASA"}


@tui_test
async def test_escape_walks_back_and_leaves(tui_env: Path) -> None:
    app = app_for(None)
    async with app.run_test(size=SIZE) as pilot:
        screen = await wizard(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert screen.page == "page-params"
        await pilot.press("escape")
        await settle(pilot)
        assert screen.page == "page-topology"
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, StartScreen))

"""The new-change wizard: topology with its chain, parameters checked as typed, import, summary, create."""
from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input, Static

from runbook.errors import ParamsError
from runbook.inputs import schema as params_schema
from runbook.inputs.params import parse_params
from runbook.record import store
from screens.modals import ConfirmModal, TextModal
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
    assert field_of("tmg: missing, expected a mapping") == "tmg"
    assert field_of("tmg[1].service_identity: 'x' is not a SID") == "tmg.service_identity"
    assert field_of("directory.port: 0 is not a port") == "directory.port"
    assert field_of("scep.server_url: bad") == "scep.server_url"
    assert field_of("servers: 'EAS01' is used by two servers") is None  # across fields: said under the form


def test_the_wizard_offers_exactly_the_params_schema() -> None:
    """One schema: a field added to the params file is a field of the wizard, and nothing else is."""
    schema_fields = {spec.path for spec in params_schema.FIELDS}
    assert ParamsForm().fields == schema_fields
    assert {"scep.server_url", "winrm.transport", "winrm.port", "winrm.ca_file", "directory.port",
            "directory.tls", "directory.ca_file", "cert_validation", "seg", "service_accounts.seg"} <= schema_fields
    # every top-level key the parser accepts is the schema's, and every section refuses a key it does not know
    assert set(params_schema.TOP_KEYS) == {path.split(".")[0] for path in schema_fields}


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
        assert app.screen.book.params.scep is not None
        assert app.screen.book.params.winrm.user == "TEST\\operator"
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


@tui_test
async def test_every_section_is_on_the_form_with_its_help_and_the_chains_explained(tui_env: Path) -> None:
    app = app_for(None)
    async with app.run_test(size=SIZE) as pilot:
        screen = await wizard(pilot)
        await pilot.press("down", "enter")  # tmg-seg-eas
        await settle(pilot)
        hint = str(screen.query_one("#hint-field-cert-validation", Static).content)
        assert "tmg (default): TMG's listener checks it, then KCD" in hint
        assert "seg: TMG passes TLS through; the SEG checks it" in hint
        assert "eas:" not in hint  # eas is only for tmg-eas
        assert screen.query_one("#field-winrm-transport", Input).value == "https"  # the schema's default
        port = screen.query_one("#field-winrm-port", Input)
        port.focus()
        await settle(pilot)
        assert "blank: 5986 for https, 5985 for http" in str(screen.query_one("#field-help", Static).content)
        await pilot.press(*"5999")
        screen.query_one("#field-scep-server-url", Input).value = "https://ca.test.lan/certsrv/mscep/"
        screen.query_one("#field-winrm-transport", Input).focus()
        await pilot.press("backspace", "backspace", "backspace", "backspace", "backspace", *"htp")
        await settle(pilot)
        form = screen.query_one(ParamsForm)
        assert "winrm.transport: 'htp' is not one of https | http" in str(
            screen.query_one("#problem-field-winrm-transport", Static).content)
        data = form.data()
        assert data["winrm"] == {"transport": "htp", "port": 5999}
        assert data["scep"] == {"server_url": "https://ca.test.lan/certsrv/mscep/"}
        form.show_all = True
        form.validate()
        assert "scep.challenge_url: missing" in str(screen.query_one("#problem-field-scep-challenge-url",
                                                                     Static).content)


@tui_test
async def test_a_typo_in_an_imported_section_is_refused_by_name(tui_env: Path) -> None:
    """Unknown keys are bad input in every section, in the file and in the wizard alike."""
    Path("typo.yaml").write_text(EXAMPLE.read_text().replace("transport: https", "tranport: https"))
    with pytest.raises(ParamsError, match="winrm.tranport: unknown key"):
        parse_params(__import__("yaml").safe_load(Path("typo.yaml").read_text()))
    app = app_for(None)
    async with app.run_test(size=SIZE) as pilot:
        screen = await wizard(pilot)
        screen._import("typo.yaml")
        await settle(pilot)
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert screen.page == "page-params"
        assert "winrm.tranport: unknown key" in str(screen.query_one("#problems", Static).content)


@tui_test
async def test_escape_on_a_filled_form_asks_before_discarding(tui_env: Path) -> None:
    app = app_for(None)
    async with app.run_test(size=SIZE) as pilot:
        screen = await wizard(pilot)
        await pilot.press("enter", *"test.lan")
        await settle(pilot)
        await pilot.press("escape")  # back to the topology page: the form is kept
        await settle(pilot)
        assert screen.page == "page-topology"
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("n")  # keep editing
        await settle(pilot)
        assert app.screen is screen
        await pilot.press("enter")
        await settle(pilot)
        assert screen.query_one("#field-domain", Input).value == "test.lan"
        await pilot.press("escape", "escape")
        await until(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("y")
        await until(pilot, lambda: isinstance(app.screen, StartScreen))


@tui_test
async def test_a_tmg_array_and_its_proxy_identity_survive_the_form(tui_env: Path) -> None:
    data = __import__("yaml").safe_load(EXAMPLE.read_text())
    data["tmg"] = [{"computer": "TMG01", "host": "tmg01.test.lan", "service_identity": "LOCAL SERVICE"},
                   {"computer": "TMG02", "host": "tmg02.test.lan", "service_identity": "LOCAL SERVICE"}]
    Path("array.yaml").write_text(__import__("yaml").safe_dump(data))
    app = app_for(None)
    async with app.run_test(size=SIZE) as pilot:
        screen = await wizard(pilot)
        screen._import("array.yaml")
        await settle(pilot)
        form = screen.query_one(ParamsForm)
        assert screen.query_one("#field-tmg", Input).value == "TMG01=tmg01.test.lan, TMG02=tmg02.test.lan"
        assert screen.query_one("#field-tmg-service-identity", Input).value == "LOCAL SERVICE"
        assert form.params is not None
        assert [s.computer for s in form.params.tmg_members] == ["TMG01", "TMG02"]
        assert form.params.tmg_service_identity == "LOCAL SERVICE"

"""The checks view and the change record on screen (journal, back-out, report export), driven with Pilot."""
from __future__ import annotations

import json
from pathlib import Path

from textual.widgets import Input, Static

from runbook.flow.completion import open_check_findings
from runbook.record import store
from runbook.record.journal import Journal
from screens.checks_screen import ChecksScreen
from screens.record_screens import BackoutScreen, JournalScreen
from screens.report_export import ReportModal
from screens.widgets.step_list import StepList
from tests.tui_support import advance, app_for, demo, opened, screen_text, settle, tui_env, tui_test, until

__all__ = ["tui_env"]
SIZE = (100, 32)
PLANTED = [  # the broken scenario's five faults, as the checks word them
    "seg01.test.lan is 7.0 min ahead of the DC",
    "scep.server_url https://ca.test.lan/certsrv/mscep must end with /",
    "is defined by GPO Default Domain Controllers Hardening",
    "http/mail-int.test.lan is registered on OLDSVC",
    "eas01.test.lan Default Web Site/Microsoft-Server-ActiveSync: Windows Authentication is off",
]


def findings_text(screen: ChecksScreen) -> str:
    return "\n".join(str(widget.render()) for widget in screen.query("#checks-results > Static"))


@tui_test
async def test_the_broken_scenarios_five_faults_show_in_the_checks_view_with_what_they_block(tui_env: Path) -> None:
    path = demo("broken")
    app = app_for(path)
    async with app.run_test(size=SIZE) as pilot:
        runbook = await opened(pilot)
        await pilot.press("k")
        await until(pilot, lambda: isinstance(app.screen, ChecksScreen) and app.screen.running is None
                    and app.screen.runs)
        checks = app.screen
        assert isinstance(checks, ChecksScreen)
        text = findings_text(checks)
        for fault in PLANTED:
            assert fault in text, fault
        by_name = {run.spec.name: run for run in checks.runs.values()}
        assert {name for name, run in by_name.items() if run.status == "fail"} == {
            "clock", "scep", "providers", "spn", "gpo"}
        gpo = next(f for f in by_name["gpo"].findings if f.severity == "fault")
        assert gpo.blocks == ("5a",)
        providers = [f for f in by_name["providers"].findings if f.severity == "fault"]
        assert [f.blocks for f in providers] == [("6a@EAS01",), ("6b@SEG01",)]  # the step each line names
        assert not next(f for f in by_name["scep"].findings if f.severity == "fault").blocks  # device side
        assert "blocks 4a@EAS01" in text and "fix: " in text
        assert "faults in clock, scep, providers, spn, gpo" in screen_text(app)
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is runbook)
        await settle(pilot)
        assert runbook.session.done is not None  # the header's verdict now counts the open faults
        assert {reason.split(":")[0] for reason in runbook.session.done.reasons if reason.startswith("check ")} == {
            "check clock", "check scep", "check providers", "check spn", "check gpo"}
    faults, _ = open_check_findings(Journal(store.journal_path(path)).entries())  # journaled as the CLI does
    assert set(faults) == {"clock", "scep", "providers", "spn", "gpo"}


@tui_test
async def test_a_steps_detail_names_the_open_check_fault_that_blocks_it(tui_env: Path) -> None:
    path = demo("broken")
    app = app_for(path)
    async with app.run_test(size=SIZE) as pilot:
        runbook = await opened(pilot)
        await pilot.press("k")
        await until(pilot, lambda: isinstance(app.screen, ChecksScreen) and app.screen.running is None
                    and app.screen.runs)
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is runbook)

        async def status_of(key: str) -> str:
            runbook.query_one(StepList).select_key(key)
            await settle(pilot)
            return str(runbook.query_one("#step-status", Static).render())

        gpo = await status_of("5a")
        assert "blocked by check gpo: " in gpo and "is defined by GPO Default Domain Controllers Hardening" in gpo
        assert "k shows each fault with its fix" in gpo
        providers = await status_of("6a@EAS01")
        assert "blocked by check providers: eas01.test.lan" in providers and "6b@SEG01" not in providers
        assert "blocked by check spn: http/mail-int.test.lan is registered on OLDSVC" in await status_of("4a@EAS01")
        assert "blocked by" not in await status_of("1")  # TMG's listener: no open fault is about it


@tui_test
async def test_a_certificate_typed_in_the_checks_view_is_checked(tui_env: Path) -> None:
    path = demo("tmg-seg-eas")
    cert = path.with_name(f"{path.stem}.alice.pem")
    app = app_for(path)
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot)
        await pilot.press("k")
        await until(pilot, lambda: isinstance(app.screen, ChecksScreen) and app.screen.running is None
                    and app.screen.runs)
        checks = app.screen
        assert "cert" not in checks.runs
        checks.query_one("#cert-file", Input).focus()
        await pilot.press(*str(cert))
        await pilot.press("enter")
        await until(pilot, lambda: checks.running is None and "cert" in checks.runs)
        assert "subject:" not in findings_text(checks)  # info lines wait behind i: the faults come first
        checks.query_one("#checks-results").focus()
        await pilot.press("i")
        assert "subject:" in findings_text(checks)
        checks.query_one("#cert-file", Input).value = str(path.with_name("missing.pem"))
        checks.query_one("#cert-file", Input).focus()
        await pilot.press("enter")
        await until(pilot, lambda: checks.running is None and "cert" in checks.problems)
        assert "missing.pem" in checks.problems["cert"]


@tui_test
async def test_the_journal_screen_shows_the_check_result_first(tui_env: Path) -> None:
    path = demo("tmg-eas")
    app = app_for(path)
    async with app.run_test(size=SIZE) as pilot:
        runbook = await opened(pilot)
        await pilot.press("j")
        await until(pilot, lambda: isinstance(app.screen, JournalScreen) and "journal intact" in screen_text(app))
        assert "demo" in screen_text(app)  # the entries follow the verdict
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is runbook)
    journal = store.journal_path(path)
    lines = journal.read_text().splitlines()
    entry = json.loads(lines[0])
    entry["operator"] = "mallory@elsewhere"
    journal.write_text("\n".join([json.dumps(entry), *lines[1:]]) + "\n")
    app = app_for(path)
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot)
        await pilot.press("j")
        await until(pilot, lambda: isinstance(app.screen, JournalScreen) and "NOT intact" in screen_text(app))
        assert "was modified after it was written" in screen_text(app)


@tui_test
async def test_backout_shows_the_plan_after_a_run(tui_env: Path) -> None:
    path = demo("tmg-eas")
    advance(path, "3a")
    app = app_for(path)
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot)
        await pilot.press("b")
        await until(pilot, lambda: isinstance(app.screen, BackoutScreen) and "Back-out plan for" in screen_text(app))
        text = screen_text(app)
        assert "3a" in text and f"runbook undo {path.stem} 3a --yes" in text


@tui_test
async def test_export_writes_the_report_at_the_typed_path(tui_env: Path) -> None:
    path = demo("tmg-eas")
    app = app_for(path)
    target = Path("out") / "night1.html"
    async with app.run_test(size=SIZE) as pilot:
        runbook = await opened(pilot)
        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, ReportModal))
        field = app.screen.query_one("#report-path", Input)
        assert field.value == str(path.with_name(f"{path.stem}-report.md"))  # beside the session by default
        await pilot.click("#report-format RadioButton:last-of-type")
        await settle(pilot)
        assert field.value.endswith("-report.html")
        field.value = str(target)
        field.focus()
        await pilot.press("enter")
        await until(pilot, lambda: app.screen is runbook)
        assert target.read_text().lstrip().lower().startswith("<!doctype html")
        target.write_text("older")
        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, ReportModal))
        app.screen.query_one("#report-path", Input).value = str(target)
        await pilot.press("enter")
        await until(pilot, lambda: "exists: enter again replaces it" in screen_text(app))
        await pilot.press("enter")
        await until(pilot, lambda: app.screen is runbook)
        assert target.read_text().startswith("# ")  # Markdown this time, replacing the older file


def test_checks_view_at_80x24(snap_compare, tui_env: Path) -> None:
    """The broken scenario's faults at the smallest supported terminal: faults first, info lines behind i."""
    path = demo("broken")

    async def checked(pilot) -> None:
        await opened(pilot)
        await pilot.press("k")
        await until(pilot, lambda: isinstance(pilot.app.screen, ChecksScreen) and pilot.app.screen.running is None
                    and pilot.app.screen.runs)
        await settle(pilot)

    assert snap_compare(app_for(path), terminal_size=(80, 24), run_before=checked)

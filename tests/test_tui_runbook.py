"""The runbook screen, driven with Pilot on rehearsal sessions: every action path an operator takes."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml
from textual.widgets import Input, Static

from runbook.errors import StepFailed
from runbook.flow.states import State
from runbook.lab.lab import Lab, lab_file
from runbook.record import store
from runbook.record.lock import read_holder
from screens.modals import (
    ConfirmModal,
    ErrorModal,
    InfoModal,
    OverrideModal,
    PasswordModal,
    PointOfNoReturnModal,
    TextModal,
)
from screens.runbook_screen import ACTION_TITLES, RunbookScreen
from screens.widgets.checklist import Checklist
from screens.widgets.step_detail import StepDetail
from screens.widgets.step_list import StepList
from tests.tui_support import advance, app_for, demo, drive, journal, screen_text, settle, tui_env, tui_test, until

__all__ = ["tui_env"]
SIZE = (100, 32)


def state(path: Path, key: str) -> State:
    return store.load(path).record(key).state


def runbook_screen(app) -> RunbookScreen | None:
    return next((s for s in app.screen_stack if isinstance(s, RunbookScreen)), None)


async def opened(pilot) -> RunbookScreen:
    await until(pilot, lambda: (screen := runbook_screen(pilot.app)) is not None and screen.book is not None)
    await settle(pilot)
    screen = runbook_screen(pilot.app)
    assert screen is not None
    return screen


async def select(pilot, key: str) -> RunbookScreen:
    screen = await opened(pilot)
    screen.query_one(StepList).select_key(key)
    await settle(pilot)
    assert screen.selected == key
    return screen


@tui_test
async def test_opens_on_the_next_pending_step_holds_the_lock_and_releases_it_on_quit(tui_env: Path) -> None:
    path = demo("tmg-eas")
    app = app_for(path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot)
        assert screen.selected == "1" and screen.session.driving
        holder = read_holder(store.lock_path(path))
        assert holder is not None and holder.pid == os.getpid() and holder.purpose == "tui"
        assert "1/11" not in screen_text(app) and "5/11 settled" in screen_text(app)
        await pilot.press("ctrl+q")
        await pilot.pause()
    assert not store.lock_path(path).exists()


@tui_test
async def test_mark_done_asks_for_a_note_verifies_and_journals_it(tui_env: Path) -> None:
    path = demo("tmg-eas")
    advance_ticks(path, "1")
    async with app_for(path).run_test(size=SIZE) as pilot:
        await opened(pilot)
        await pilot.press("d")
        await until(pilot, lambda: isinstance(pilot.app.screen, TextModal))
        await pilot.press(*"listener made", "enter")
        await until(pilot, lambda: state(path, "1") == State.MANUAL_DONE)
        await settle(pilot)
        assert "[m] 1" in screen_text(pilot.app)
    assert store.load(path).record("1").verified["ok"] is True  # the lab's clicks, then the read-only check
    entry = [e for e in journal(path) if e["action"] == "mark_done"][-1]
    assert (entry["step"], entry["operator"], entry["note"]) == ("1", "alice@jump1", "listener made")
    assert entry["details"] == {"verified": "ok"}


def advance_ticks(path: Path, key: str) -> None:
    """Tick every item of a step's checklist, as an operator working through it would."""
    book = drive(path)
    try:
        for index in range(len(book.instance(key).manual(book.params))):
            book.tick(key, index)
    finally:
        book.close()


@tui_test
async def test_done_with_unticked_items_asks_first(tui_env: Path) -> None:
    path = demo("tmg-eas")
    async with app_for(path).run_test(size=SIZE) as pilot:
        await opened(pilot)
        await pilot.press("d")
        await until(pilot, lambda: isinstance(pilot.app.screen, ConfirmModal))
        assert "checklist items of 1 are not ticked. Record it done anyway?" in screen_text(pilot.app)
        await pilot.press("n")  # back to the checklist: nothing recorded
        await until(pilot, lambda: isinstance(pilot.app.screen, RunbookScreen))
        assert state(path, "1") == State.PENDING
        await pilot.press("d")
        await until(pilot, lambda: isinstance(pilot.app.screen, ConfirmModal))
        await pilot.press("y")
        await until(pilot, lambda: isinstance(pilot.app.screen, TextModal))
        await pilot.press("enter")
        await until(pilot, lambda: state(path, "1") == State.MANUAL_DONE)


@tui_test
async def test_done_on_a_mismatch_asks_mark_done_anyway_with_a_reason(tui_env: Path) -> None:
    path = demo("broken")
    advance(path, "1", "2", "3a", "3b")
    failed = drive(path)
    try:
        with pytest.raises(StepFailed, match="already registered on OLDSVC"):  # the planted duplicate SPN
            failed.run("4a", confirm=lambda question, lines: True)
    finally:
        failed.close()
    advance_ticks(path, "4a@EAS01")
    async with app_for(path).run_test(size=SIZE) as pilot:
        screen = await select(pilot, "4a@EAS01")
        await pilot.press("d")
        await until(pilot, lambda: isinstance(pilot.app.screen, TextModal))
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(pilot.app.screen, OverrideModal))
        text = screen_text(pilot.app)
        assert "4a@EAS01: the verification disagrees. Mark it done anyway?" in text
        assert "[MISMATCH] http/mail-int.test.lan is on no other account" in text
        await pilot.press("escape")  # no: it stays failed, and says why
        await until(pilot, lambda: screen.busy is None and isinstance(pilot.app.screen, RunbookScreen))
        assert state(path, "4a@EAS01") == State.FAILED
        assert [e["action"] for e in journal(path)][-2:] == ["verify", "mark_refused"]
        await pilot.press("d")
        await until(pilot, lambda: isinstance(pilot.app.screen, TextModal))
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(pilot.app.screen, OverrideModal))
        await pilot.press("enter")  # a reason is required
        await settle(pilot)
        assert isinstance(pilot.app.screen, OverrideModal)
        await pilot.press(*"AD team removes OLDSVC tonight", "enter")
        await until(pilot, lambda: state(path, "4a@EAS01") == State.MANUAL_DONE)
        await settle(pilot)
        assert "[≠] 4a@EAS01" in screen_text(pilot.app)  # done by hand, and the verification still disagrees
        await pilot.press("V")  # verify all: a known disagreement is not someone else's drift
        said = "-- 4a@EAS01 still disagree, as when recorded done anyway"
        await until(pilot, lambda: said in screen.query_one(StepDetail)._extra_log)
        await settle(pilot)
        assert not isinstance(pilot.app.screen, ErrorModal)
    forced = [e for e in journal(path) if e["action"] == "mark_done"][-1]
    assert forced["note"] == "AD team removes OLDSVC tonight" and forced["details"]["mismatches"]


@tui_test
async def test_each_tick_is_journaled_and_shows_in_monochrome(tui_env: Path) -> None:
    path = demo("tmg-eas")
    async with app_for(path).run_test(size=SIZE) as pilot:
        screen = await opened(pilot)
        checklist = screen.query_one(Checklist)
        checklist.focus()
        await pilot.press("down", "space")
        await until(pilot, lambda: "1" in store.load(path).record("1").ticks)
        await settle(pilot)
        assert "[x] 2." in screen_text(pilot.app)
        await pilot.press("space")
        await until(pilot, lambda: not store.load(path).record("1").ticks)
    actions = [(e["action"], e["outcome"]) for e in journal(path) if e["step"] == "1"]
    assert actions[-2:] == [("tick", "item 2"), ("untick", "item 2")]


@tui_test
async def test_run_shows_the_exact_change_and_cancel_changes_nothing(tui_env: Path) -> None:
    path = demo("tmg-eas")
    advance(path, "1", "2")
    async with app_for(path).run_test(size=SIZE) as pilot:
        await select(pilot, "3a")
        await pilot.press("r")
        await until(pilot, lambda: isinstance(pilot.app.screen, ConfirmModal))
        text = screen_text(pilot.app)
        assert "TMG01$ msDS-AllowedToDelegateTo: + http/eas01.test.lan, + http/eas01" in text
        await pilot.press("n")
        await until(pilot, lambda: isinstance(pilot.app.screen, RunbookScreen) and not pilot.app.screen.busy)
    assert state(path, "3a") == State.PENDING
    lab_state = yaml.safe_load(lab_file(path).read_text())
    assert "http/eas01.test.lan" not in str(lab_state["directory"])


@tui_test
async def test_run_confirmed_applies_verifies_and_undo_reverts(tui_env: Path) -> None:
    path = demo("tmg-eas")
    advance(path, "1", "2")
    async with app_for(path).run_test(size=SIZE) as pilot:
        screen = await select(pilot, "3a")
        await pilot.press("r")
        await until(pilot, lambda: isinstance(pilot.app.screen, ConfirmModal))
        await pilot.press("y")
        await until(pilot, lambda: state(path, "3a") == State.DONE)
        await until(pilot, lambda: not screen.busy)
        assert screen.check_action("undo", ()) is True
        await pilot.press("u")
        await until(pilot, lambda: isinstance(pilot.app.screen, ConfirmModal))
        assert "revert TMG01$ msDS-AllowedToDelegateTo" in screen_text(pilot.app)
        await pilot.press("y")
        await until(pilot, lambda: state(path, "3a") == State.UNDONE)


@tui_test
async def test_a_point_of_no_return_needs_the_host_name_typed(tui_env: Path) -> None:
    path = demo("tmg-eas", cert_validation="eas")  # EAS checks the certificate: 6a ends with iisreset
    advance(path, "2")
    async with app_for(path).run_test(size=SIZE) as pilot:
        await select(pilot, "6a@EAS01")
        await pilot.press("r")
        await until(pilot, lambda: isinstance(pilot.app.screen, PointOfNoReturnModal))
        assert "POINT OF NO RETURN: iisreset on eas01.test.lan" in screen_text(pilot.app)
        await pilot.press(*"eas02", "enter")
        await until(pilot, lambda: "that is not eas01.test.lan" in screen_text(pilot.app))
        modal = pilot.app.screen
        assert isinstance(modal, PointOfNoReturnModal)
        for almost in ("eas01", "EAS01", "EAS01.test.lan", "eas01.test.lan.", "eas01.test"):  # only the name shown
            modal.query_one("#host", Input).value = almost
            await pilot.press("enter")
            await until(pilot, lambda: "type the full name exactly as shown" in screen_text(pilot.app))
            assert pilot.app.screen is modal, almost
        assert state(path, "6a@EAS01") == State.PENDING
        pilot.app.screen.query_one("#host", Input).value = "eas01.test.lan"
        await pilot.press("enter")
        await until(pilot, lambda: state(path, "6a@EAS01") == State.DONE)
    assert any(e["action"] == "change" and e["details"].get("attribute") == "iisreset" for e in journal(path))


@tui_test
async def test_escape_at_the_point_of_no_return_changes_nothing(tui_env: Path) -> None:
    path = demo("tmg-eas", cert_validation="eas")  # EAS checks the certificate: 6a ends with iisreset
    advance(path, "2")
    async with app_for(path).run_test(size=SIZE) as pilot:
        screen = await select(pilot, "6a@EAS01")
        await pilot.press("r")
        await until(pilot, lambda: isinstance(pilot.app.screen, PointOfNoReturnModal))
        await pilot.press("escape")
        await until(pilot, lambda: not screen.busy)
        assert isinstance(pilot.app.screen, RunbookScreen)
    assert state(path, "6a@EAS01") == State.PENDING


@tui_test
async def test_a_failed_worker_becomes_an_error_modal_with_the_specific_message(tui_env: Path) -> None:
    path = demo("tmg-eas", fail="3a")
    advance(path, "1", "2")
    async with app_for(path).run_test(size=SIZE) as pilot:
        await select(pilot, "3a")
        await pilot.press("r")
        await until(pilot, lambda: isinstance(pilot.app.screen, ConfirmModal))
        await pilot.press("y")
        await until(pilot, lambda: isinstance(pilot.app.screen, ErrorModal))
        text = screen_text(pilot.app)
        assert "run 3a failed" in text and "injected failure" in text and "TMG01$" in text
        assert "Traceback" not in text
        await pilot.press("enter")
        await settle(pilot)
        assert "[!] 3a" in screen_text(pilot.app)
    assert state(path, "3a") == State.FAILED


@tui_test
async def test_an_interrupted_step_is_in_doubt_and_verify_is_offered_first(tui_env: Path) -> None:
    path = demo("tmg-eas")
    advance(path, "1", "2")
    crashed = drive(path)  # a driver that died in the middle of 3a: running on disk, lock left behind
    crashed.record("3a").state, crashed.record("3a").action = State.RUNNING, "execute"
    crashed.save()
    crashed.lock.holder = None  # type: ignore[union-attr]
    lock = store.lock_path(path)
    data = json.loads(lock.read_text())
    data["pid"] = 999999999  # no such process on this host: the lock is dead
    lock.write_text(json.dumps(data))
    async with app_for(path).run_test(size=SIZE) as pilot:
        screen = await opened(pilot)
        await until(pilot, lambda: isinstance(pilot.app.screen, ConfirmModal))
        assert "3a was interrupted" in screen_text(pilot.app)
        assert screen.selected == "3a" and state(path, "3a") == State.INTERRUPTED
        assert screen.check_action("run", ()) is None  # dimmed: verify first
        await pilot.press("y")
        await until(pilot, lambda: state(path, "3a") != State.INTERRUPTED)
    assert state(path, "3a") == State.FAILED  # nothing of 3a took before the "crash"


@tui_test
async def test_follow_mode_is_read_only_and_refreshes_live(tui_env: Path) -> None:
    path = demo("tmg-eas")
    other = drive(path)
    try:
        async with app_for(path).run_test(size=SIZE) as pilot:
            screen = await opened(pilot)
            assert not screen.session.driving and screen.session.following
            assert "READ-ONLY" in screen_text(pilot.app) and "driven by alice@jump1" in screen_text(pilot.app)
            for action in ("run", "done", "skip", "note", "undo"):  # not in a follower's footer at all
                assert screen.check_action(action, ()) is False, action
            await pilot.press("d")
            await settle(pilot)
            assert not isinstance(pilot.app.screen, TextModal)
            other.mark("1", "done", "by the other operator")
            await until(pilot, lambda: "[m] 1" in screen_text(pilot.app), timeout=30)
            assert screen.check_action("drive", ()) is False
            other.close()
            # The follower notices the released lock on its next poll: slower on a loaded CI machine.
            await until(pilot, lambda: "t takes the wheel" in screen_text(pilot.app), timeout=30)
            await until(pilot, lambda: "t Drive" in screen_text(pilot.app), timeout=30)
            await pilot.press("t")
            await until(pilot, lambda: isinstance(pilot.app.screen, ConfirmModal), timeout=30)
            await pilot.press("y")
            await until(pilot, lambda: screen.session.driving, timeout=30)
            assert "driving" in screen_text(pilot.app)
    finally:
        other.close()
    assert state(path, "1") == State.MANUAL_DONE


@tui_test
async def test_every_action_is_in_the_command_palette(tui_env: Path) -> None:
    path = demo("tmg-eas")
    app = app_for(path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot)
        titles = [command.title for command in app.get_system_commands(screen)]
        for title, _ in ACTION_TITLES.values():
            assert any(t.startswith(title) for t in titles), title
        assert "Go to step 6a@EAS01" in titles


@tui_test
async def test_copy_puts_the_command_on_the_clipboard(tui_env: Path) -> None:
    path = demo("tmg-eas")
    app = app_for(path)
    async with app.run_test(size=SIZE) as pilot:
        await select(pilot, "4a@EAS01")
        await pilot.press("c")
        assert app.clipboard == "setspn -L EAS01"


@tui_test
async def test_notes_and_remote_text_are_shown_literally(tui_env: Path) -> None:
    path = demo("tmg-eas")
    async with app_for(path).run_test(size=SIZE) as pilot:
        await opened(pilot)
        await pilot.press("a")
        await until(pilot, lambda: isinstance(pilot.app.screen, TextModal))
        pilot.app.screen.query_one("#text", Input).value = "-Filter '[a-z]*' [b]x[/b]"
        await pilot.press("enter")
        await until(pilot, lambda: store.load(path).record("1").note == "-Filter '[a-z]*' [b]x[/b]")
        await settle(pilot)
        assert "note: -Filter '[a-z]*' [b]x[/b]" in screen_text(pilot.app)


@tui_test
async def test_skip_needs_a_reason(tui_env: Path) -> None:
    path = demo("tmg-eas")
    async with app_for(path).run_test(size=SIZE) as pilot:
        await select(pilot, "5a")
        await pilot.press("s")
        await until(pilot, lambda: isinstance(pilot.app.screen, TextModal))
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(pilot.app.screen, TextModal)  # an empty reason is not accepted
        await pilot.press(*"done by GPO", "enter")
        await until(pilot, lambda: state(path, "5a") == State.SKIPPED)


@tui_test
async def test_verify_all_flags_drift_made_outside_the_tool(tui_env: Path) -> None:
    path = demo("tmg-eas")
    advance(path, "1", "2", "3a")
    outside = Lab.load(lab_file(path))
    outside.directory.accounts["tmg01$"].delegate_to.clear()
    outside.save()
    async with app_for(path).run_test(size=SIZE) as pilot:
        await opened(pilot)
        await pilot.press("V")
        await until(pilot, lambda: isinstance(pilot.app.screen, ErrorModal))
        assert "drift in 3a" in screen_text(pilot.app)
        await pilot.press("escape")
        await settle(pilot)
        assert "[≠] 3a" in screen_text(pilot.app)


@tui_test
async def test_next_walks_to_the_first_unsettled_step(tui_env: Path) -> None:
    path = demo("tmg-eas")
    advance(path, "1", "2")
    async with app_for(path).run_test(size=SIZE) as pilot:
        screen = await select(pilot, "1")
        await pilot.press("n")
        await settle(pilot)
        assert screen.selected == "3a"


@tui_test
async def test_help_lists_keys_and_glyphs(tui_env: Path) -> None:
    path = demo("tmg-eas")
    async with app_for(path).run_test(size=SIZE) as pilot:
        await opened(pilot)
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(pilot.app.screen, InfoModal))
        await settle(pilot)
        text = str(pilot.app.screen.query_one("#help-text", Static).content)
        assert "interrupted: verify first" in text and "go to the next step that can go now" in text
        for key in ("k", "P", "j / b / e", "x"):  # keys the footer hides at 80 columns are listed here
            assert f"\n{key:>8}  " in "\n" + text, key
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(pilot.app.screen, RunbookScreen))


@tui_test
async def test_a_real_session_asks_for_the_password_in_a_modal_and_never_stores_it(tui_env: Path,
                                                                                    write_params) -> None:
    from runbook.backends import Options, ports_factory
    from runbook.flow.engine import Runbook
    from steps import CATALOGUE

    path = tui_env / "real.yaml"
    Runbook.create(path, str(write_params()), CATALOGUE, ports_factory(Options()))
    async with app_for(path).run_test(size=SIZE) as pilot:
        screen = await select(pilot, "3a")
        await pilot.press("p")
        await until(pilot, lambda: isinstance(pilot.app.screen, PasswordModal))
        assert "LDAP bind password for Administrator@TEST.LAN" in screen_text(pilot.app)
        assert pilot.app.screen.query_one("#text").password
        await pilot.press("escape")
        plans = screen.session.plans
        await until(pilot, lambda: plans.get("3a") is not None and plans["3a"].error is not None)
        assert "RUNBOOK_LDAP_PASSWORD: no password given" in (plans["3a"].error or "")
    assert "password" not in path.read_text().lower()


@pytest.mark.slow  # about 8 s: the lab is slowed down so that the step is still running when it is stopped
@tui_test
async def test_a_long_step_can_be_stopped_and_comes_back_interrupted(tui_env: Path) -> None:
    path = demo("tmg-eas")
    advance(path, "1", "2", "3a", "4a")
    session = store.load(path)
    session.lab["latency_ms"] = 1000.0  # from now on every lab call takes 1 s: a step long enough to stop
    store.save(session, path)
    async with app_for(path).run_test(size=SIZE) as pilot:
        screen = await select(pilot, "5a")
        plans = screen.session.plans
        await until(pilot, lambda: plans.get("5a") is not None and not plans["5a"].computing)
        await pilot.press("r")
        await until(pilot, lambda: isinstance(pilot.app.screen, ConfirmModal))
        await pilot.press("y")
        await until(pilot, lambda: state(path, "5a") == State.RUNNING)
        assert screen.check_action("stop", ()) is True and "x stops it" in screen_text(pilot.app)
        await pilot.press("x")
        await until(pilot, lambda: isinstance(pilot.app.screen, ConfirmModal))
        await pilot.press("y")
        await until(pilot, lambda: not screen.busy)
        await settle(pilot)
        assert "[?] 5a" in screen_text(pilot.app)
        assert screen.check_action("run", ()) is None  # verify first
    assert state(path, "5a") == State.INTERRUPTED


@tui_test
async def test_verifying_a_pending_step_says_it_is_not_done_yet_rather_than_mismatch(tui_env: Path) -> None:
    path = demo("tmg-eas")
    async with app_for(path).run_test(size=SIZE) as pilot:
        await select(pilot, "1")
        await pilot.press("v")
        await until(pilot, lambda: any("not in place yet" in str(n.message) for n in pilot.app._notifications))
        assert state(path, "1") == State.PENDING

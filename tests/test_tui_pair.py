"""Pair work in the TUI: handing over with a note, the note shown to the next driver, and a takeover dialog that
says whose lock it is before asking."""
from __future__ import annotations

from pathlib import Path

from runbook.flow.states import State
from runbook.pair.handover import HANDOVER, hand_over
from runbook.record import store
from screens.modals import ConfirmModal, TextModal
from screens.widgets.step_list import StepList
from tests.pair_helpers import stale_lock
from tests.tui_support import app_for, demo, drive, journal, opened, screen_text, settle, tui_env, tui_test, until

__all__ = ["tui_env"]
SIZE = (100, 32)
SMALL = (80, 24)


def notified(app, text: str) -> bool:
    return any(text in str(n.message) for n in app._notifications)


@tui_test
async def test_handover_journals_the_note_releases_the_lock_and_the_view_follows(tui_env: Path) -> None:
    path = demo("tmg-eas")
    note = "3a next; [b]ask[/b] the AD team about 4a"  # operator text: shown literally, never as markup
    async with app_for(path).run_test(size=SIZE) as pilot:
        screen = await opened(pilot)
        assert screen.session.driving and store.lock_path(path).exists()
        await pilot.press("H")
        await until(pilot, lambda: isinstance(pilot.app.screen, TextModal))
        await pilot.press("enter")  # an empty note is not accepted
        await settle(pilot, rounds=1)
        assert isinstance(pilot.app.screen, TextModal)
        pilot.app.screen.query_one("#text").value = note
        await pilot.press("enter")
        await until(pilot, lambda: screen.session.following is not None and not screen.busy)
        await settle(pilot)
        assert not screen.session.driving and not store.lock_path(path).exists()
        last = journal(path)[-1]
        assert last["action"] == HANDOVER and last["note"] == note
        text = screen_text(pilot.app)
        assert "READ-ONLY" in text and note in text and "t takes the wheel" in text
        assert not screen.check_action("handover", ())  # a follower has nothing to hand over
        footer = text.splitlines()[-1]
        assert "t Drive" in footer and "^q Quit" in footer and "r Run" not in footer  # fits while t is offered


@tui_test
async def test_the_next_driver_sees_the_pending_handover_until_they_act(tui_env: Path) -> None:
    path = demo("tmg-eas")
    earlier = drive(path)
    hand_over(earlier, "listener done; rule 2 waits for the change window")
    earlier.close()
    async with app_for(path).run_test(size=SMALL) as pilot:
        screen = await opened(pilot)
        assert screen.session.driving
        text = screen_text(pilot.app)
        assert "handed over by alice@jump1" in text and "rule 2 waits for the change window" in " ".join(text.split())
        await pilot.press("d")
        await until(pilot, lambda: isinstance(pilot.app.screen, ConfirmModal))  # its checklist is not ticked
        await pilot.press("y")
        await until(pilot, lambda: isinstance(pilot.app.screen, TextModal))
        await pilot.press("enter")
        await until(pilot, lambda: store.load(path).record("1").state == State.MANUAL_DONE)
        await until(pilot, lambda: "rule 2 waits" not in screen_text(pilot.app))


@tui_test
async def test_the_takeover_dialog_shows_holder_host_pid_and_heartbeat(tui_env: Path) -> None:
    path = demo("tmg-eas")
    holder = stale_lock(path)
    async with app_for(path).run_test(size=SIZE) as pilot:
        screen = await opened(pilot)
        assert not screen.session.driving and screen.session.following
        await until(pilot, lambda: "t takes the wheel" in screen_text(pilot.app))
        await pilot.press("t")
        await until(pilot, lambda: isinstance(pilot.app.screen, ConfirmModal))
        text = screen_text(pilot.app)
        for wanted in ("locked by carol@jump9", "host:           jump9.example.test", "pid:            4242",
                       f"last heartbeat: {holder['heartbeat']}", "no heartbeat for 10 min"):
            assert wanted in text, wanted
        await pilot.press("y")
        await until(pilot, lambda: screen.session.driving)
    takeover = [e for e in journal(path) if e["action"] == "takeover"]
    assert takeover and "carol@jump9" in str(takeover[-1].get("details"))


@tui_test
async def test_a_key_that_does_not_apply_now_says_why(tui_env: Path) -> None:
    path = demo("tmg-eas")
    async with app_for(path).run_test(size=SIZE) as pilot:
        screen = await opened(pilot)
        screen.query_one(StepList).select_key("1")
        await settle(pilot)
        await pilot.press("r")
        await settle(pilot, rounds=1)
        assert notified(pilot.app, "1 is done by hand")
        assert not isinstance(pilot.app.screen, ConfirmModal)


@tui_test
async def test_while_busy_the_footer_keeps_stop_and_quit_in_80_columns(tui_env: Path) -> None:
    path = demo("tmg-eas")
    async with app_for(path).run_test(size=SMALL) as pilot:
        screen = await opened(pilot)
        screen.session.busy = "running 3a"  # what the footer shows while a step's worker runs
        screen.refresh_bindings()
        await settle(pilot, rounds=1)
        footer = screen_text(pilot.app).splitlines()[-1]
        assert "x Stop" in footer and "^q Quit" in footer and "r Run" not in footer
        await pilot.press("r")
        await settle(pilot, rounds=1)
        assert notified(pilot.app, "wait: running 3a")
        screen.session.busy = None


@tui_test
async def test_a_followers_footer_offers_only_what_a_follower_can_do(tui_env: Path) -> None:
    path = demo("tmg-eas")
    other = drive(path)
    try:
        async with app_for(path).run_test(size=SMALL) as pilot:
            screen = await opened(pilot)
            assert screen.session.following and not screen.session.driving
            screen.query_one(StepList).select_key("3a")
            await settle(pilot)
            shown = {key for key, active in screen.active_bindings.items() if active.binding.show}
            assert {"v", "p", "c", "n"} <= shown, shown
            assert not {"r", "d", "s", "u", "a"} & shown, shown
            footer = screen_text(pilot.app).splitlines()[-1]
            assert "r Run" not in footer and "d Done" not in footer and "v Verify" in footer
            await pilot.press("r")  # pressed anyway: it says why instead of doing nothing
            await settle(pilot, rounds=1)
            assert notified(pilot.app, "read-only")
    finally:
        other.close()

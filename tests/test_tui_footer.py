"""The runbook screen's footer rebuilds its keys once however many times the bindings change before a refresh."""
from __future__ import annotations

from textual.app import App, ComposeResult
from textual.binding import Binding

from screens.widgets.footer import KeysFooter
from tests.tui_support import tui_test


class CountingFooter(KeysFooter):
    rebuilds = 0

    async def recompose(self) -> None:
        CountingFooter.rebuilds += 1
        await super().recompose()


class FooterApp(App[None]):
    BINDINGS = [Binding("x", "toggle", "Toggle")]
    enabled = True

    def compose(self) -> ComposeResult:
        yield CountingFooter(show_command_palette=False)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return (True if self.enabled else None) if action == "toggle" else True  # None: shown, disabled


@tui_test
async def test_several_binding_changes_in_one_turn_rebuild_the_footer_once() -> None:
    app = FooterApp()
    async with app.run_test() as pilot:
        await pilot.pause()
        before = CountingFooter.rebuilds
        for enabled in (False, True, False):
            app.enabled = enabled
            app.screen.refresh_bindings()
        await pilot.pause()
        await pilot.pause()
        assert CountingFooter.rebuilds == before + 1
        # The one rebuild read the bindings as they were when it ran: the last change is shown.
        assert app.query_one("FooterKey").has_class("-disabled")
        app.enabled = True
        app.screen.refresh_bindings()
        await pilot.pause()
        await pilot.pause()
        assert CountingFooter.rebuilds == before + 2 and not app.query_one("FooterKey").has_class("-disabled")

"""The key footer, rebuilt once per refresh however many times the keys that apply changed before it.

Textual's Footer queues a rebuild of every key after each bindings change; opening a session changes them several
times in one turn (the view is drawn, the start step selected, the list focused), and each rebuild remounts every
key (≈10–15 ms on the runbook screen). One queued rebuild reads the bindings as they are when it runs, so the later
changes are in it.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.widgets import Footer

if TYPE_CHECKING:
    from textual.screen import Screen


class KeysFooter(Footer):
    _rebuild_queued = False

    def bindings_changed(self, screen: Screen[Any]) -> None:
        if self._rebuild_queued:
            return
        super().bindings_changed(screen)
        # The conditions under which Textual's footer queued its rebuild.
        self._rebuild_queued = screen.app.app_focus and self.is_attached and screen is self.screen

    async def recompose(self) -> None:
        self._rebuild_queued = False
        await super().recompose()

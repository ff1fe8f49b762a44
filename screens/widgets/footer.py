"""The key footer, rebuilt once per refresh however many times the keys that apply changed before it.

Textual's Footer queues a rebuild of every key after each bindings change; opening a session changes them several
times in one turn (the view is drawn, the start step selected, the list focused), and each rebuild remounts every
key (≈10–15 ms on the runbook screen). One queued rebuild reads the bindings as they are when it runs, so the later
changes are in it.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.widgets import Footer
from textual.widgets._footer import FooterKey  # not exported by textual.widgets; Textual is pinned exactly

if TYPE_CHECKING:
    from textual.app import ComposeResult
    from textual.screen import Screen


class KeysFooter(Footer):
    _rebuild_queued = False

    def bindings_changed(self, screen: Screen[Any]) -> None:
        if self._rebuild_queued:
            return
        super().bindings_changed(screen)
        # The conditions under which Textual's footer queued its rebuild.
        self._rebuild_queued = screen.app.app_focus and self.is_attached and screen is self.screen

    def compose(self) -> ComposeResult:
        for widget in super().compose():
            if self.compact and isinstance(widget, FooterKey):
                # A key's `compact` (bound to this footer's) adds this class as it mounts, which restyles that key
                # (≈1–2 ms each); given before the mount, the class is already there and that restyle is skipped.
                widget.add_class("-compact", update=False)
            yield widget

    async def recompose(self) -> None:
        self._rebuild_queued = False
        await super().recompose()

"""A screen styled once when first shown and laid out once per size, with its breakpoint classes from the start.

Textual lays a screen out again on every Resize it gets, and a layout that first shows a screen (or changes its
size) sends the screen a Resize with the size it was just laid out at: on the runbook screen a second full reflow
and a partial draw (≈8 ms) between the steps' first frame and the operator's first key. A Resize whose size or
breakpoint classes are not the ones the screen already has is handled as Textual handles it (layout, background
screens, breakpoint classes).

Textual also restyles every node of a screen when it is pushed or switched to, for styles that may have changed
while it was hidden. The first time, the screen has just been mounted and styled (≈5–10 ms on the runbook screen
to do again): that resume keeps the styles; every later one is handled as Textual handles it.
"""
from __future__ import annotations

from typing import TypeVar

from textual import events
from textual.geometry import Size
from textual.screen import Screen

ResultType = TypeVar("ResultType")


class SteadyScreen(Screen[ResultType]):
    _resumed = False

    def on_screen_resume(self, event: events.ScreenResume) -> None:
        # Runs before Screen's own handler, which reads the flag.
        if not self._resumed:
            self._resumed = True
            event.refresh_styles = False

    def _breakpoints(self) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
        """The screen's own breakpoints, else the app's (as Textual reads them)."""
        horizontal, vertical = self.HORIZONTAL_BREAKPOINTS, self.VERTICAL_BREAKPOINTS
        return ((self.app.HORIZONTAL_BREAKPOINTS if horizontal is None else horizontal) or [],
                (self.app.VERTICAL_BREAKPOINTS if vertical is None else vertical) or [])

    def size_classes(self, size: Size) -> list[str]:
        """The breakpoint classes Textual gives this screen when it is resized to `size`."""
        horizontal, vertical = self._breakpoints()
        classes: list[str] = []
        for points, extent in ((horizontal, size.width), (vertical, size.height)):
            classes += [name for edge, name in sorted(points, reverse=True) if extent >= edge][:1]
        return classes

    def compose_size_classes(self) -> None:
        """Take the classes for the terminal's size now, before the first layout (which then need not be redone)."""
        self.add_class(*self.size_classes(self.app.size))

    def on_resize(self, event: events.Resize) -> None:
        wanted = self.size_classes(event.size)
        if event.size == self.outer_size and all(self.has_class(name) == (name in wanted)
                                                 for points in self._breakpoints() for _, name in points):
            event.prevent_default()  # Screen's own handler, which would lay the screen out again as it is

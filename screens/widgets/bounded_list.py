"""An OptionList whose cursor stops at either end instead of wrapping round, and that is drawn once when shown.

On a runbook a wrap is a jump: Down at the last checklist item landed on the first, and Up from step 1 landed on
the last step of the list, with nothing on screen saying the cursor went round.

OptionList forgets every rendered option on each Resize (its cache is not keyed by width). A list's first Resize
arrives after the frame that first drew it, at the width it was drawn at: forgetting then drew every step (and
checklist item) a second time when the runbook screen opens (≈10–20 ms). That first Resize keeps the renders when
every draw so far was made at its width; any other Resize forgets them, as OptionList does.
"""
from __future__ import annotations

from textual import events
from textual.geometry import Region
from textual.strip import Strip
from textual.widgets import OptionList


class BoundedOptionList(OptionList):
    _resized = False
    _drawn_widths: frozenset[int] = frozenset()  # the content widths drawn at before the first Resize

    def render_lines(self, crop: Region) -> list[Strip]:
        if not self._resized:
            self._drawn_widths |= {self.scrollable_content_region.width}
        return super().render_lines(crop)

    def on_resize(self, event: events.Resize) -> None:
        first, self._resized = not self._resized, True
        if first and self._drawn_widths == {self.scrollable_content_region.width}:
            event.prevent_default()  # OptionList's own handler (its only one on Resize) would forget the renders

    def action_cursor_down(self) -> None:
        self._move(1)

    def action_cursor_up(self) -> None:
        self._move(-1)

    def _move(self, direction: int) -> None:
        if self.highlighted is None:
            self.action_first() if direction > 0 else self.action_last()
            return
        index = self.highlighted + direction
        while 0 <= index < self.option_count:  # past disabled options (the step list's group headings)
            if not self.get_option_at_index(index).disabled:
                self.highlighted = index
                return
            index += direction

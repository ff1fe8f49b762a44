"""An OptionList whose cursor stops at either end instead of wrapping round.

On a runbook a wrap is a jump: Down at the last checklist item landed on the first, and Up from step 1 landed on
the last step of the list, with nothing on screen saying the cursor went round.
"""
from __future__ import annotations

from textual.widgets import OptionList


class BoundedOptionList(OptionList):
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

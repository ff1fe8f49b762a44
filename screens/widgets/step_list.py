"""The step list: steps 1–2, then each track, with a glyph per state that reads without colour."""
from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from screens.step_rows import Row
from screens.widgets.bounded_list import BoundedOptionList


class StepList(BoundedOptionList):
    """Group headings are disabled options, so the cursor moves from step to step only."""

    @dataclass
    class StepHighlighted(Message):
        key: str

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._keys: list[str | None] = []

    def show(self, rows: list[Row], select: str | None = None) -> None:
        """Replace the rows, keeping the cursor on the same step (or on `select`)."""
        current = select or self.selected_key
        keys = [row.key for row in rows]
        if keys == self._keys:
            for index, row in enumerate(rows):
                self.replace_option_prompt_at_index(index, row.label)
        else:
            self._keys = keys
            self.clear_options()
            self.add_options([Option(row.label, id=row.key or f"group-{index}", disabled=row.key is None)
                              for index, row in enumerate(rows)])
        if current in self._keys:
            self.highlighted = self._keys.index(current)
        elif self.highlighted is None:
            self.highlighted = next((i for i, key in enumerate(self._keys) if key), None)

    @property
    def selected_key(self) -> str | None:
        if self.highlighted is None or self.highlighted >= len(self._keys):
            return None
        return self._keys[self.highlighted]

    def select_key(self, key: str) -> None:
        if key in self._keys:
            self.highlighted = self._keys.index(key)
            self.scroll_to_highlight()

    def _on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        if event.option.id and not event.option.id.startswith("group-"):
            self.post_message(self.StepHighlighted(event.option.id))

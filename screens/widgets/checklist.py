"""A manual step's checklist: one option per item, `[x]`/`[ ]` in the text so ticks read without colour."""
from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding
from textual.content import Content
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from runbook.flow.catalogue import ManualItem
from screens.widgets.bounded_list import BoundedOptionList


@dataclass
class Tick:
    by: str | None  # who ticked it, as journaled; None while our own tick is on its way to the engine


class Checklist(BoundedOptionList):
    BINDINGS = [Binding("space", "tick", "Tick", id="checklist.tick", show=False)]

    @dataclass
    class Toggled(Message):
        index: int
        ticked: bool

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.items: list[ManualItem] = []
        self.ticks: dict[int, Tick] = {}

    def show(self, items: list[ManualItem], ticks: dict[int, Tick], *, keep_highlight: bool) -> None:
        keep = self.highlighted if keep_highlight else None
        self.items, self.ticks = items, dict(ticks)
        self.clear_options()
        self.add_options([Option(self._prompt(index), id=f"item-{index}") for index in range(len(items))])
        if items:
            self.highlighted = keep if keep is not None and keep < len(items) else 0

    def _prompt(self, index: int) -> Content:
        item, tick = self.items[index], self.ticks.get(index)
        parts: list[str | tuple[str, str]] = [("[x] " if tick else "[ ] ", "bold $success" if tick else "bold"),
                                              (f"{index + 1}. ", "bold"), item.text]
        if item.command:
            parts += ["\n    ", ("$ " + item.command, "$text-accent")]
        if tick and tick.by:
            parts += ["\n    ", (f"ticked by {tick.by}", "$text-muted")]
        return Content.assemble(*parts)

    def set_tick(self, index: int, ticked: bool) -> None:
        if ticked:
            self.ticks[index] = Tick(by=None)
        else:
            self.ticks.pop(index, None)
        self.replace_option_prompt_at_index(index, self._prompt(index))

    def action_tick(self) -> None:
        if self.highlighted is None or not self.items:
            return
        index = self.highlighted
        ticked = index not in self.ticks
        self.set_tick(index, ticked)
        self.post_message(self.Toggled(index, ticked))

    def _on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.action_tick()

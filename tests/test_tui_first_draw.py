"""A screen and its lists are laid out and drawn once when first shown, and again, at the new size, when resized."""
from __future__ import annotations

from collections import Counter
from typing import Any

from rich.console import Console, ConsoleOptions, RenderResult
from rich.text import Text
from textual.app import App, ComposeResult
from textual.screen import Screen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from screens.steady_screen import SteadyScreen
from screens.widgets.bounded_list import BoundedOptionList
from tests.tui_support import tui_test

DRAWN: Counter[str] = Counter()


class CountedPrompt:
    """A prompt that counts how often the list draws it (OptionList keeps what it drew until it forgets it)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        DRAWN[self.text] += 1
        yield Text(self.text)


def list_app(kind: type[OptionList]) -> App[None]:
    class ListApp(App[None]):
        def compose(self) -> ComposeResult:
            yield kind(*(Option(CountedPrompt(f"step {number}")) for number in range(5)))

    return ListApp()


async def settled(pilot: Any) -> None:
    for _ in range(3):
        await pilot.pause()


async def draws(kind: type[OptionList]) -> tuple[int, int, set[int], set[int]]:
    """How often each option was drawn once shown at 60 columns, and once resized to 40; the lines' widths."""
    DRAWN.clear()
    app = list_app(kind)
    async with app.run_test(size=(60, 12)) as pilot:
        await settled(pilot)
        steps = app.query_one(kind)
        shown, widths = set(DRAWN.values()), {len(line.text) for line in steps.render_lines(steps.region.reset_offset)}
        await pilot.resize_terminal(40, 12)
        await settled(pilot)
        resized = {len(line.text) for line in steps.render_lines(steps.region.reset_offset)}
        assert len(shown) == 1 and len(set(DRAWN.values())) == 1, DRAWN
        return shown.pop(), DRAWN["step 0"], widths, resized


@tui_test
async def test_a_list_is_drawn_once_when_shown_and_again_at_a_new_width() -> None:
    ours, textuals = await draws(BoundedOptionList), await draws(OptionList)
    # Textual's list draws every option again at its first Resize; ours keeps the first draw (same width)...
    assert ours[0] < textuals[0]
    # ...and, resized, draws each afresh as Textual's does, at the new width.
    assert ours[1] - ours[0] == textuals[1] - textuals[0] > 0
    assert ours[2:] == textuals[2:] == ({60}, {40})


class Plain(Screen[None]):
    def compose(self) -> ComposeResult:
        yield Static("body", id="body")


class Steady(SteadyScreen[None]):
    def compose(self) -> ComposeResult:
        self.compose_size_classes()
        yield Static("body", id="body")


class Breakpoints(App[None]):
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (70, "-wide")]


async def layouts_when_shown(kind: type[Screen[None]]) -> int:
    app = Breakpoints()
    async with app.run_test(size=(80, 20)) as pilot:
        screen, layouts = kind(), []
        screen.screen_layout_refresh_signal.subscribe(app, layouts.append, immediate=True)
        await app.push_screen(screen)
        await settled(pilot)
        return len(layouts)


@tui_test
async def test_a_steady_screen_is_laid_out_once_when_shown() -> None:
    assert 0 < await layouts_when_shown(Steady) < await layouts_when_shown(Plain)


@tui_test
async def test_a_steady_screen_follows_the_terminal_size_and_breakpoints() -> None:
    app = Breakpoints()
    async with app.run_test(size=(80, 20)) as pilot:
        screen = Steady()
        await app.push_screen(screen)
        await settled(pilot)
        assert screen.has_class("-wide") and not screen.has_class("-narrow")
        await pilot.resize_terminal(60, 20)
        await settled(pilot)
        assert screen.has_class("-narrow") and not screen.has_class("-wide")
        assert screen.query_one("#body").size.width == 60
        await app.push_screen(Plain())  # resized while another screen is on top: laid out again on its return
        await settled(pilot)
        await pilot.resize_terminal(90, 20)
        await settled(pilot)
        app.pop_screen()
        await settled(pilot)
        assert screen.has_class("-wide") and not screen.has_class("-narrow")
        assert screen.query_one("#body").size.width == 90


class CountingRestyles:
    restyles = 0

    def update_node_styles(self, animate: bool = True) -> None:
        type(self).restyles += 1
        super().update_node_styles(animate)  # type: ignore[misc]


class CountedPlain(CountingRestyles, Plain):
    restyles = 0


class CountedSteady(CountingRestyles, Steady):
    restyles = 0


async def restyles_when_shown(kind: type[CountedPlain] | type[CountedSteady]) -> tuple[int, int]:
    """Whole-screen restyles when first shown, and when shown again after another screen."""
    app = Breakpoints()
    async with app.run_test(size=(80, 20)) as pilot:
        await app.push_screen(kind())
        await settled(pilot)
        first = kind.restyles
        await app.push_screen(Plain())
        await settled(pilot)
        app.pop_screen()
        await settled(pilot)
        return first, kind.restyles - first


@tui_test
async def test_a_steady_screen_keeps_the_styles_it_was_mounted_with_when_first_shown() -> None:
    steady, plain = await restyles_when_shown(CountedSteady), await restyles_when_shown(CountedPlain)
    assert steady[0] < plain[0]
    assert steady[1] == plain[1]  # shown again: as Textual does

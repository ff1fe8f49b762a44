"""The Textual application: one factory for the CLI and the tests, and the entry point `run_app`."""
from __future__ import annotations

import datetime as dt
import gc
import sys
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.dom import DOMNode
from textual.screen import Screen

from runbook import clock as record_clock
from runbook.errors import BadInput, RunbookError
from runbook.record.lock import HEARTBEAT_SECONDS
from screens.asking import Asker
from screens.opening import OutlineScreen, outline_rehearsal, outline_session

if TYPE_CHECKING:
    from runbook.flow.engine import PortsFactory, Runbook
    from runbook.flow.view import SessionView
    from screens.messages import OpenFailed, SessionOpened
    from screens.runbook_screen import RunbookScreen


@dataclass
class AppConfig:
    path: Path | None = None  # None: the start screen
    takeover: bool = False
    steps: list[Any] | None = None  # the procedure; None: steps.CATALOGUE, imported when first asked for
    clock: Callable[[], dt.datetime] = record_clock.now  # "3 min ago" on the start screen, as the records count
    theme: str = "textual-dark"
    poll_seconds: float = 0.4  # follow mode notices another operator's change within this
    heartbeat_seconds: float = HEARTBEAT_SECONDS
    insecure: bool = False
    prepare: Callable[[], Path] | None = None  # builds the session (a rehearsal lab) after the first frame
    # The session `prepare` builds, as it will be made (read from a kept outline), when it can be known before.
    rehearsal: Callable[[], SessionView | None] | None = None

    @property
    def catalogue(self) -> list[Any]:
        # Not a default factory: importing the steps (and the engine under them) before the first frame would
        # delay it.
        if self.steps is None:
            from steps import CATALOGUE

            self.steps = CATALOGUE
        return self.steps


class RunbookApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "certauth-runbook"
    BINDINGS = [Binding("ctrl+q", "quit", "Quit", id="app.quit", priority=True, key_display="^q")]
    # Classes app.tcss lays the runbook screen out by: 80×24 is the smallest supported terminal, 120×40 a roomy one.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (34, "-tall")]

    def __init__(self, config: AppConfig) -> None:
        super().__init__()
        self.config = config
        self.last_session: Path | None = None
        self.theme = config.theme
        self.asker = Asker(self)
        self._books: list[Runbook] = []
        self.prepare_error: RunbookError | None = None
        self._first_drawn = False

    def ports_factory(self) -> PortsFactory:
        """Lab sessions use the lab; real ones ask for a password in a modal when the environment has none."""
        from runbook.backends import Options, ports_factory

        return ports_factory(Options(insecure=self.config.insecure, interactive=False, prompt=self.asker.password))

    def on_mount(self) -> None:
        if self.config.prepare is None and self.config.path is None:
            from screens.start_screen import StartScreen

            self.call_after_refresh(self._report_on_screen)
            self.push_screen(StartScreen())
            return
        first = OutlineScreen("Preparing the rehearsal lab (simulated domain and Windows hosts)…"
                              if self.config.prepare is not None else f"opening {self.config.path.stem}…")
        # Published once the screen is laid out and drawn: the steps come next, without waiting for Textual's
        # second layout of a newly mounted screen (a frame later) to pass on this one, which they replace. Textual
        # publishes it from the app's second layout on: should this be the first, the refresh callback comes.
        first.screen_layout_refresh_signal.subscribe(self, self._after_first_frame)
        self.call_after_refresh(self._after_first_frame, first)
        self.push_screen(first)

    def _after_first_frame(self, drawn: Screen[Any]) -> None:
        """The first frame is out: the steps from the kept outline in the next one, then the worker that builds the
        session (demo) or loads the runbook screen's code and opens it."""
        drawn.screen_layout_refresh_signal.unsubscribe(self)
        if self._first_drawn:  # laid out again, or the refresh callback, before this ran: once is enough
            return
        self._first_drawn = True
        path, rehearsal = self.config.path, self.config.rehearsal
        worker: Callable[[], object]
        if self.config.prepare is not None:
            fresh = rehearsal() if rehearsal is not None else None
            outlined, worker = (outline_rehearsal(fresh) if fresh is not None else None), self._prepare
        else:
            assert path is not None
            outlined, worker = outline_session(path), partial(self._open_first, path)
        start = partial(self._start_behind, worker)
        if outlined is None:
            start()
            return
        # The worker starts once the steps are drawn: it would take half of the interpreter's time while they are.
        self.switch_screen(OutlineScreen(drawn.waiting if isinstance(drawn, OutlineScreen) else "", outlined))
        self.call_after_refresh(start)

    def _start_behind(self, worker: Callable[[], object]) -> None:
        self._report_on_screen()
        worker()

    def _report_on_screen(self) -> None:
        from runbook.pair import two_person

        # A point of no return waiting for a second operator's ack speaks here, never on the terminal's stderr.
        two_person.set_reporter(self._report_from_worker)

    def _report_from_worker(self, message: str) -> None:
        self.call_from_thread(self.notify, message, title="Two-person confirm", timeout=15, markup=False)

    @work(thread=True, exclusive=True, exit_on_error=False, group="prepare")
    def _prepare(self) -> None:
        assert self.config.prepare is not None
        try:
            path = self.config.prepare()
        except RunbookError as exc:
            self.prepare_error = exc
            self.call_from_thread(self.exit, None, exc.exit_code)
            return
        self._load_and_open(path)

    @work(thread=True, exclusive=True, group="prepare")
    def _open_first(self, path: Path) -> None:
        self._load_and_open(path)

    def _load_and_open(self, path: Path) -> None:
        """In a worker, while the first frame is on screen: load the runbook screen's code (the engine, the steps)
        and open the session, so that screen is drawn once, with the steps, instead of empty and again."""
        from screens.runbook_screen import RunbookScreen
        from screens.session_controller import open_session

        gc.freeze()  # as in run_app: the code just loaded stays, and need not be walked by every full collection
        opened = open_session(self, path, takeover=self.config.takeover)
        self.call_from_thread(self._show_session, RunbookScreen, path, opened)

    def _show_session(self, screen: type[RunbookScreen], path: Path, opened: SessionOpened | OpenFailed) -> None:
        from screens.messages import SessionOpened

        if isinstance(opened, SessionOpened):
            self.remember_book(opened.book)  # released on the way out even if the app ends before the screen shows
        self.config.path = path
        first = self.screen
        moved_to = first.moved_to if isinstance(first, OutlineScreen) else None
        self.switch_screen(screen(path, takeover=self.config.takeover, opened=opened, select=moved_to))

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        palette = getattr(screen, "palette_commands", None)
        if palette is not None:
            yield from palette()

    # -- sessions held open (their locks are released on every way out) -------------------------------------
    def remember_book(self, book: Runbook) -> None:
        if book not in self._books:
            self._books.append(book)
        self.last_session = book.path  # quitting says how to come back to it

    def forget_book(self, book: Runbook) -> None:
        if book in self._books:
            self._books.remove(book)

    def release_all(self) -> None:
        self.asker.close()
        for book in list(self._books):
            book.close()
        self._books.clear()

    def on_unmount(self) -> None:
        from runbook.pair import two_person

        two_person.reset_reporter()
        self.release_all()

    async def action_quit(self) -> None:
        busy = getattr(self.screen, "busy", None)
        if busy:
            from screens.modals import ConfirmModal  # loaded with the runbook screen: not before the first frame

            self.push_screen(ConfirmModal(f"Quit while {busy}?", [
                "The step goes on until its current remote call returns or times out;",
                "if the process ends first, the step is shown as interrupted next time (verify it then)."],
                yes="Quit anyway", no="Stay", title="Quit"), lambda yes: self._quit() if yes else None)
            return
        self._quit()

    def _quit(self) -> None:
        self.release_all()
        self.exit(0)


def app_of(node: DOMNode) -> RunbookApp:
    """The running RunbookApp, typed (screens reach its config, asker and ports through it)."""
    app = node.app
    assert isinstance(app, RunbookApp)
    return app


def make_app(path: Path | None = None, *, takeover: bool = False, **settings: Any) -> RunbookApp:
    """The one way to build the app, for the CLI and the tests alike."""
    return RunbookApp(AppConfig(path=path, takeover=takeover, **settings))


def run_app(path: Path | None, *, takeover: bool, prepare: Callable[[], Path] | None = None,
            rehearsal: Callable[[], SessionView | None] | None = None) -> int:
    if path is not None and not path.exists():
        raise BadInput(f"SESSION: {path} does not exist (create it with `runbook new {path.stem} --params FILE` "
                       "or run `runbook` to pick one)")
    app = make_app(path, takeover=takeover, prepare=prepare, rehearsal=rehearsal)
    # What is loaded by now (Textual, the CLI) lives as long as the process: out of the collector's way, a full
    # collection while the screen is first drawn walks only what was made since (it walked all of it, ≈20-70 ms).
    gc.freeze()
    try:
        result = app.run()
    finally:
        app.release_all()
    if app.prepare_error is not None:
        raise app.prepare_error
    if app.last_session is not None:
        print(f"left {app.last_session.stem}; resume with: runbook open {app.last_session}", file=sys.stderr)
    return int(result or 0)

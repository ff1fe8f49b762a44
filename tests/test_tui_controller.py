"""The session controller without a screen: what it starts, and when."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from screens.session_controller import SessionController


class FakeScreen:
    def __init__(self) -> None:
        self.workers: list[str | None] = []
        self.runbook_app: Any = None

    def run_worker(self, work: Any, name: str | None = "", **options: Any) -> None:
        self.workers.append(name)

    def post_message(self, message: Any) -> bool:
        return True

    def busy_changed(self) -> None:
        pass


def test_polling_starts_no_open_while_one_is_on_its_way(tmp_path: Path) -> None:
    """A follower taking the wheel: its lock write moves the files, and a poll-started read-only open finishing
    after the driving one would replace it (and let the lock go)."""
    screen = FakeScreen()
    controller = SessionController(screen, tmp_path / "s.yaml", questions=None)  # type: ignore[arg-type]
    controller.book = object()  # type: ignore[assignment]
    controller.following = "alice@jump1 drives"
    controller.open(drive=True, takeover=True, reloaded=True)
    assert controller.poll() is None
    assert screen.workers == ["open_session"]
    controller.open_failed()  # the open's answer arrived: polling goes on
    controller.poll()
    assert screen.workers == ["open_session", "open_session"]

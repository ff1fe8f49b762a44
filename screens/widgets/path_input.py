"""An input for a file path that completes the name from what is on disk (→ accepts the suggestion)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.suggester import Suggester

from screens.widgets.steady_input import SteadyInput


class PathSuggester(Suggester):
    """The first entry of the typed folder whose name continues what is typed; folders end with /."""

    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)  # the disk changes while the screen is open

    async def get_suggestion(self, value: str) -> str | None:
        if not value:
            return None
        typed = Path(value).expanduser()
        folder, start = (typed, "") if value.endswith("/") else (typed.parent, typed.name)
        try:
            shown = start.startswith(".")  # hidden entries only when a dot was typed
            names = sorted(entry.name + ("/" if entry.is_dir() else "") for entry in folder.iterdir()
                           if entry.name.startswith(start) and (shown or not entry.name.startswith(".")))
        except OSError:
            return None
        rest = next((name[len(start):] for name in names if len(name) > len(start)), "")
        return value + rest if rest else None


class PathInput(SteadyInput):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, suggester=PathSuggester(), **kwargs)

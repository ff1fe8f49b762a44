"""The CLI subcommands: composition roots that wire the procedure, the UI and the lab into the engine."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from runbook.flow.catalogue import StepSpec


def catalogue() -> list[StepSpec]:
    """The procedure's steps, imported when a command first needs them (the TUI's first frame does not)."""
    from steps import CATALOGUE

    return CATALOGUE

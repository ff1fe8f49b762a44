"""Applicability rules shared by several steps."""
from __future__ import annotations

from runbook.params import Params

NO_SEG = "there is no SEG in a TMG → EAS topology"


def needs_seg(params: Params) -> str | None:
    """None when the topology has a SEG, else why a SEG step does not apply."""
    return None if params.has_seg else NO_SEG

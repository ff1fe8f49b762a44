"""The step list's rows and where its cursor starts, from a session view and its step outline alone.

One definition for the runbook screen and the screen drawn before it (screens/opening.py): both list the steps
through these functions, from the same outline (runbook.flow.outline), so the list the operator first sees is
the list the runbook screen then draws in its place. Nothing here needs the engine or the procedure: a view
read with its kept outline (runbook status's view) is enough.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable

from textual.content import Content

from runbook.flow.states import IN_PLACE, SETTLED, State

if TYPE_CHECKING:
    from runbook.flow.outline import OutlinedStep
    from runbook.flow.view import SessionView

# Glyphs read in monochrome too: the letter inside the brackets carries the state, colour only repeats it.
GLYPHS: dict[State, tuple[str, str]] = {
    State.PENDING: ("[ ]", ""),
    State.RUNNING: ("[~]", "bold $accent"),
    State.DONE: ("[x]", "$success"),
    State.MANUAL_DONE: ("[m]", "$success"),
    State.FAILED: ("[!]", "bold $error"),
    State.INTERRUPTED: ("[?]", "bold $warning"),
    State.UNDONE: ("[u]", "$warning"),
    State.SKIPPED: ("[-]", "$text-muted"),
    State.NOT_APPLICABLE: ("[/]", "$text-disabled"),
}
DRIFT_GLYPH = ("[≠]", "bold $error")
GROUPS = {"common": "1–2 · TMG console", "a": "track a · TMG and EAS", "b": "track b · SEG",
          "cleanup": "after the cutover · clean-up"}


@dataclass(frozen=True)
class Row:
    """One line of the step list: a group heading (key None) or a step instance."""

    label: Content
    key: str | None


def drifted(book: SessionView, key: str) -> bool:
    """Believed in place, but the last verify disagreed: someone changed it outside this session."""
    record = book.record(key)
    verified = record.verified
    if record.state not in IN_PLACE or verified is None or verified.get("ok") is not False:
        return False
    return not stale_mismatch(book, key)


def stale_mismatch(book: SessionView, key: str) -> bool:
    """A mismatch read before the step was marked done (the work was not there yet): it says nothing now."""
    record = book.record(key)
    verified = record.verified or {}
    return (record.state in IN_PLACE and verified.get("ok") is False and bool(verified.get("at"))
            and bool(record.updated) and str(verified["at"]) < str(record.updated))


def glyph(book: SessionView, key: str) -> tuple[str, str]:
    return DRIFT_GLYPH if drifted(book, key) else GLYPHS[book.display_state(key)]


def grouped(steps: Iterable[OutlinedStep]) -> list[tuple[str, list[OutlinedStep]]]:
    """Steps 1–2 first, then each lettered track, each in procedure order."""
    order = ["common", "a", "b", "cleanup"]
    buckets: dict[str, list[OutlinedStep]] = {}
    for step in steps:
        buckets.setdefault(step.track, []).append(step)
    tracks = order + sorted(set(buckets) - set(order))
    return [(GROUPS.get(track, f"track {track}"), buckets[track]) for track in tracks if track in buckets]


def step_rows(book: SessionView) -> list[Row]:
    steps = book.outline.steps
    rows: list[Row] = []
    width = max((len(step.key) for step in steps), default=2)
    for heading, members in grouped(steps):
        rows.append(Row(Content.styled(heading, "bold $text-primary"), None))
        for step in members:
            mark, style = glyph(book, step.key)
            title_style = "$text-disabled" if step.not_applicable else ""
            rows.append(Row(Content.assemble((mark, style), " ", (f"{step.key:<{width}}", "bold"), " ",
                                             (step.title, title_style)), step.key))
    return rows


def start_key(book: SessionView) -> str:
    """Where the cursor starts: an interrupted step (verify it first), else the first unsettled step that can go
    now, else the first unsettled one, else the first step."""
    interrupted = interrupted_keys(book)
    if interrupted:
        return interrupted[0]
    steps = book.outline.steps
    return (book.first_ready(steps) or steps[0]).key


def interrupted_keys(book: SessionView) -> list[str]:
    return [step.key for step in book.outline.steps if book.display_state(step.key) == State.INTERRUPTED]


def settled_count(book: SessionView) -> tuple[int, int]:
    steps = book.outline.steps
    return sum(1 for step in steps if book.display_state(step.key) in SETTLED), len(steps)

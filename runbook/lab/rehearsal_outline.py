"""The step outline of a fresh rehearsal of a scenario, kept so `runbook demo` can show its steps in its first frame.

`runbook demo` builds its session behind the first frame, so no session outline exists yet when that frame is
drawn. Every rehearsal of one scenario starts with the same steps in the same states (each pending, or not
applicable where the outline says why), because its params are the scenario file's, with at most the chain
(`--cert-validation`) replaced. So the first build keeps the outline it made, keyed like a session's outline:
the scenario file's bytes (crc and length, in place of the params they hold), the chain asked for, and the code
fingerprint (runbook.flow.outline: every module and scenario file of the runbook and steps packages). Any edit,
upgrade or other chain means no outline is read, and the first frame says the lab is being prepared, as without
one. A rehearsal of a params file (`--params`) is never outlined here.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from runbook.flow import outline as outlines
from runbook.flow.states import State
from runbook.flow.view import SessionView
from runbook.record.session import Session

if TYPE_CHECKING:
    from runbook.flow.catalogue import StepSpec

SCENARIO_FOLDER = Path(__file__).resolve().parent / "scenarios"


def outline_path(folder: Path, scenario: str) -> Path:
    # A leading dot: no session is named so (session names are the stems of *.yaml files the start screen lists).
    return folder / f".rehearsal-{scenario}.outline.json"


def read(folder: Path, scenario: str, cert_validation: str | None) -> outlines.Outline | None:
    """The outline of a fresh rehearsal of `scenario` in the sessions `folder`, when one made by this code from this
    scenario file and chain is kept; else None."""
    made_from = _made_from(scenario, cert_validation)
    return None if made_from is None else outlines.read_keyed(outline_path(folder, scenario), made_from)


def fresh_view(folder: Path, scenario: str, cert_validation: str | None) -> SessionView | None:
    """A fresh rehearsal of `scenario`, as Runbook.create will make it (each step pending, or not applicable with
    why), read from the kept outline; None when none can be trusted. It can list the steps, never drive them."""
    outline = read(folder, scenario, cert_validation)
    if outline is None:
        return None
    session = Session(name=scenario, params={})
    for step in outline.steps:
        if step.not_applicable:
            record = session.record(step.key)
            record.state, record.note = State.NOT_APPLICABLE, step.not_applicable
    return SessionView(folder / f"{scenario}.yaml", session, _no_procedure, outline=outline)


def _no_procedure() -> list[StepSpec]:
    raise RuntimeError("a rehearsal's outline lists its steps; only the session it becomes loads the procedure")


def keep(folder: Path, scenario: str, cert_validation: str | None, outline: outlines.Outline) -> None:
    """After a rehearsal of `scenario` was created (its outline made by the catalogue): keep it. Best effort."""
    made_from = _made_from(scenario, cert_validation)
    if made_from is not None:
        outlines.keep_keyed(outline_path(folder, scenario), made_from, outline)


def _made_from(scenario: str, cert_validation: str | None) -> dict[str, Any] | None:
    try:
        source = (SCENARIO_FOLDER / f"{scenario}.yaml").read_bytes()
    except OSError:  # not a scenario (the CLI refuses it), or not a plain file in this install: nothing kept
        return None
    return {"scenario": scenario, "source": outlines.digest(source), "cert_validation": cert_validation}

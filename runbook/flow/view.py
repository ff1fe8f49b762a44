"""A session as it reads without driving it: params, step instances, step records and the journal.

`status`, `steps` and `manual` open one of these; runbook.flow.engine.Runbook is the view that also holds the lock
and changes the record. This module imports none of the driving machinery (taking the lock, the recorder, ports,
two-person acknowledgement), so a read-only command loads only what it reads.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, TypeVar

from runbook.errors import BadInput
from runbook.flow import outline as outlines
from runbook.flow.states import SETTLED, State
from runbook.record import store
from runbook.record.journal import Journal
from runbook.record.lock import is_live, read_holder

if TYPE_CHECKING:
    from pathlib import Path

    from runbook.flow.catalogue import StepInstance, StepSpec
    from runbook.flow.outline import Outline, OutlinedStep
    from runbook.inputs.params import Params
    from runbook.record.lock import SessionLock
    from runbook.record.session import Session, StepRecord

# An instance, or its outline (a listing's view of it): both name their key and what they depend on.
Step = TypeVar("Step", "StepInstance", "OutlinedStep")


class SessionView:
    lock: SessionLock | None = None  # only a driving Runbook holds it

    def __init__(self, path: Path, session: Session, catalogue: list[StepSpec] | Callable[[], list[StepSpec]],
                 journal: Journal | None = None, *, outline: Outline | None = None):
        self.path = path
        self.session = session
        self._catalogue = catalogue
        self._params: Params | None = None
        self._instances: list[StepInstance] | None = None
        self._outline = outline
        self.journal = journal if journal is not None else Journal(store.journal_path(path))
        self.notices: list[str] = [f"{path}: {session.recovered}"] if session.recovered else []
        if outline is None:
            self.instances  # noqa: B018 - params the catalogue refuses are refused on opening, not on first use

    @classmethod
    def load(cls, path: Path, catalogue: list[StepSpec]) -> SessionView:
        return cls(path, store.load(path), catalogue)

    @classmethod
    def outlined(cls, path: Path, catalogue: Callable[[], list[StepSpec]]) -> SessionView:
        """A view that reads the step outline the driver keeps (runbook.flow.outline) and loads the catalogue only
        when that outline is missing or out of date, or when something asks for more of the procedure than the
        outline holds. It writes nothing."""
        session = store.load(path)
        return cls(path, session, catalogue, outline=outlines.read_kept(path, session.params))

    @property
    def catalogue(self) -> list[StepSpec]:
        if callable(self._catalogue):
            self._catalogue = self._catalogue()
        return self._catalogue

    @property
    def params(self) -> Params:
        if self._params is None:
            from runbook.inputs.params import parse_params

            self._params = parse_params(self.session.params)
        return self._params

    @property
    def instances(self) -> list[StepInstance]:
        if self._instances is None:
            from runbook.flow.catalogue import expand

            self._instances = expand(self.catalogue, self.params)
        return self._instances

    @property
    def outline(self) -> Outline:
        """Each step's key, title, dependencies and modes, and the chain: all a listing of the steps reads."""
        if self._outline is None:
            self._outline = outlines.Outline.of(self.instances, self.params)
        return self._outline

    def record(self, key: str) -> StepRecord:
        return self.session.record(key)

    def instance(self, key: str) -> StepInstance:
        from runbook.flow.catalogue import select

        found = select(self.instances, key)
        if len(found) != 1:
            raise BadInput(f"STEP: {key!r} is not one step instance here (choose from: "
                           f"{', '.join(i.key for i in self.instances)})")
        return found[0]

    def resolve(self, step: str) -> list[StepInstance]:
        from runbook.flow.catalogue import select

        found = select(self.instances, step)
        if not found:
            raise BadInput(f"STEP: {step!r} is not a step of this change (choose from: "
                           f"{', '.join(i.key for i in self.instances)})")
        return found

    def display_state(self, key: str) -> State:
        """A `running` step whose driver is gone reads as interrupted, even before anyone re-opens the session."""
        state = self.record(key).state
        if state == State.RUNNING and self.lock is None:
            holder = read_holder(store.lock_path(self.path))
            if holder is None or not is_live(holder):
                return State.INTERRUPTED
        return state

    def waiting_for(self, instance: StepInstance | OutlinedStep) -> list[str]:
        return [f"{dep} ({self.record(dep).state.value})" for dep in instance.depends_on
                if self.record(dep).state not in SETTLED]

    def next_pending(self) -> StepInstance | None:
        """The first unsettled step that can go now; else the first unsettled one (it says what it waits for)."""
        return self.first_ready(self.instances)

    def first_ready(self, steps: list[Step]) -> Step | None:
        """next_pending's choice among `steps` (the instances, or the outline's steps where the procedure is not
        loaded)."""
        unsettled = [step for step in steps if self.record(step.key).state not in SETTLED]
        return next((step for step in unsettled if not self.waiting_for(step)), unsettled[0] if unsettled else None)

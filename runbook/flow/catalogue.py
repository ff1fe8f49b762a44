"""The shape of a procedure step, and its expansion into instances for one change.

The procedure itself (steps/) is a list of `StepSpec`s; the engine only knows
this shape, so order, applicability and dependencies come from the catalogue,
never from `if` chains in the UI.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Protocol

from runbook.flow.chain import Effect
from runbook.flow.changes import Change, Plan, Verification
from runbook.inputs.params import Params, Server

if TYPE_CHECKING:
    from runbook.flow.context import StepContext

MODES = ("execute", "verify", "manual")


@dataclass(frozen=True)
class Target:
    """What one instance of a step acts on: a server, or a shared service account."""

    label: str  # "EAS02", "EASASA"
    server: Server | None = None
    account: str | None = None  # sAMAccountName when the target is an account rather than a server


@dataclass(frozen=True)
class ManualItem:
    """One tick-box line of the manual procedure; `command` is what the operator can copy."""

    text: str
    command: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, **({"command": self.command} if self.command else {})}


class Verifier(Protocol):
    """A read-only check of live state against the params: all a manual step (1, 2) provides."""

    def verify(self, ctx: StepContext) -> Verification: ...


class Automation(Verifier, Protocol):
    """What a step that can run by itself provides. Every function reads live state; none trusts the session."""

    def plan(self, ctx: StepContext) -> Plan: ...

    def apply(self, ctx: StepContext, plan: Plan) -> None:
        """Apply `plan`, calling ctx.record(change) after each change really took (so a crash keeps the record)."""
        ...

    def undo_problems(self, ctx: StepContext, changes: list[Change]) -> list[str]:
        """Why undoing `changes` now would be unsafe (the live value moved since), or [] when it is safe."""
        ...

    def undo(self, ctx: StepContext, changes: list[Change]) -> None:
        """Revert `changes` (newest first), calling ctx.record(revert) after each revert took."""
        ...


Text = str | Callable[[Params], str]  # a fixed text, or one that follows the chain (step 6 differs by chain)


@dataclass(frozen=True)
class StepSpec:
    """One step of the procedure, as steps/ declares it."""

    id: str
    title: Text
    why: Text
    track: str  # "common" | "a" | "b"
    role: str  # where it acts: "tmg" | "seg" | "eas" | "ad"
    modes: tuple[str, ...]
    per_server: bool  # one instance per target (`4a@EAS02`) rather than one for the whole step
    manual: Callable[[Params, Target], list[ManualItem]]
    targets: Callable[[Params], list[Target]]
    applies: Callable[[Params], str | None] = lambda params: None  # None: applies; else the reason it does not
    depends_on: Callable[[Params], list[str]] = lambda params: []
    automation: Automation | None = None
    verify_only: Verifier | None = None  # read-only checks for manual steps (1, 2)
    detail: Callable[[Params], list[str]] = lambda params: []  # extra explanation shown with the step
    effects: Callable[[Params, Target], list[Effect]] = lambda params, target: []  # what it makes true (chain.py)
    label_single: bool = True  # False: a lone target keeps the bare id ('3a'), only an array gets '3a@TMG02'


def _text(value: Text, params: Params) -> str:
    return value if isinstance(value, str) else value(params)


@dataclass(frozen=True)
class StepInstance:
    """One step on one target for this change (`expand`), with its texts and dependencies resolved."""

    spec: StepSpec
    target: Target
    key: str  # "3a", "4a@EAS02"
    not_applicable: str | None  # reason, or None when the step applies
    depends_on: tuple[str, ...] = field(default=())
    title: str = ""
    why: str = ""

    @property
    def id(self) -> str:
        return self.spec.id

    def manual(self, params: Params) -> list[ManualItem]:
        """The checklist; a step that does not apply has none (its target is only a placeholder)."""
        return [] if self.not_applicable else self.spec.manual(params, self.target)

    def effects(self, params: Params) -> list[Effect]:
        if self.not_applicable:
            return []
        return [Effect(e.kind, e.role, e.host, e.spns, self.key) for e in self.spec.effects(params, self.target)]


def expand(catalogue: list[StepSpec], params: Params) -> list[StepInstance]:
    """One instance per step and target, in procedure order; single-target steps keep the bare id."""
    instances: list[StepInstance] = []
    for spec in catalogue:
        reason = spec.applies(params)
        targets = spec.targets(params) if reason is None else [Target(label=spec.role.upper())]
        for target in targets:
            labelled = spec.per_server and reason is None and (spec.label_single or len(targets) > 1)
            key = f"{spec.id}@{target.label}" if labelled else spec.id
            depends = tuple(spec.depends_on(params)) if reason is None else ()
            instances.append(StepInstance(spec, target, key, reason, depends, _text(spec.title, params),
                                          _text(spec.why, params)))
    return _resolve_dependencies(instances)


def _resolve_dependencies(instances: list[StepInstance]) -> list[StepInstance]:
    """Turn step-id dependencies into instance keys ('2' → '2', '4a' → every 4a instance)."""
    keys_by_id: dict[str, list[str]] = {}
    not_applicable = {instance.key for instance in instances if instance.not_applicable}
    for instance in instances:
        keys_by_id.setdefault(instance.id, []).append(instance.key)
    resolved = []
    for instance in instances:
        keys: list[str] = []
        for dependency in instance.depends_on:
            # A dependency that does not apply to this chain is no dependency at all.
            keys.extend(k for k in keys_by_id.get(dependency, [dependency]) if k not in not_applicable)
        resolved.append(StepInstance(instance.spec, instance.target, instance.key, instance.not_applicable,
                                     tuple(keys), instance.title, instance.why))
    return resolved


def select(instances: list[StepInstance], step: str) -> list[StepInstance]:
    """`4a` → every 4a instance in order; `4a@EAS02` → that one (case-insensitive label)."""
    if "@" in step:
        wanted = step.lower()
        return [i for i in instances if i.key.lower() == wanted]
    return [i for i in instances if i.id.lower() == step.lower()]


def record_changes(changes: list[Change]) -> list[dict[str, Any]]:
    return [change.to_dict() for change in changes]

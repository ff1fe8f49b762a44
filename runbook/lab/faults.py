"""Where `runbook demo --fail STEP` strikes: inside a step that really changes something in that scenario.

A step already in place, done by hand, or outside the chain writes nothing, so a fault planted there would
never fire and the rehearsal would silently go without its failure. Which steps write is read the only
honest way: the plans of the applicable automated steps on a fresh copy of the lab, in memory.
"""
from __future__ import annotations

from typing import Any

from runbook.errors import BadInput, RunbookError
from runbook.flow.catalogue import StepInstance, StepSpec, expand, select
from runbook.flow.changes import Plan
from runbook.flow.context import Ports, StepContext
from runbook.inputs.params import Params
from runbook.lab.directory import LabDirectory
from runbook.lab.windows_host import SimWindowsHost
from runbook.lab.windows_shells import SimHosts

# Writes let through before the failure: a host step fails after its first write or two, so the lab is left
# half-changed (6a/6b's first writes are the Exchange settings, the IIS ones follow).
HOST_WRITES_BEFORE_FAILURE = {"6a": 2, "6b": 2}


def fault_for(step: str, scenario: str, params: Params, catalogue: list[StepSpec],
              state: dict[str, Any]) -> dict[str, Any]:
    """The lab's `faults` entry for `--fail STEP`, or BadInput naming the steps that do change something."""
    instances = expand(catalogue, params)
    plans = fresh_plans(instances, params, state)
    changing = [key for key, plan in plans.items() if isinstance(plan, Plan) and not plan.empty]
    offer = (f"; steps that change something there: {', '.join(changing)}" if changing
             else "; no step changes anything there")
    chosen = select(instances, step)
    if not chosen:
        raise BadInput(f"--fail: {step!r} is not a step of the {scenario} scenario{offer}")
    applicable = [instance for instance in chosen if not instance.not_applicable]
    if not applicable:
        raise BadInput(f"--fail: {step} does not apply to the {scenario} scenario with the {params.cert_validation} "
                       f"chain ({chosen[0].not_applicable}){offer}")
    target = next((instance for instance in applicable if instance.key in changing), None)
    if target is None:
        raise BadInput(f"--fail: {step} has nothing to change in the {scenario} scenario "
                       f"({_why_nothing(applicable[0], plans)}){offer}")
    plan = plans[target.key]
    assert isinstance(plan, Plan)
    first = plan.changes[0]
    written = [change for change in plan.changes if change.target == first.target and change.op != "action"]
    if "dn" in first.locator:  # a directory change: the DC fails the write after the first on that account
        return {"directory": {first.target.lower(): min(1, len(written) - 1)}}
    allowed = min(HOST_WRITES_BEFORE_FAILURE.get(target.id, 1), len(written) - 1)
    return {"hosts": {first.locator["host"]: max(allowed, 0)}}


def fresh_plans(instances: list[StepInstance], params: Params,
                state: dict[str, Any]) -> dict[str, Plan | RunbookError]:
    """Each applicable automated instance's plan on an untouched copy of `state` (a plan that stops: its error)."""
    ports = Ports(open_directory=lambda: LabDirectory.from_dict(state["directory"]),
                  open_hosts=lambda: SimHosts({host: SimWindowsHost.from_dict(data)
                                               for host, data in state["hosts"].items()}))
    plans: dict[str, Plan | RunbookError] = {}
    for instance in instances:
        if instance.not_applicable or instance.spec.automation is None:
            continue
        try:
            plans[instance.key] = instance.spec.automation.plan(StepContext(params, instance, ports))
        except RunbookError as exc:
            plans[instance.key] = exc
    ports.close()
    return plans


def _why_nothing(instance: StepInstance, plans: dict[str, Plan | RunbookError]) -> str:
    plan = plans.get(instance.key)
    if plan is None:
        return "it is done by hand"
    if isinstance(plan, RunbookError):
        return f"its plan stops before any write: {str(plan).split('. ')[0]}"  # the first sentence says which
    return "already in place"

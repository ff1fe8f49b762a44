"""What a step instance offers the engine: its automation, its read-only check, and where that check runs."""
from __future__ import annotations

from runbook.errors import NotAvailable, Refused
from runbook.flow import chain
from runbook.flow.catalogue import Automation, StepInstance, Verifier
from runbook.inputs.params import Params

DIRECTORY = "(directory)"


def chain_problems(params: Params, instances: list[StepInstance]) -> list[str]:
    """The chain invariants (runbook.flow.chain) over what the applicable steps would make true."""
    effects = [effect for instance in instances for effect in instance.effects(params)]
    return chain.problems(params, effects)


def checker_of(instance: StepInstance) -> Verifier:
    if instance.not_applicable:
        raise Refused(f"{instance.key} does not apply: {instance.not_applicable}")
    found = instance.spec.automation or instance.spec.verify_only
    if found is None:
        raise NotAvailable(f"{instance.key} has no automatic verification: check it by hand (runbook manual)")
    return found


def verified_on(instance: StepInstance) -> str:
    """Whom an instance's verification talks to: its Windows host (by name), or the directory."""
    server = instance.target.server
    return server.host.lower() if instance.spec.role in ("tmg", "seg", "eas") and server else DIRECTORY


def automation_of(instance: StepInstance) -> Automation:
    if instance.spec.automation is None:
        raise NotAvailable(f"{instance.key} has no automatic execution: it is done by hand "
                           f"(`runbook manual SESSION {instance.key}`), then recorded with "
                           f"`runbook mark SESSION {instance.key} --done`")
    return instance.spec.automation

"""What a step instance acts on: the TMG, or each server of a role (one instance per server on a farm)."""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from runbook.flow.catalogue import Target

if TYPE_CHECKING:
    from runbook.inputs.params import Params


def on_tmg(params: Params) -> list[Target]:
    return [Target(label=params.tmg.computer, server=params.tmg)]


def each_server(role: str) -> Callable[[Params], list[Target]]:
    def targets(params: Params) -> list[Target]:
        return [Target(label=server.computer, server=server) for server in params.servers(role)]
    return targets

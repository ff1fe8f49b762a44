"""The procedure: the vendor guide's steps in order, as declarative entries (see runbook.flow.catalogue.StepSpec)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from steps.cleanup import CLEANUP
from steps.delegation import SEG_DELEGATION, TMG_DELEGATION
from steps.iis import EAS_IIS, SEG_IIS
from steps.rights import SEG_RIGHTS, TMG_RIGHTS
from steps.spn import EAS_SPN, SEG_SPN
from steps.tmg import LISTENER, RULE

if TYPE_CHECKING:
    from runbook.flow.catalogue import StepSpec

CATALOGUE: list[StepSpec] = [
    LISTENER, RULE,
    TMG_DELEGATION, SEG_DELEGATION,
    EAS_SPN, SEG_SPN,
    TMG_RIGHTS, SEG_RIGHTS,
    EAS_IIS, SEG_IIS,
    CLEANUP,
]

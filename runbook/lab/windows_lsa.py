"""LSA on a simulated host: the user rights the runbook grants (local policy) and those a domain GPO enforces."""
from __future__ import annotations

import copy
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from runbook.lab import windows_contract as contract
from runbook.lab.windows_part import Answer


def canonical_right(right: str) -> str:
    """A right's spelling in the contract, or ValueError naming the known ones."""
    for known in contract.RIGHTS:
        if known.lower() == right.lower():
            return known
    raise ValueError(f"unknown user right {right!r} (known: {', '.join(contract.RIGHTS)})")


class LsaPart:
    """User rights: Get-, Grant- and Revoke-CertAuthUserRight."""

    def __init__(self, lock: threading.RLock) -> None:
        self._lock = lock
        self.rights: dict[str, list[str]] = {}  # local policy: right → SIDs
        self.gpo_rights: dict[str, dict[str, Any]] = {}  # right → {holders, gpo_name}: what a domain GPO enforces

    # -- saved state ------------------------------------------------------------------------------------------
    def load(self, state: Mapping[str, Any]) -> None:
        self.rights = {right: list(holders) for right, holders in state["rights"].items()}
        self.gpo_rights = copy.deepcopy(dict(state["gpo_rights"]))

    def saved(self) -> dict[str, Any]:
        return {"rights": self.rights, "gpo_rights": self.gpo_rights}

    # -- what the lab changes ---------------------------------------------------------------------------------
    def set_user_right(self, right: str, holders: Iterable[str]) -> None:
        """Replace the local holders of a right (drift: someone edited local policy)."""
        with self._lock:
            self.rights[canonical_right(right)] = list(holders)

    def own_right_by_gpo(self, right: str, holders: Iterable[str], gpo_name: str) -> None:
        """A domain GPO defines this right: reads show its list, local grants do not stick."""
        with self._lock:
            self.gpo_rights[canonical_right(right)] = {"holders": list(holders), "gpo_name": gpo_name}

    def release_right_from_gpo(self, right: str) -> None:
        with self._lock:
            self.gpo_rights.pop(canonical_right(right), None)

    def effective(self, right: str) -> list[str]:
        """What secedit /export shows: a GPO's list wins over local policy once the GPO has applied."""
        if right in self.gpo_rights:
            return list(self.gpo_rights[right]["holders"])
        return list(self.rights.get(right, []))

    # -- the functions ----------------------------------------------------------------------------------------
    def answers(self) -> dict[str, Answer]:
        return {"Get-CertAuthUserRight": self.get_user_right, "Grant-CertAuthUserRight": self.grant_user_right,
                "Revoke-CertAuthUserRight": self.revoke_user_right}

    def get_user_right(self, Right: str) -> list[Any]:
        gpo = self.gpo_rights.get(Right)
        return [{"Right": Right, "Holders": self.effective(Right), "GpoOwned": gpo is not None,
                 "GpoName": gpo["gpo_name"] if gpo else None}]

    def grant_user_right(self, Right: str, Sid: str) -> list[Any]:
        return self._change(Right, Sid.upper(), add=True)

    def revoke_user_right(self, Right: str, Sid: str) -> list[Any]:
        return self._change(Right, Sid.upper(), add=False)

    def _change(self, right: str, sid: str, add: bool) -> list[Any]:
        before = self.effective(right)
        local = self.rights.setdefault(right, [])
        present = sid.lower() in {h.lower() for h in before}
        if add and not present:
            if sid.lower() not in {h.lower() for h in local}:
                local.append(sid)
        elif not add and present:
            local[:] = [h for h in local if h.lower() != sid.lower()]
        return [{"Right": right, "Before": before, "After": self.effective(right)}]

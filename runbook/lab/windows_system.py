"""Windows itself on a simulated host: its clock (skewed by a lab fault) and its installed features."""
from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Mapping
from typing import Any

from runbook.lab.windows_errors import SimCommandError
from runbook.lab.windows_part import Answer, Machine
from runbook.lab.windows_state import FEATURE_CATALOGUE


def iso(moment: dt.datetime) -> str:
    """A time as the shipped functions print it (UTC, seconds)."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class SystemPart:
    """The host's clock and Windows features: Get-CertAuthClock, Get-CertAuthWindowsFeature."""

    def __init__(self, machine: Machine, lock: threading.RLock, clock: Callable[[], dt.datetime]) -> None:
        self._machine = machine
        self._lock = lock
        self._clock = clock
        self.clock_offset = 0.0  # seconds added to the lab clock (skew faults)
        self.features: set[str] = set()

    # -- saved state ------------------------------------------------------------------------------------------
    def load(self, state: Mapping[str, Any]) -> None:
        self.clock_offset = float(state["clock_offset"])
        self.features = set(state["features"])

    def saved(self) -> dict[str, Any]:
        return {"clock_offset": self.clock_offset, "features": sorted(self.features)}

    # -- what the lab changes ---------------------------------------------------------------------------------
    def now(self) -> dt.datetime:
        return self._clock() + dt.timedelta(seconds=self.clock_offset)

    def set_clock_offset(self, seconds: float) -> None:
        with self._lock:
            self.clock_offset = float(seconds)

    def install_feature(self, name: str) -> None:
        with self._lock:
            self.features.add(name)

    def uninstall_feature(self, name: str) -> None:
        with self._lock:
            self.features.discard(name)

    # -- the functions ----------------------------------------------------------------------------------------
    def answers(self) -> dict[str, Answer]:
        return {"Get-CertAuthClock": self.get_clock, "Get-CertAuthWindowsFeature": self.get_windows_feature}

    def get_clock(self) -> list[Any]:
        return [{"UtcNow": iso(self.now())}]

    def get_windows_feature(self, Name: str) -> list[Any]:
        for known in FEATURE_CATALOGUE:
            if known.lower() == Name.lower():
                return [{"Name": known, "Installed": known in self.features}]
        raise SimCommandError(f"Windows feature {Name} is not known on {self._machine.computer}")

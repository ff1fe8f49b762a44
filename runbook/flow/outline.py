"""A change's step outline: each instance's key, title, track, dependencies, modes and whether it applies, with the
chain.

It is what the catalogue makes of the session's params (`Outline.of`), and all `runbook status` and the TUI's
step list before the runbook screen is loaded (screens/opening.py) need of the procedure. Loading the procedure
(steps/, params, schema, chain) costs more than the rest of status together, so the outline is kept beside the
session (`<name>.outline.json`) and read back while it is still true: the file names the params it was made from
and the code that made it (size and mtime of every module of the runbook and steps packages), and anything else
(an upgrade, an edited step, a changed param, an unreadable file) means the catalogue is loaded again and the
outline written anew. The file holds nothing that is not in the session file. `read_keyed` and `keep_keyed` keep
an outline under another name for what made it (runbook.lab.rehearsal_outline: a scenario's fresh rehearsal).

Plain classes, not dataclasses: this module is on status's path, and `dataclasses` alone costs it ≈10 ms.
"""
from __future__ import annotations

import json
import os
import zlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

    from runbook.flow.catalogue import StepInstance
    from runbook.inputs.params import Params

FORMAT = 2  # 2: each step's track (the step list groups by it)


class OutlinedStep:
    """What a listing of the steps reads of one instance."""

    __slots__ = ("key", "title", "depends_on", "not_applicable", "modes", "track")

    def __init__(self, key: str, title: str, depends_on: tuple[str, ...], not_applicable: str | None,
                 modes: tuple[str, ...], track: str):
        self.key = key
        self.title = title
        self.depends_on = depends_on
        self.not_applicable = not_applicable
        self.modes = modes
        self.track = track

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "title": self.title, "depends_on": list(self.depends_on),
                "not_applicable": self.not_applicable, "modes": list(self.modes), "track": self.track}


class Outline:
    """The steps of one change in procedure order, and how its chain reads."""

    __slots__ = ("topology", "cert_validation", "chain", "steps")

    def __init__(self, topology: str, cert_validation: str, chain: str, steps: list[OutlinedStep]):
        self.topology = topology
        self.cert_validation = cert_validation
        self.chain = chain
        self.steps = steps

    @classmethod
    def of(cls, instances: list[StepInstance], params: Params) -> Outline:
        from runbook.flow.chain import chain_line

        return cls(params.topology, params.cert_validation, chain_line(params),
                   [OutlinedStep(i.key, i.title, i.depends_on, i.not_applicable, tuple(i.spec.modes), i.spec.track)
                    for i in instances])

    def to_dict(self) -> dict[str, Any]:
        return {"topology": self.topology, "cert_validation": self.cert_validation, "chain": self.chain,
                "steps": [step.to_dict() for step in self.steps]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Outline:
        return cls(str(data["topology"]), str(data["cert_validation"]), str(data["chain"]),
                   [OutlinedStep(str(s["key"]), str(s["title"]), tuple(str(d) for d in s["depends_on"]),
                                 None if s["not_applicable"] is None else str(s["not_applicable"]),
                                 tuple(str(m) for m in s["modes"]), str(s["track"])) for s in data["steps"]])


def outline_path(session: Path) -> Path:
    return session.with_name(session.stem + ".outline.json")


def read_kept(session: Path, params: dict[str, Any]) -> Outline | None:
    """The kept outline when it was made from these params by this code; None otherwise (never an error: the
    catalogue is the fallback, and a damaged outline file is simply made anew)."""
    return read_keyed(outline_path(session), {"params": _digest(params)})


def keep(session: Path, params: dict[str, Any], outline: Outline) -> None:
    """Best effort: a read-only sessions folder (a watcher's copy) only means the next status loads the catalogue."""
    keep_keyed(outline_path(session), {"params": _digest(params)}, outline)


def read_keyed(path: Path, made_from: dict[str, Any]) -> Outline | None:
    """The outline kept at `path` when it was made from what `made_from` names, by this code; else None."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        if not isinstance(data, dict) or data.get("made_from") != _stamped(made_from):
            return None
        return Outline.from_dict(data["outline"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def keep_keyed(path: Path, made_from: dict[str, Any], outline: Outline) -> None:
    """Keep `outline` at `path` for whoever later asks with the same `made_from` (best effort, as `keep`)."""
    from runbook.record.store import write_atomic

    try:
        text = json.dumps({"format": FORMAT, "made_from": _stamped(made_from), "outline": outline.to_dict()},
                          ensure_ascii=False)
        write_atomic(path, text, mode=0o600, sync=False)
    except OSError:
        pass


def digest(data: bytes) -> str:
    return f"{zlib.crc32(data):08x}-{len(data)}"


def _digest(params: dict[str, Any]) -> str:
    return digest(json.dumps(params, sort_keys=True, default=str, ensure_ascii=False).encode())


def _stamped(made_from: dict[str, Any]) -> dict[str, Any]:
    return {"format": FORMAT, **made_from, "code": _code()}


_CODE: list[str] = []


def _code() -> str:
    """The size and mtime of every module the outline could depend on: any install or edit changes it."""
    if not _CODE:
        import runbook

        here = runbook.__path__[0]
        stats: list[str] = []
        for package in (here, _steps_dir(os.path.dirname(here))):
            _collect(package, stats)
        _CODE.append(f"{zlib.crc32(chr(10).join(sorted(stats)).encode()):08x}-{len(stats)}")
    return _CODE[0]


def _steps_dir(beside: str) -> str:
    """Where the steps package is, without importing it (its __init__ loads the whole procedure)."""
    folder = os.path.join(beside, "steps")
    if os.path.isfile(os.path.join(folder, "__init__.py")):
        return folder
    from importlib.util import find_spec

    spec = find_spec("steps")
    if spec is None or not spec.submodule_search_locations:
        raise OSError("steps: not an installed package")
    return list(spec.submodule_search_locations)[0]


def _collect(folder: str, into: list[str]) -> None:
    for entry in os.scandir(folder):
        if entry.is_dir(follow_symlinks=False):
            if entry.name != "__pycache__":
                _collect(entry.path, into)
        elif entry.name.endswith((".py", ".ps1", ".yaml")):
            stat = entry.stat()
            into.append(f"{entry.path}:{stat.st_size}:{stat.st_mtime_ns}")

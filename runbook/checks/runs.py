"""Running the troubleshooting checks: the shapes steps/checks.py fills in, one run with its findings, and the journal.

The CLI (`runbook check`) and the TUI's checks view both go through here, so a fault found on either is recorded
the same way — and stays open for the completion model until a later run of the same check passes. Each finding
names the step instances it blocks: the ones its text names ("step 6a@EAS01"), else the steps its check guards.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

from runbook.errors import BadInput, RunbookError
from runbook.flow.catalogue import StepInstance
from runbook.flow.completion import open_check_findings
from runbook.flow.context import Ports
from runbook.flow.engine import Runbook
from runbook.inputs.params import Params

FAULT = "FAULT: "
WARNING = "warning: "


@dataclass
class CheckResult:
    name: str
    status: str = "ok"  # ok | warn | fail | skip
    lines: list[str] = field(default_factory=list)

    def fault(self, line: str) -> None:
        self.status = "fail"
        self.lines.append(FAULT + line)

    def warn(self, line: str) -> None:
        if self.status == "ok":
            self.status = "warn"
        self.lines.append(WARNING + line)

    def info(self, line: str) -> None:
        self.lines.append(line)


@dataclass
class CheckContext:
    params: Params
    ports: Ports
    options: dict[str, Any] = field(default_factory=dict)  # file, keytab, user, role: what a check needs typed in
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.timezone.utc)


@dataclass(frozen=True)
class CheckSpec:
    name: str
    title: str
    needs_input: bool  # runs only when asked by name with its input (a certificate file, a keytab and a user)
    run: Callable[[CheckContext], CheckResult]
    blocks: tuple[str, ...] = ()  # step ids a fault here keeps from working; none for the device side
    fix: str = ""  # the general remedy; each fault line says the specific one where it can


@dataclass(frozen=True)
class Finding:
    severity: str  # fault | warning | info
    text: str  # without its FAULT: / warning: prefix
    blocks: tuple[str, ...] = ()  # step instance keys; faults and warnings only


@dataclass
class CheckRun:
    spec: CheckSpec
    result: CheckResult
    findings: list[Finding]

    @property
    def status(self) -> str:
        return self.result.status

    def lines_with(self, prefix: str) -> list[str]:
        return [line for line in self.result.lines if line.startswith(prefix)]


def choose(checks: Sequence[CheckSpec], name: str | None, options: dict[str, Any]) -> list[CheckSpec]:
    """One check by name, or every check that needs nothing typed in (and cert, when a file was given)."""
    if name:
        return [check for check in checks if check.name == name]
    return [check for check in checks if not check.needs_input or (check.name == "cert" and options.get("file"))]


def run_check(book: Runbook, spec: CheckSpec, options: dict[str, Any]) -> CheckRun:
    """One check against the live systems (read-only). BadInput (a file that is not there) propagates: it is the
    operator's to correct, not a fault of the change; any other failure to read is a fault of its own."""
    ctx = CheckContext(params=book.params, ports=book.ports, options=options)
    try:
        result = spec.run(ctx)
    except BadInput:
        raise
    except RunbookError as exc:
        result = CheckResult(spec.name)
        result.fault(f"could not run: {exc}")
    return CheckRun(spec, result, findings(spec, result, book.instances))


def findings(spec: CheckSpec, result: CheckResult, instances: Iterable[StepInstance]) -> list[Finding]:
    applicable = [instance for instance in instances if not instance.not_applicable]
    guarded = tuple(instance.key for instance in applicable if instance.id in spec.blocks)
    found = []
    for line in result.lines:
        if line.startswith(FAULT) or line.startswith(WARNING):
            severity, text = ("fault", line[len(FAULT):]) if line.startswith(FAULT) else \
                ("warning", line[len(WARNING):])
            named = tuple(i.key for i in applicable if re.search(rf"(?<![\w@]){re.escape(i.key)}(?![\w@])", text))
            found.append(Finding(severity, text, named or _on_named_host(text, guarded, applicable)))
        else:
            found.append(Finding("info", line))
    return found


def _on_named_host(text: str, guarded: tuple[str, ...], instances: list[StepInstance]) -> tuple[str, ...]:
    """A line about one server (its clock, its rights) blocks the guarded steps acting there; else all of them."""
    hosts = {i.key: i.target.server.host.lower() for i in instances if i.key in guarded and i.target.server}
    lowered = text.lower()
    there = tuple(key for key in guarded if hosts.get(key) and re.search(rf"(?<![\w.-]){re.escape(hosts[key])}"
                                                                        r"(?![\w-])", lowered))
    return there or guarded


def record(book: Runbook, runs: Sequence[CheckRun]) -> dict[str, Any] | None:
    """Journal the runs when this book drives; a skipped check (its input missing) closes nothing it did not read.

    The fault and warning lines are kept, so a fault stays open (status, report, TUI) until this check passes.
    """
    if book.lock is None:
        return None
    ran = [run for run in runs if run.status != "skip"]
    if not ran:
        return None
    faults = {run.spec.name: run.lines_with(FAULT) for run in ran if run.status == "fail"}
    warnings = {run.spec.name: run.lines_with(WARNING) for run in ran if run.status == "warn"}
    return book.journal.append(step=None, action="check", outcome="faults: " + ", ".join(faults) if faults else "ok",
                               details={"checks": [run.spec.name for run in ran], "faults": faults,
                                        "warnings": warnings})


def blocking_faults(book: Runbook, checks: Sequence[CheckSpec], entries: Iterable[dict[str, Any]]) -> \
        dict[str, list[str]]:
    """Per step instance, the open check faults that block it ("check clock: SEG01 is 7 min ahead ..."): the same
    faults completion counts (each check's newest run), assigned to steps as the checks view does."""
    by_name = {spec.name: spec for spec in checks}
    faults, _ = open_check_findings(entries)
    blocked: dict[str, list[str]] = {}
    for name, lines in faults.items():
        spec = by_name.get(name)
        if spec is None:
            continue
        result = CheckResult(name, "fail", [FAULT + line for line in lines])
        for finding in findings(spec, result, book.instances):
            for key in finding.blocks:
                blocked.setdefault(key, []).append(f"check {name}: {finding.text}")
    return blocked

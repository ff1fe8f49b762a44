"""One PowerShell pipeline on an open runspace pool: built, run within the call's deadline, its streams read.

A pipeline is one function call (`add_cmdlet` plus one `add_parameter` per value: a value never becomes
script text), preceded on a pool that has not loaded them yet by the runbook/hosts/ps function files as script
statements, so the first call on a host costs no round trips of its own for loading them. Errors: a
terminating error, or anything on the error stream, is `HostError("<host>", "<what>: <message>")`; a call
past its deadline is stopped on the host and raises `CallTimeout`; a Command the host refused before
running it raises `NotStarted` (safe to send again on a new pool).
"""
from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Iterable
from typing import Any

from pypsrp.complex_objects import Command, ComplexObject, PSInvocationState
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan

from runbook.errors import HostError
from runbook.flow.ports import HostReply
from runbook.hosts.clixml_read import QuickReader
from runbook.hosts.errors import CallTimeout, NotStarted, refused_before_running
from runbook.hosts.packing import pack_once
from runbook.hosts.transport import bound_requests, time_left, wsman_operation_timeout
from runbook.hosts.values import plain_value, record_text, wire_value

log = logging.getLogger(__name__)

CLEANUP_TIMEOUT = 5.0


class ScriptSerializer(QuickReader):
    """pypsrp's serializer, escaping each long text once for all pools: every host's first call sends the same
    function files (≈36 KB), and escaping them character by character (PSRP's _xHHHH_ for each line break) is
    otherwise paid again per host. It reads replies with QuickReader (runbook.hosts.clixml_read)."""

    LONG = 1024  # the function files (the smallest is ≈3 KB); a parameter value is far shorter, escaped as usual

    def __init__(self, escaped: dict[str, str]):
        super().__init__()
        self._escaped = escaped

    def _serialize_string(self, value: str | None) -> str | None:
        if value is None or len(value) < self.LONG:
            return super()._serialize_string(value)
        found = self._escaped.get(value)
        if found is None:
            found = super()._serialize_string(value)
            assert found is not None
            self._escaped[value] = found  # two hosts escaping it at once both store the same text
        return found


class CallCommand(Command):
    """pypsrp's Command, copied cheaply: pypsrp deep-copies every command each time it serializes a pipeline
    (twice per pipeline), metadata included, which was a fifth of the client's CPU in a farm's verify-all. The
    copy here shares the read-only property metadata and copies the values as deepcopy would (the parameters
    deeply; the merge settings once each, keeping which of them are one object), so the XML sent is the same."""

    def __deepcopy__(self, memo: dict[int, Any]) -> CallCommand:
        clone = copy.copy(self)
        memo[id(self)] = clone
        for name, value in vars(self).items():
            if name == "args":
                clone.args = copy.deepcopy(value, memo)
            elif isinstance(value, ComplexObject):
                if id(value) not in memo:
                    memo[id(value)] = copy.copy(value)
                setattr(clone, name, memo[id(value)])
        return clone


class WireCache:
    """What every host's pools share: the function files as PSRP text, and each distinct pipeline packed."""

    def __init__(self) -> None:
        self.escaped: dict[str, str] = {}
        self.packed: dict[Any, bytes] = {}


def share_wire(pool: RunspacePool, cache: WireCache) -> None:
    """Have `pool` serialize with a ScriptSerializer and fragment with a PackingFragmenter, both over `cache`."""
    serializer = ScriptSerializer(cache.escaped)
    pool._serializer = serializer  # pypsrp keeps its serializer here (no parameter takes one)
    pack_once(pool, serializer, cache.packed)


def build(pool: RunspacePool, function: str | None, parameters: dict[str, Any], scripts: Iterable[str] = (),
          ) -> PowerShell:
    """The shipped function files (each in global scope, one statement each), then the call, if any."""
    ps = PowerShell(pool)
    version = pool.protocol_version or ""
    for text in scripts:
        ps.add_command(CallCommand(text, protocol_version=version, is_script=True, use_local_scope=False))
        ps.add_statement()
    if function is not None:
        ps.add_command(CallCommand(function, protocol_version=version, is_script=False, use_local_scope=None))
        for name, value in parameters.items():
            ps.add_parameter(name, wire_value(value))
    return ps


def run(ps: PowerShell, wsman: WSMan, host: str, what: str, deadline: float, on_broken: Callable[[], None],
        on_finished: Callable[[PowerShell], None]) -> HostReply:
    """Run the pipeline; `on_broken` is called when the pool can no longer be trusted (a stop that failed).

    A finished command is not freed here: `on_finished` is given it, and `release` frees it before the pool's
    next command (deleting the pool frees it as well), so a pool's last call costs no round trip of its own."""
    bound_requests(wsman, time_left(deadline))
    try:
        ps.begin_invoke()
    except Exception as err:
        if refused_before_running(err):
            raise NotStarted(err) from err
        raise
    while ps.state == PSInvocationState.RUNNING:
        remaining = time_left(deadline)
        if remaining <= 0:
            _stop(ps, wsman, host, on_broken)
            raise CallTimeout(what)
        bound_requests(wsman, remaining)
        ps.poll_invoke(timeout=wsman_operation_timeout(remaining))  # type: ignore[arg-type]  # float is fine on the wire
    on_finished(ps)

    errors = [record_text(record) for record in ps.streams.error]
    if ps.had_errors and not errors:
        errors = ["the command failed without an error record"]
    if ps.state == PSInvocationState.STOPPED and not errors:
        errors = ["the command was stopped on the host"]
    if errors:
        raise HostError(host, f"{what}: " + "; ".join(errors))
    warnings = [str(getattr(w, "message", None) or w) for w in ps.streams.warning]
    return HostReply(output=[plain_value(item) for item in ps.output], errors=[], warnings=warnings)


def release(ps: PowerShell, wsman: WSMan, host: str) -> bool:
    """Free a finished command on the host (Signal Terminate); False if that failed (do not use the pool again)."""
    bound_requests(wsman, CLEANUP_TIMEOUT)
    try:
        ps.close()
    except Exception as err:
        log.info("%s: freeing a finished command failed (%s); the pool will be reopened", host, type(err).__name__)
        return False
    return True


def _stop(ps: PowerShell, wsman: WSMan, host: str, on_broken: Callable[[], None]) -> None:
    """Stop a command that ran past its deadline; if the host does not cooperate, the pool is dropped."""
    bound_requests(wsman, CLEANUP_TIMEOUT)
    try:
        ps.stop()
        ps.close()
    except Exception as err:
        log.debug("%s: stopping a timed-out command failed: %s", host, type(err).__name__)
        on_broken()

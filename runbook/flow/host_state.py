"""Get-CertAuthState, the call that reads a host (runbook/hosts/ps/CertAuthState.ps1), and a verify-all's reads of
one host in one such call.

A step's check says what it reads (`state_reads(ctx)`: the parameters of its own Get-CertAuthState call). A
verify-all (runbook.flow.verify_farm) merges what the checks of one host read, calls once, and gives each check a
hosts port that answers its own Get-CertAuthState call (and Get-CertAuthTmgPolicy, which the merged call also
answers) from that one answer. Any other call, or one asking for an item the merged call did not read, goes to
the host. If the merged call fails, nothing is served: each check reads, and fails, on its own, so an error still
names the step whose read it was.
"""
from __future__ import annotations

import copy
from collections.abc import Hashable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from runbook.errors import RunbookError

if TYPE_CHECKING:  # the ports only when serving: `runbook status` imports the steps, which use the names above
    from runbook.flow.ports import HostReply, HostShell, HostsPort

STATE = "Get-CertAuthState"
TMG_POLICY = "Get-CertAuthTmgPolicy"
TMG_SWITCH = "TmgPolicy"  # Get-CertAuthState's switch, and the property of its answer that holds that policy
# Each list parameter, and the property of the answer holding one item per item asked, in the order asked.
LISTS = {"Right": "Rights", "Feature": "Features", "AppPool": "AppPools", "WebConfig": "WebConfig",
         "ProviderLocation": "Providers"}
WEB_CONFIG_KEYS = ("Location", "Filter", "Name")  # a WebConfig item: a hashtable of Get-CertAuthWebConfig's parameters


def item_key(item: Any) -> Hashable:
    """What an item is, as the host compares it: rights, features, pools and IIS paths are case-insensitive."""
    if isinstance(item, Mapping):
        lowered = {str(key).lower(): value for key, value in item.items()}
        return tuple(str(lowered.get(key.lower(), "")).lower() for key in WEB_CONFIG_KEYS)
    return str(item).lower()


def merge(asked: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The parameters of one call asking for every item each of `asked` asks for, each once, in the order first
    asked."""
    merged: dict[str, list[Any]] = {}
    seen: set[tuple[str, Hashable]] = set()
    policy = False
    for parameters in asked:
        for name, values in parameters.items():
            if name == TMG_SWITCH:
                policy = policy or bool(values)
                continue
            for item in values if isinstance(values, (list, tuple)) else [values]:
                if (name, item_key(item)) not in seen:
                    seen.add((name, item_key(item)))
                    merged.setdefault(name, []).append(item)
    return {**merged, **({TMG_SWITCH: True} if policy else {})}


class Gathered:
    """One host's Get-CertAuthState answer to merged parameters: what each check's own call would have been
    answered."""

    def __init__(self, host: str, asked: Mapping[str, Any], reply: HostReply):
        self.host = host
        answer = reply.first
        self._warnings = list(reply.warnings)
        self._items = {name: dict(zip((item_key(item) for item in asked.get(name, [])), answer[part], strict=True))
                       for name, part in LISTS.items()}
        self._policy: dict[str, Any] | None = answer[TMG_SWITCH] if asked.get(TMG_SWITCH) else None

    def answer(self, function: str, parameters: Mapping[str, Any] | None) -> HostReply | None:
        """The reply to this call, or None when it is not a read this answer holds."""
        if function.lower() == TMG_POLICY.lower() and not parameters:
            return None if self._policy is None else self._reply(self._policy)
        if function.lower() != STATE.lower():
            return None
        answer: dict[str, Any] = {part: [] for part in LISTS.values()}
        answer[TMG_SWITCH] = None
        for name, values in (parameters or {}).items():
            if name == TMG_SWITCH:
                if values and self._policy is None:
                    return None
                answer[TMG_SWITCH] = self._policy if values else None
                continue
            if name not in LISTS:
                return None
            for item in values if isinstance(values, (list, tuple)) else [values]:
                found = self._items[name].get(item_key(item), _MISSING)
                if found is _MISSING:
                    return None
                answer[LISTS[name]].append(found)
        return self._reply(answer)

    def _reply(self, value: Any) -> HostReply:
        from runbook.flow.ports import HostReply

        # A copy each time, as every call of the host's own answers afresh: no check sees what another changed.
        return HostReply(output=[copy.deepcopy(value)], errors=[], warnings=list(self._warnings))

    def over(self, hosts: HostsPort) -> HostsPort:
        """`hosts`, with this host's reads answered from here."""
        return ServedHosts(hosts, self)


_MISSING = object()


def gather(hosts: HostsPort, host: str, asked: list[Mapping[str, Any]]) -> Gathered | None:
    """`host`'s reads for several checks, in one call; None when the call failed (each check then reads on its
    own)."""
    parameters = merge(asked)
    try:
        return Gathered(host, parameters, hosts.shell(host).invoke(STATE, parameters))
    except RunbookError:
        return None
    except (KeyError, TypeError, ValueError):  # an answer of another shape: the checks' own reads will say so
        return None


class ServedHosts:
    """A hosts port whose gathered host answers the reads it holds from that answer; everything else goes on."""

    def __init__(self, hosts: HostsPort, gathered: Gathered):
        self._hosts, self._gathered = hosts, gathered

    def shell(self, host: str) -> HostShell:
        shell = self._hosts.shell(host)
        return _ServedShell(shell, self._gathered) if host.lower() == self._gathered.host.lower() else shell

    def close(self) -> None:
        """Nothing of its own to close: the port it serves from belongs to the session, which closes it."""


class _ServedShell:
    def __init__(self, shell: HostShell, gathered: Gathered):
        self.host = gathered.host
        self._shell, self._gathered = shell, gathered

    def invoke(self, function: str, parameters: dict[str, Any] | None = None, *, endpoint: str = "default",
               timeout: float | None = None) -> HostReply:
        served = self._gathered.answer(function, parameters) if endpoint == "default" else None
        if served is not None:
            return served
        if timeout is None:  # the shell's own default (the ports' DEFAULT_TIMEOUT)
            return self._shell.invoke(function, parameters, endpoint=endpoint)
        return self._shell.invoke(function, parameters, endpoint=endpoint, timeout=timeout)

    def close(self) -> None:
        self._shell.close()

"""A step's reads on one Windows host in one PowerShell call, and the Exchange vdir read beside it.

`Get-CertAuthState` (runbook/hosts/ps/CertAuthState.ps1) answers every value a step asks for at once,
each item exactly as its single-value function would (runbook/hosts/ps/README.md); a step makes one
round trip per host instead of one per value. The Exchange cmdlets live on a second endpoint (its
own runspace pool and connection), so `at_once` reads it while the default endpoint answers.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from runbook.errors import HostError
from runbook.flow.ports import HostsPort

EXCHANGE = "exchange"  # the Exchange management endpoint (runbook/hosts/ps/README.md)
Setting = tuple[str, str, str]  # (IIS location, section filter, attribute name)
A = TypeVar("A")
B = TypeVar("B")


class HostState:
    """What one Get-CertAuthState call answered, looked up by what was asked."""

    def __init__(self, reply: dict[str, Any], rights: list[str], features: list[str], pools: list[str],
                 settings: list[Setting], providers: list[str]):
        def by(asked: Iterable[Any], answers: list[dict[str, Any]]) -> dict[Any, dict[str, Any]]:
            return {_key(item): answer for item, answer in zip(asked, answers, strict=True)}

        self._rights = by(rights, reply["Rights"])
        self._features = by(features, reply["Features"])
        self._pools = by(pools, reply["AppPools"])
        self._settings = by(settings, reply["WebConfig"])
        self._providers = by(providers, reply["Providers"])

    def right(self, right: str) -> dict[str, Any]:
        """{Right, Holders, GpoOwned, GpoName}, as Get-CertAuthUserRight."""
        return self._rights[_key(right)]

    def feature(self, name: str) -> dict[str, Any]:
        return self._features[_key(name)]

    def pool(self, name: str) -> dict[str, Any]:
        return self._pools[_key(name)]

    def setting(self, location: str, section: str, name: str) -> dict[str, Any]:
        """{Location, Filter, Name, Value, Local}, as Get-CertAuthWebConfig."""
        return self._settings[_key((location, section, name))]

    def providers(self, location: str) -> list[str]:
        return list(self._providers[_key(location)]["Providers"])


def _key(item: Any) -> Any:
    # Rights, features, pools and IIS paths are case-insensitive on the host.
    return tuple(str(part).lower() for part in item) if isinstance(item, tuple) else str(item).lower()


def read_state(hosts: HostsPort, host: str, *, rights: Iterable[str] = (), features: Iterable[str] = (),
               pools: Iterable[str] = (), settings: Iterable[Setting] = (),
               providers: Iterable[str] = ()) -> HostState:
    """Everything asked for, from one call on `host`'s default endpoint (`hosts`: a step's `ctx.hosts`)."""
    asked = (list(rights), list(features), list(pools), list(settings), list(providers))
    parameters: dict[str, Any] = {}
    for name, values in zip(("Right", "Feature", "AppPool", "WebConfig", "ProviderLocation"), asked, strict=True):
        if values:
            parameters[name] = values
    if "WebConfig" in parameters:
        parameters["WebConfig"] = [{"Location": location, "Filter": section, "Name": name}
                                   for location, section, name in parameters["WebConfig"]]
    reply = hosts.shell(host).invoke("Get-CertAuthState", parameters).first
    try:
        return HostState(reply, *asked)
    except (KeyError, TypeError, ValueError):  # a list missing or of another length than asked
        raise HostError(host, f"Get-CertAuthState: the answer does not match what was asked ({reply!r:.200})") from None


def exchange_vdir(hosts: HostsPort, host: str, identity: str) -> dict[str, Any]:
    vdir: dict[str, Any] = hosts.shell(host).invoke("Get-ActiveSyncVirtualDirectory", {"Identity": identity},
                                                    endpoint=EXCHANGE).first
    return vdir


def at_once(first: Callable[[], A], second: Callable[[], B]) -> tuple[A, Callable[[], B]]:
    """Two reads at the same time (on different endpoints of one host, so two connections). Returns the first's
    answer, and the second's as a function that hands it back or raises its error: the step decides in which
    order failures count, as when it made the calls one after the other. No call is left running behind it."""
    from concurrent.futures import ThreadPoolExecutor  # here: `runbook status` imports the steps, never needs it

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="host-read") as pool:
        later = pool.submit(second)
        try:
            result = first()
        finally:
            later.exception()  # wait for it
    return result, later.result

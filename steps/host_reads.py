"""A step's reads on one Windows host in one PowerShell call, and the Exchange vdir read beside it.

`Get-CertAuthState` (runbook/hosts/ps/CertAuthState.ps1) answers every value a step asks for at once,
each item exactly as its single-value function would (runbook/hosts/ps/README.md); a step makes one
round trip per host instead of one per value, and a check that says what it reads (`state_reads(ctx)`,
from `asks`) is read with the other checks of its host in one call by a verify-all (runbook.flow.host_state).
The Exchange cmdlets live on a second endpoint (its own runspace pool and connection), so `at_once`
reads it while the default endpoint answers.
"""
from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from runbook.errors import HostError
from runbook.flow import host_state
from runbook.flow.host_state import item_key

if TYPE_CHECKING:
    from runbook.flow.ports import HostsPort

EXCHANGE = "exchange"  # the Exchange management endpoint (runbook/hosts/ps/README.md)
Setting = tuple[str, str, str]  # (IIS location, section filter, attribute name)
A = TypeVar("A")
B = TypeVar("B")


class HostState:
    """What one Get-CertAuthState call answered, looked up by what was asked (`parameters`, from `asks`)."""

    def __init__(self, reply: dict[str, Any], parameters: Mapping[str, Any]):
        self._answers: dict[str, dict[Hashable, dict[str, Any]]] = {
            name: {item_key(item): answer for item, answer in zip(parameters.get(name, []), reply[part], strict=True)}
            for name, part in host_state.LISTS.items()}

    def right(self, right: str) -> dict[str, Any]:
        """{Right, Holders, GpoOwned, GpoName}, as Get-CertAuthUserRight."""
        return self._answers["Right"][item_key(right)]

    def feature(self, name: str) -> dict[str, Any]:
        return self._answers["Feature"][item_key(name)]

    def pool(self, name: str) -> dict[str, Any]:
        return self._answers["AppPool"][item_key(name)]

    def setting(self, location: str, section: str, name: str) -> dict[str, Any]:
        """{Location, Filter, Name, Value, Local}, as Get-CertAuthWebConfig."""
        return self._answers["WebConfig"][item_key(_web_config((location, section, name)))]

    def providers(self, location: str) -> list[str]:
        return list(self._answers["ProviderLocation"][item_key(location)]["Providers"])


def _web_config(setting: Setting) -> dict[str, str]:
    return dict(zip(host_state.WEB_CONFIG_KEYS, setting, strict=True))


def asks(*, rights: Iterable[str] = (), features: Iterable[str] = (), pools: Iterable[str] = (),
         settings: Iterable[Setting] = (), providers: Iterable[str] = (), tmg_policy: bool = False) -> dict[str, Any]:
    """The Get-CertAuthState parameters asking for these values: what `read_asked` sends, and what a check
    declares with `state_reads(ctx)` so that a verify-all reads all of a host's checks at once."""
    asked = (list(rights), list(features), list(pools), [_web_config(setting) for setting in settings],
             list(providers))
    parameters: dict[str, Any] = {name: values for name, values in zip(host_state.LISTS, asked, strict=True) if values}
    if tmg_policy:
        parameters[host_state.TMG_SWITCH] = True
    return parameters


def read_state(hosts: HostsPort, host: str, *, rights: Iterable[str] = (), features: Iterable[str] = (),
               pools: Iterable[str] = (), settings: Iterable[Setting] = (),
               providers: Iterable[str] = ()) -> HostState:
    """Everything asked for, from one call on `host`'s default endpoint (`hosts`: a step's `ctx.hosts`)."""
    return read_asked(hosts, host, asks(rights=rights, features=features, pools=pools, settings=settings,
                                        providers=providers))


def read_asked(hosts: HostsPort, host: str, parameters: Mapping[str, Any]) -> HostState:
    """What `parameters` (from `asks`) asks for, from one call on `host`'s default endpoint."""
    reply = hosts.shell(host).invoke(host_state.STATE, dict(parameters)).first
    try:
        return HostState(reply, parameters)
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

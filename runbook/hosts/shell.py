"""Windows hosts over PowerShell remoting: the real `HostShell` / `HostsPort`, built on pypsrp.

* One `WinRMShell` per host for the whole session, one runspace pool per host and endpoint (max 1 runspace;
  calls to the two endpoints may overlap), opened on first use. A pool that failed at the transport level
  (connection cut, credentials refused, HTTP timeout) is dropped and reopened on the next call.
* On the default endpoint a call on a pool first loads the `runbook/hosts/ps/*.ps1` files it needs and the
  pool lacks (`runbook.hosts.functions`: the file defining the function and those of what it calls) with
  `add_script(text)` in global scope, in the same pipeline before the call (`runbook.hosts.pipeline`);
  these files only define functions. A call is `add_cmdlet(function)` plus one
  `add_parameter(name, value)` per parameter: a value never becomes script text.
* The Exchange management endpoint (`endpoint="exchange"`) is a second pool on
  `http://<host>/PowerShell` with configuration `Microsoft.Exchange` and `settings.exchange_auth`
  (Kerberos by default), as Exchange's remote PowerShell expects; `ExchangeEndpoint` overrides
  path/port/TLS/configuration.
* Transport policy (DOMAIN.md, "Remote PowerShell, safely"): HTTPS with certificate validation
  (`ca_file` or the system store) by default; plain HTTP only with message encryption
  (negotiate/kerberos/ntlm); Basic over plain HTTP only with `insecure=True`, otherwise
  `BadInput` says why.
* Every call is bounded by its `timeout` (WS-Man operation timeout, HTTP connect/read timeouts
  and an overall deadline); a call that runs past it is stopped on the host and raises
  `HostError`. Non-terminating errors count as failures (pypsrp only sets `had_errors` for
  terminating ones, so the error stream is checked too).
* The password lives only in memory (in the pypsrp transport); it is never logged, never shown
  in a message or repr.
"""
from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pypsrp.powershell import PowerShell, RunspacePool

from runbook.errors import BadInput, HostError
from runbook.flow.ports import DEFAULT_TIMEOUT, HostReply
from runbook.flow.settings import WinRMSettings
from runbook.hosts import pipeline
from runbook.hosts.errors import (
    WSMAN_INVALID_SELECTORS,
    WSMAN_OPERATION_TIMEDOUT,
    CallTimeout,
    NotStarted,
    describe_failure,
)
from runbook.hosts.functions import FunctionFiles
from runbook.hosts.transport import (
    CONNECT_TIMEOUT_CAP,
    ENCRYPTING_AUTHS,
    KERBEROS_SERVICE,
    SUPPORTED_AUTHS,
    BoundedWSMan,
    Secret,
    Target,
    bound_requests,
    encryption_policy,
    quiet_environment,
    time_left,
)

__all__ = [
    "ENCRYPTING_AUTHS", "PS_DIR", "SUPPORTED_AUTHS", "WSMAN_INVALID_SELECTORS", "WSMAN_OPERATION_TIMEDOUT",
    "ExchangeEndpoint", "WinRMHosts", "WinRMShell",
]

log = logging.getLogger(__name__)

PS_DIR = Path(__file__).resolve().parent / "ps"

_FUNCTION_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(?:-[A-Za-z0-9_]+)*$")
_PARAMETER_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

T = TypeVar("T")


@dataclass(frozen=True)
class ExchangeEndpoint:
    """Where the Exchange management endpoint lives on each host (real Exchange: http://<fqdn>/PowerShell)."""

    path: str = "PowerShell"
    port: int | None = None  # None: 80 over http, 443 over https
    ssl: bool = False
    configuration_name: str = "Microsoft.Exchange"


@dataclass
class _Session:
    wsman: BoundedWSMan
    pool: RunspacePool
    broken: bool = False  # its transport failed: never use it again
    loaded: set[str] = field(default_factory=set)  # the runbook/hosts/ps files whose functions are defined in it
    finished: PowerShell | None = None  # the last command, finished but not yet freed on the host


class WinRMShell:
    """PowerShell on one Windows host (see the module docstring). Thread-safe; calls to one endpoint run in order."""

    def __init__(
        self,
        host: str,
        targets: Mapping[str, Target],
        password: Secret,
        scripts: list[tuple[str, str]],
        default_timeout: float,
        wire: pipeline.WireCache | None = None,
        functions: FunctionFiles | None = None,
    ):
        self.host = host
        self._targets = dict(targets)
        self._password = password
        self._scripts = scripts
        self._functions = functions if functions is not None else FunctionFiles(scripts)
        self._default_timeout = default_timeout
        self._sessions: dict[str, _Session] = {}
        self._wire = wire if wire is not None else pipeline.WireCache()
        self._locks = {endpoint: threading.Lock() for endpoint in self._targets}
        self.pools_opened = 0  # runspace pools this shell has opened (for tests and diagnostics)

    def __repr__(self) -> str:
        return f"<WinRMShell {self.host} pools={sorted(self._sessions)}>"

    # ------------------------------------------------------------ HostShell
    def invoke(
        self,
        function: str,
        parameters: dict[str, Any] | None = None,
        *,
        endpoint: str = "default",
        timeout: float = DEFAULT_TIMEOUT,
    ) -> HostReply:
        if endpoint not in self._targets:
            raise ValueError(f"unknown endpoint {endpoint!r} (use 'default' or 'exchange')")
        if not _FUNCTION_NAME.match(function or ""):
            raise ValueError(f"not a PowerShell command name: {function!r}")
        parameters = dict(parameters or {})
        for name in parameters:
            if not isinstance(name, str) or not _PARAMETER_NAME.match(name):
                raise ValueError(f"{function}: not a PowerShell parameter name: {name!r}")
        timeout = float(timeout if timeout and timeout > 0 else self._default_timeout)
        with self._locks[endpoint]:
            deadline = time.monotonic() + timeout
            target = self._targets[endpoint]
            for attempt in (1, 2):
                reused = endpoint in self._sessions
                try:
                    session = self._session(endpoint, deadline, timeout)
                    return self._call(session, endpoint, function, parameters, deadline, timeout)
                except HostError:
                    raise
                except CallTimeout as late:
                    raise HostError(self.host, f"{late} did not finish within {timeout:g} s; it was stopped") from None
                except NotStarted as refused:
                    # The host refused the command before running it (its WinRM service restarted and
                    # forgot our shell, or our connection's authentication is gone): with a pool that
                    # served earlier calls, open a new one and send the command once more.
                    self._discard(endpoint)
                    if attempt == 1 and reused and time_left(deadline) > 0:
                        log.info("%s: WinRM shell lost (%s); opening a new one", self.host, type(refused.err).__name__)
                        continue
                    raise HostError(self.host, describe_failure(refused.err, target, timeout)) from None
                except Exception as err:
                    self._discard(endpoint)
                    raise HostError(self.host, describe_failure(err, target, timeout)) from None
            raise AssertionError("unreachable")

    def close(self) -> None:
        for endpoint, lock in self._locks.items():
            with lock:
                session = self._sessions.pop(endpoint, None)
                if session is not None:
                    _close_quietly(session)  # best effort: the host may already be gone

    # ------------------------------------------------------------ internals
    def _session(self, endpoint: str, deadline: float, timeout: float) -> _Session:
        session = self._sessions.get(endpoint)
        if session is not None:
            finished, session.finished = session.finished, None
            if finished is None or pipeline.release(finished, session.wsman, self.host):
                return session
            self._discard(endpoint)  # it did not take the clean-up: a new pool
        target = self._targets[endpoint]
        kwargs: dict[str, Any] = {}
        if target.hostname_override and target.auth in ENCRYPTING_AUTHS:
            kwargs["negotiate_hostname_override"] = target.hostname_override
        if target.auth in ENCRYPTING_AUTHS:
            kwargs["negotiate_service"] = KERBEROS_SERVICE
        wsman = BoundedWSMan(
            target.server,
            port=target.port,
            ssl=target.ssl,
            path=target.path,
            auth=target.auth,
            username=target.username,
            password=self._password.reveal(),
            # A CA bundle path works as well as a bool (it becomes requests' `verify`); pypsrp annotates bool only.
            cert_validation=target.cert_validation,  # type: ignore[arg-type]
            encryption=target.encryption,
            operation_timeout=max(1, int(timeout)),
            connection_timeout=max(1, int(min(timeout, CONNECT_TIMEOUT_CAP))),
            read_timeout=int(timeout) + 5,
            no_proxy=True,
            **kwargs,
        )
        pool = RunspacePool(wsman, configuration_name=target.configuration_name, min_runspaces=1, max_runspaces=1)
        pipeline.share_wire(pool, self._wire)
        session = _Session(wsman, pool)
        bound_requests(wsman, time_left(deadline))
        try:
            quiet_environment(wsman)
            pool.open()
        except BaseException:
            _close_quietly(session)
            raise
        self.pools_opened += 1
        if endpoint != "default":
            session.loaded = {name for name, _ in self._scripts}  # the Exchange endpoint takes no scripts
        self._sessions[endpoint] = session
        return session

    def _call(self, session: _Session, endpoint: str, function: str, parameters: dict[str, Any], deadline: float,
              timeout: float) -> HostReply:
        # The files this call needs that the pool lacks go first, in the same pipeline.
        needed = set(self._functions.needed(function, parameters)) - session.loaded
        loading = [(name, text) for name, text in self._scripts if name in needed]
        ps = pipeline.build(session.pool, function, parameters, [text for _, text in loading])
        try:
            reply = pipeline.run(ps, session.wsman, self.host, function, deadline, lambda: self._forget(session),
                                 lambda done: setattr(session, "finished", done))
        except HostError:
            if loading:
                self._load_alone(endpoint, deadline, timeout, loading)  # their own error, if they are what failed
            raise
        session.loaded.update(name for name, _ in loading)
        return reply

    def _load_alone(self, endpoint: str, deadline: float, timeout: float, loading: list[tuple[str, str]]) -> None:
        """After a failed first call: load the function files on a new pool by themselves. If that fails, its
        error is the one to report and the pool is never kept (a pool without the functions is no use); if not,
        the pool is ready and the call's own error stands. The call itself is not sent again."""
        self._discard(endpoint)
        session = self._session(endpoint, deadline, timeout)
        ps = pipeline.build(session.pool, None, {}, [text for _, text in loading])
        try:
            pipeline.run(ps, session.wsman, self.host, "loading the runbook/hosts/ps functions", deadline,
                         lambda: self._forget(session), lambda done: setattr(session, "finished", done))
        except NotStarted as refused:
            self._discard(endpoint)
            raise refused.err from None  # a fresh pool: nothing to retry
        except BaseException:
            self._discard(endpoint)
            raise
        session.loaded.update(name for name, _ in loading)

    def _forget(self, session: _Session) -> None:
        session.broken = True
        for endpoint, known in list(self._sessions.items()):
            if known is session:
                self._discard(endpoint)
        _close_quietly(session, delete=False)

    def _discard(self, endpoint: str) -> None:
        """Forget a pool whose transport failed; the next call opens a new one (and reloads the functions)."""
        session = self._sessions.pop(endpoint, None)
        if session is not None:
            _close_quietly(session, delete=False)


class WinRMHosts:
    """Hands out one `WinRMShell` per host name, reused for the whole session.

    `addresses` maps a host name to the (address, port) actually dialled, for both its endpoints;
    the host name is still used in messages and as the Kerberos/NTLM target name. Tests point it at
    loopback `WSManEndpoint`s this way.
    """

    def __init__(
        self,
        settings: WinRMSettings,
        password: str | None,
        *,
        insecure: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
        addresses: Mapping[str, tuple[str, int]] | None = None,
        exchange: ExchangeEndpoint = ExchangeEndpoint(),
        ps_dir: Path | None = None,
    ):
        if settings.transport not in ("https", "http"):
            raise BadInput(f"winrm.transport must be 'https' or 'http', not {settings.transport!r}")
        self.settings = settings
        self.insecure = insecure
        self.timeout = float(timeout)
        self.exchange = exchange
        self._addresses = {k.lower(): v for k, v in (addresses or {}).items()}
        self._password = Secret(password)
        self._encryption = encryption_policy(
            where="winrm", ssl=settings.transport == "https", auth=settings.auth, insecure=insecure,
            user=settings.user, password=password,
        )
        self._exchange_encryption = encryption_policy(
            where="winrm exchange endpoint", ssl=exchange.ssl, auth=settings.exchange_auth, insecure=insecure,
            user=settings.user, password=password,
        )
        folder = ps_dir if ps_dir is not None else PS_DIR
        self.scripts: list[tuple[str, str]] = [
            (p.name, p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.ps1")) if p.is_file()
        ] if folder.is_dir() else []
        self._shells: dict[str, WinRMShell] = {}
        self._wire = pipeline.WireCache()  # the function files as PSRP text and packed pipelines, for every host
        self._functions = FunctionFiles(self.scripts)  # which files a call needs, read once for every host
        self._lock = threading.Lock()
        # Who the hosts see (journaled with each change): the user, or the ticket's principal (set by the caller).
        self.acting_as: str | None = settings.user

    def __repr__(self) -> str:
        return f"<WinRMHosts {self.settings.transport}/{self.settings.auth} hosts={sorted(self._shells)}>"

    def _targets(self, host: str) -> dict[str, Target]:
        s = self.settings
        override = self._addresses.get(host.lower())
        server, port = override if override else (host, s.effective_port())
        https = s.transport == "https"
        cert_validation: bool | str = s.ca_file or True
        default = Target(
            server=server, port=port, ssl=https, path="wsman", auth=s.auth, encryption=self._encryption,
            cert_validation=cert_validation, configuration_name="Microsoft.PowerShell", username=s.user,
            hostname_override=host if override else None,
        )
        ex = self.exchange
        ex_port = override[1] if override else (ex.port or (443 if ex.ssl else 80))
        exchange = Target(
            server=server, port=ex_port, ssl=ex.ssl, path=ex.path, auth=s.exchange_auth,
            encryption=self._exchange_encryption, cert_validation=cert_validation,
            configuration_name=ex.configuration_name, username=s.user, hostname_override=host if override else None,
        )
        return {"default": default, "exchange": exchange}

    def shell(self, host: str) -> WinRMShell:
        key = host.lower()
        with self._lock:
            shell = self._shells.get(key)
            if shell is None:
                shell = WinRMShell(host, self._targets(host), self._password, self.scripts, self.timeout,
                                   self._wire, self._functions)
                self._shells[key] = shell
            return shell

    def map(
        self,
        hosts: Iterable[str],
        fn: Callable[[WinRMShell], T],
        *,
        return_exceptions: bool = False,
        max_workers: int = 16,
    ) -> dict[str, T | BaseException]:
        """Run `fn(shell)` for every host in parallel; returns {host: result} in the order given.

        Duplicate host names run once. Calls on one host stay ordered (each shell runs one call at
        a time). Waits for every host before reporting: with `return_exceptions=False` the first
        failure (in host order) is raised; with True, failures are returned as the host's value.
        """
        unique = list(dict.fromkeys(hosts))
        if not unique:
            return {}
        shells = {h: self.shell(h) for h in unique}
        with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(unique))), thread_name_prefix="winrm") as ex:
            futures = {h: ex.submit(fn, shells[h]) for h in unique}
        results: dict[str, T | BaseException] = {}
        for host, future in futures.items():
            exc = future.exception()
            if exc is not None and not return_exceptions:
                raise exc
            results[host] = exc if exc is not None else future.result()
        return results

    def close(self) -> None:
        with self._lock:
            shells = list(self._shells.values())
            self._shells.clear()
        if shells:
            with ThreadPoolExecutor(max_workers=min(16, len(shells))) as ex:
                list(ex.map(lambda s: s.close(), shells))

    def __enter__(self) -> "WinRMHosts":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------- helpers
def _close_quietly(session: _Session, *, delete: bool = True) -> None:
    """Release a pool: with `delete`, ask the host to drop the shell (bounded, best effort); always close HTTP."""
    try:
        if delete and session.pool.shell.opened:
            bound_requests(session.wsman, pipeline.CLEANUP_TIMEOUT)
            session.pool.close()
    except Exception as err:
        log.debug("closing a runspace pool failed: %s", type(err).__name__)
    finally:
        try:
            session.wsman.close()
        except Exception:
            pass

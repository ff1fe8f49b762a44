"""pytest fixtures: simulated Windows hosts behind real loopback WinRM endpoints, reachable by their real names.

Register with `pytest_plugins = ["tests.winrm_fixtures"]` in tests/conftest.py. What the real
client path sees is exactly production's: params → `runbook.backends.real_ports` → `WinRMHosts`
(no `addresses=` override) → DNS (/etc/hosts) → HTTP on the params' `winrm.port` → a
`WSManEndpoint` bound on that host's own loopback IP → `SimHosts.dispatch` → `SimWindowsHost`.
The simulated host is the only mocked layer (see runbook/lab/windows_host.py).

* `/etc/hosts` gets `127.0.0.31 tmg01.test.lan`, `.32 seg01`, `.33 eas01`, `.34 eas02` (appended once,
  as tests/samba_dc.py does for dc1.test.lan; tests run as root). Every host's endpoint listens on
  its own IP and all of them on one shared port, so one `winrm.port` in the params reaches each
  of them, and `winrm.exchange_port` (the same port: the endpoint also serves `/PowerShell`)
  reaches the Exchange management endpoint `http://<fqdn>:<port>/PowerShell`.
* `host_lab(scenario, auth=..., eas=..., **params)` starts one `HostLab`: the rehearsal lab's
  scenario state (`runbook.lab.lab.build_state`) on `SimWindowsHost`s, one endpoint per host, and
  `HostLab.params` ready for `runbook new --params`. `RUNBOOK_WINRM_PASSWORD` is set for the test,
  except with `auth="kerberos"`: then every endpoint accepts SPNEGO/Kerberos for `principal` only,
  with the `HTTP/<host>` keys in `keytab` (see `http_keytab`), and the params name no WinRM user,
  so the client uses the operator's ticket cache.
* Planting state, lab-style: `gpo_owns`, `pool_identity`, `uninstall_feature`, `error_once`
  (non-terminating), `fail_once` (terminating), `hang_once` (the host never answers: the client's
  timeout must fire), `down` / `up` (the endpoint stops: port closed, connections cut),
  `console_clicks` (what the TMG console steps 1/2 would do), `snapshot` (a host's state without
  its iisreset counter) and the endpoints' records (`invocations`, `scripts_seen`).

Without root (no /etc/hosts, no extra loopback IPs to rely on) the tests are skipped with the
reason, unless RUNBOOK_REQUIRE_SAMBA=1 is set (CI sets it): then they fail.
"""
from __future__ import annotations

import contextlib
import io
import os
import socket
import subprocess
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from runbook.flow.ports import HostReply
from runbook.inputs.params import parse_params
from runbook.lab import lab as lab_module
from runbook.lab.windows_host import SimWindowsHost
from tests.samba_dc import SambaDC, ensure_hosts_entry
from testsupport.wsman.endpoint import WSManEndpoint

REQUIRE_ENV = "RUNBOOK_REQUIRE_SAMBA"
PASSWORD_ENV = "RUNBOOK_WINRM_PASSWORD"
HOST_IPS = {
    "tmg01.test.lan": "127.0.0.31",
    "seg01.test.lan": "127.0.0.32",
    "eas01.test.lan": "127.0.0.33",
    "eas02.test.lan": "127.0.0.34",
}
USER = "TEST\\operator"
PASSWORD = "Winrm-Lab-Pa55!"  # the lab endpoints' password; asserted never to be written anywhere


def missing_prerequisites() -> str | None:
    if os.geteuid() != 0:
        return "the WinRM host tests need root (they add tmg01/seg01/eas01/eas02.test.lan to /etc/hosts)"
    return None


def require_hosts() -> None:
    """Skip (or, with RUNBOOK_REQUIRE_SAMBA=1, fail) when the hosts cannot be reached by name; else map them."""
    reason = missing_prerequisites()
    if reason:
        if os.environ.get(REQUIRE_ENV, "") not in ("", "0"):
            pytest.fail(f"{REQUIRE_ENV} is set but the WinRM host tests cannot run here: {reason}", pytrace=False)
        pytest.skip(reason)
    for host, ip in HOST_IPS.items():
        ensure_hosts_entry(ip, host)


class HostLab:
    """Simulated hosts of one topology behind loopback WinRM endpoints; see the module docstring."""

    def __init__(self, scenario: str, params: dict[str, Any], workdir: Path, *, auth: str = "ntlm",
                 latency_ms: float = 0, keytab: str | None = None, principal: str | None = None):
        if auth == "kerberos" and not (keytab and principal):
            raise ValueError("auth 'kerberos' needs the keytab with every host's HTTP/ keys and the principal let in")
        self.scenario = scenario
        self.auth = auth
        self.keytab = keytab
        # Who the endpoints let in: the lab's operator and password, or (Kerberos) the ticket's principal.
        self.username = principal if auth == "kerberos" and principal else USER
        self.params = params
        self._hang: set[tuple[str, str]] = set()
        self._hang_lock = threading.Lock()
        parsed = parse_params(params)
        self.hosts = [server.host for server in parsed.all_servers()]
        unknown = [h for h in self.hosts if h not in HOST_IPS]
        if unknown:
            raise ValueError(f"no loopback IP for {', '.join(unknown)} (known: {', '.join(HOST_IPS)})")
        self.lab = lab_module.Lab(workdir / "hosts.lab.yaml", lab_module.build_state(scenario, parsed))
        self.endpoints: dict[str, WSManEndpoint] = {}
        self.port = self._start(latency_ms)
        params["winrm"] = {"transport": "http", "port": self.port, "auth": auth, "user": USER,
                           "exchange_port": self.port, "exchange_auth": auth}
        if auth == "kerberos":
            del params["winrm"]["user"]  # no user: the client acts with the operator's `kinit` ticket

    # -- endpoints -----------------------------------------------------------------------------------------
    def _start(self, latency_ms: float) -> int:
        for _attempt in range(10):
            with socket.socket() as probe:  # a port free on the first IP; every endpoint asks for it by number,
                probe.bind((HOST_IPS[self.hosts[0]], 0))  # so `up()` after `down()` gets it back
                port = probe.getsockname()[1]
            try:
                for host in self.hosts:
                    endpoint = WSManEndpoint(self._dispatch, host_name=host, auth=self.auth,
                                             username=self.username, password=PASSWORD, bind=HOST_IPS[host],
                                             port=port, latency_ms=latency_ms, keytab=self.keytab)
                    endpoint.start()
                    self.endpoints[host] = endpoint
                return port
            except OSError:  # taken on one of the IPs meanwhile: choose again
                self.stop()
        raise RuntimeError("could not find one free port on every host's loopback IP")

    def _dispatch(self, host: str, command: str, parameters: dict, endpoint: str) -> HostReply:
        with self._hang_lock:
            if (host, command.lower()) in self._hang:
                self._hang.discard((host, command.lower()))
                raise TimeoutError(f"{host} hangs in {command}")
        return self.lab.sim_hosts.dispatch(host, command, parameters, endpoint)

    def stop(self) -> None:
        for endpoint in self.endpoints.values():
            endpoint.stop()
        self.endpoints.clear()

    def down(self, host: str) -> None:
        """The host goes down: its WinRM port closes and open connections are cut."""
        self.endpoints[host].stop()

    def up(self, host: str) -> None:
        self.endpoints[host].start()

    # -- the params file ----------------------------------------------------------------------------------
    def write_params(self, path: Path) -> Path:
        path.write_text(yaml.safe_dump(self.params, sort_keys=False), encoding="utf-8")
        return path

    # -- planting state -------------------------------------------------------------------------------------
    def sim(self, host: str) -> SimWindowsHost:
        found = self.lab.sim_hosts.find(host)
        assert found is not None, host
        return found

    def gpo_owns(self, host: str, right: str, holders: list[str], gpo_name: str) -> None:
        self.sim(host).lsa.own_right_by_gpo(right, holders, gpo_name)

    def pool_identity(self, host: str, identity_type: str, user_name: str | None = None, sid: str | None = None,
                      pool: str = "SecureEmailGateway") -> None:
        self.sim(host).iis.set_app_pool(pool, identity_type, user_name, sid)

    def uninstall_feature(self, host: str, feature: str = "Web-Client-Auth") -> None:
        self.sim(host).system.uninstall_feature(feature)

    def error_once(self, host: str, function: str, message: str) -> None:
        """The next `function` on `host` does its work and reports a non-terminating error (Write-Error)."""
        self.sim(host).error_once(function, message)

    def fail_once(self, host: str, function: str, message: str) -> None:
        """The next `function` on `host` throws (a terminating error) without doing anything."""
        self.sim(host).fail_once(function, message)

    def hang_once(self, host: str, function: str) -> None:
        """The next `function` on `host` never answers: only the client's own timeout ends the call."""
        with self._hang_lock:
            self._hang.add((host, function.lower()))

    def console_clicks(self, step: str) -> None:
        """What the operator's TMG console work for step 1 or 2 does to the (simulated) TMG."""
        self.lab.perform_manual(step, parse_params(self.params))

    # -- reading back -------------------------------------------------------------------------------------
    def snapshot(self, host: str) -> dict[str, Any]:
        """The host's whole state, without the iisreset counter/time (undo repeats an iisreset)."""
        state = self.sim(host).to_dict()
        state.pop("iisreset")
        return state

    def snapshots(self) -> dict[str, dict[str, Any]]:
        return {host: self.snapshot(host) for host in self.hosts}

    def invocations(self, host: str) -> list[tuple[str, str, dict]]:
        return list(self.endpoints[host].invocations)

    def scripts_seen(self) -> list[str]:
        return [text for endpoint in self.endpoints.values() for text in endpoint.scripts_seen]

    def parameter_values(self) -> list[str]:
        """Every string parameter value any endpoint received."""
        values: list[str] = []

        def walk(value: Any) -> None:
            if isinstance(value, str):
                values.append(value)
            elif isinstance(value, dict):
                for item in value.values():
                    walk(item)
            elif isinstance(value, (list, tuple)):
                for item in value:
                    walk(item)

        for endpoint in self.endpoints.values():
            for _endpoint, _command, parameters in endpoint.invocations:
                walk(parameters)
        return values


def http_keytab(dc: SambaDC, hosts: Iterable[str], path: Path) -> str:
    """One keytab with the `HTTP/<host>` keys of every host, exported from the test DC.

    The lab's Kerberos endpoints share one process-wide acceptor keytab (KRB5_KTNAME), so the hosts'
    keys are exported one by one and merged with MIT `ktutil`.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    parts = [dc.export_keytab(f"HTTP/{host}", path.with_name(f"{path.stem}-{host}.keytab")) for host in hosts]
    if path.exists():
        path.unlink()  # `wkt` appends to an existing file: start from nothing
    script = "".join(f"rkt {part}\n" for part in parts) + f"wkt {path}\nquit\n"
    subprocess.run(["ktutil"], input=script, check=True, capture_output=True, text=True, timeout=30)
    return str(path)


def scenario_params(scenario: str, *, eas: int | None = None, **overrides: Any) -> dict[str, Any]:
    """The rehearsal scenario's params, with `eas` Exchange servers (eas01…eas0N) and overrides (None removes)."""
    params = dict(lab_module.scenario(scenario)["params"])
    if eas is not None:
        params["eas"] = [{"computer": f"EAS{n:02d}", "host": f"eas{n:02d}.test.lan"} for n in range(1, eas + 1)]
        if eas == 1:
            params.pop("internal_names", None)
            params.pop("service_accounts", None)
    for key, value in overrides.items():
        if value is None:
            params.pop(key, None)
        else:
            params[key] = value
    return params


@pytest.fixture
def host_lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Factory: `host_lab("tmg-seg-eas", auth="ntlm", eas=2, cert_validation="eas")` → a started HostLab."""
    require_hosts()
    started: list[HostLab] = []

    def start(scenario: str, *, auth: str = "ntlm", eas: int | None = None, latency_ms: float = 0,
              keytab: str | None = None, principal: str | None = None, **overrides: Any) -> HostLab:
        folder = tmp_path / f"hostlab-{len(started)}"
        folder.mkdir()
        lab = HostLab(scenario, scenario_params(scenario, eas=eas, **overrides), folder, auth=auth,
                      latency_ms=latency_ms, keytab=keytab, principal=principal)
        started.append(lab)
        if auth != "kerberos":  # with Kerberos no password exists anywhere: the point of those tests
            monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
        return lab

    try:
        yield start
    finally:
        for lab in started:
            lab.stop()


class CliResult:
    def __init__(self, returncode: int, stdout: str, stderr: str):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr

    def __repr__(self) -> str:
        return f"<exit {self.returncode}\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}>"


def run_cli(*args: str) -> CliResult:
    """`runbook ARGS` in this process (the endpoints live here too): exit code and what it printed."""
    from runbook.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return CliResult(code, out.getvalue(), err.getvalue())


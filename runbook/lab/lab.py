"""The rehearsal lab: a simulated domain and Windows hosts behind the same ports as the real clients.

A lab lives in a YAML file beside its session (`<name>.lab.yaml`) and is written at the end
of every operation that changed it (`Lab.flush`, through `Ports.flush` / `Ports.close`), so
`runbook demo --resume` (or any CLI command on the session) carries on exactly where the
rehearsal stopped; written on every simulated write, a farm's step cost O(hosts²). Steps run
unchanged against it: the only lab awareness is here, in how the ports are built.
"""
from __future__ import annotations

import json
import random
import re
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from runbook.errors import BadInput, HostError
from runbook.flow import topology as topo
from runbook.flow.catalogue import StepSpec
from runbook.flow.context import Ports
from runbook.flow.ports import DEFAULT_TIMEOUT, HostReply
from runbook.inputs.params import Params, load_params_file, parse_params
from runbook.lab import rehearsal_outline
from runbook.lab.directory import LabDirectory
from runbook.lab.faults import fault_for
from runbook.lab.prerequisites import setup_for
from runbook.lab.windows_host import SimWindowsHost
from runbook.lab.windows_shells import SimHosts, SimShell
from runbook.lab.windows_tmg import tmg_listener, tmg_rule, tmg_server_rule
from runbook.record import store
from runbook.record.session import Session

SCENARIOS = ("tmg-eas", "tmg-seg-eas", "add-seg", "broken")
WRITE_VERB = re.compile(r"^(Set|Clear|Grant|Revoke|Add|Remove|Invoke)-")


def scenario(name: str) -> dict[str, Any]:
    if name not in SCENARIOS:
        raise BadInput(f"--scenario: {name!r} is not a scenario (choose from {', '.join(SCENARIOS)})")
    text = resources.files("runbook.lab").joinpath("scenarios", f"{name}.yaml").read_text(encoding="utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def lab_file(session_path: Path) -> Path:
    return session_path.with_name(session_path.stem + ".lab.yaml")


# -- building a lab from a scenario ---------------------------------------------------------------------------
def build_state(name: str, params: Params, setup: dict[str, Any] | None = None) -> dict[str, Any]:
    """The lab of scenario `name`, or, given `setup` (a scenario's `lab:` keys), the lab `name` labels."""
    if setup is None:
        setup = scenario(name).get("lab") or {}
    directory = LabDirectory(params.domain, [])
    for server in params.all_servers():
        directory.add_computer(server.computer, server.host)
    for user in setup.get("users") or []:
        directory.add_user(user["sam"], user.get("spns"))
    for sam, values in (setup.get("delegate") or {}).items():
        directory.accounts[sam.lower()].delegate_to.extend(values)
    for sam, uac in (setup.get("uac") or {}).items():
        directory.accounts[sam.lower()].uac = int(uac)
    hosts: dict[str, Any] = {}
    for role in ("tmg", "seg", "eas"):
        for server in params.servers(role):
            sim = SimWindowsHost(role, server.host)
            offset = (setup.get("clock_offsets") or {}).get(server.host)
            if offset:
                sim.system.set_clock_offset(float(offset))
            for feature in (setup.get("features") or {}).get(server.host) or []:
                sim.system.install_feature(feature)
            for location in (setup.get("locations") or {}).get(server.host) or []:
                sim.iis.add_location(location)
            for right, holders in ((setup.get("rights") or {}).get(server.host) or {}).items():
                sim.lsa.set_user_right(right, holders)
            for right, gpo in ((setup.get("gpo_rights") or {}).get(server.host) or {}).items():
                sim.lsa.own_right_by_gpo(right, gpo["holders"], gpo["gpo_name"])
            for location, providers in ((setup.get("providers") or {}).get(server.host) or {}).items():
                sim.iis.add_location(location)
                sim.iis.set_providers(location, providers)
            if role == "tmg" and setup.get("tmg_policy"):
                policy = setup["tmg_policy"]
                sim.tmg.set_policy(policy.get("listeners", []), policy.get("rules", []))
            if role == "eas" and "eas" in params.service_accounts:
                # The guide's prerequisite for a farm alias: RollAlternateServiceAccountPassword.ps1 was run.
                sim.exchange.set_alternate_service_account(f"{params.domain.split('.')[0].upper()}\\"
                                                           f"{params.service_accounts['eas']}")
            hosts[server.host] = sim.to_dict()
    return {"scenario": name, "directory": directory.to_dict(), "hosts": hosts, "faults": {}}


# -- the ports --------------------------------------------------------------------------------------------------
class _LabShell:
    """A SimShell that marks the lab changed after each write and can fail mid-step like a host dropping off."""

    def __init__(self, lab: Lab, shell: SimShell):
        self._lab, self._shell, self.host = lab, shell, shell.host

    def invoke(self, function: str, parameters: dict[str, Any] | None = None, *, endpoint: str = "default",
               timeout: float = DEFAULT_TIMEOUT) -> HostReply:
        if WRITE_VERB.match(function):
            self._lab.count_host_write(self.host)
        try:
            return self._shell.invoke(function, parameters, endpoint=endpoint, timeout=timeout)
        finally:
            if WRITE_VERB.match(function):
                self._lab.changed(self.host)

    def close(self) -> None:
        self._shell.close()


class _LabHosts:
    def __init__(self, lab: Lab):
        self._lab = lab

    def shell(self, host: str) -> _LabShell:
        return _LabShell(self._lab, self._lab.sim_hosts.shell(host))

    def close(self) -> None:
        self._lab.flush()


class Lab:
    def __init__(self, path: Path, state: dict[str, Any], *, latency_ms: float = 0.0, seed: int | None = None):
        self.path = path
        self.state = state
        self._changed = False
        self._unkept: set[str] = set()  # parts written since the last keep(): "directory" or a host name
        jitter = random.Random(seed)
        faults = state.get("faults") or {}
        self.host_faults: dict[str, int] = dict(faults.get("hosts") or {})
        self.directory = LabDirectory.from_dict(state["directory"], latency_ms=latency_ms,
                                                fail_after_writes=faults.get("directory"), on_write=self.changed)
        sims = {}
        for host, data in state["hosts"].items():
            sim = SimWindowsHost.from_dict(data)
            sim.latency_ms = int(latency_ms * (0.8 + 0.4 * jitter.random())) if latency_ms else sim.latency_ms
            sims[host] = sim
        self.sim_hosts = SimHosts(sims)

    @classmethod
    def load(cls, path: Path, **knobs: Any) -> Lab:
        try:
            state = store.load_yaml(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise BadInput(f"the rehearsal lab state {path} is missing; start a new one with `runbook demo`") from None
        if not isinstance(state, dict) or "directory" not in state or "hosts" not in state:
            raise BadInput(f"{path}: not a rehearsal lab state file")
        for line in _kept_lines(path):  # what a killed process had kept since its last full write
            state["directory"] = line.get("directory", state["directory"])
            state["hosts"].update(line.get("hosts") or {})
            state["faults"] = line.get("faults", state.get("faults"))
        return cls(path, state, **knobs)

    def changed(self, part: str = "directory") -> None:
        """A simulated write happened: kept at once (a real server holds a write as soon as it answers, before
        the journal records it), and the next `flush` writes the whole lab."""
        self._changed = True
        self._unkept.add(part)
        self.keep()

    def flush(self) -> None:
        """Write the lab if anything changed since it was last written: the end of an operation calls this."""
        if self._changed:
            self.save()

    def keep(self) -> None:
        """After each simulated write: the parts written are appended to `<lab>.kept` (one JSON line, the size of
        one host or the directory), so a killed process leaves the lab holding every write it made, as a real
        server would; `load` applies it, the operation's end (`flush`) folds it in."""
        if not self._unkept:
            return
        line: dict[str, Any] = {"faults": {"directory": self.directory.fail_after_writes, "hosts": self.host_faults}}
        if "directory" in self._unkept:
            line["directory"] = self.directory.to_dict()
        hosts = self.sim_hosts.hosts
        line["hosts"] = {name: hosts[name].to_dict() for name in self._unkept if name in hosts}
        with open(_kept_path(self.path), "a", encoding="utf-8") as handle:
            handle.write(json.dumps(line) + "\n")
        self._unkept.clear()

    def save(self, sync: bool = True) -> None:
        """Write the lab now (also after editing its hosts or directory directly, as tests do)."""
        self._changed = False
        self.state["directory"] = self.directory.to_dict()
        self.state["hosts"] = {name: sim.to_dict() for name, sim in self.sim_hosts.hosts.items()}
        self.state["faults"] = {"directory": self.directory.fail_after_writes, "hosts": self.host_faults}
        store.write_atomic(self.path, store.dump_yaml(self.state), sync=sync)
        _kept_path(self.path).unlink(missing_ok=True)
        self._unkept.clear()

    def count_host_write(self, host: str) -> None:
        key = next((k for k in self.host_faults if k.lower() == host.lower()), None)
        if key is None:
            return
        if self.host_faults[key] <= 0:
            del self.host_faults[key]  # spent: a resumed rehearsal does not fail again
            self.changed()
            raise HostError(host, "lab: injected failure: the WinRM connection dropped in the middle of the step "
                                  "(operation timed out after 30 s)")
        self.host_faults[key] -= 1

    def perform_manual(self, key: str, params: Params) -> None:
        """What the operator's console clicks would have done on TMG, so the rehearsal's verify sees them."""
        sim = self.sim_hosts.find(params.tmg.host)
        if sim is None or key not in ("1", "2"):
            return
        policy = sim.tmg.policy or {"Listeners": [], "Rules": [], "ServerRules": []}
        listeners, rules, servers = policy["Listeners"], policy["Rules"], policy.get("ServerRules", [])
        if key == "1":
            listener = tmg_listener(params.listener, [params.listener_ip] if params.listener_ip else [],
                                    params.listener_certificate, client_cert_auth=True)
            listeners = [item for item in listeners if item["Name"] != params.listener] + [listener]
        elif params.cert_validation == "tmg":
            rule = tmg_rule(params.publishing_rule, params.listener, topo.internal_site_name(params),
                            [params.public_name], spn=topo.rule_spn(params))
            rules = [item for item in rules if item["Name"] != params.publishing_rule] + [rule]
        else:
            # TLS passes through: the old web rule is disabled (kept for back-out), a server rule takes over.
            rules = [item | {"Enabled": False} if params.public_name in item["PublicNames"] else item for item in rules]
            servers = [item for item in servers if item["Name"] != params.publishing_rule] + [
                tmg_server_rule(params.publishing_rule, LAB_NEXT_HOP_IP)]
        sim.tmg.set_policy(listeners, rules, servers)
        self.save()  # the end of the mark: the read-only verification that follows may run in another process


LAB_NEXT_HOP_IP = "192.0.2.20"  # the documentation range: the lab's next hop has no real address


def lab_ports_factory(session_path: Path, session: Session, params: Params) -> Ports:
    """The lab behind the ports, read on first use: a command that touches no host or directory never parses it."""
    meta = session.lab or {}
    loaded: list[Lab] = []

    def lab() -> Lab:
        if not loaded:
            loaded.append(Lab.load(session_path.with_name(meta.get("state_file", "")),
                                   latency_ms=float(meta.get("latency_ms", 0)), seed=meta.get("seed")))
        return loaded[0]

    def flush() -> None:
        if loaded:
            loaded[0].flush()

    return Ports(open_directory=lambda: lab().directory, open_hosts=lambda: _LabHosts(lab()),
                 on_manual_done=lambda key: lab().perform_manual(key, params), on_flush=flush)


# -- demo sessions ------------------------------------------------------------------------------------------------
def _latest_demo() -> Path:
    folder = store.sessions_dir()
    candidates = sorted((p for p in folder.glob("demo-*.yaml") if not p.name.endswith(".lab.yaml")),
                        key=lambda p: p.stat().st_mtime, reverse=True)
    if not candidates:
        raise BadInput(f"--resume: no demo session in {folder}; start one with `runbook demo`")
    return candidates[0]


def _fresh_demo_path(name: str) -> Path:
    folder = store.sessions_dir()
    for number in range(1, 1000):
        path = folder / f"demo-{name}-{number}.yaml"
        if not path.exists():
            return path
    raise BadInput(f"too many demo sessions in {folder}; remove old demo-* files")


def demo_state(name: str, catalogue: list[StepSpec], *, fail: str | None = None, cert_validation: str | None = None,
               params_file: str | None = None) -> tuple[dict[str, Any], Params, dict[str, Any]]:
    """The scenario's data, its params and a fresh lab state with the `--fail` fault planted (BadInput when the
    chain does not fit the scenario, or STEP changes nothing there). Writes nothing.

    With `params_file` the rehearsal is of that change instead: `name` only labels it, and the lab holds what
    its params name (runbook.lab.prerequisites)."""
    data: dict[str, Any]
    if params_file:
        data = {"params": dict(load_params_file(params_file).data),
                "description": f"A rehearsal of the change in {params_file}, on a lab built from its params."}
    else:
        data = scenario(name)
    if cert_validation:
        data["params"]["cert_validation"] = cert_validation
    try:
        params = parse_params(data["params"])
    except BadInput as exc:
        raise BadInput(f"--cert-validation: {cert_validation!r} does not fit the {name} scenario ({exc})") from None
    state = build_state(name, params, setup_for(params) if params_file else None)
    if fail:
        state["faults"] = fault_for(fail, name, params, catalogue, state)
    return data, params, state


def create_demo(path: Path, name: str, catalogue: list[StepSpec], *, latency_ms: float = 0.0,
                fail: str | None = None, seed: int | None = None, cert_validation: str | None = None,
                params_file: str | None = None) -> Path:
    from runbook.flow.engine import Runbook
    from runbook.lab.device_certificate import issue_test_user  # cryptography: only when a demo is made

    if path.exists():
        raise BadInput(f"SESSION: {path} already exists; choose another name or use --resume")
    data, params, state = demo_state(name, catalogue, fail=fail, cert_validation=cert_validation,
                                     params_file=params_file)
    store.private_dir(path.parent)
    device = issue_test_user(path, params)
    state["client_ca"] = device.ca_subject  # what the validating hop's trusted root store holds
    session_params = path.with_name(path.stem + ".params.yaml")
    store.write_atomic(session_params, store.dump_yaml(data["params"]), mode=0o600)
    store.write_atomic(lab_file(path), store.dump_yaml(state))
    meta = {"scenario": name, "state_file": lab_file(path).name, "latency_ms": latency_ms, "seed": seed,
            "fail": fail, "cert_validation": params.cert_validation,
            "description": " ".join(str(data.get("description", "")).split()), "device": device.to_meta()}
    if params_file:
        meta["params_file"] = str(Path(params_file).resolve())
    book = Runbook.create(path, str(session_params), catalogue, lab_ports_factory, lab=meta)
    if not params_file:  # the next `runbook demo` of this scenario shows these steps in its first frame
        rehearsal_outline.keep(path.parent, name, cert_validation, book.outline)
    return path


def params_label(params_file: str) -> str:
    """How a rehearsal of a params file is named where a scenario's name would be: `--fail`'s messages, the report."""
    return Path(params_file).name


def prepare_demo(name: str, catalogue: list[StepSpec], *, init: str | None, resume: bool, latency_ms: float,
                 fail: str | None, seed: int | None, cert_validation: str | None = None,
                 params_file: str | None = None) -> Path:
    if resume:
        return _latest_demo()
    if params_file:
        name = params_label(params_file)
    path = store.session_path(init) if init else _fresh_demo_path(Path(name).stem)
    return create_demo(path, name, catalogue, latency_ms=latency_ms, fail=fail, seed=seed,
                       cert_validation=cert_validation, params_file=params_file)


def _kept_path(path: Path) -> Path:
    return path.with_name(path.name + ".kept")


def _kept_lines(path: Path) -> list[dict[str, Any]]:
    try:
        raw = _kept_path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    lines = []
    for text in raw.splitlines():
        try:
            lines.append(json.loads(text))
        except ValueError:  # the line a kill cut short: the write it describes had not been journaled either
            break
    return lines

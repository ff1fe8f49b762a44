"""Benchmark: verify-all of the host steps over a farm of 1, 4 and 16 Windows hosts, through the real WinRM client.

Each simulated host (runbook.lab.windows_host.SimWindowsHost) sits behind its own loopback WinRM endpoint
(testsupport.wsman.endpoint.WSManEndpoint) in its own process, as a remote host would be (its CPU is not the
client's). The client side is what `runbook verify SESSION` does: a session created from a params file,
`Runbook.verify_many` (a worker per host, each host's steps in order), `WinRMHosts` (real pypsrp, NTLM with
message encryption; `--auth basic` for Basic over HTTP), one runspace pool per host (and a second one, to the
Exchange endpoint, per Exchange server) opened during the verify with the runbook/hosts/ps functions loaded, as a
fresh CLI run does. One difference from the CLI: `WinRMHosts(addresses=...)` dials each host's port on
127.0.0.1 instead of resolving its name, so neither root nor an /etc/hosts edit is needed.

Two farms, each with the TMG (steps 1, 2 and 5a: one PowerShell call each) in every run:
  seg  tmg-seg-eas with N SEG servers: 5b and 6b on each (one Get-CertAuthState call per step)
  eas  tmg-eas with N Exchange servers: 6a on each (one Get-CertAuthState call, and Exchange's vdir on the
       Exchange endpoint at the same time)
The steps are applied first (not timed) so the verify finds everything in place.

The injected latency (`--latency`, 50 ms) is applied in one of two places (`--at`, default both, one after
the other on the same hosts):
  request   on every WinRM request (HTTP round trip: Create, Command, Receive, Signal...), the endpoint's
            latency_ms: a remote host on a slow network
  function  on every PowerShell function call, inside the simulated host: a slow host on a fast network
Figures are the median of `--runs` verify-alls; the ratio is 16 hosts / 1 host (issue 23's goal: <= 1.3x; the
yardstick is 1.0x, hosts verified in parallel). The CPU seconds spent in the 16-host verify-all, by this client
(all its threads: pypsrp, requests, NTLM sealing, one interpreter lock) and by the 17 simulated hosts together,
show what bounds the figure when the machine has few CPUs: every host's waits overlap, their CPU work does not.

The same run also prints issue 23's `runbook run SESSION 6a` row (bench/farm_run.py: 96 lab EAS vs 32, goal
<= 3.3x for 3x the servers), so one run prints every figure of those rows beside its yardstick and its goal.
`--quick` is a smoke run (1 and 2 hosts, one verify, run 6a on 2 and 6 EAS): it shows the benchmark works, its
figures mean nothing.

    python bench/farm_verify.py [--latency 50] [--at request|function|both] [--runs 3] [--auth ntlm|basic]
                                [--farm seg|eas|both] [--run-sizes 32,96 | --no-run] [--quick]
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import farm_run  # noqa: E402  (beside this file)

USER = "TEST\\operator"
PASSWORD = "Bench-Pa55-word"
SIZES = (1, 4, 16)
GOAL = 1.3  # issue 23: verify-all of 16 hosts at most 1.3x one host
VDIR = "Default Web Site/Microsoft-Server-ActiveSync"
HOST_STEPS = ("1", "2", "5a", "5b", "6a", "6b")


def farm_params(farm: str, size: int, auth: str) -> dict[str, Any]:
    from runbook.lab.lab import scenario

    if farm == "seg":
        params = dict(scenario("tmg-seg-eas")["params"])
        params["seg"] = [{"computer": f"SEG{n:02d}", "host": f"seg{n:02d}.test.lan"} for n in range(1, size + 1)]
        params["eas"] = [{"computer": "EAS01", "host": "eas01.test.lan"}]
        params.pop("internal_names", None)
        params.pop("service_accounts", None)
    else:
        params = dict(scenario("tmg-eas")["params"])
        params["eas"] = [{"computer": f"EAS{n:02d}", "host": f"eas{n:02d}.test.lan"} for n in range(1, size + 1)]
    params["winrm"] = {"transport": "http", "auth": auth, "user": USER, "exchange_auth": auth}
    return params


# ------------------------------------------------------------------------------------------ one host's process
def serve(params: dict[str, Any], host: str, auth: str, folder: str, conn: Any) -> None:
    """Child process: one simulated host (scenario state, steps 1/2 clicked in the TMG console) and its endpoint."""
    from runbook.inputs.params import parse_params
    from runbook.lab import lab as lab_module
    from testsupport.wsman.endpoint import start_endpoints

    parsed = parse_params(params)
    state = lab_module.build_state("tmg-seg-eas" if parsed.has_seg else "tmg-eas", parsed)
    lab = lab_module.Lab(Path(folder) / f"{host}.lab.yaml", state)
    sim = lab.sim_hosts.find(host)
    assert sim is not None
    if host in {s.host for s in parsed.seg}:  # the guide's prerequisite on every SEG, as the scenario has on SEG01
        sim.system.install_feature("Web-Client-Auth")
        sim.iis.add_location(VDIR)
    for step in ("1", "2"):
        lab.perform_manual(step, parsed)
    endpoint = start_endpoints(lab.sim_hosts.dispatch, [host], auth=auth, username=USER, password=PASSWORD)[host]
    conn.send({host: endpoint.address})
    while True:
        command, *arguments = conn.recv()
        if command == "latency":
            where, milliseconds = arguments
            endpoint.latency = milliseconds / 1000.0 if where == "request" else 0.0
            sim.latency_ms = milliseconds if where == "function" else 0
            conn.send("ok")
        elif command == "cpu":
            conn.send(time.process_time())
        elif command == "stop":
            endpoint.stop()
            conn.send("ok")
            return


class Farm:
    """The hosts of one farm, each in its own process, and a session over them."""

    def __init__(self, farm: str, size: int, auth: str):
        import yaml

        self.folder = Path(tempfile.mkdtemp(prefix=f"bench-farm-{farm}{size}-"))
        os.environ["RUNBOOK_SESSIONS_DIR"] = str(self.folder)
        self.auth = auth
        self.params = farm_params(farm, size, auth)
        self.params_file = self.folder / "params.yaml"
        self.params_file.write_text(yaml.safe_dump(self.params, sort_keys=False))
        context = multiprocessing.get_context("spawn")
        self.servers = []
        hosts = [self.params["tmg"]["host"]] + [s["host"] for s in self.params.get("seg", []) + self.params["eas"]]
        for host in hosts:
            parent, child = context.Pipe()
            process = context.Process(target=serve, args=(self.params, host, auth, str(self.folder), child),
                                      daemon=True)
            process.start()
            self.servers.append((process, parent))
        self.addresses: dict[str, tuple[str, int]] = {}
        for _, parent in self.servers:
            self.addresses.update(parent.recv())

    def ports_factory(self):
        from runbook.flow.context import Ports
        from runbook.hosts.shell import ExchangeEndpoint, WinRMHosts
        from runbook.inputs.params import load_params_file

        settings = load_params_file(self.params_file).winrm

        def factory(path: Path, session: Any, params: Any) -> Ports:
            def open_hosts() -> WinRMHosts:
                return WinRMHosts(settings, PASSWORD, insecure=self.auth == "basic", addresses=self.addresses,
                                  exchange=ExchangeEndpoint(port=settings.exchange_port))

            def no_directory() -> Any:
                raise AssertionError("the host steps never reach the directory")

            return Ports(open_directory=no_directory, open_hosts=open_hosts)
        return factory

    def prepare(self) -> tuple[Path, list[str]]:
        """A session with every host step applied (1 and 2 marked done after the console clicks)."""
        from runbook.flow.engine import Runbook
        from steps import CATALOGUE

        path = self.folder / "farm.yaml"
        Runbook.create(path, str(self.params_file), CATALOGUE, self.ports_factory()).close()
        book = Runbook.open(path, CATALOGUE, self.ports_factory(), drive=True)
        try:
            keys = [i.key for i in book.instances if not i.not_applicable and i.id in HOST_STEPS]
            for key in keys:
                if key in ("1", "2"):
                    book.mark(key, "done", "bench: console work done")
                else:
                    book.run(key, confirm=lambda question, lines: True, allow_restart=True)
        finally:
            book.close()
        return path, keys

    def latency(self, where: str, milliseconds: float) -> None:
        for _, parent in self.servers:
            parent.send(("latency", where, milliseconds))
        for _, parent in self.servers:
            parent.recv()

    def hosts_cpu(self) -> float:
        for _, parent in self.servers:
            parent.send(("cpu",))
        return sum(parent.recv() for _, parent in self.servers)

    def verify_all(self, path: Path, keys: list[str]) -> tuple[float, float, float]:
        """One verify-all as the CLI does it (open the session, verify, close: new pools every time).

        Returns (wall seconds, client CPU seconds, the hosts' CPU seconds) of the verify itself.
        """
        from runbook.flow.engine import Runbook
        from steps import CATALOGUE

        book = Runbook.open(path, CATALOGUE, self.ports_factory(), drive=True)
        try:
            hosts_before = self.hosts_cpu()
            cpu, start = time.process_time(), time.perf_counter()
            results = book.verify_many(keys)
            elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
            hosts = self.hosts_cpu() - hosts_before
        finally:
            book.close()
        bad = {key: str(result) for key, result in results.items() if not getattr(result, "ok", False)}
        if bad:
            raise SystemExit(f"verify found problems: {bad}")
        return elapsed, cpu, hosts

    def stop(self) -> None:
        for _, parent in self.servers:
            parent.send(("stop",))
        for process, parent in self.servers:
            parent.recv()
            process.join(timeout=10)


def measure_verify(farms: tuple[str, ...], places: tuple[str, ...], sizes: tuple[int, ...], args: Any,
                   ) -> dict[tuple[str, str, int], tuple[float, float, float]]:
    figures: dict[tuple[str, str, int], tuple[float, float, float]] = {}
    for farm in farms:
        for size in sizes:
            hosts = Farm(farm, size, args.auth)
            try:
                path, keys = hosts.prepare()
                for where in places:
                    hosts.latency(where, args.latency)
                    runs = sorted(hosts.verify_all(path, keys) for _ in range(args.runs))
                    figures[(farm, where, size)] = runs[len(runs) // 2]  # the median run (by wall time)
            finally:
                hosts.stop()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=50.0, help="injected latency in ms (default 50)")
    parser.add_argument("--at", choices=("request", "function", "both"), default="both")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--auth", choices=("ntlm", "basic"), default="ntlm")
    parser.add_argument("--farm", choices=("seg", "eas", "both"), default="both")
    parser.add_argument("--run-sizes", default="32,96", help="the run-6a row's two lab farm sizes (default 32,96)")
    parser.add_argument("--no-run", action="store_true", help="leave out the run-6a row")
    parser.add_argument("--quick", action="store_true", help="smoke run: tiny farms, one run (figures mean nothing)")
    args = parser.parse_args()
    sizes = (1, 2) if args.quick else SIZES
    if args.quick:
        args.runs, args.run_sizes = 1, "2,6"

    farms = ("seg", "eas") if args.farm == "both" else (args.farm,)
    places = ("request", "function") if args.at == "both" else (args.at,)
    figures = measure_verify(farms, places, sizes, args)
    run_figures = {} if args.no_run else farm_run.measure([int(n) for n in args.run_sizes.split(",")], args.runs)

    print(f"verify-all of the host steps (1, 2, 5a, 5b/6b or 6a), real WinRM client ({args.auth}), "
          f"median of {args.runs}, on {os.cpu_count()} CPUs (load {os.getloadavg()[0]:.1f})")
    small, large = sizes[0], sizes[-1]
    rows = []
    for where in places:
        print(f"{args.latency:g} ms per {'WinRM request' if where == 'request' else 'PowerShell function call'}:")
        for farm in farms:
            row = "  ".join(f"{size:>2} hosts {figures[(farm, where, size)][0] * 1000:6.0f} ms" for size in sizes)
            ratio = figures[(farm, where, large)][0] / figures[(farm, where, small)][0]
            print(f"  {farm} farm (+ TMG): {row}   ratio {large}/{small}: {ratio:.2f}x")
            _, client, hosts = figures[(farm, where, large)]
            print(f"      CPU in the {large}-host verify-all: client {client:.2f} s, simulated hosts {hosts:.2f} s")
            label = "request" if where == "request" else "PowerShell call"
            rows.append((f"verify-all, {large} hosts / {small} host, {args.latency:g} ms per {label} ({farm} farm)",
                         ratio, 1.0, GOAL))
    if run_figures:
        print("\n".join(farm_run.report(run_figures)))
        few, many = min(run_figures), max(run_figures)
        yardstick = many / few
        rows.append((f"runbook run SESSION 6a on {many} EAS vs {few} EAS (lab)", run_figures[many] / run_figures[few],
                     yardstick, farm_run.GOAL * yardstick / 3))
    print("\nissue 23's rows (figure, its yardstick, the goal):")
    for name, figure, yardstick, goal in rows:
        print(f"  {name:<68} {figure:5.2f}x   yardstick {yardstick:4.2f}x   goal <= {goal:.2f}x   "
              f"{'met' if figure <= goal else 'NOT met'}")


if __name__ == "__main__":
    main()

"""Benchmark: a change of 12, 100 and 200 step instances, each on a rehearsal lab built from its own params file.

For each size: `runbook demo --init NAME --params FILE` builds the lab (a TMG → SEG → EAS change, its Exchange farm
sized to give that many instances), every applicable step runs in dependency order in one process, then:
- `run` time per instance (median of the automated instances), beside the 12-instance change's; goal ≤ 1.1×
  (time linear in the size of the farm);
- one persisted transition (skip, then reopen, of the one step left pending; median of 100) with every other
  step's changes recorded; goal ≤ 20 ms at any size;
- `runbook open` (headless, a fresh process) to the steps shown, beside the 12-instance change's (goal ≤ 1.5×),
  and its peak memory (goal ≤ 80 MiB).

    python bench/scale.py [--sizes 12,100,200] [--runs 3]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def farm(eas: int) -> dict[str, Any]:
    """TMG → SEG → EAS with one SEG and `eas` (≥ 2) Exchange servers behind one alias: 2 × eas + 10 instances."""
    return {
        "topology": "tmg-seg-eas", "domain": "test.lan",
        "directory": {"server": "dc1.test.lan", "tls": "ldaps", "bind_user": "Administrator@TEST.LAN"},
        "tmg": {"computer": "TMG01", "host": "tmg01.test.lan"},
        "seg": [{"computer": "SEG01", "host": "seg01.test.lan"}],
        "eas": [{"computer": f"EAS{n:03d}", "host": f"eas{n:03d}.test.lan"} for n in range(1, eas + 1)],
        "internal_names": {"eas": "mail-int.test.lan"}, "service_accounts": {"eas": "EASASA"},
        "public_name": "mail.example.com", "listener": "EAS Listener", "listener_ip": "203.0.113.10",
        "listener_certificate": "CN=mail.example.com", "iis_site": "Default Web Site",
    }


def build(folder: Path, size: int, env: dict[str, str], name: str = "farm") -> tuple[Path, float]:
    params = folder / f"{name}-{size}.params-in.yaml"
    params.write_text(yaml.safe_dump(farm(max(2, (size - 9) // 2))), encoding="utf-8")  # 12 → 14: the smallest farm
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "runbook", "demo", "--init", f"{name}-{size}", "--params", str(params)],
                   env=env, cwd=ROOT, check=True, capture_output=True)
    return folder / f"{name}-{size}.yaml", time.perf_counter() - start


def run_all(path: Path) -> dict[str, Any]:
    """Every applicable step but the last in dependency order, then transitions on that last one."""
    from runbook.backends import Options, ports_factory
    from runbook.flow.engine import Runbook
    from steps import CATALOGUE

    book = Runbook.open(path, CATALOGUE, ports_factory(Options()), drive=True, purpose="bench")
    runs: list[float] = []
    transitions: list[float] = []
    try:
        count = len(book.instances)
        while (instance := book.next_pending()) is not None:
            if book.waiting_for(instance):
                raise SystemExit(f"{path.name}: {instance.key} waits for {book.waiting_for(instance)}")
            pending = [i for i in book.instances if book.record(i.key).state.value == "pending"
                       and not i.not_applicable]
            if len(pending) == 1:
                break  # the one left for the transitions
            start = time.perf_counter()
            if instance.spec.automation is None:
                book.mark(instance.key, "done", "done in the console")
            else:
                book.run(instance.key, confirm=lambda question, lines: True, allow_restart=True)
                runs.append(time.perf_counter() - start)
        assert instance is not None
        for _ in range(50):
            for how, note in (("skip", "bench"), ("reopen", None)):
                start = time.perf_counter()
                book.mark(instance.key, how, note)
                transitions.append(time.perf_counter() - start)
    finally:
        book.close()
    return {"instances": count, "run": statistics.median(runs), "run_total": sum(runs), "automated": len(runs),
            "transition": statistics.median(transitions),
            "transition_p95": sorted(transitions)[int(len(transitions) * .95)]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="12,100,200",
                        help="step instances per change, comma-separated (12 is a 14-instance change: the smallest "
                             "farm with an alias)")
    parser.add_argument("--runs", type=int, default=3, help="fresh `runbook open` processes per size")
    args = parser.parse_args()
    from tui_start import frames

    sizes = [int(size) for size in args.sizes.split(",")]
    results: dict[int, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as name:
        folder = Path(name)
        env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
        env.update(RUNBOOK_SESSIONS_DIR=str(folder), PYTHONPATH=str(ROOT))
        os.environ["RUNBOOK_SESSIONS_DIR"] = str(folder)
        run_all(build(folder, 12, env, "warm")[0])  # warm: imports, the OS file cache, the bytecode; unmeasured
        for size in sizes:
            path, built = build(folder, size, env)
            results[size] = {"built": built, **run_all(path), "session_bytes": path.stat().st_size}
        opens: dict[int, list[dict[str, float]]] = {size: [] for size in sizes}
        for size in sizes:  # warm, unmeasured
            frames("open", folder, folder / f"farm-{size}.yaml")
        for _ in range(args.runs):
            for size in sizes:  # interleaved, so a busy moment on the machine hits all alike
                opens[size].append(frames("open", folder, folder / f"farm-{size}.yaml"))
    for size in sizes:
        results[size]["open"] = statistics.median(run["ready"] for run in opens[size])
        results[size]["maxrss"] = statistics.median(run["maxrss"] for run in opens[size]) / 1024

    base = results[sizes[0]]
    print(f"{'instances':>9} {'demo --init':>11} {'run/instance':>13} {'ratio':>6} {'transition':>11} {'p95':>7} "
          f"{'open':>8} {'ratio':>6} {'peak':>8} {'session':>9}")
    for size in sizes:
        row = results[size]
        print(f"{row['instances']:>9} {row['built']:>10.2f}s {row['run'] * 1000:>10.1f} ms "
              f"{row['run'] / base['run']:>5.2f}x {row['transition'] * 1000:>8.2f} ms "
              f"{row['transition_p95'] * 1000:>5.1f} "
              f"{row['open'] * 1000:>6.0f} ms {row['open'] / base['open']:>5.2f}x {row['maxrss']:>5.0f} MiB "
              f"{row['session_bytes']:>8} B")

    def met(ok: bool) -> str:
        return "met" if ok else "NOT met"

    largest = results[sizes[-1]]
    run_ratio, open_ratio = largest["run"] / base["run"], largest["open"] / base["open"]
    worst_transition = max(row["transition"] for row in results.values())
    print("goals (yardstick: the first size):")
    print(f"  run per instance, {largest['instances']} vs {base['instances']}: {run_ratio:.2f}x (≤ 1.1x: "
          f"{met(run_ratio <= 1.1)})")
    print(f"  persisted transition at any size: worst {worst_transition * 1000:.2f} ms (≤ 20 ms: "
          f"{met(worst_transition <= 0.020)})")
    print(f"  runbook open, {largest['instances']} vs {base['instances']}: {open_ratio:.2f}x (≤ 1.5x: "
          f"{met(open_ratio <= 1.5)}); peak {largest['maxrss']:.0f} MiB (≤ 80 MiB: {met(largest['maxrss'] <= 80)})")


if __name__ == "__main__":
    main()

"""Benchmark: `runbook run SESSION 6a` on a lab farm of 32 and of 96 Exchange servers (issue 23: ≤ 3.3×).

Each farm is a rehearsal-lab session built from a params file that lists N EAS servers (tmg-eas, the lab
holding every host the params name, as `runbook demo` builds one), so the run goes through the same
engine, step code and simulated hosts as `runbook run` on a demo session. The figure is the wall time
of one `run 6a` over every instance (open the session, run each instance as `cmd_run` does, close),
the median of `--runs` fresh sessions; the yardstick is linear growth, 3× the servers in ≤ 3.3× the time.

    python bench/farm_run.py [--sizes 32,96] [--runs 3] [--profile N]

`--profile N` runs cProfile over one `run 6a` on N servers and prints the top of the cumulative profile.
"""
from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GOAL = 3.3


def farm_params(size: int) -> dict[str, Any]:
    from runbook.lab.lab import scenario

    params = dict(scenario("tmg-eas")["params"])
    params["eas"] = [{"computer": f"EAS{n:02d}", "host": f"eas{n:02d}.test.lan"} for n in range(1, size + 1)]
    return params


def lab_session(folder: Path, size: int) -> Path:
    """A lab session over N EAS servers, as `runbook demo --init NAME` makes one from a params file."""
    import yaml

    from runbook.flow.engine import Runbook
    from runbook.inputs.params import parse_params
    from runbook.lab import lab
    from runbook.record import store
    from steps import CATALOGUE

    params = farm_params(size)
    name = f"eas{size}"
    params_file = folder / f"{name}.params.yaml"
    params_file.write_text(yaml.safe_dump(params, sort_keys=False))
    store.write_atomic(folder / f"{name}.lab.yaml", store.dump_yaml(lab.build_state("tmg-eas", parse_params(params))))
    path = folder / f"{name}.yaml"
    Runbook.create(path, str(params_file), CATALOGUE, lab.lab_ports_factory,
                   lab={"scenario": "tmg-eas", "state_file": f"{name}.lab.yaml"})
    return path


def run_step(path: Path, step: str = "6a") -> int:
    """What `runbook run SESSION 6a --yes` does; returns how many instances ran."""
    from runbook.flow.engine import Runbook
    from runbook.lab import lab
    from steps import CATALOGUE

    book = Runbook.open(path, CATALOGUE, lab.lab_ports_factory, drive=True)
    try:
        instances = book.resolve(step)
        for instance in instances:
            outcome = book.run(instance.key, confirm=lambda question, lines: True, allow_restart=True)
            assert outcome.result == "done", (instance.key, outcome)
    finally:
        book.close()
    return len(instances)


def timed_run(size: int) -> float:
    with tempfile.TemporaryDirectory(prefix=f"bench-run-{size}-") as folder:
        os.environ["RUNBOOK_SESSIONS_DIR"] = folder
        path = lab_session(Path(folder), size)
        start = time.perf_counter()
        count = run_step(path)
        elapsed = time.perf_counter() - start
        assert count == size, (count, size)
        return elapsed


def measure(sizes: list[int], runs: int) -> dict[int, float]:
    figures = {}
    for size in sizes:
        times = sorted(timed_run(size) for _ in range(runs))
        figures[size] = times[len(times) // 2]
    return figures


def report(figures: dict[int, float]) -> list[str]:
    small, large = min(figures), max(figures)
    ratio = figures[large] / figures[small]
    yardstick = large / small
    lines = ["runbook run SESSION 6a on the lab (tmg-eas), median: "
             + "  ".join(f"{size} EAS {figures[size]:.2f} s ({figures[size] / size * 1000:.0f} ms/instance)"
                         for size in sorted(figures)),
             f"  ratio {large}/{small} EAS: {ratio:.2f}x   yardstick (linear): {yardstick:.2f}x   "
             f"goal: <= {GOAL * yardstick / 3:.2f}x   {'met' if ratio <= GOAL * yardstick / 3 else 'NOT met'}"]
    return lines


def profile(size: int) -> None:
    with tempfile.TemporaryDirectory(prefix=f"bench-run-{size}-") as folder:
        os.environ["RUNBOOK_SESSIONS_DIR"] = folder
        path = lab_session(Path(folder), size)
        profiler = cProfile.Profile()
        profiler.runcall(run_step, path)
    stats = pstats.Stats(profiler)
    stats.sort_stats("cumulative").print_stats(30)
    stats.sort_stats("tottime").print_stats(25)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="32,96", help="comma-separated farm sizes (default 32,96)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--profile", type=int, metavar="N", help="profile one run on N servers instead")
    args = parser.parse_args()
    if args.profile:
        profile(args.profile)
        return
    print("\n".join(report(measure([int(s) for s in args.sizes.split(",")], args.runs))))


if __name__ == "__main__":
    main()

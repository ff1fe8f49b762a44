"""Benchmark: `runbook status` on a session with 5,000 journal entries, and one persisted transition.

Prints each figure beside `python -c pass` measured in the same run (the machines are shared and noisy, so
the ratio matters more than the absolute time). Targets: status <= 3x bare Python start-up; a persisted
transition <= 20 ms at 5,000 entries.

    python bench/cli.py [--entries 5000] [--runs 15]
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def timed(command: list[str], runs: int, env: dict[str, str]) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=env, cwd=ROOT)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()

    from runbook import store
    from runbook.backends import Options, ports_factory
    from runbook.engine import Runbook
    from runbook.lab.lab import create_demo
    from steps import CATALOGUE

    folder = Path(tempfile.mkdtemp(prefix="bench-cli-"))
    os.environ["RUNBOOK_SESSIONS_DIR"] = str(folder)
    path = create_demo(folder / "bench.yaml", "tmg-seg-eas", CATALOGUE)
    book = Runbook.open(path, CATALOGUE, ports_factory(Options()), drive=True)
    journal = book.journal
    fill_start = time.perf_counter()
    while (journal.last() or {"seq": 0})["seq"] < args.entries:
        journal.append(step="1", action="note", outcome="noted", note="bench filler entry")
    fill = time.perf_counter() - fill_start

    transitions = []
    for _ in range(50):
        start = time.perf_counter()
        book.mark("1", "skip", "bench")
        transitions.append(time.perf_counter() - start)
        start = time.perf_counter()
        book.mark("1", "reopen", None)
        transitions.append(time.perf_counter() - start)
    book.close()
    entries = journal.last()["seq"]

    # An installed runbook has its bytecode compiled by pip; let this checkout cache it too (some shells set
    # PYTHONDONTWRITEBYTECODE, which would make every run recompile the sources).
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(ROOT)
    timed([sys.executable, "-m", "runbook", "status", str(path)], 1, env)
    bare = timed([sys.executable, "-c", "pass"], args.runs, env)
    status = timed([sys.executable, "-m", "runbook", "status", str(path)], args.runs, env)
    transition = statistics.median(transitions)
    print(f"journal entries:              {entries} (filled in {fill:.2f} s, {fill / args.entries * 1000:.2f} ms each)")
    print(f"python -c pass:               {bare * 1000:7.1f} ms")
    print(f"runbook status:               {status * 1000:7.1f} ms   ratio {status / bare:.2f}x  (target <= 3x)")
    print(f"persisted transition:         {transition * 1000:7.2f} ms   (median of {len(transitions)}; "
          f"p95 {sorted(transitions)[int(len(transitions) * .95)] * 1000:.2f} ms; target <= 20 ms)")
    print(f"session file:                 {store.session_path(str(path)).stat().st_size} bytes")


if __name__ == "__main__":
    main()

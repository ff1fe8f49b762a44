"""Benchmark: `runbook report --format html` on a journal of 5,000 and of 50,000 entries (each a fresh process).

The 5,000-entry run is the yardstick: the 50,000-entry one should take ≤ 1.5× its peak memory (the record is
streamed, so memory should not grow with the journal) and about 10× its time (linear).

    python bench/report.py [--entries 5000,50000] [--runs 3]
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
sys.path.insert(0, str(Path(__file__).resolve().parent))

CHILD = """
import resource, sys
from runbook.cli import main
code = main(["report", sys.argv[1], "--format", "html", "-o", sys.argv[2]])
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, flush=True)
sys.exit(code)
"""


def measure(session: Path, env: dict[str, str]) -> tuple[float, float]:
    """(seconds, peak MiB) of one fresh `runbook report --format html -o FILE` process."""
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", CHILD, str(session), str(session.with_suffix(".html"))],
                            env=env, cwd=ROOT, capture_output=True, text=True, check=True, timeout=600)
    return time.perf_counter() - start, int(result.stdout.split()[-1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", default="5000,50000", help="journal sizes, comma-separated; the first is "
                                                                "the yardstick")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    from tui_start import fill_journal

    sizes = [int(size) for size in args.entries.split(",")]
    with tempfile.TemporaryDirectory(prefix="bench-report-") as name:
        folder = Path(name)
        env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
        env.update(RUNBOOK_SESSIONS_DIR=str(folder), PYTHONPATH=str(ROOT))
        sessions = {}
        for size in sizes:
            session = f"journal-{size}"
            subprocess.run([sys.executable, "-m", "runbook", "demo", "--init", session], env=env, cwd=ROOT,
                           check=True, capture_output=True)
            fill_journal(folder / f"{session}.yaml", "1", size)
            # One entry through the engine, as the last of them would have been: the snapshot is current.
            subprocess.run([sys.executable, "-m", "runbook", "note", session, "--step", "1", "filled"], env=env,
                           cwd=ROOT, check=True, capture_output=True)
            sessions[size] = folder / f"{session}.yaml"
        runs: dict[int, list[tuple[float, float]]] = {size: [] for size in sizes}
        for size in sizes:  # warm, unmeasured
            measure(sessions[size], env)
        for _ in range(args.runs):
            for size in sizes:  # interleaved, so a busy moment on the machine hits all alike
                runs[size].append(measure(sessions[size], env))
        html_bytes = {size: sessions[size].with_suffix(".html").stat().st_size for size in sizes}

    def median(size: int, index: int) -> float:
        return statistics.median(run[index] for run in runs[size])

    base = sizes[0]
    for size in sizes:
        seconds, memory = median(size, 0), median(size, 1)
        print(f"{size:>6} entries: {seconds * 1000:7.0f} ms ({seconds / median(base, 0):5.2f}x the {base}'s, "
              f"{size / base:g}x the entries)   peak {memory:6.1f} MiB ({memory / median(base, 1):4.2f}x)   "
              f"{html_bytes[size]} bytes of HTML")
    largest = sizes[-1]
    memory_ratio = median(largest, 1) / median(base, 1)
    time_ratio = median(largest, 0) / median(base, 0)
    print(f"goals: peak memory at {largest} ≤ 1.5x the {base}'s: {memory_ratio:.2f}x, "
          f"{'met' if memory_ratio <= 1.5 else 'NOT met'}; time linear (≤ {largest / base:g}x): {time_ratio:.2f}x, "
          f"{'met' if time_ratio <= largest / base else 'NOT met'}")


if __name__ == "__main__":
    main()

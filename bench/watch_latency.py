"""Benchmark: how soon a `runbook watch` in one process shows a `runbook mark` made in another.

A rehearsal session, one `runbook watch` subprocess, then N `runbook mark` subprocesses one after another
(alternately --done and --reopen, each with a numbered note). For each, the time from the journal entry
being written (the journal's mtime, read right after) to its line arriving on the watcher's stdout, and
from launching `runbook mark` to that line. Target: every change on screen within 1 s.

    python bench/watch_latency.py [--rounds 20]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def figures(label: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return (f"{label:<44} median {statistics.median(ordered) * 1000:7.1f} ms   p95 {p95 * 1000:7.1f} ms   "
            f"max {ordered[-1] * 1000:7.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    from runbook.pair import watch

    folder = Path(tempfile.mkdtemp(prefix="bench-watch-"))
    env = {**os.environ, "RUNBOOK_SESSIONS_DIR": str(folder), "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1",
           "RUNBOOK_OPERATOR": "bench@driver"}
    run = [sys.executable, "-m", "runbook"]
    subprocess.run(run + ["demo", "--scenario", "tmg-seg-eas", "--init", "w"], check=True, env=env, cwd=ROOT,
                   stdout=subprocess.DEVNULL)
    journal = folder / "w.journal.jsonl"
    watcher = subprocess.Popen(run + ["watch", "w"], env={**env, "RUNBOOK_OPERATOR": "bench@follower"}, cwd=ROOT,
                               stdout=subprocess.PIPE, text=True)
    arrivals: dict[str, int] = {}  # note -> wall-clock ns when its line arrived
    ready = threading.Event()
    seen = threading.Condition()

    def read() -> None:
        assert watcher.stdout is not None
        for line in watcher.stdout:
            now = time.time_ns()
            if line.startswith("live:"):
                ready.set()
            if " — round-" in line:
                with seen:
                    arrivals[line.rsplit(" — ", 1)[1].strip()] = now
                    seen.notify_all()

    threading.Thread(target=read, daemon=True).start()
    if not ready.wait(30):
        raise SystemExit("the watcher did not start")

    from_write, from_launch, mark_runs = [], [], []
    try:
        for number in range(args.rounds):
            note = f"round-{number}"
            how = "--done" if number % 2 == 0 else "--reopen"
            launched = time.time_ns()
            subprocess.run(run + ["mark", "w", "1", how, "--note", note], check=True, env=env, cwd=ROOT,
                           stdout=subprocess.DEVNULL)
            mark_runs.append((time.time_ns() - launched) / 1e9)
            written = journal.stat().st_mtime_ns
            with seen:
                if not seen.wait_for(lambda wanted=note: wanted in arrivals, timeout=10):  # type: ignore[misc]
                    raise SystemExit(f"{note}: not shown by the watcher within 10 s")
                arrived = arrivals[note]
            from_write.append(max(0, arrived - written) / 1e9)
            from_launch.append((arrived - launched) / 1e9)
            time.sleep(0.05 + (number % 5) * 0.037)  # land at different points of the poll cycle
    finally:
        watcher.terminate()
        watcher.wait(timeout=10)

    print(f"watch poll interval:                         {watch.POLL_SECONDS * 1000:.0f} ms; rounds: {args.rounds}")
    print(figures("journal entry written -> line on the watcher", from_write))
    print(figures("`runbook mark` launched -> line on the watcher", from_launch))
    print(figures("`runbook mark` process, launch to exit", mark_runs))
    worst = max(from_write)
    verdict = "met" if worst < 1.0 else "MISSED"
    print(f"target: a change on screen within 1 s -> {verdict} (worst {worst * 1000:.0f} ms)")


if __name__ == "__main__":
    main()

"""Benchmark: `runbook status` on a session with 5,000 journal entries, and one persisted transition.

`status` (what pip's console script runs) is printed beside its yardstick, measured in the same run: a Python that
only loads the same session file with PyYAML's C loader (`python -c "import yaml; yaml.load(<session>,
CSafeLoader)"`) — what reading the session costs at the least — and beside `python -c pass`. All three run with
`-S` and the site-packages folders on PYTHONPATH, as in a fresh venv: no .pth file of this machine runs for them.
The session is as its driver left it (closed: the snapshot, its parsed twin and the step outline written), so
`status` reads no YAML and loads no procedure; "status, cold" is the same command with the twin and the outline
removed before each run (after an upgrade, or a session written by an older version). The machines are shared and
noisy, so the ratio matters more than the absolute time. Goals: status ≤ 1.5× the yardstick; a persisted
transition ≤ 20 ms at 5,000 entries.

    python bench/cli.py [--entries 5000] [--runs 15]
"""
from __future__ import annotations

import argparse
import os
import site
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
YARDSTICK = "import sys, yaml; yaml.load(open(sys.argv[1], encoding='utf-8'), Loader=yaml.CSafeLoader)"
# What pip's `runbook` console script runs (an operator types `runbook status`, not `python -m runbook`).
CONSOLE_SCRIPT = ("import re, sys; from runbook.cli import main; "
                  "sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0]); sys.exit(main())")


def timed(commands: dict[str, list[str]], runs: int, env: dict[str, str],
          before: dict[str, Callable[[], None]] | None = None) -> dict[str, float]:
    """Median wall time of each command, interleaved so a busy moment on the machine hits all alike; `before`
    runs (unmeasured) before each run of the command of that name."""
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for command in commands.values():  # warm the OS file cache and the bytecode, unmeasured
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=env, cwd=ROOT)
    for _ in range(runs):
        for name, command in commands.items():
            (before or {}).get(name, lambda: None)()
            start = time.perf_counter()
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=env, cwd=ROOT)
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()

    from runbook.backends import Options, ports_factory
    from runbook.flow.engine import Runbook
    from runbook.flow.outline import outline_path
    from runbook.lab.lab import create_demo
    from runbook.record import parsed, store
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
    # `-S` with site-packages on the path instead: no .pth file of this machine runs (an editable install's
    # finder, a sandbox's certifi hook cost ≈30 ms and import pathlib, tempfile... for both commands), so the
    # figures are those of a pip-installed copy in a fresh venv, which is what an operator's jump host has.
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *site.getsitepackages()])
    python = [sys.executable, "-S"]
    session = str(store.session_path(str(path)))
    twin, outline = parsed.twin_path(Path(session)), outline_path(Path(session))
    kept = twin.read_bytes(), outline.read_bytes()

    def cold() -> None:
        twin.unlink(missing_ok=True)
        outline.unlink(missing_ok=True)

    status_command = [*python, "-c", CONSOLE_SCRIPT, "status", session]
    medians = timed({"bare": [*python, "-c", "pass"], "yardstick": [*python, "-c", YARDSTICK, session],
                     "status": status_command, "cold": status_command}, args.runs, env,
                    before={"cold": cold, "status": lambda: (twin.write_bytes(kept[0]), outline.write_bytes(kept[1]))})
    bare, yardstick, status = medians["bare"], medians["yardstick"], medians["status"]
    transition = statistics.median(transitions)
    ratio = status / yardstick
    print(f"journal entries:              {entries} (filled in {fill:.2f} s, {fill / args.entries * 1000:.2f} ms each)")
    print(f"session file:                 {Path(session).stat().st_size} bytes")
    print(f"python -c pass:               {bare * 1000:7.1f} ms")
    print(f"yaml.load(session, CSafeLoader):{yardstick * 1000:5.1f} ms   (the yardstick; median of {args.runs})")
    print(f"runbook status:               {status * 1000:7.1f} ms   {ratio:.2f}x the yardstick, "
          f"{status / bare:.2f}x bare python   (goal ≤ 1.5x: {'met' if ratio <= 1.5 else 'NOT met'})")
    print(f"runbook status, cold:         {medians['cold'] * 1000:7.1f} ms   {medians['cold'] / yardstick:.2f}x the "
          "yardstick   (no parsed twin, no outline: the YAML parsed and the procedure loaded)")
    print(f"persisted transition:         {transition * 1000:7.2f} ms   (median of {len(transitions)}; "
          f"p95 {sorted(transitions)[int(len(transitions) * .95)] * 1000:.2f} ms; goal ≤ 20 ms: "
          f"{'met' if transition <= 0.020 else 'NOT met'})")


if __name__ == "__main__":
    main()

"""Time to first frame of `runbook demo` (headless) beside a bare Textual "hello" app, measured the same way.

Each measurement is a fresh Python process (cold imports, as an operator starting the tool gets), timed
from the first line of the child to the frame: for the hello app, its first refresh; for `runbook demo`,
the CLI's whole path (argument parsing, creating the rehearsal session and its lab, the app) up to the first
refresh of the runbook screen, and, separately, up to the first refresh showing the steps ("ready").
Target: first frame ≤ 1.5× the bare app. `runbook open` on an existing session is measured too: it is the
TUI's own share, without the CLI creating the rehearsal session and its lab first.

    python bench/tui_start.py [--runs 7]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r'''
import time
T0 = time.perf_counter()
import sys

def report(name):
    print(f"{name} {time.perf_counter() - T0:.6f}", flush=True)

if sys.argv[1] == "hello":
    from textual.app import App
    from textual.widgets import Static

    class Hello(App):
        def compose(self):
            yield Static("hello")

        def on_mount(self):
            self.call_after_refresh(self.painted)

        def painted(self):
            report("first")
            report("ready")
            self.exit()

    Hello().run(headless=True, size=(120, 40))
else:
    import screens.app as tui

    from screens.runbook_screen import RunbookScreen

    run, mounted, opened = tui.RunbookApp.run, tui.RunbookApp.on_mount, RunbookScreen.on_session_opened

    def headless_run(self, *args, **kwargs):
        return run(self, headless=True, size=(120, 40))

    def on_mount(self):  # the app's first frame (for demo: while the lab is built behind it), as for hello
        mounted(self)
        self.call_after_refresh(report, "first")

    def on_session_opened(self, message):  # the frame that shows the steps
        opened(self, message)
        self.call_after_refresh(lambda: (report("ready"), self.app.exit()))

    tui.RunbookApp.run, tui.RunbookApp.on_mount, RunbookScreen.on_session_opened = (
        headless_run, on_mount, on_session_opened)
    from runbook.cli import main
    if sys.argv[1] == "demo":
        main(["demo", "--scenario", "tmg-seg-eas"])
    else:  # "open": the TUI alone, on a session that already exists
        main(["open", sys.argv[2]])
'''


def measure(kind: str, sessions: Path) -> dict[str, float]:
    env = dict(os.environ, RUNBOOK_SESSIONS_DIR=str(sessions), PYTHONPATH=str(ROOT))
    env.pop("NO_COLOR", None)
    # An installed runbook has its bytecode compiled by pip, as Textual's is; some shells set
    # PYTHONDONTWRITEBYTECODE, which would make only our side recompile its sources on every start.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    extra = [str(sessions / "existing.yaml")] if kind == "open" else []
    result = subprocess.run([sys.executable, "-c", CHILD, kind, *extra], capture_output=True, text=True, env=env,
                            cwd=ROOT, timeout=60)
    times = dict(line.split() for line in result.stdout.splitlines() if line.startswith(("first ", "ready ")))
    if set(times) != {"first", "ready"}:
        raise SystemExit(f"{kind}: no frame measured (exit {result.returncode}):\n{result.stdout}\n{result.stderr}")
    return {name: float(value) for name, value in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    runs: dict[str, list[dict[str, float]]] = {"hello": [], "demo": [], "open": []}
    with tempfile.TemporaryDirectory() as folder:
        env = dict(os.environ, RUNBOOK_SESSIONS_DIR=folder, PYTHONPATH=str(ROOT))
        subprocess.run([sys.executable, "-m", "runbook", "demo", "--scenario", "tmg-seg-eas", "--init", "existing"],
                       env=env, cwd=ROOT, check=True, capture_output=True)
        for kind in runs:  # warm the OS file cache for each, unmeasured
            measure(kind, Path(folder))
        for _ in range(args.runs):
            for kind in runs:  # interleaved, so a busy moment on the machine hits both alike
                runs[kind].append(measure(kind, Path(folder)))
    def median(kind: str, moment: str) -> float:
        return statistics.median(run[moment] for run in runs[kind])

    hello = median("hello", "first")
    print(f"bare Textual hello, first frame:           {hello * 1000:7.1f} ms (median of {args.runs})")
    for kind, label in (("demo", "runbook demo"), ("open", "runbook open (existing session)")):
        for moment, what in (("first", "first frame"), ("ready", "steps shown")):
            value = median(kind, moment)
            print(f"{label + ', ' + what + ':':<43}{value * 1000:7.1f} ms  ratio {value / hello:.2f}x")
    ratio = median("demo", "first") / hello
    print(f"target (runbook demo first frame ≤ 1.5x):  {ratio:.2f}x, {'met' if ratio <= 1.5 else 'NOT met'}")


if __name__ == "__main__":
    main()

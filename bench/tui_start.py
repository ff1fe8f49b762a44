"""Time to first frame and to the steps on screen, beside a bare Textual "hello" app measured the same way.

Each measurement is a fresh Python process (cold imports, as an operator starting the tool gets), timed
from the first line of the child to the frame: for the hello app, its first refresh; for `runbook demo`,
the CLI's whole path (argument parsing, the app; the rehearsal session and its lab are built behind the frames)
up to the app's first refresh ("first frame"), and, separately, up to the first refresh of a frame that shows
every step with its state ("steps shown"). All moments are Textual's `call_after_refresh`: the callback runs once
the screen has nothing pending to lay out or draw. For "steps shown" that is after the first layout and draw of
the screen that lists them, and, when it still had one pending by then, after that one too (Textual lays out a
newly mounted screen again once its widgets are mounted).
The steps are shown by the screen the app draws while the runbook screen's code loads (screens/opening.py), from
the step outline kept beside the session (`runbook status` reads the same one) or, for `demo`, the outline the
last build of that scenario kept (runbook/lab/rehearsal_outline.py; the bench's `--init` builds write it, as any
earlier `runbook demo` of the scenario does on an operator's machine). Without a kept outline that holds (none, or
made by other code or from other params), "steps shown" is the runbook screen's first frame, as it was before.
"runbook screen" is informational: the first refresh of the runbook screen itself (the selected step's detail,
its log, every key live); what is queued behind it is not counted: the footer's keys (Textual's Footer mounts them
from a callback queued before this one) are laid out and drawn at the next refresh.
`runbook open` is measured on an existing session (the TUI's own share, without building a lab) and on the
same kind of session whose journal holds 50,000 entries on the selected step; each child reports its peak
memory (ru_maxrss) at the runbook screen's frame.

Goals: first frame ≤ 1.3× and steps on screen ≤ 1.5× the bare app; `open` with 50k entries ≤ 1.5× the
empty session's time and ≤ 80 MiB.

    python bench/tui_start.py [--runs 7] [--entries 50000]
"""
from __future__ import annotations

import argparse
import json
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
import resource
import sys

def report(name):
    print(f"{name} {time.perf_counter() - T0:.6f}", flush=True)

def report_memory():
    print(f"maxrss {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}", flush=True)

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
            report("live")
            report_memory()
            self.exit()

    Hello().run(headless=True, size=(120, 40))
else:
    import screens.app as tui

    run, mounted, switch = tui.RunbookApp.run, tui.RunbookApp.on_mount, tui.RunbookApp.switch_screen

    def headless_run(self, *args, **kwargs):
        return run(self, headless=True, size=(120, 40))

    def on_mount(self):  # the app's first frame (for demo: before the lab is built behind the frames), as for hello
        self.call_after_refresh(report, "first")  # first in line: the frame, not what the app does after it
        mounted(self)

    import screens.opening as opening

    shown = []  # the steps were reported on screen
    outline_mounted = opening.OutlineScreen.on_mount

    def on_outline_mount(self):  # the screen drawn while the runbook screen loads: "ready" when it lists the steps
        outline_mounted(self)
        if self.steps_shown:
            self.call_after_refresh(lambda: (shown.append(True), report("ready")))

    opening.OutlineScreen.on_mount = on_outline_mount

    def live():  # the runbook screen's first frame: the selected step's detail, its log, the keys apply
        # Without a kept outline, the runbook screen is the first to show the steps.
        if not shown:
            report("ready")
        report("live")
        report_memory()

    def watch_for_steps(screen):  # the runbook screen's module is loaded after the first frame: hook it as it comes
        kind = type(screen)
        if kind.__name__ != "RunbookScreen" or "bench_hooked" in kind.__dict__:
            return
        opened = kind.on_session_opened

        def on_session_opened(self, message):
            opened(self, message)
            self.call_after_refresh(lambda: (live(), self.app.exit()))

        kind.on_session_opened, kind.bench_hooked = on_session_opened, True

    def switch_screen(self, screen):
        watch_for_steps(screen)
        return switch(self, screen)

    tui.RunbookApp.run, tui.RunbookApp.on_mount, tui.RunbookApp.switch_screen = headless_run, on_mount, switch_screen
    from runbook.cli import main
    if sys.argv[1] == "demo":
        main(["demo", "--scenario", "tmg-seg-eas"])
    else:  # "open": the TUI alone, on a session that already exists
        main(["open", sys.argv[2]])
'''

KINDS = {"hello": "bare Textual hello", "demo": "runbook demo", "open": "runbook open (existing session)",
         "open-50k": "runbook open (50k journal entries)"}


def measure(kind: str, sessions: Path) -> dict[str, float]:
    session = {"open": sessions / "existing.yaml", "open-50k": sessions / "big.yaml"}.get(kind)
    return frames(kind.split("-")[0], sessions, session)


def frames(kind: str, sessions: Path, session: Path | None = None) -> dict[str, float]:
    """One fresh process of `kind` (hello, demo, or open `session`): seconds to its first frame and to the steps
    shown, and its peak memory (KiB)."""
    env = dict(os.environ, RUNBOOK_SESSIONS_DIR=str(sessions), PYTHONPATH=str(ROOT))
    env.pop("NO_COLOR", None)
    # An installed runbook has its bytecode compiled by pip, as Textual's is; some shells set
    # PYTHONDONTWRITEBYTECODE, which would make only our side recompile its sources on every start.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    extra = [str(session)] if session else []
    result = subprocess.run([sys.executable, "-c", CHILD, kind, *extra], capture_output=True,
                            text=True, env=env, cwd=ROOT, timeout=120)
    found = dict(line.split() for line in result.stdout.splitlines()
                 if line.startswith(("first ", "ready ", "live ", "maxrss ")))
    if set(found) != {"first", "ready", "live", "maxrss"}:
        raise SystemExit(f"{kind}: no frame measured (exit {result.returncode}):\n{result.stdout}\n{result.stderr}")
    return {name: float(value) for name, value in found.items()}


def fill_journal(session: Path, step: str, entries: int) -> None:
    """Append `entries` hash-chained notes on `step`, written as Journal.append writes them, minus the fsyncs."""
    from runbook.record import store
    from runbook.record.journal import Journal, entry_digest

    journal = Journal(store.journal_path(session))
    last = journal.last() or {"seq": 0, "hash": "0" * 64}
    seq, previous = last["seq"], last["hash"]
    with journal.path.open("a", encoding="utf-8") as handle:
        for number in range(entries):
            seq += 1
            entry = {"seq": seq, "time": "2026-01-01T09:00:05Z", "operator": "bench@jump1", "step": step,
                     "action": "note", "outcome": "noted", "note": f"bench filler entry {number}", "prev": previous}
            entry["hash"] = previous = entry_digest(entry)
            handle.write(json.dumps(entry, ensure_ascii=False) + "\n")
    journal.anchor_path.write_text(json.dumps({"seq": seq, "hash": previous}) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--entries", type=int, default=50000)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    runs: dict[str, list[dict[str, float]]] = {kind: [] for kind in KINDS}
    with tempfile.TemporaryDirectory() as folder:
        env = dict(os.environ, RUNBOOK_SESSIONS_DIR=folder, PYTHONPATH=str(ROOT))
        for name in ("existing", "big"):
            subprocess.run([sys.executable, "-m", "runbook", "demo", "--scenario", "tmg-seg-eas", "--init", name],
                           env=env, cwd=ROOT, check=True, capture_output=True)
        steps = subprocess.run([sys.executable, "-m", "runbook", "status", "big", "--json"], env=env, cwd=ROOT,
                               check=True, capture_output=True, text=True)
        first = json.loads(steps.stdout)["steps"][0]["step"]  # the step the screen selects on a fresh session
        fill_journal(Path(folder) / "big.yaml", first, args.entries)
        # One entry through the engine, as the last of those 50k would have been: the session snapshot is current.
        subprocess.run([sys.executable, "-m", "runbook", "note", "big", "--step", first, "filled"], env=env,
                       cwd=ROOT, check=True, capture_output=True)
        for kind in runs:  # warm the OS file cache for each, unmeasured
            measure(kind, Path(folder))
        for _ in range(args.runs):
            for kind in runs:  # interleaved, so a busy moment on the machine hits all alike
                runs[kind].append(measure(kind, Path(folder)))

    def median(kind: str, moment: str) -> float:
        return statistics.median(run[moment] for run in runs[kind])

    hello = median("hello", "first")
    print(f"{'bare Textual hello, first frame:':<46}{hello * 1000:7.1f} ms   (median of {args.runs}; "
          f"peak {median('hello', 'maxrss') / 1024:.0f} MiB)")
    for kind in ("demo", "open", "open-50k"):
        for moment, what in (("first", "first frame"), ("ready", "steps shown"), ("live", "runbook screen")):
            value = median(kind, moment)
            print(f"{KINDS[kind] + ', ' + what + ':':<46}{value * 1000:7.1f} ms   {value / hello:.2f}x hello")
        print(f"{KINDS[kind] + ', peak memory:':<46}{median(kind, 'maxrss') / 1024:7.1f} MiB")

    def verdict(ratio: float, goal: float) -> str:
        return f"{ratio:.2f}x (goal ≤ {goal}x: {'met' if ratio <= goal else 'NOT met'})"

    print("goals:")
    for kind in ("demo", "open"):
        print(f"  {KINDS[kind]}: first frame {verdict(median(kind, 'first') / hello, 1.3)}; "
              f"steps shown {verdict(median(kind, 'ready') / hello, 1.5)}")
    big = median("open-50k", "ready") / median("open", "ready")
    screen = median("open-50k", "live") / median("open", "live")
    memory = median("open-50k", "maxrss") / 1024
    worst = max(big, screen)  # the runbook screen is the frame that reads the selected step's journal
    print(f"  open with {args.entries} entries vs empty session: steps shown {big:.2f}x, runbook screen "
          f"{screen:.2f}x, the slower {verdict(worst, 1.5)}; peak {memory:.0f} MiB "
          f"(goal ≤ 80 MiB: {'met' if memory <= 80 else 'NOT met'})")


if __name__ == "__main__":
    main()

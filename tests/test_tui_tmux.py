"""End to end, as an operator would: the real `runbook demo` in a real terminal (tmux), keys only, to the end."""
from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runbook.flow.states import SETTLED
from runbook.record import store

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.slow, pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")]


class Terminal:
    """One tmux server of our own (its own socket), one 120×40 window running one command."""

    def __init__(self, socket: Path, command: str, env: dict[str, str]):
        self.socket, self.name = str(socket), "rehearsal"
        exports = " ".join(f"{key}={shlex.quote(value)}" for key, value in env.items())
        self.tmux("new-session", "-d", "-x", "120", "-y", "40", "-s", self.name,
                  f"cd {shlex.quote(str(ROOT))} && env {exports} {command}")

    def tmux(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["tmux", "-S", self.socket, "-f", "/dev/null", *args], capture_output=True,
                              text=True, timeout=10)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", self.name).stdout

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", self.name, *keys)

    def type(self, text: str) -> None:
        self.tmux("send-keys", "-t", self.name, "-l", text)

    def wait_for(self, *texts: str, timeout: float = 15.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            shown = self.screen()
            if all(text in shown for text in texts):
                return shown
            if time.monotonic() > deadline:
                raise AssertionError(f"never saw {texts!r}; the screen shows:\n{shown}")
            time.sleep(0.05)

    def alive(self) -> bool:
        return self.tmux("has-session", "-t", self.name).returncode == 0

    def close(self) -> None:
        self.tmux("kill-server")


def runbook_command() -> str:
    installed = shutil.which("runbook")
    return shlex.quote(installed) if installed else f"{shlex.quote(sys.executable)} -m runbook"


@pytest.fixture
def terminal(tmp_path: Path):
    sessions = tmp_path / "sessions"
    env = {"RUNBOOK_SESSIONS_DIR": str(sessions), "RUNBOOK_OPERATOR": "alice@jump1", "TERM": "xterm-256color",
           "PYTHONPATH": str(ROOT), "PATH": os.environ.get("PATH", "")}
    term = Terminal(tmp_path / "tmux.sock", f"{runbook_command()} demo --scenario tmg-eas", env)
    try:
        yield term, sessions
    finally:
        term.close()


def test_walk_the_tmg_eas_rehearsal_to_the_end_with_keys_only(terminal) -> None:
    term, sessions = terminal
    term.wait_for("demo-tmg-eas-1", "[ ] 1  TMG web listener", "What now:")

    for step in ("1", "2"):  # TMG console work: follow the checklist, record it done
        term.wait_for(f"[ ] {step}  TMG", "d Done")  # the footer offers d once the step is idle
        term.keys("d")
        term.wait_for("Unticked items", "Record it done anyway?")  # nothing was ticked: it asks first
        term.keys("y")
        term.wait_for(f"Record {step} as done by hand")
        term.keys("Enter")
        term.wait_for(f"[m] {step} ")
        term.keys("n")

    term.wait_for("[ ] 3a  AD: trust TMG", "Plan (live)", "r Run")
    term.keys("r")
    term.wait_for("Apply these changes for 3a?", "TMG01$ msDS-AllowedToDelegateTo: + http/eas01.test.lan")
    term.keys("y")
    term.wait_for("[x] 3a ")

    term.keys("n")
    term.wait_for("4a@EAS01  AD: http SPNs", "r Run")
    term.keys("r")  # already in place in this lab: nothing to confirm
    term.wait_for("[x] 4a@EAS01")

    term.keys("n")
    term.wait_for("[ ] 5a  TMG local policy", "r Run")
    term.keys("r")
    term.wait_for("Apply these changes for 5a?")
    term.keys("y")
    term.wait_for("[x] 5a ")

    term.keys("n")
    term.wait_for("[ ] 6a@EAS01  EAS: accept Kerberos", "r Run")
    term.keys("r")  # TMG checks the certificate: EAS only accepts Kerberos, no iisreset
    term.wait_for("Apply these changes for 6a@EAS01?", "WindowsAuthEnabled: False → True")
    term.keys("y")
    final = term.wait_for("11/11 settled", "COMPLETE", "Complete: done, verified")
    assert "[x] 6a@EAS01" in final and "Traceback" not in final
    term.keys("P")  # the last item: a device with the demo's certificate syncs through the simulated chain
    term.wait_for("Complete: device proof ok")
    term.keys("j")  # the change record on screen: the journal, with its hash-chain verdict
    term.wait_for("journal intact")
    term.keys("Escape")

    term.keys("C-q")
    deadline = time.monotonic() + 10
    while term.alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not term.alive(), term.screen()

    (path,) = [p for p in sessions.glob("demo-*.yaml") if not p.name.endswith((".lab.yaml", ".params.yaml"))]
    assert not store.lock_path(path).exists(), "quitting releases the session"
    session = store.load(path)
    assert all(record.state in SETTLED for record in session.steps.values())

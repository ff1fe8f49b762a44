"""No password in anything pair work or the change record writes or prints, with the password variables set."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.pair_helpers import ALICE, BOB, Follower, runbook, stale_lock, start

SECRET = "Pa55-w0rd-never-written"
ENV = {"RUNBOOK_LDAP_PASSWORD": SECRET, "RUNBOOK_WINRM_PASSWORD": SECRET}


@pytest.mark.slow
def test_no_password_in_any_file_or_output(sessions_dir: Path, tmp_path: Path) -> None:
    outputs: list[str] = []

    def cli(*args: str, operator: str = ALICE, expect: int = 0) -> None:
        result = runbook(sessions_dir, *args, operator=operator, env=ENV)
        outputs.append(result.stdout + result.stderr)
        assert result.returncode == expect, (args, result.stdout, result.stderr)

    params = tmp_path / "real.yaml"
    params.write_text(yaml.safe_dump({
        "topology": "tmg-eas", "domain": "test.lan",
        "directory": {"server": "dc1.nowhere.invalid", "bind_user": "Administrator@TEST.LAN"},
        "tmg": {"computer": "TMG01", "host": "tmg01.test.lan"},
        "eas": [{"computer": "EAS01", "host": "eas01.test.lan"}],
        "public_name": "mail.example.com", "listener": "EAS Listener", "winrm": {"user": "TEST\\operator"}}))
    cli("new", "real", "--params", str(params))
    cli("demo", "--scenario", "tmg-eas", "--cert-validation", "eas", "--init", "s")  # 6a ends with iisreset
    cli("settings", "s", "--two-person", "on", "--ack-wait", "30")
    follower = Follower(sessions_dir, "s", env=ENV)
    try:
        follower.wait_for("live:")
        cli("mark", "s", "2", "--done", "--note", "server publishing rule made")
        driver = start(sessions_dir, "run", "s", "6a", "--yes", "--allow-restart", env=ENV)
        _, _, hint = follower.wait_for("to acknowledge: runbook ack s 6a@EAS01 --plan ")
        cli("ack", "s", "6a", "--plan", hint.rsplit("--plan ", 1)[1].split()[0], operator=BOB)
        assert driver.wait(timeout=30) == 0
        outputs.append(driver.stdout.read() + driver.stderr.read())  # type: ignore[union-attr]
        cli("handover", "s", "--note", "2 and 6a done")
        stale_lock(sessions_dir / "s.yaml")
        cli("mark", "s", "2", "--reopen", "--takeover", operator=BOB)
        follower.wait_for("manual-done → pending", after=1)
    finally:
        follower.stop()
    outputs.append(follower.text())
    reports = tmp_path / "reports"
    for name in ("s", "real"):
        cli("report", name, "--format", "md", "-o", str(reports / f"{name}.md"))
        cli("report", name, "--format", "html", "-o", str(reports / f"{name}.html"))
        cli("backout", name, "--format", "md", "-o", str(reports / f"{name}-backout.md"))
        cli("backout", name)
        cli("journal", name, "--check")
    cli("watch", "s", "--timeout", "0.3", operator=BOB)
    written = [path for path in tmp_path.rglob("*") if path.is_file() and path != params]
    assert len(written) >= 14  # both sessions' files and every report
    for path in written:
        assert SECRET not in path.read_text(encoding="utf-8", errors="replace"), path
    assert outputs and not [text for text in outputs if SECRET in text]

"""The back-out plan after a partial run: newest first, exact reverts, manual steps with the values seen before."""
from __future__ import annotations

from pathlib import Path

import pytest

from runbook.cli import main
from runbook.flow.changes import Change
from runbook.flow.states import State
from runbook.record import store


def plan(fmt: str, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert main(["backout", "b", "--format", fmt]) == 0
    return capsys.readouterr().out


def numbered(text: str) -> list[str]:
    return [line.split(" — ")[0] for line in text.splitlines() if line[:1].isdigit() and ". " in line[:4]]


@pytest.fixture
def partial(sessions_dir: Path) -> Path:
    """tmg-seg-eas, part-way: listener by hand (verified first), 3a, 4a and 6b run, then 4a@EASASA undone."""
    assert main(["demo", "--scenario", "tmg-seg-eas", "--init", "b"]) == 0
    main(["verify", "b", "1"])
    assert main(["mark", "b", "1", "--done", "--note", "listener made"]) == 0
    for step in ("3a", "4a", "6b"):
        assert main(["run", "b", step, "--yes", "--allow-restart"]) == 0
    assert main(["undo", "b", "4a@EASASA", "--yes"]) == 0
    return sessions_dir / "b.yaml"


def test_partial_run_backs_out_newest_first_with_exact_reverts(partial: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    text = plan("text", capsys)
    assert text.startswith("Back-out plan for b (tmg-seg-eas): 3 steps with changes in force, newest first")
    assert numbered(text) == ["1. 6b@SEG01", "2. 3a", "3. 1"]
    session = store.load(partial)
    iis = [Change.from_dict(c) for c in session.steps["6b@SEG01"].changes]
    block = text.split("1. 6b@SEG01")[1].split("2. 3a")[0]
    assert "automatic: runbook undo b 6b@SEG01 --yes\n" in block  # accepting Kerberos restarts nothing
    reverts = [line.strip() for line in block.splitlines() if line.strip().startswith(("revert ", "then "))]
    assert [line.split("  (by hand")[0] for line in reverts] == [c.revert_describe() for c in reversed(iis)]
    assert "windowsAuthentication.enabled" in reverts[-1] and not any(c.kind == "iisreset" for c in iis)
    delegation = text.split("2. 3a")[1].split("3. 1")[0]
    assert "automatic: runbook undo b 3a --yes\n" in delegation
    assert "revert TMG01$ userAccountControl: 0x1001000 → 0x1000 (-TRUSTED_TO_AUTH_FOR_DELEGATION)  " \
           "(by hand: set it back to 0x1000)" in delegation
    assert "revert TMG01$ msDS-AllowedToDelegateTo: - http/seg01.test.lan, - http/seg01  (by hand: remove " \
           "http/seg01.test.lan, http/seg01; before: [cifs/files01.test.lan])" in delegation
    manual = text.split("3. 1 — TMG web listener")[1]
    assert "by hand, last item first" in manual and "listener “EAS Listener” exists: was False (verify at" in manual
    items = [line.strip() for line in manual.splitlines() if line.strip()[:2].rstrip(".").isdigit()]
    assert items[0].startswith("8. ") and items[-1].startswith("1. ")
    assert "4a@EASASA" not in text.split("Not changed by this session")[0]  # undone: nothing in force
    assert "Not changed by this session (already in place when it ran; nothing to back out): 4a@EAS01, " \
           "4a@EAS02" in text


def test_following_the_plan_leaves_only_the_manual_work(partial: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = plan("text", capsys)
    commands = [line.split("automatic: ")[1] for line in text.splitlines() if "automatic: runbook undo" in line]
    for command in commands:
        assert main(command.split()[1:]) == 0, command
    after = plan("text", capsys)
    assert numbered(after) == ["1. 1"] and "1 step with changes in force" in after
    assert store.load(partial).steps["3a"].state == State.UNDONE


def test_markdown_form(partial: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = plan("md", capsys)
    assert text.startswith("# Back-out plan for b")
    assert "## 1. 6b@SEG01 — SEG: accept Kerberos from TMG (done, alice@jump1 at " in text
    assert "- automatic: `runbook undo b 3a --yes`" in text


def test_a_failed_half_done_step_and_an_interrupted_one(sessions_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--scenario", "tmg-eas", "--fail", "3a", "--init", "b"]) == 0
    assert main(["run", "b", "3a", "--yes"]) == 1
    text = plan("text", capsys)
    assert numbered(text) == ["1. 3a"] and "(failed, alice@jump1" in text
    assert "revert TMG01$ msDS-AllowedToDelegateTo: - http/eas01.test.lan" in text
    path = sessions_dir / "b.yaml"
    session = store.load(path)
    session.steps["3a"].state = State.RUNNING  # its driver died mid-step
    store.save(session, path)
    assert "run `runbook verify b 3a` first" in plan("text", capsys)


def test_an_iisreset_is_repeated_once_at_the_end_of_its_back_out(sessions_dir: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--scenario", "tmg-eas", "--cert-validation", "eas", "--init", "b"]) == 0
    assert main(["run", "b", "6a", "--yes", "--allow-restart"]) == 0
    text = plan("text", capsys)
    assert "automatic: runbook undo b 6a@EAS01 --yes --allow-restart" in text
    reverts = [line.strip() for line in text.splitlines() if line.strip().startswith(("revert ", "then "))]
    assert reverts[-1].startswith("then eas01.test.lan: iisreset again (restarts IIS) — POINT OF NO RETURN")


def test_nothing_to_back_out(sessions_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--scenario", "tmg-eas", "--init", "b"]) == 0
    assert "Nothing to back out: this session has no change in force." in plan("text", capsys)
    out = sessions_dir.parent / "backout.md"
    assert main(["backout", "b", "--format", "md", "-o", str(out)]) == 0
    assert out.read_text(encoding="utf-8").startswith("# Back-out plan for b (tmg-eas): 0 steps")

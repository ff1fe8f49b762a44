"""A session file edited into the wrong shape is refused on load: exit 2 naming the field, nothing written."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from runbook.cli import main
from runbook.pair import two_person
from runbook.record import store
from runbook.record.session_fields import SETTING_KINDS

ROOT = Path(__file__).resolve().parent.parent
STEP = "1"  # a step every rehearsal has


def step(**fields: Any) -> Callable[[dict], None]:
    def edit(data: dict) -> None:
        data["steps"][STEP].update(fields)
    return edit


def top(**fields: Any) -> Callable[[dict], None]:
    def edit(data: dict) -> None:
        data.update(fields)
    return edit


def lab_field(**fields: Any) -> Callable[[dict], None]:
    def edit(data: dict) -> None:
        data["lab"].update(fields)
    return edit


CHANGE = {"kind": "ad-attribute", "target": "TMG01$", "attribute": "msDS-AllowedToDelegateTo", "op": "add",
          "values": ["http/seg01.test.lan"]}

# (what is wrong, the edit, the field the refusal must name)
MALFORMED = [
    ("verified as text", step(verified="yes"), f"steps.{STEP}.verified"),
    ("verified.ok not a truth value", step(verified={"ok": "maybe"}), f"steps.{STEP}.verified.ok"),
    ("verified.findings as text", step(verified={"ok": False, "findings": "all wrong"}),
     f"steps.{STEP}.verified.findings"),
    ("changes as text", step(changes="garbage"), f"steps.{STEP}.changes"),
    ("changes not mappings", step(changes=[1, 2]), f"steps.{STEP}.changes[0]"),
    ("a change without its target", step(changes=[{k: v for k, v in CHANGE.items() if k != "target"}]),
     f"steps.{STEP}.changes[0].target"),
    ("a change with a field no change has", step(changes=[{**CHANGE, "colour": "red"}]),
     f"steps.{STEP}.changes[0]: colour"),
    ("undone as a mapping", step(undone={"a": 1}), f"steps.{STEP}.undone"),
    ("ticks as text", step(ticks="garbage"), f"steps.{STEP}.ticks"),
    ("a tick that is no item number", step(ticks={"first": {"by": "alice"}}), f"steps.{STEP}.ticks"),
    ("a tick as text", step(ticks={"0": "alice"}), f"steps.{STEP}.ticks.0"),
    ("intents as a mapping", step(intents={"seq": 3}), f"steps.{STEP}.intents"),
    ("an intent whose change is text", step(intents=[{"seq": 3, "change": "x"}]), f"steps.{STEP}.intents[0].change"),
    ("a note as a list", step(note=["a", "b"]), f"steps.{STEP}.note"),
    ("lab as text", top(lab="garbage"), "lab"),
    ("lab as a list", top(lab=[1, 2]), "lab"),
    ("lab state file outside the sessions folder", lab_field(state_file="../../etc/passwd"), "lab.state_file"),
    ("lab latency as text", lab_field(latency_ms="fast"), "lab.latency_ms"),
    ("settings as a list", top(settings=["two_person_confirm"]), "settings"),
    ("two-person switch as text", top(settings={"two_person_confirm": "yes"}), "settings.two_person_confirm"),
    ("acknowledgement wait as text", top(settings={"ack_wait_seconds": "soon"}), "settings.ack_wait_seconds"),
    ("journal position as text", top(journal="somewhere"), "journal"),
    ("name as a mapping", top(name={"a": 1}), "name"),
]


@pytest.fixture
def rehearsal(sessions_dir: Path) -> Path:
    assert main(["demo", "--init", "x"]) == 0
    return sessions_dir / "x.yaml"


def rewrite(path: Path, edit: Callable[[dict], None] | None) -> bytes:
    """The session as the tool writes it (header, fields, end marker), with `edit` applied."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data.pop(store.END)
    if edit is not None:
        edit(data)
    path.write_text(store.HEADER + yaml.safe_dump({**data, store.END: True}, sort_keys=False), encoding="utf-8")
    return path.read_bytes()


def folder_state(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def test_the_rewritten_session_itself_loads(rehearsal: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The control: what the cases below change is only their one field."""
    rewrite(rehearsal, None)
    assert main(["status", str(rehearsal)]) == 0


@pytest.mark.parametrize("what,edit,field", MALFORMED, ids=[case[0] for case in MALFORMED])
def test_a_malformed_session_is_refused_naming_the_field_and_left_untouched(
        rehearsal: Path, capsys: pytest.CaptureFixture[str], what: str, edit: Callable[[dict], None],
        field: str) -> None:
    before = rewrite(rehearsal, edit)
    files = folder_state(rehearsal.parent)
    for command in (["status", str(rehearsal)], ["run", str(rehearsal), "6b@SEG01", "--yes"]):
        assert main(command) == 2, command
        err = capsys.readouterr().err
        assert f"{field}" in err and "Traceback" not in err, err
        assert str(rehearsal) in err and "left untouched" in err, err
    assert rehearsal.read_bytes() == before
    assert folder_state(rehearsal.parent) == files  # journal, lab state, no lock left behind


@pytest.mark.parametrize("what,edit,field", [MALFORMED[0], MALFORMED[16]], ids=["verified", "state_file"])
def test_the_real_command_says_it_in_one_line(rehearsal: Path, what: str, edit: Callable[[dict], None],
                                              field: str) -> None:
    before = rewrite(rehearsal, edit)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for command in (["status", "x"], ["run", "x", "6b@SEG01", "--yes"]):
        result = subprocess.run([sys.executable, "-m", "runbook", *command], capture_output=True, text=True,
                                env=env, cwd=ROOT, timeout=60)
        assert result.returncode == 2, result.stderr
        assert field in result.stderr and "Traceback" not in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert rehearsal.read_bytes() == before


def test_a_bare_tick_number_still_counts(rehearsal: Path) -> None:
    """`0:` written without quotes by a hand edit is the same item as the tool's '0'."""
    rewrite(rehearsal, step(ticks={0: {"by": "alice@jump1", "at": "2026-01-01T00:00:00Z"}}))
    assert "0" in store.load(rehearsal).steps[STEP].ticks


def test_the_settings_two_person_reads_have_their_kinds() -> None:
    assert {two_person.SETTING, two_person.WAIT_SETTING} <= set(SETTING_KINDS)


def test_the_change_fields_a_session_accepts_are_the_change_model_s() -> None:
    """Written out in session_fields (so loading a session does not import the model): kept equal here."""
    import dataclasses

    from runbook.flow.changes import Change
    from runbook.record.session_fields import CHANGE_FIELDS

    assert CHANGE_FIELDS == {f.name for f in dataclasses.fields(Change)}

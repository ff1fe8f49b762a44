"""Change kinds are registered types (runbook.flow.change_kinds): every kind a step plans is known with its flags,
a revert is a field of the change, journals written before both still read, and a journal entry of the wrong
shape is refused naming its entry and field."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from runbook.cli import main
from runbook.errors import RunbookError, SessionFileError, StepFailed
from runbook.flow.change_kinds import ChangeKind, kind_of, register, registered, restart_of
from runbook.flow.changes import Change, Finding, Verification
from runbook.flow.engine import Runbook
from runbook.lab import lab
from runbook.pair.watch import entry_text
from runbook.record import replay, store
from runbook.record.journal import Journal
from runbook.record.session import Session
from runbook.reports.backout import before_values
from steps import CATALOGUE

STEPS = Path(__file__).resolve().parent.parent / "steps"
IISRESET = {"kind": "iisreset", "target": "eas01.test.lan", "attribute": "iisreset", "op": "action",
            "locator": {"host": "eas01.test.lan"}, "note": "restarts IIS"}
SETTING = {"kind": "web-config", "target": "eas01.test.lan", "attribute": "access.sslFlags @ Default Web Site",
           "op": "set", "before": "Ssl", "after": "Ssl,SslNegotiateCert",
           "locator": {"host": "eas01.test.lan", "location": "Default Web Site", "filter": "access", "name": "x"}}


def planned_kinds(folder: Path, scenario: str, **knobs: Any) -> set[str]:
    path = lab.create_demo(folder / f"{scenario}.yaml", scenario, CATALOGUE, **knobs)
    book = Runbook.open(path, CATALOGUE, lab.lab_ports_factory, drive=True)
    kinds = set()
    try:
        for instance in book.instances:
            if instance.not_applicable or instance.spec.automation is None:
                continue
            try:
                kinds |= {change.kind for change in book.plan(instance.key).changes}
            except RunbookError:
                continue  # a step the lab's starting state refuses plans nothing here
    finally:
        book.close()
    return kinds


def test_every_kind_a_step_plans_is_registered_and_every_registered_kind_is_planned(sessions_dir: Path) -> None:
    planned = (planned_kinds(sessions_dir, "tmg-seg-eas") | planned_kinds(sessions_dir, "add-seg")
               | planned_kinds(sessions_dir, "tmg-eas", cert_validation="eas"))
    assert planned <= set(registered()), planned - set(registered())
    # Every registered kind is one a step makes; the lab's hosts list Negotiate already, so none adds a provider.
    assert set(registered()) - planned == {"auth-provider"}
    assert kind_of("iisreset").restarts == "IIS"
    assert [name for name in registered() if kind_of(name).restarts] == ["iisreset"]


def test_steps_do_not_compare_kind_names_or_their_own_id() -> None:
    for path in STEPS.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"kind\s*[!=]=\s*\"|kind=\"", text), path.name
        assert not re.search(r"instance\.id\s*[!=]=|step_id\s*[!=]=|\bsid\s*==\s*\"", text), path.name


def test_a_kind_is_registered_once_and_an_unknown_one_is_named() -> None:
    known = kind_of("ldap-uac")
    assert register(known) is known  # the same kind again (a module imported twice) is harmless
    clash = ChangeKind(name="ldap-uac", apply=known.apply, took=known.took, revert=known.revert)
    with pytest.raises(ValueError, match="'ldap-uac' is registered twice"):
        register(clash)
    with pytest.raises(StepFailed, match="change kind 'floppy-disk' is not known to this runbook"):
        kind_of("floppy-disk")


def test_the_revert_flag_round_trips_and_a_change_without_it_stays_as_it_was() -> None:
    plain = Change.from_dict(SETTING)
    assert not plain.revert and "revert" not in plain.to_dict() and plain.to_dict() == SETTING
    back = kind_of("web-config").revert(plain)
    assert back.revert and back.op == "set" and (back.before, back.after) == (plain.after, plain.before)
    assert Change.from_dict(back.to_dict()) == back and back.to_dict()["revert"] is True
    inherited = Change.from_dict({**SETTING, "locator": {**SETTING["locator"], "inherited": True}})
    assert kind_of("web-config").revert(inherited).op == "clear"
    again = kind_of("iisreset").revert(Change.from_dict(IISRESET))
    assert again.revert and again.op == "action" and again.note == "restarts IIS"


def old_entries() -> list[dict[str, Any]]:
    """What the previous version journaled for a run of 6a and its undo: reverts noted "undo", no revert field."""
    session = Session(name="old", params={}).to_dict()
    return [
        {"seq": 1, "action": "new", "step": None, "details": {"session": session}},
        {"seq": 2, "action": "change", "step": "6a", "details": SETTING},
        {"seq": 3, "action": "change", "step": "6a", "details": IISRESET},
        {"seq": 4, "action": "change", "step": "6a",
         "details": {**SETTING, "before": SETTING["after"], "after": SETTING["before"], "note": "undo"}},
        {"seq": 5, "action": "change", "step": "6a", "details": {**IISRESET, "note": "undo"}},
    ]


def test_an_old_journal_with_undo_notes_and_a_bare_iisreset_reads_the_current_way() -> None:
    entries = old_entries()
    halfway = replay.replay(None, entries[:3])
    assert halfway is not None
    in_force = [Change.from_dict(change) for change in halfway.steps["6a"].changes]
    assert restart_of(in_force) == Change.from_dict(IISRESET)  # the kind says it restarts, not the name
    session = replay.replay(None, entries)
    assert session is not None
    record = session.steps["6a"]
    assert record.changes == []
    assert [change["revert"] for change in record.undone] == [True, True]
    assert all(change.get("note", "") != "undo" for change in record.undone)
    assert entry_text(entries[3]).startswith("reverted: ") and entry_text(entries[2]).startswith("applied: ")


def test_findings_are_journaled_whole_and_old_text_lines_still_read() -> None:
    result = Verification()
    result.expect("listener “EAS Listener” exists", True, False)
    result.expect("providers", ["Negotiate"], frozenset({"NTLM"}))
    details = result.mismatch_details()
    assert details["mismatched"][1] == {"what": "providers", "wanted": ["Negotiate"], "seen": ["NTLM"], "ok": False}
    assert Finding.from_dict(details["mismatched"][0]) == result.findings[0]
    new = {"seq": 3, "action": "verify", "time": "T", "details": details}
    old = {"seq": 3, "action": "verify", "time": "T", "details": {"mismatches": details["mismatches"]}}
    assert before_values([new], 9)[0] == before_values([old], 9)[0] == \
        "listener “EAS Listener” exists: was False (verify at T)"
    # A value holding ", seen " can only be told apart in the structured form.
    tricky = Verification()
    tricky.expect("a, seen b", "x", "y")
    assert before_values([{**new, "details": tricky.mismatch_details()}], 9) == ["a, seen b: was y (verify at T)"]


BAD_ENTRIES = [
    ("values as text", {"action": "change", "details": {**SETTING, "values": "oops"}}, "details.values"),
    ("revert as text", {"action": "change", "details": {**SETTING, "revert": "yes"}}, "details.revert"),
    ("a change without its kind", {"action": "intent", "details": {k: v for k, v in SETTING.items() if k != "kind"}},
     "details.kind"),
    ("the intent it closes as text", {"action": "change", "details": SETTING, "intent": "3"}, "intent"),
    ("a record note as a list", {"action": "note", "rec": {"note": ["a"]}}, "rec.note"),
    ("verified as text", {"action": "verify", "rec": {"verified": "yes"}}, "rec.verified"),
    ("a tick as text", {"action": "tick", "rec": {"tick": "first"}}, "rec.tick"),
    ("settings as a list", {"action": "settings", "step": None, "details": ["two_person_confirm"]}, "details"),
]


@pytest.mark.parametrize(("what", "entry", "field"), BAD_ENTRIES, ids=[case[0] for case in BAD_ENTRIES])
def test_a_wrong_typed_entry_is_refused_naming_it_and_its_field(what: str, entry: dict[str, Any], field: str) -> None:
    session = replay.replay(None, old_entries()[:1])
    with pytest.raises(SessionFileError) as refused:
        replay.apply(session, {"seq": 12, "step": "6a", **entry}, "k.journal")
    assert f"k.journal entry seq 12: {field}" in str(refused.value)
    assert session is not None and session.steps == {}  # nothing applied


def test_a_hand_edited_journal_entry_stops_status_and_leaves_the_files_alone(
        sessions_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--scenario", "tmg-eas", "--init", "j"]) == 0
    assert main(["run", "j", "3a", "--yes"]) == 0
    path = sessions_dir / "j.yaml"
    journal = Journal(store.journal_path(path))
    bad = journal.append(step="3a", action="change", outcome="applied",
                         details={**Change.from_dict(store.load(path).steps["3a"].changes[0]).to_dict(),
                                  "locator": "somewhere"})
    before = (path.read_bytes(), journal.path.read_bytes())
    capsys.readouterr()
    assert main(["status", "j"]) == 2
    error = capsys.readouterr().err
    assert f"entry seq {bad['seq']}: details.locator: expected a mapping, got str 'somewhere'" in error
    assert (path.read_bytes(), journal.path.read_bytes()) == before


""""Complete" never lies, and marking done by hand verifies: status (text and --json), the report, the engine."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from runbook.backends import Options, ports_factory
from runbook.cli import main
from runbook.errors import HostError
from runbook.flow.completion import completion, open_check_findings
from runbook.flow.engine import Runbook
from runbook.flow.states import State
from runbook.record import store
from runbook.reports import change_record as report
from runbook.reports.text import status_text
from steps import CATALOGUE

BROKEN_FAULTS = ("clock", "scep", "providers", "spn", "gpo")


def status_json(capsys: pytest.CaptureFixture[str], name: str) -> dict:
    capsys.readouterr()
    assert main(["status", name, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def run_what_can_run(name: str) -> None:
    """Every step that can run, in order; the broken scenario's 4a@EAS01 and 5a fail on their planted faults."""
    assert main(["mark", name, "1", "--done"]) == 0
    assert main(["mark", name, "2", "--done"]) == 0
    for step in ("3a", "3b", "4a", "4b", "5a", "5b", "6a", "6b"):
        main(["run", name, step, "--yes", "--allow-restart"])


def test_the_broken_scenario_driven_to_the_end_is_not_complete_with_every_reason(
        sessions_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--scenario", "broken", "--init", "b"]) == 0
    assert main(["check", "b"]) == 1  # before the work: the planted faults
    run_what_can_run("b")
    data = status_json(capsys, "b")
    assert data["progress"] == {"settled": 9, "total": 11} and data["complete"] is False
    reasons = data["reasons"]
    assert any(r.startswith("4a@EAS01: failed: http/mail-int.test.lan is already registered on OLDSVC")
               for r in reasons), reasons
    assert any(r.startswith("5a: failed: tmg01.test.lan:") for r in reasons), reasons
    for name in BROKEN_FAULTS:
        assert any(r.startswith(f"check {name}: ") for r in reasons), (name, reasons)
    assert "check clock: seg01.test.lan is 7.0 min ahead of the DC (Kerberos allows 5 min: tickets will be refused; " \
           "fix NTP)" in reasons
    # What the issue saw: d on 4a right after its failure, then 5a skipped. Settled is not complete.
    assert main(["mark", "b", "4a", "--done"]) == 1
    assert "4a@EAS01: not marked done, the verification disagrees" in capsys.readouterr().err
    assert main(["mark", "b", "4a", "--done", "--force", "--note", "the AD team removes OLDSVC's SPN tonight"]) == 0
    assert main(["mark", "b", "5a", "--skip", "--note", "the GPO team grants it on Monday"]) == 0
    data = status_json(capsys, "b")
    assert data["progress"] == {"settled": 11, "total": 11} and data["complete"] is False
    assert any(r.startswith("4a@EAS01: the last verify disagrees: http/mail-int.test.lan resolves to EAS01$")
               for r in data["reasons"]), data["reasons"]
    assert "5a: skipped: the GPO team grants it on Monday" in data["notes"]
    assert main(["status", "b"]) == 0
    text = capsys.readouterr().out
    assert "progress: 11/11 settled · NOT COMPLETE" in text and "last verify MISMATCH" in text
    # The same answer in the change record's headline.
    book = Runbook.open(sessions_dir / "b.yaml", CATALOGUE, ports_factory(Options()), drive=False)
    md = report.render(book, "md")
    assert md.startswith(f"# Change record: b\n\n**NOT COMPLETE ({len(data['reasons'])} open)**:\n")
    assert all(f"- {reason}" in md for reason in data["reasons"] if "|" not in reason)


def test_a_check_fault_stays_open_until_that_check_passes(sessions_dir: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--scenario", "broken", "--init", "b"]) == 0
    assert main(["check", "b"]) == 1
    run_what_can_run("b")
    assert main(["check", "b", "providers"]) == 0  # 6a and 6b turned Windows authentication on
    data = status_json(capsys, "b")
    assert not any(r.startswith("check providers:") for r in data["reasons"])
    assert any(n.startswith("check providers: warning: eas01.test.lan") and "lacks NTLM" in n for n in data["notes"])
    assert any(r.startswith("check clock:") for r in data["reasons"])  # not run again: still open


def test_open_check_findings_reads_old_and_new_journal_entries() -> None:
    entries = [
        {"action": "check", "outcome": "faults: clock, spn", "details": {"checks": ["clock", "spn", "scep"]}},
        {"action": "check", "outcome": "faults: scep", "details": {
            "checks": ["scep"], "faults": {"scep": ["FAULT: scep.server_url must end with /"]}, "warnings": {}}},
        {"action": "check", "outcome": "ok", "details": {"checks": ["spn"], "faults": {}, "warnings": {}}},
    ]
    faults, warnings = open_check_findings(entries)
    assert faults == {"clock": [], "scep": ["scep.server_url must end with /"]} and warnings == {}


def test_a_complete_change_says_so_everywhere(sessions_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--scenario", "tmg-eas", "--init", "c"]) == 0
    assert main(["mark", "c", "1", "--done", "--note", "listener made"]) == 0
    assert main(["mark", "c", "2", "--done"]) == 0
    for step in ("3a", "4a", "5a", "6a"):
        assert main(["run", "c", step, "--yes", "--allow-restart"]) == 0
    data = status_json(capsys, "c")
    assert (data["complete"], data["reasons"], data["notes"]) == (True, [], [])
    assert main(["status", "c"]) == 0 and "11/11 settled · COMPLETE" in capsys.readouterr().out


def test_mark_done_verifies_and_refuses_a_mismatch_without_force(sessions_dir: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--scenario", "tmg-eas", "--init", "m"]) == 0
    assert main(["mark", "m", "3a", "--done"]) == 1  # nothing was done to 3a: its verification disagrees
    err = capsys.readouterr().err
    assert "3a: not marked done, the verification disagrees:\n  [MISMATCH] TMG01$" in err
    assert "--force --note REASON" in err
    assert store.load(sessions_dir / "m.yaml").record("3a").state == State.PENDING
    assert main(["mark", "m", "3a", "--done", "--force"]) == 2
    assert "--note: --force needs a reason" in capsys.readouterr().err
    assert main(["mark", "m", "3a", "--skip", "--force", "--note", "x"]) == 2
    assert main(["mark", "m", "3a", "--done", "--force", "--note", "set in ADUC, replication pending"]) == 0
    assert "3a: manual-done despite the verification mismatch" in capsys.readouterr().out
    journal = [json.loads(line) for line in store.journal_path(sessions_dir / "m.yaml").read_text().splitlines()]
    refused = [e for e in journal if e["action"] == "mark_refused"]
    forced = [e for e in journal if e["action"] == "mark_done"][-1]
    assert len(refused) == 1 and refused[0]["details"]["mismatches"]
    assert forced["note"] == "set in ADUC, replication pending" and forced["details"]["forced"] == forced["note"]
    assert forced["details"]["mismatches"] == refused[0]["details"]["mismatches"]


def test_skip_needs_a_reason(sessions_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--scenario", "tmg-eas", "--init", "s"]) == 0
    assert main(["mark", "s", "5a", "--skip"]) == 2
    assert "--note: skipping 5a needs a reason" in capsys.readouterr().err
    assert main(["mark", "s", "5a", "--skip", "--note", "  "]) == 2
    assert store.load(sessions_dir / "s.yaml").record("5a").state == State.PENDING


def unreachable_hosts(factory):
    """The lab's ports, with every Windows host unreachable from the jump host (as TMG often is)."""
    def make(path, session, params):
        ports = factory(path, session, params)

        def refuse():
            raise HostError("tmg01.test.lan", "cannot connect to WinRM (connection refused)")
        ports.open_hosts = refuse
        return ports
    return make


def test_a_verification_that_cannot_run_records_done_unverified_with_the_reason(sessions_dir: Path,
                                                                                capsys) -> None:
    assert main(["demo", "--scenario", "tmg-eas", "--init", "u"]) == 0
    path = sessions_dir / "u.yaml"
    book = Runbook.open(path, CATALOGUE, unreachable_hosts(ports_factory(Options())), drive=True)
    try:
        said = book.mark("1", "done", "made in the console")
        record = book.record("1")
        assert said == "1: manual-done, not verified: tmg01.test.lan: cannot connect to WinRM (connection refused)"
        assert record.state == State.MANUAL_DONE and record.verified is not None
        assert (record.verified["ok"], record.verified["unverified"]) == (
            None, "tmg01.test.lan: cannot connect to WinRM (connection refused)")
        done = completion(book)
        assert "1: done by hand, not verified: tmg01.test.lan: cannot connect to WinRM (connection refused)" \
            in done.notes
        assert not any(reason.startswith("1:") for reason in done.reasons)
        assert "[m] 1           manual-done    TMG web listener: SSL client certificate authentication — not " \
               "verified: tmg01.test.lan: cannot connect" in status_text(book)
    finally:
        book.close()
    entries = [json.loads(line) for line in store.journal_path(path).read_text().splitlines()]
    assert [(e["action"], e["outcome"]) for e in entries[-2:]] == [("mark_done", "pending → manual-done"),
                                                                   ("verify", "not verified")]
    assert main(["verify", "u", "1"]) == 0  # reachable again: a verification replaces the unverified record
    assert store.load(path).record("1").verified["ok"] is True


def test_a_done_step_whose_verify_later_disagrees_is_not_complete(sessions_dir: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from runbook.lab.lab import Lab, lab_file

    assert main(["demo", "--scenario", "tmg-eas", "--init", "d"]) == 0
    assert main(["mark", "d", "1", "--done"]) == 0 and main(["mark", "d", "2", "--done"]) == 0
    for step in ("3a", "4a", "5a", "6a"):
        assert main(["run", "d", step, "--yes", "--allow-restart"]) == 0
    assert status_json(capsys, "d")["complete"] is True
    outside = Lab.load(lab_file(sessions_dir / "d.yaml"))
    outside.directory.accounts["tmg01$"].delegate_to.clear()
    outside.save()
    assert main(["verify", "d"]) == 1
    data = status_json(capsys, "d")
    assert data["complete"] is False and data["reasons"][0].startswith("3a: the last verify disagrees:")

"""What the chain review asked of single steps, on the rehearsal lab: the protocol-transition warning, who runs the
SEG before 3b/4b write, the farm's alternate service account, and the add-seg clean-up (recorded and undoable)."""
from __future__ import annotations

from pathlib import Path

import pytest

from runbook.errors import Refused
from runbook.flow.engine import Runbook
from runbook.lab import lab
from steps import CATALOGUE


def demo_book(folder: Path, scenario: str, **knobs) -> Runbook:
    path = lab.create_demo(folder / f"{scenario}.yaml", scenario, CATALOGUE, **knobs)
    return Runbook.open(path, CATALOGUE, lab.lab_ports_factory, drive=True)


def edit_lab(book: Runbook, change) -> None:
    """Change the simulated hosts behind an open session (what an outside admin would have done)."""
    state_file = book.path.with_name(book.session.lab["state_file"])
    world = lab.Lab.load(state_file)
    change(world)
    world.save()


def test_protocol_transition_warns_about_services_already_delegated(sessions_dir: Path) -> None:
    book = demo_book(sessions_dir, "tmg-seg-eas")
    try:
        lines = book.plan("3a").lines()
    finally:
        book.close()
    assert any(line.startswith("WARNING: protocol transition is account-wide: TMG01$ will also be able to obtain "
                               "tickets as any user for cifs/files01.test.lan") for line in lines), lines


def test_a_seg_pool_on_a_domain_account_moves_3b_and_4b_and_is_refused_with_the_instruction(
        sessions_dir: Path) -> None:
    book = demo_book(sessions_dir, "tmg-seg-eas")
    try:
        edit_lab(book, lambda world: world.sim_hosts.find("seg01.test.lan").iis.set_app_pool(
            "SecureEmailGateway", "SpecificUser", "TEST\\segsvc", "S-1-5-21-1-2-3-1130"))
        for key in ("3b@SEG01", "4b@SEG01"):
            with pytest.raises(Refused, match="runs as the domain account TEST.segsvc, so Kerberos tickets for the "
                                              "SEG are issued to segsvc, not SEG01\\$"):
                book.plan(key)
        notes = book.plan("5b@SEG01").notes
        assert any("belong on TEST\\segsvc, not on SEG01$" in note for note in notes), notes
    finally:
        book.close()


def test_network_service_pool_acts_as_the_computer_account(sessions_dir: Path) -> None:
    book = demo_book(sessions_dir, "tmg-seg-eas")
    try:
        notes = book.plan("3b@SEG01").notes
    finally:
        book.close()
    assert "app pool SecureEmailGateway on seg01.test.lan runs as NetworkService, which acts on the network as " \
           "SEG01$" in notes


def test_the_alias_account_verify_reads_every_exchange_servers_asa_credential(sessions_dir: Path) -> None:
    book = demo_book(sessions_dir, "tmg-seg-eas")
    try:
        edit_lab(book, lambda world: world.sim_hosts.find("eas02.test.lan").exchange.set_alternate_service_account())
        result = book.verify("4a@EASASA")
    finally:
        book.close()
    asa = {f.what: f.ok for f in result.findings if "alternate service account" in f.what}
    assert asa == {"EAS01 holds the alternate service account credential of EASASA": True,
                   "EAS02 holds the alternate service account credential of EASASA": False}


def test_add_seg_clean_up_removes_only_the_old_eas_delegation_and_undoes(sessions_dir: Path) -> None:
    book = demo_book(sessions_dir, "add-seg")
    yes = lambda question, lines: True  # noqa: E731
    try:
        for key in ("3b@SEG01", "4a@EAS01", "4b@SEG01", "5b@SEG01", "6a@EAS01", "6b@SEG01", "3a"):
            book.run(key, confirm=yes)
        with pytest.raises(Refused, match="7 waits for 2 \\(pending\\)"):
            book.run("7", confirm=yes)
        book.mark("2", "done", "cut over in the TMG console")
        plan = book.plan("7")
        assert plan.lines() == ["TMG01$ msDS-AllowedToDelegateTo: - http/eas01.test.lan, - http/eas01",
                                "kept (other services): http/seg01.test.lan, http/seg01"]
        book.run("7", confirm=yes)
        assert book.verify("7").ok
        book.undo("7", confirm=yes)
        assert not book.verify("7").ok  # the old delegation is back, exactly
    finally:
        book.close()

"""`runbook demo --init NAME --params FILE`: a rehearsal lab for the operator's own change, farms included.

The lab must hold every computer, host and service account the params name, with the guide's prerequisites,
so that the whole change runs on it in dependency order and `verify` then finds everything in place.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from runbook.backends import Options, ports_factory
from runbook.cli import main
from runbook.flow.engine import Runbook
from runbook.flow.states import SETTLED
from runbook.record import store
from steps import CATALOGUE
from tests.test_cli_e2e import runbook


def farm_params(*, topology: str = "tmg-seg-eas", eas: int = 12, seg: int = 4, tmg: int = 1) -> dict:
    members = [{"computer": f"TMG{n:02d}", "host": f"tmg{n:02d}.test.lan"} for n in range(1, tmg + 1)]
    params = {
        "topology": topology, "domain": "test.lan",
        "directory": {"server": "dc1.test.lan", "tls": "ldaps", "bind_user": "Administrator@TEST.LAN"},
        "tmg": members if tmg > 1 else members[0],
        "eas": [{"computer": f"EAS{n:02d}", "host": f"eas{n:02d}.test.lan"} for n in range(1, eas + 1)],
        "internal_names": {"eas": "mail-int.test.lan"}, "service_accounts": {"eas": "EASASA"},
        "public_name": "mail.example.com", "listener": "EAS Listener", "listener_ip": "203.0.113.10",
        "listener_certificate": "CN=mail.example.com", "iis_site": "Default Web Site",
    }
    if seg:
        params["seg"] = [{"computer": f"SEG{n:02d}", "host": f"seg{n:02d}.test.lan"} for n in range(1, seg + 1)]
        if seg > 1:
            params["internal_names"]["seg"] = "seg-int.test.lan"
            params["service_accounts"]["seg"] = "SEGSVC"
    return params


def run_whole_change(path: Path) -> list[str]:
    """Every applicable step, each as soon as what it waits for is settled: the order they ran in."""
    book = Runbook.open(path, CATALOGUE, ports_factory(Options()), drive=True)
    order: list[str] = []
    try:
        while (instance := book.next_pending()) is not None:
            assert not book.waiting_for(instance), f"{instance.key} waits for {book.waiting_for(instance)}"
            for before in book.waiting_for(instance):
                assert book.record(before).state in SETTLED
            if instance.spec.automation is None:
                book.mark(instance.key, "done", "done in the TMG console")
            else:
                book.run(instance.key, confirm=lambda question, lines: True, allow_restart=True)
            order.append(instance.key)
    finally:
        book.close()
    return order


@pytest.mark.parametrize("shape,chain", [
    ({"eas": 12, "seg": 4}, None),
    ({"topology": "add-seg", "eas": 3, "seg": 2, "tmg": 2}, "seg"),
    ({"topology": "tmg-eas", "eas": 3, "seg": 0, "tmg": 2}, "eas"),
])
def test_a_lab_from_any_params_file_runs_the_whole_change(sessions_dir: Path, tmp_path: Path, shape: dict,
                                                         chain: str | None, capsys: pytest.CaptureFixture) -> None:
    params = tmp_path / "change.yaml"
    params.write_text(yaml.safe_dump(farm_params(**shape)), encoding="utf-8")
    extra = ["--cert-validation", chain] if chain else []
    assert main(["demo", "--init", "farm", "--params", str(params), *extra]) == 0
    assert f"a lab built from {params}" in capsys.readouterr().out
    path = store.session_path("farm")
    order = run_whole_change(path)
    book = Runbook.open(path, CATALOGUE, ports_factory(Options()), drive=False)
    applicable = [i.key for i in book.instances if not i.not_applicable]
    assert sorted(order) == sorted(applicable)
    assert book.session.lab["params_file"] == str(params.resolve())
    book.close()
    assert runbook(sessions_dir, "verify", "farm").returncode == 0
    assert main(["check", "farm", "device"]) == 0  # the simulated device syncs through the rehearsed chain


def test_the_farm_lab_holds_every_server_and_service_account(sessions_dir: Path, tmp_path: Path) -> None:
    params = tmp_path / "farm.yaml"
    params.write_text(yaml.safe_dump(farm_params(eas=12, seg=4)), encoding="utf-8")
    assert main(["demo", "--init", "farm", "--params", str(params)]) == 0
    state = yaml.safe_load((sessions_dir / "farm.lab.yaml").read_text(encoding="utf-8"))
    assert len(state["hosts"]) == 1 + 4 + 12
    accounts = {account["sam"] for account in state["directory"]["accounts"]}
    assert {"TMG01$", "EAS12$", "SEG04$", "EASASA", "SEGSVC"} <= accounts


def test_demo_params_bad_input_exits_2_before_anything_is_written(sessions_dir: Path, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture) -> None:
    params = tmp_path / "farm.yaml"
    params.write_text(yaml.safe_dump(farm_params(eas=2, seg=1)), encoding="utf-8")
    assert main(["demo", "--init", "x", "--params", str(params), "--scenario", "broken"]) == 2
    assert "--params" in capsys.readouterr().err
    assert main(["demo", "--init", "x", "--params", str(tmp_path / "missing.yaml")]) == 2
    assert "missing.yaml" in capsys.readouterr().err
    assert main(["demo", "--init", "x", "--params", str(params), "--cert-validation", "eas"]) == 2
    assert "cert_validation" in capsys.readouterr().err
    assert not list(sessions_dir.iterdir())

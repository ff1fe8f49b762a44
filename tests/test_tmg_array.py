"""A TMG array on the rehearsal lab: 3a and 5a run per member, with the web proxy identity the params name."""
from __future__ import annotations

from pathlib import Path

import yaml

from runbook.flow.engine import Runbook
from runbook.inputs.params import parse_params
from runbook.lab import lab
from runbook.record import store
from steps import CATALOGUE

SERVICE_SID = "S-1-5-21-1004336348-1177238915-682003330-1120"
PARAMS = {
    "topology": "tmg-eas", "domain": "test.lan",
    "directory": {"server": "dc1.test.lan", "tls": "ldaps", "bind_user": "Administrator@TEST.LAN"},
    "tmg": [{"computer": "TMG01", "host": "tmg01.test.lan", "service_identity": SERVICE_SID},
            {"computer": "TMG02", "host": "tmg02.test.lan"}],
    "eas": [{"computer": "EAS01", "host": "eas01.test.lan"}],
    "public_name": "mail.example.com", "listener": "EAS Listener",
}


def array_session(folder: Path) -> Path:
    params_file = folder / "array.params.yaml"
    params_file.write_text(yaml.safe_dump(PARAMS))
    state = lab.build_state("tmg-eas", parse_params(PARAMS))
    store.write_atomic(folder / "array.lab.yaml", store.dump_yaml(state))
    path = folder / "array.yaml"
    Runbook.create(path, str(params_file), CATALOGUE, lab.lab_ports_factory,
                   lab={"scenario": "tmg-eas", "state_file": "array.lab.yaml"})
    return path


def test_each_array_member_is_trusted_and_granted_the_named_identity(tmp_path: Path) -> None:
    path = array_session(tmp_path)
    book = Runbook.open(path, CATALOGUE, lab.lab_ports_factory, drive=True)
    try:
        keys = [i.key for i in book.instances if not i.not_applicable]
        assert keys == ["1", "2", "3a@TMG01", "3a@TMG02", "4a@EAS01", "5a@TMG01", "5a@TMG02", "6a@EAS01"]
        assert [i.key for i in book.resolve("3a")] == ["3a@TMG01", "3a@TMG02"]
        plan = book.plan("5a@TMG02")
        assert [c.describe() for c in plan.changes][0].startswith("tmg02.test.lan SeTcbPrivilege: ")
        assert plan.changes[0].values == [SERVICE_SID]  # the array's one identity, not Network Service
        for key in ("3a@TMG01", "3a@TMG02", "5a@TMG01", "5a@TMG02"):
            assert book.run(key, confirm=lambda question, lines: True).result == "done", key
    finally:
        book.close()
    state = yaml.safe_load((tmp_path / "array.lab.yaml").read_text())
    accounts = {account["sam"]: account for account in state["directory"]["accounts"]}
    for member in ("tmg01", "tmg02"):
        assert "http/eas01.test.lan" in accounts[f"{member.upper()}$"]["delegate_to"], member
        assert SERVICE_SID in state["hosts"][f"{member}.test.lan"]["rights"]["SeTcbPrivilege"], member


def test_members_that_disagree_on_the_identity_are_refused() -> None:
    import pytest

    from runbook.errors import ParamsError

    data = dict(PARAMS, tmg=[{"computer": "TMG01", "host": "tmg01.test.lan", "service_identity": "NETWORK SERVICE"},
                             {"computer": "TMG02", "host": "tmg02.test.lan", "service_identity": SERVICE_SID}])
    with pytest.raises(ParamsError, match="tmg: the array members name different service_identity values"):
        parse_params(data)
    with pytest.raises(ParamsError, match=r"tmg\.service_identity: 'admin' is not NETWORK SERVICE"):
        parse_params(dict(PARAMS, tmg={"computer": "TMG01", "host": "tmg01.test.lan", "service_identity": "admin"}))

"""A verify-all reads each Windows host once (runbook/flow/host_state.py), and falls back to each step's own reads."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from runbook.errors import HostError, RunbookError
from runbook.flow.changes import Verification
from runbook.flow.context import Ports
from runbook.flow.engine import Runbook
from runbook.flow.host_state import Gathered, merge
from runbook.flow.ports import HostReply
from runbook.lab import lab
from runbook.record.session import Session
from steps import CATALOGUE

Call = tuple[str, str, str, dict[str, Any]]  # (host, endpoint, function, parameters)


class Recording:
    """The lab's hosts, with every call written down; `refuse` names functions whose calls fail, as a host
    whose TMG COM object is broken would."""

    def __init__(self, hosts: Any, calls: list[Call], refuse: set[str]):
        self._hosts, self._calls, self._refuse = hosts, calls, refuse

    def shell(self, host: str) -> Any:
        hosts = self

        class Shell:
            def __init__(self) -> None:
                self.host = host

            def invoke(self, function: str, parameters: dict[str, Any] | None = None, *, endpoint: str = "default",
                       timeout: float = 60) -> HostReply:
                hosts._calls.append((host, endpoint, function, dict(parameters or {})))
                if function in hosts._refuse or (parameters or {}).get("TmgPolicy") and "TmgPolicy" in hosts._refuse:
                    raise HostError(host, f"{function}: the COM object is broken")
                return hosts._hosts.shell(host).invoke(function, parameters, endpoint=endpoint, timeout=timeout)

            def close(self) -> None:
                pass

        return Shell()

    def close(self) -> None:
        self._hosts.close()


class Farm:
    """A rehearsal session with every step of tmg-seg-eas done, whose hosts' calls are recorded."""

    def __init__(self, path: Path, calls: list[Call], refuse: set[str], factory: Any):
        self.path, self.calls, self.refuse, self.factory = path, calls, refuse, factory

    def verify_all(self) -> dict[str, Verification | RunbookError]:
        self.calls.clear()
        book = Runbook.open(self.path, CATALOGUE, self.factory, drive=True)
        try:
            return book.verify_many([i.key for i in book.instances if i.spec.role in ("tmg", "seg", "eas")
                                     and not i.not_applicable])
        finally:
            book.close()

    def default_calls(self, host: str) -> list[tuple[str, dict[str, Any]]]:
        return [(function, parameters) for who, endpoint, function, parameters in self.calls
                if who == host and endpoint == "default"]


@pytest.fixture
def farm(tmp_path: Path) -> Farm:
    calls: list[Call] = []
    refuse: set[str] = set()
    path = lab.create_demo(tmp_path / "farm.yaml", "tmg-seg-eas", CATALOGUE)

    def factory(session_path: Path, session: Session, params: Any) -> Ports:
        ports = lab.lab_ports_factory(session_path, session, params)
        open_hosts = ports.open_hosts
        ports.open_hosts = lambda: Recording(open_hosts(), calls, refuse)
        return ports

    book = Runbook.open(path, CATALOGUE, factory, drive=True)
    try:
        for key in [i.key for i in book.instances if not i.not_applicable]:
            if key in ("1", "2"):
                book.mark(key, "done", "console work done")
            else:
                book.run(key, confirm=lambda question, lines: True, allow_restart=True)
    finally:
        book.close()
    return Farm(path, calls, refuse, factory)


def test_each_host_is_read_once_for_all_its_steps(farm: Farm) -> None:
    results = farm.verify_all()
    assert set(results) == {"1", "2", "5a", "5b@SEG01", "6a@EAS01", "6a@EAS02", "6b@SEG01"}
    assert all(isinstance(result, Verification) and result.ok for result in results.values()), results
    tmg = farm.default_calls("tmg01.test.lan")
    assert [function for function, _ in tmg] == ["Get-CertAuthState"]  # 1, 2 (the policy) and 5a (rights)
    assert tmg[0][1]["TmgPolicy"] is True and tmg[0][1]["Right"] == ["SeTcbPrivilege", "SeImpersonatePrivilege"]
    assert [function for function, _ in farm.default_calls("seg01.test.lan")] == ["Get-CertAuthState"]  # 5b, 6b
    # EAS01 has one step (6a): its own call, beside its Exchange read, as before.
    for eas in ("eas01.test.lan", "eas02.test.lan"):
        assert [function for function, _ in farm.default_calls(eas)] == ["Get-CertAuthState"]


def test_when_the_one_read_fails_each_step_reads_and_fails_on_its_own(farm: Farm) -> None:
    farm.refuse.update({"Get-CertAuthTmgPolicy", "TmgPolicy"})
    results = farm.verify_all()
    for key in ("1", "2"):  # the steps whose read fails say so, as they did reading alone
        assert isinstance(results[key], HostError) and "the COM object is broken" in str(results[key]), key
    assert isinstance(results["5a"], Verification) and results["5a"].ok  # TMG's rights still read
    assert [function for function, _ in farm.default_calls("tmg01.test.lan")] == [
        "Get-CertAuthState", "Get-CertAuthTmgPolicy", "Get-CertAuthTmgPolicy", "Get-CertAuthState"]


def test_a_gathered_answer_serves_each_read_it_holds_and_no_other() -> None:
    asked = merge([{"Right": ["SeTcbPrivilege"], "TmgPolicy": True},
                   {"right": [], "Right": ["setcbprivilege", "SeImpersonatePrivilege"]},
                   {"WebConfig": [{"Location": "A", "Filter": "f", "Name": "n"}]}])
    assert asked["Right"] == ["SeTcbPrivilege", "SeImpersonatePrivilege"] and asked["TmgPolicy"] is True
    reply = {"Rights": [{"Right": "SeTcbPrivilege"}, {"Right": "SeImpersonatePrivilege"}], "Features": [],
             "AppPools": [], "WebConfig": [{"Value": 1}], "Providers": [], "TmgPolicy": {"Rules": []}}
    gathered = Gathered("tmg01.test.lan", asked, HostReply(output=[reply]))
    served = gathered.answer("Get-CertAuthState", {"Right": ["SEIMPERSONATEPRIVILEGE"],
                                                   "WebConfig": [{"location": "a", "filter": "F", "name": "N"}]})
    assert served is not None and served.first["Rights"] == [{"Right": "SeImpersonatePrivilege"}]
    assert served.first["WebConfig"] == [{"Value": 1}] and served.first["TmgPolicy"] is None
    policy = gathered.answer("Get-CertAuthTmgPolicy", {})
    assert policy is not None and policy.first == {"Rules": []}
    assert gathered.answer("Get-CertAuthState", {"Feature": ["Web-Client-Auth"]}) is None  # not read: the host
    assert gathered.answer("Get-CertAuthUserRight", {"Right": "SeTcbPrivilege"}) is None
    served.first["Rights"].clear()  # a step's copy, not the gathered answer
    again = gathered.answer("Get-CertAuthState", {"Right": ["SeTcbPrivilege"]})
    assert again is not None and again.first["Rights"] == [{"Right": "SeTcbPrivilege"}]

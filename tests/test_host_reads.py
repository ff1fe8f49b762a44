"""A step's reads in one call: what steps/host_reads sends, how it finds the answers, and how two reads overlap."""
from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from runbook.errors import HostError
from runbook.lab.windows_host import SimWindowsHost
from runbook.lab.windows_shells import SimHosts
from steps import host_reads as reads

VDIR = "Default Web Site/Microsoft-Server-ActiveSync"
ACCESS = "system.webServer/security/access"


def test_one_call_carries_only_what_was_asked_and_answers_are_found_case_insensitively():
    seg = SimWindowsHost("seg", "seg01.test.lan")
    seg.iis.add_location(VDIR)
    state = reads.read_state(SimHosts([seg]), "seg01.test.lan", rights=["SeTcbPrivilege", "SeImpersonatePrivilege"],
                             pools=["SecureEmailGateway"], settings=[(VDIR, ACCESS, "sslFlags")], providers=[VDIR])
    assert seg.calls == [("default", "Get-CertAuthState", {
        "Right": ["SeTcbPrivilege", "SeImpersonatePrivilege"], "AppPool": ["SecureEmailGateway"],
        "WebConfig": [{"Location": VDIR, "Filter": ACCESS, "Name": "sslFlags"}], "ProviderLocation": [VDIR]})]
    assert state.right("setcbprivilege")["Holders"] == []
    assert state.pool("securEemailgateway")["Sid"] == "S-1-5-20"
    assert state.setting(VDIR.upper(), ACCESS, "SSLFLAGS")["Value"] == "None"
    assert state.providers(VDIR.lower()) == ["Negotiate", "NTLM"]


def test_an_answer_that_does_not_match_the_question_names_the_host():
    class Shell:
        def invoke(self, function: str, parameters: dict) -> Any:
            return type("Reply", (), {"first": {"Rights": [], "Features": [], "AppPools": [], "WebConfig": [],
                                                "Providers": []}})

    hosts = type("Hosts", (), {"shell": lambda self, host: Shell()})()
    with pytest.raises(HostError, match="^eas01.test.lan: Get-CertAuthState: the answer does not match"):
        reads.read_state(hosts, "eas01.test.lan", rights=["SeTcbPrivilege"])


def test_two_reads_overlap_and_failures_count_in_the_order_given():
    both_running = threading.Barrier(2, timeout=5)

    def first() -> str:
        both_running.wait()  # only returns once the second read is running too
        return "first"

    def second() -> str:
        both_running.wait()
        return "second"

    answer, later = reads.at_once(first, second)
    assert (answer, later()) == ("first", "second")

    finished = []

    def slow_failure() -> str:
        time.sleep(0.2)
        finished.append("second")
        raise HostError("eas01.test.lan", "cannot connect: the Exchange endpoint")

    def host_failure() -> str:
        raise HostError("eas01.test.lan", "Get-CertAuthState: IIS location X does not exist on EAS01")

    with pytest.raises(HostError, match="IIS location X"):
        reads.at_once(host_failure, slow_failure)
    assert finished == ["second"], "the other read is waited for, never left running behind the step"
    answer, later = reads.at_once(lambda: "host", slow_failure)
    with pytest.raises(HostError, match="Exchange endpoint"):
        later()

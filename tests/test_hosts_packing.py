"""A pipeline packed once for every host (runbook/hosts/packing.py) sends the bytes pypsrp would have sent.

The end-to-end test runs the real pypsrp client against the loopback WinRM endpoint over real HTTP and checks
every pipeline's fragments against pypsrp's own Fragmenter and Serializer packing the same message; the key
tests build pipelines as the product does and as pypsrp's begin_invoke wraps them.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pypsrp.complex_objects import ApartmentState, HostInfo, Pipeline, RemoteStreamOptions
from pypsrp.messages import CreatePipeline
from pypsrp.powershell import Fragmenter, PowerShell, RunspacePool
from pypsrp.serializer import Serializer
from pypsrp.wsman import WSMan

from runbook.flow.settings import WinRMSettings
from runbook.hosts import packing, pipeline
from runbook.hosts.shell import WinRMHosts
from tests.test_winrm_endpoint import HOST, LAB_PS, NASTY, PASSWORD, USER, lab_dispatch
from testsupport.wsman.endpoint import WSManEndpoint

pytestmark = pytest.mark.timeout(30)

SCRIPT = "function Get-X {\n    param($Value)\n    $Value\n}\n" * 40


class CheckedFragmenter(packing.PackingFragmenter):
    """The product's fragmenter, checking each pipeline's fragments against pypsrp's own packing of it."""

    packs: list[str] = []

    def fragment(self, data: Any, rpid: str, pid: str | None = None, remaining_size: int | None = None,
                 ) -> list[bytes]:
        if not isinstance(data, CreatePipeline):
            return super().fragment(data, rpid, pid, remaining_size)
        reference = Fragmenter(self.max_size + 21, Serializer())
        reference.outgoing_counter = self.outgoing_counter
        expected = reference.fragment(data, rpid, pid, remaining_size)
        hit = packing.pipeline_key(data) in self._packed
        sent = super().fragment(data, rpid, pid, remaining_size)
        assert sent == expected
        assert self.outgoing_counter == reference.outgoing_counter
        self.packs.append("kept" if hit else "packed")
        return sent


def test_a_second_pool_sends_the_kept_pipeline_byte_for_byte(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             ) -> None:
    packs: list[str] = []
    monkeypatch.setattr(CheckedFragmenter, "packs", packs)
    monkeypatch.setattr(packing, "PackingFragmenter", CheckedFragmenter)
    (tmp_path / "Lab.ps1").write_text(LAB_PS, encoding="utf-8")
    with WSManEndpoint(lab_dispatch, host_name=HOST, auth="ntlm", username=USER, password=PASSWORD,
                       ps_dir=tmp_path) as endpoint:
        winrm = WinRMSettings(transport="http", auth="ntlm", user=USER, exchange_auth="ntlm")
        hosts = WinRMHosts(winrm, PASSWORD, timeout=10, addresses={HOST: endpoint.address}, ps_dir=tmp_path)
        try:
            for _ in range(2):  # a pool each time, as two hosts of a farm get: the function file goes each time
                assert hosts.shell(HOST).invoke("Get-LabEcho", NASTY).first["Parameters"] == NASTY
                hosts.shell(HOST).close()
            changed = dict(NASTY, Flag=True)
            assert hosts.shell(HOST).invoke("Get-LabEcho", changed).first["Parameters"] == changed
        finally:
            hosts.close()
        assert endpoint.calls[-3:] == [("Get-LabEcho", NASTY), ("Get-LabEcho", NASTY), ("Get-LabEcho", changed)]
    assert packs == ["packed", "kept", "packed"]


def create_pipeline(parameters: dict[str, Any], scripts: tuple[str, ...] = (SCRIPT,),
                    function: str = "Get-X") -> CreatePipeline:
    """The message pypsrp's begin_invoke sends for a pipeline the product builds."""
    pool = RunspacePool(WSMan("seg01.test.lan", ssl=False, auth="basic", username="u", password="p",
                              encryption="never"))
    pool.protocol_version = "2.3"  # what an opened pool has negotiated
    ps: PowerShell = pipeline.build(pool, function, parameters, scripts)
    return CreatePipeline(True, ApartmentState(value=pool.apartment_state),
                          RemoteStreamOptions(value=RemoteStreamOptions.ADD_INVOCATION_INFO), False,
                          HostInfo(host=None), Pipeline(is_nested=False, cmds=ps.commands, history=None,
                                                        redirect_err_to_out=False), False)


def test_the_same_pipeline_built_twice_has_one_key() -> None:
    first, second = create_pipeline({"Value": ["a", 1]}), create_pipeline({"Value": ["a", 1]})
    assert packing.pipeline_key(first) is not None
    assert packing.pipeline_key(first) == packing.pipeline_key(second)


@pytest.mark.parametrize("one, other", [
    ({"Value": True}, {"Value": 1}),
    ({"Value": 0.0}, {"Value": -0.0}),
    ({"Value": "a"}, {"Value": "b"}),
    ({"Value": 2**40}, {"Value": 2**40 + 1}),
    ({"A": 1, "B": 2}, {"B": 2, "A": 1}),
    ({"Value": {"x": 1}}, {"Value": {"x": "1"}}),
    ({"Value": None}, {}),
])
def test_pipelines_pypsrp_would_write_differently_never_share_a_key(one: dict[str, Any],
                                                                   other: dict[str, Any]) -> None:
    assert packing.pipeline_key(create_pipeline(one)) != packing.pipeline_key(create_pipeline(other))


def test_other_scripts_or_another_function_make_another_key() -> None:
    base = packing.pipeline_key(create_pipeline({}))
    assert packing.pipeline_key(create_pipeline({}, scripts=(SCRIPT + " ",))) != base
    assert packing.pipeline_key(create_pipeline({}, function="Get-Y")) != base


def test_a_value_the_key_cannot_describe_is_packed_afresh() -> None:
    assert packing.pipeline_key(create_pipeline({"Value": object()})) is None
    assert packing.pipeline_key(HostInfo(host=None)) is None  # not a pipeline


def test_the_kept_pipelines_are_bounded() -> None:
    packed: dict[Any, bytes] = {}
    fragmenter = packing.PackingFragmenter(Fragmenter(153600, Serializer()), packed)
    rpid, pid = "7b0a8a7c-65c5-4a86-9f2b-6e9f0c5bd0a1", "0f7d5a0e-3c0a-4a59-8d2f-8b5c6c2f3e11"
    for number in range(packing.KEPT + 1):
        fragmenter.fragment(create_pipeline({"Value": number}), rpid, pid)
    assert len(packed) == 1  # full at KEPT: emptied before the next one was kept

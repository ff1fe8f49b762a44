"""QuickReader (runbook/hosts/clixml_read.py) gives the objects pypsrp's own reader gives.

Two sources of CLIXML, neither mocked: every message a real pypsrp client receives from the loopback WinRM
endpoint (psrpcore's server side) over real HTTP, each stream exercised; and psrpcore's serializer writing
every kind of value a Windows host can send. Each message is read by pypsrp's `Serializer` and by
QuickReader, and the two results are compared attribute by attribute (nested complex objects excepted only
for `_xml`, the raw text pypsrp keeps on them and reads from top-level output objects alone).
"""
from __future__ import annotations

import datetime as dt
import decimal
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from queue import Queue
from typing import Any

import pytest
from psrpcore import types as ps
from pypsrp.complex_objects import ComplexObject, ObjectMeta
from pypsrp.serializer import Serializer

from runbook.errors import HostError
from runbook.flow.settings import WinRMSettings
from runbook.hosts import pipeline
from runbook.hosts.clixml_read import QuickReader, known_type
from runbook.hosts.shell import WinRMHosts
from tests.test_winrm_endpoint import HOST, LAB_PS, NASTY, PASSWORD, USER, lab_dispatch
from testsupport.wsman.endpoint import WSManEndpoint

pytestmark = pytest.mark.timeout(30)


def same(ours: Any, theirs: Any, top: bool = True, seen: set[tuple[int, int]] | None = None) -> None:
    """Assert two read results are the same objects, recursively (shared references compared once)."""
    seen = set() if seen is None else seen
    if (id(ours), id(theirs)) in seen:
        return
    seen.add((id(ours), id(theirs)))
    assert type(ours) is type(theirs), (ours, theirs)
    if isinstance(ours, ComplexObject):
        mine, pypsrps = dict(vars(ours)), dict(vars(theirs))
        if not top:
            assert mine.pop("_xml") is None
            pypsrps.pop("_xml")
        assert mine.keys() == pypsrps.keys()
        for name in mine:
            same(mine[name], pypsrps[name], False, seen)
    elif isinstance(ours, dict):
        assert list(ours) == list(theirs)
        for key in ours:
            same(ours[key], theirs[key], False, seen)
    elif isinstance(ours, (list, tuple)):
        assert len(ours) == len(theirs)
        for mine_item, their_item in zip(ours, theirs, strict=True):
            same(mine_item, their_item, False, seen)
    elif isinstance(ours, Queue):
        same(list(ours.queue), list(theirs.queue), False, seen)
    elif isinstance(ours, ObjectMeta):  # the property tables on every complex object
        same(vars(ours), vars(theirs), False, seen)
    else:
        assert ours == theirs, (ours, theirs)


def read_both(text: str) -> tuple[Any, Any]:
    return QuickReader().deserialize(text), Serializer().deserialize(text)


# ------------------------------------------------------------------ what a real client receives
class RecordingSerializer(pipeline.ScriptSerializer):
    """The product's serializer, keeping every whole message it reads (pypsrp reads each from its text)."""

    received: list[str] = []

    def deserialize(self, element: Any, metadata: Any = None, clear: bool = True) -> Any:
        if isinstance(element, str):
            self.received.append(element)
        return super().deserialize(element, metadata, clear)


@pytest.fixture
def recording(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    received: list[str] = []
    monkeypatch.setattr(RecordingSerializer, "received", received)
    monkeypatch.setattr(pipeline, "ScriptSerializer", RecordingSerializer)
    yield received


@pytest.mark.parametrize("auth", ["basic", "ntlm"])
def test_every_message_a_real_client_receives_reads_the_same(auth: str, tmp_path: Path,
                                                             recording: list[str]) -> None:
    (tmp_path / "Lab.ps1").write_text(LAB_PS, encoding="utf-8")
    items = [{"Name": "SecureEmailGateway", "processModel": {"identityType": "NetworkService", "userName": ""}},
             {"UAC": 0x1001000, "Huge": 2**40, "Flag": True, "Missing": None, "Text": "ä'\"$;\n_x0041_"},
             "a plain string", 7, True, None, [1, [2, ["three"]]]]
    with WSManEndpoint(lab_dispatch, host_name=HOST, auth=auth, username=USER, password=PASSWORD,
                       ps_dir=tmp_path) as endpoint:
        winrm = WinRMSettings(transport="http", auth=auth, user=USER, exchange_auth=auth)
        hosts = WinRMHosts(winrm, PASSWORD, insecure=auth == "basic", timeout=10,
                           addresses={HOST: endpoint.address}, ps_dir=tmp_path)
        try:
            shell = hosts.shell(HOST)
            assert shell.invoke("Get-LabEcho", NASTY).first["Parameters"] == NASTY
            assert shell.invoke("Get-LabObjects", {"Items": items}).output == items
            assert shell.invoke("Write-LabWarning").warnings == ["a GPO owns SeTcbPrivilege", "second warning"]
            with pytest.raises(HostError, match="Access is denied"):
                shell.invoke("Write-LabError", {"Message": "Access is denied to IIS:\\AppPools"})
            with pytest.raises(HostError, match="granted by a GPO"):
                shell.invoke("Invoke-LabThrow", {"Message": "the right was granted by a GPO"})
            assert shell.invoke("Set-ActiveSyncVirtualDirectory", {"Identity": "EAS01\\x"},
                                endpoint="exchange").first["Endpoint"] == "exchange"
        finally:
            hosts.close()

    kinds = {ET.fromstring(text).tag for text in recording}
    assert len(recording) >= 20 and "Obj" in kinds
    for text in recording:
        same(*read_both(text))


# ------------------------------------------------------------------ every kind of value a host sends
VALUES: dict[str, Any] = {
    "text": "plain",
    "empty text": "",
    "spaced text": "  leading and trailing  ",
    "escaped text": "line1\r\nline2\ttab _x0041_ _X0041_ \x00\x1f\x7f",
    "beyond the BMP": "mail \U0001f4e7 ok",
    "not quite an escape": "_x12_ _xZZZZ_ x_",
    "int": 42,
    "wide int": 2**40,
    "negative": -5,
    "bool": False,
    "none": None,
    "float": 1.5,
    "bytes": b"\x00\x01binary",
    "datetime": dt.datetime(2026, 12, 4, 9, 30, tzinfo=dt.timezone.utc),
    "guid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    "list": [1, "two", None, [3.5, False]],
    "table": {"Name": "x;y", "Nested": {"Deep": "$z", "List": ["a", "b"]}, "Count": 2},
    "char": ps.PSChar("c"),
    "int16": ps.PSInt16(-3),
    "uint64": ps.PSUInt64(2**63),
    "byte": ps.PSByte(255),
    "sbyte": ps.PSSByte(-1),
    "single": ps.PSSingle(0.25),
    "decimal": ps.PSDecimal(decimal.Decimal("1.10")),
    "duration": ps.PSDuration(days=1, seconds=5),
    "version": ps.PSVersion("5.1.17763.1"),
    "uri": ps.PSUri("https://seg01.test.lan/Microsoft-Server-ActiveSync?x=1&y=2"),
    "script block": ps.PSScriptBlock("Get-Item 'IIS:\\Sites'\n"),
    "xml": ps.PSXml("<a b='1'>c</a>"),
    "stack": ps.PSStack(["top", "bottom"]),
    "queue": ps.PSQueue(["first", "second"]),
    "generic list": ps.PSList([1, 2, 3]),
    "custom object": ps.PSCustomObject(Name="SEG01", Spns=["http/seg01", "http/seg01.test.lan"], Port=443,
                                       Nested=ps.PSCustomObject(Inner=True)),
    "same object twice": [ps.PSCustomObject(A=1)] * 2,
    "state": ps.PSInvocationState.Completed,
    "thread options": ps.PSThreadOptions.UseNewThread,
}


@pytest.mark.parametrize("name", list(VALUES))
def test_each_kind_of_value_reads_the_same(name: str) -> None:
    text = ET.tostring(ps.serialize(VALUES[name], None), encoding="unicode")
    same(*read_both(text))


TYPED = {
    "string array": "System.String[]",
    "generic list of strings": "System.Collections.Generic.List`1[[System.String, mscorlib, Version=4.0.0.0]]",
    "collection": "System.Collections.ObjectModel.Collection`1[[System.Int32, mscorlib]]",
    "read-only collection": "System.Collections.ObjectModel.ReadOnlyCollection`1[[System.Object, mscorlib]]",
    "deserialized array": "Deserialized.System.Object[]",
    "unknown type": "Microsoft.Exchange.Data.Directory.SystemConfiguration.ADVirtualDirectory",
}


@pytest.mark.parametrize("name", list(TYPED))
def test_lists_typed_by_name_and_unknown_types_read_the_same(name: str) -> None:
    text = (f'<Obj RefId="0"><TN RefId="0"><T>{TYPED[name]}</T><T>System.Object</T></TN>'
            '<LST><S>a_x000A_b</S><I32>2</I32><Obj RefId="1"><TNRef RefId="0" /><LST><S>c</S></LST></Obj>'
            '<Ref RefId="1" /></LST></Obj>')
    same(*read_both(text))


def test_a_dictionary_typed_by_name_reads_the_same() -> None:
    text = ('<Obj RefId="0"><TN RefId="0"><T>System.Collections.Generic.Dictionary`2[[System.String, mscorlib],'
            '[System.Int32, mscorlib]]</T><T>System.Object</T></TN><DCT><En><S N="Key">a</S><I32 N="Value">1</I32>'
            '</En><En><S N="Key">b</S><Nil N="Value" /></En></DCT></Obj>')
    same(*read_both(text))


def test_an_unknown_type_comes_back_as_its_xml_as_in_pypsrp() -> None:
    alone = '<Obj RefId="0"><TN RefId="0"><T>Vendor.Thing</T></TN><ToString>t</ToString></Obj>'
    assert QuickReader().deserialize(alone) == Serializer().deserialize(alone) == alone
    text = ('<Obj RefId="0"><MS><Obj N="Inner" RefId="1"><TN RefId="1"><T>Vendor.Thing</T></TN><ToString>t'
            '</ToString></Obj></MS></Obj>')
    ours, theirs = read_both(text)
    same(ours, theirs)
    assert ours.extended_properties["Inner"].startswith("<Obj")


def test_malformed_text_comes_back_as_it_is() -> None:
    assert QuickReader().deserialize("<Obj") == Serializer().deserialize("<Obj") == "<Obj"


def test_each_known_type_gets_a_fresh_metadata_object() -> None:
    first, second = known_type("System.Array"), known_type("System.Array")
    assert first is not None and second is not None and first is not second
    assert first.list_value_meta is not second.list_value_meta  # pypsrp sets its tag while reading
    assert known_type("Vendor.Thing") is None

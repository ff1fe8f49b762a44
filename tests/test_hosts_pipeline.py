"""What a pipeline sends: the function files escaped once for every host's pools, exactly as pypsrp escapes them."""
from __future__ import annotations

from pypsrp.serializer import Serializer

from runbook.hosts.pipeline import ScriptSerializer
from runbook.hosts.shell import PS_DIR


def test_a_function_file_is_escaped_once_for_every_pool_as_pypsrp_escapes_it() -> None:
    text = (PS_DIR / "CertAuthHost.ps1").read_text(encoding="utf-8")
    escaped: dict[str, str] = {}
    first, second = ScriptSerializer(escaped), ScriptSerializer(escaped)
    assert first._serialize_string(text) == Serializer()._serialize_string(text)
    assert list(escaped) == [text]
    escaped[text] = "escaped before"
    assert second._serialize_string(text) == "escaped before"  # a second host's pool reuses it


def test_a_parameter_value_is_escaped_as_usual_and_not_kept() -> None:
    escaped: dict[str, str] = {}
    value = "Default Web Site/_x0041_\nline"
    assert ScriptSerializer(escaped)._serialize_string(value) == Serializer()._serialize_string(value)
    assert escaped == {}

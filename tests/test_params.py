"""Params validation: every error names the field, the value and what is expected."""
from __future__ import annotations

from pathlib import Path

import pytest

from runbook.errors import ParamsError
from runbook.inputs.params import load_params_file


def problems(path: Path) -> list[str]:
    with pytest.raises(ParamsError) as caught:
        load_params_file(path)
    return caught.value.problems


def test_valid_file_loads_with_defaults(write_params) -> None:
    params = load_params_file(write_params())
    assert params.directory.port == 636 and params.directory.gc_port == 3269
    assert params.cert_validation == "tmg"
    assert [s.computer for s in params.eas] == ["EAS01", "EAS02"]
    assert params.data["directory"]["port"] == 636


def test_starttls_defaults(write_params) -> None:
    params = load_params_file(write_params(directory={"server": "dc1.test.lan", "tls": "starttls"}))
    assert (params.directory.port, params.directory.gc_port) == (389, 3268)


def test_bad_host_names_the_field_and_value(write_params) -> None:
    found = problems(write_params(eas=[{"computer": "EAS01", "host": "eas01.test.lan"},
                                       {"computer": "EAS02", "host": "eas 02"}]))
    assert any(p.startswith("eas[1].host: 'eas 02' is not a DNS name") for p in found), found


def test_bad_iis_site(write_params) -> None:
    found = problems(write_params(iis_site="Default/Web"))
    assert any(p.startswith("iis_site: 'Default/Web' is not an IIS site name") for p in found), found


def test_unknown_topology_and_missing_keys_reported_together(write_params) -> None:
    found = problems(write_params(topology="tmg-only", public_name=None, listener=None))
    assert any(p.startswith("topology: 'tmg-only'") and "tmg-eas | tmg-seg-eas | add-seg" in p for p in found)
    assert any(p.startswith("public_name: missing") for p in found)
    assert any(p.startswith("listener: missing") for p in found)


def test_farm_alias_without_service_account_explains_why(write_params) -> None:
    found = problems(write_params(service_accounts=None))
    assert any(p.startswith("service_accounts.eas: missing") and "one account" in p for p in found), found


def test_single_server_keeps_alias_without_service_account(write_params) -> None:
    params = load_params_file(write_params(service_accounts=None, eas=[{"computer": "EAS01",
                                                                        "host": "eas01.test.lan"}]))
    assert params.internal_names["eas"] == "mail-int.test.lan"


def test_wildcard_alias_refused(write_params) -> None:
    found = problems(write_params(internal_names={"eas": "*.test.lan"}))
    assert any(p.startswith("internal_names.eas") and "wildcard" in p for p in found), found


def test_tmg_eas_with_seg_list_refused(write_params) -> None:
    found = problems(write_params(topology="tmg-eas"))
    assert any(p.startswith("seg: topology tmg-eas has no SEG") for p in found), found


def test_password_in_params_refused(write_params) -> None:
    found = problems(write_params(directory={"server": "dc1.test.lan", "password": "hunter2"}))
    assert any(p.startswith("directory.password: passwords are never stored") for p in found), found
    assert not any("hunter2" in p for p in found)


def test_relative_ca_file_resolves_against_params_folder(write_params, tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    params = load_params_file(write_params(directory={"server": "dc1.test.lan", "ca_file": "ca.pem"}))
    assert params.directory.ca_file == str(tmp_path / "ca.pem")


def test_missing_ca_file_named(write_params) -> None:
    found = problems(write_params(directory={"server": "dc1.test.lan", "ca_file": "nope.pem"}))
    assert any(p.startswith("directory.ca_file:") and "does not exist" in p for p in found), found


def test_unknown_key_and_bad_port(write_params) -> None:
    found = problems(write_params(colour="blue", directory={"server": "dc1.test.lan", "port": 70000}))
    assert any(p.startswith("colour: unknown key") for p in found)
    assert any(p.startswith("directory.port: 70000 is not a TCP port") for p in found)


def test_computer_name_too_long(write_params) -> None:
    found = problems(write_params(tmg={"computer": "TMG-GATEWAY-PRIMARY", "host": "tmg01.test.lan"}))
    assert any(p.startswith("tmg.computer: 'TMG-GATEWAY-PRIMARY' is not a computer (NetBIOS) name") for p in found)


def test_duplicate_servers_refused(write_params) -> None:
    found = problems(write_params(seg=[{"computer": "EAS01", "host": "eas01.test.lan"}]))
    assert any("used by two servers" in p for p in found), found


def test_not_yaml(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("topology: [unclosed\n")
    assert "not valid YAML" in problems(path)[0]


def test_hostile_files_are_refused_naming_the_file_and_why(tmp_path: Path, write_params) -> None:
    """A FIFO would hang, UTF-16 would be a traceback, aliases expand 1 KB into gigabytes, a typo would be ignored."""
    import os

    cases = {}
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    cases[fifo] = "not a regular file"
    utf16 = tmp_path / "utf16.yaml"
    utf16.write_bytes(write_params().read_text().encode("utf-16"))
    cases[utf16] = "not UTF-8 text"
    laughs = tmp_path / "laughs.yaml"
    laughs.write_text('a: &a ["x","x","x"]\nb: [*a,*a,*a]\n')
    cases[laughs] = "line 2: YAML aliases (*a) are not accepted"
    cases[write_params("typo.yaml", winrm={"tranport": "https"})] = "winrm.tranport: unknown key"
    cases[write_params("scep.yaml", scep={"server_url": "https://ca/x/", "challenge_url": "https://ca/y/",
                                          "extra": 1})] = "scep.extra: unknown key"
    for path, expected in cases.items():
        with pytest.raises(ParamsError) as caught:
            load_params_file(path)
        assert expected in str(caught.value), (path, str(caught.value))


@pytest.mark.parametrize("value,why", [("EAS\x1b[2JListener", "control character U+001B"),
                                       ("EAS\u202eLISTENER", "bidi character U+202E"),
                                       ("EAS\u200bListener", "invisible or bidi character U+200B"),
                                       ("x" * 3000, "too long")])
def test_text_that_would_trick_another_operators_terminal_is_refused(write_params, value: str, why: str) -> None:
    with pytest.raises(ParamsError) as caught:
        load_params_file(write_params(listener=value))
    assert "listener: " in str(caught.value) and why in str(caught.value)

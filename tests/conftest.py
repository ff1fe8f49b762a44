"""Shared fixtures. Real-server fixtures (Samba DC, loopback WinRM) live in their own plugin modules."""
from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest
import yaml

from runbook.inputs.params import Params, parse_params

pytest_plugins = ["tests.samba_fixtures", "tests.winrm_fixtures"]

BASE_PARAMS = {
    "topology": "tmg-seg-eas",
    "domain": "test.lan",
    "directory": {"server": "dc1.test.lan", "tls": "ldaps", "bind_user": "Administrator@TEST.LAN"},
    "tmg": {"computer": "TMG01", "host": "tmg01.test.lan"},
    "seg": [{"computer": "SEG01", "host": "seg01.test.lan"}],
    "eas": [{"computer": "EAS01", "host": "eas01.test.lan"}, {"computer": "EAS02", "host": "eas02.test.lan"}],
    "internal_names": {"eas": "mail-int.test.lan"},
    "service_accounts": {"eas": "EASASA"},
    "public_name": "mail.example.com",
    "listener": "EAS Listener",
    "iis_site": "Default Web Site",
}


def params_for(topology: str = "tmg-seg-eas", validation: str = "tmg") -> Params:
    """BASE_PARAMS for one topology and certificate validation, parsed (tmg-eas has no SEG)."""
    data = copy.deepcopy(BASE_PARAMS)
    data.update(topology=topology, cert_validation=validation)
    if topology == "tmg-eas":
        data.pop("seg")
    return parse_params(data)


@pytest.fixture
def sessions_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "sessions"
    folder.mkdir()
    monkeypatch.setenv("RUNBOOK_SESSIONS_DIR", str(folder))
    monkeypatch.setenv("RUNBOOK_OPERATOR", "alice@jump1")
    return folder


@pytest.fixture
def write_params(tmp_path: Path):
    """Write a params file from BASE_PARAMS with overrides (a key set to None is removed)."""
    def write(name: str = "params.yaml", **overrides: object) -> Path:
        data = {key: value for key, value in BASE_PARAMS.items()}
        for key, value in overrides.items():
            if value is None:
                data.pop(key, None)
            else:
                data[key] = value
        path = tmp_path / name
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path
    return write


@pytest.fixture(autouse=True)
def _quiet_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RUNBOOK_LDAP_PASSWORD", "RUNBOOK_WINRM_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    os.environ.pop("NO_COLOR", None)

"""The device proof against a real TLS server no one here wrote: Debian's nginx on loopback.

One server block per behaviour: the ActiveSync answer behind `ssl_verify_client on`, and each failure mode the
diagnosis names (no client certificate asked, a server certificate from another CA, a client CA the server does
not trust, 401 Negotiate, 403, IIS's 403.7 behind a hop that does not ask, 502, a hop that never answers).
Skipped with the reason when nginx is absent, unless RUNBOOK_REQUIRE_SAMBA=1 (CI): then they fail.
"""
from __future__ import annotations

import copy
import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from runbook.device.diagnosis import diagnose
from runbook.device.probe import HttpsDeviceProbe
from runbook.errors import BadInput
from runbook.inputs.params import Params
from tests.conftest import BASE_PARAMS, params_for
from tests.device_pki import Authority, Issued, make_ca
from tests.nginx_server import Block, Nginx, activesync_answer, free_port, nginx_binary
from tests.pair_helpers import runbook

REQUIRE_ENV = "RUNBOOK_REQUIRE_SAMBA"  # CI's "the real servers must run" switch
PUBLIC = "mail.example.com"


@dataclass(frozen=True)
class Pki:
    ca: Authority
    other: Authority
    user: Issued
    server: Issued
    foreign_server: Issued


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("device-pki")
    ca, other = make_ca(folder, "Contoso Enterprise CA"), make_ca(folder, "Fabrikam Public CA")
    return Pki(ca, other, ca.user(folder), ca.server(folder, PUBLIC), other.server(folder, PUBLIC, "foreign"))


@pytest.fixture(scope="module")
def nginx(pki: Pki, tmp_path_factory: pytest.TempPathFactory):
    if not nginx_binary():
        reason = "nginx is not installed: apt-get install -y --no-install-recommends nginx-light"
        if os.environ.get(REQUIRE_ENV, "") not in ("", "0"):
            pytest.fail(f"{REQUIRE_ENV} is set but {reason}", pytrace=False)
        pytest.skip(reason)
    silent = socket.socket()  # accepts nothing: the kernel queues the connection, nobody ever answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    srv, ca = pki.server, pki.ca.file
    blocks = [
        Block("activesync", srv.cert, srv.key, ca, "on", activesync_answer()),
        Block("no-client-cert", srv.cert, srv.key, None, "off", activesync_answer()),
        Block("wrong-ca", pki.foreign_server.cert, pki.foreign_server.key, ca, "on", activesync_answer()),
        Block("untrusted-client", srv.cert, srv.key, pki.other.file, "on", activesync_answer()),
        Block("negotiate", srv.cert, srv.key, ca, "on",
              "      add_header WWW-Authenticate Negotiate always;\n      return 401;\n"),
        Block("forbidden", srv.cert, srv.key, ca, "on", "      return 403;\n"),
        Block("iis-403-7", srv.cert, srv.key, None, "off",
              '      return 403 "HTTP Error 403.7 - Forbidden: client certificate required";\n'),
        Block("bad-gateway", srv.cert, srv.key, ca, "on", f"      proxy_pass http://127.0.0.1:{free_port()};\n"),
        Block("hangs", srv.cert, srv.key, ca, "on", f"      proxy_pass http://127.0.0.1:{silent.getsockname()[1]};\n"
                                                     "      proxy_read_timeout 60s;\n"),
    ]
    server = Nginx(tmp_path_factory.mktemp("nginx"), blocks)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        silent.close()


@pytest.fixture(scope="module")
def device(pki: Pki) -> HttpsDeviceProbe:
    return HttpsDeviceProbe(str(pki.user.cert), str(pki.user.key), str(pki.ca.file), timeout=1.0)


def prove(device: HttpsDeviceProbe, nginx: Nginx, block: str, params: Params | None = None):
    url = nginx.url(block)
    return diagnose(device.probe(url, True), device.probe(url, False), params or params_for(),
                    user="alice@test.lan", issuer="CN=Contoso Enterprise CA")


def test_activesync_with_certificate_and_refused_without(device: HttpsDeviceProbe, nginx: Nginx) -> None:
    with_cert = device.probe(nginx.url("activesync"), True)
    assert with_cert.status == 200 and with_cert.protocol_versions == ["14.1", "16.0", "16.1"]
    assert with_cert.certificate_requested is True
    assert "FolderSync" in with_cert.header("MS-ASProtocolCommands")[0]
    without = device.probe(nginx.url("activesync"), False)
    assert without.status == 400 and "No required SSL certificate was sent" in without.body_excerpt
    verdict = prove(device, nginx, "activesync")
    assert verdict.ok, verdict.faults
    assert verdict.summary.startswith("a device with alice@test.lan's certificate syncs: 200, ActiveSync 14.1, "
                                      "16.0, 16.1")


@pytest.mark.parametrize("topology, validation, step", [("tmg-eas", "tmg", "1"), ("tmg-eas", "eas", "6a"),
                                                        ("tmg-seg-eas", "seg", "6b")])
def test_no_client_certificate_asked(device: HttpsDeviceProbe, nginx: Nginx, topology: str, validation: str,
                                     step: str) -> None:
    assert device.probe(nginx.url("no-client-cert"), True).certificate_requested is False
    verdict = prove(device, nginx, "no-client-cert", params_for(topology, validation))
    assert not verdict.ok and verdict.first_steps[0] == step
    assert "the request succeeds without a certificate (200 OK)" in verdict.faults[0].text


def test_server_certificate_from_another_ca(device: HttpsDeviceProbe, nginx: Nginx) -> None:
    verdict = prove(device, nginx, "wrong-ca")
    text = verdict.faults[0].text
    assert "TLS trust" in text and "issued by CN=Fabrikam Public CA" in text
    assert "the device trusts CN=Contoso Enterprise CA" in text and verdict.first_steps == ("1",)


def test_client_certificate_not_trusted_by_the_server(device: HttpsDeviceProbe, nginx: Nginx) -> None:
    verdict = prove(device, nginx, "untrusted-client", params_for("tmg-seg-eas", "seg"))
    assert "does not trust the user's certificate (issued by CN=Contoso Enterprise CA" in verdict.faults[0].text
    assert verdict.first_steps == ("6b",)


def test_negotiate_401_is_a_broken_delegation(device: HttpsDeviceProbe, nginx: Nginx) -> None:
    verdict = prove(device, nginx, "negotiate", params_for("tmg-eas", "tmg"))
    fault = verdict.faults[0]
    assert "Kerberos constrained delegation broke before EAS" in fault.text
    assert fault.steps == ("3a", "4a", "5a", "6a") and "runbook check SESSION kcd --role tmg" in fault.text


def test_forbidden(device: HttpsDeviceProbe, nginx: Nginx) -> None:
    verdict = prove(device, nginx, "forbidden")
    assert verdict.faults[0].text.startswith("403 Forbidden: the certificate was accepted but the user is refused")


def test_certificate_required_behind_a_hop_that_does_not_ask(device: HttpsDeviceProbe, nginx: Nginx) -> None:
    verdict = prove(device, nginx, "iis-403-7", params_for("tmg-eas", "eas"))
    texts = [f.text for f in verdict.faults]
    assert "is not asking for a client certificate" in texts[0] and verdict.first_steps == ("6a", "2")
    assert any("certificate required (like IIS 403.7) although the device sent one" in t for t in texts)


def test_bad_gateway(device: HttpsDeviceProbe, nginx: Nginx) -> None:
    verdict = prove(device, nginx, "bad-gateway")
    assert verdict.faults[0].text.startswith("502 Bad Gateway from TMG") and verdict.first_steps[0] == "2"


@pytest.mark.slow  # waits for the 1 s time-out
def test_a_hop_that_never_answers(device: HttpsDeviceProbe, nginx: Nginx) -> None:
    result = device.probe(nginx.url("hangs"), True)
    assert result.failure == "timeout" and 900 <= result.elapsed_ms < 5000
    assert "no answer from 127.0.0.1" in prove(device, nginx, "hangs").faults[0].text


def test_connection_refused(device: HttpsDeviceProbe) -> None:
    url = f"https://127.0.0.1:{free_port()}/Microsoft-Server-ActiveSync"
    verdict = diagnose(device.probe(url, True), device.probe(url, False), params_for())
    assert "nothing accepts connections on 127.0.0.1" in verdict.faults[0].text
    assert verdict.first_steps == ("1", "2")


def test_bad_files_name_the_option(pki: Pki, tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="^--key: cannot read"):
        HttpsDeviceProbe(str(pki.user.cert), str(tmp_path / "missing.key"))
    with pytest.raises(BadInput, match="^--key: .* does not belong to the certificate"):
        HttpsDeviceProbe(str(pki.user.cert), str(pki.server.key))
    with pytest.raises(BadInput, match="^--ca: .* is not a PEM CA bundle"):
        HttpsDeviceProbe(str(pki.user.cert), str(pki.user.key), str(pki.user.key))


# --------------------------------------------------------------------------- the command, as an operator runs it


@pytest.fixture
def session(sessions_dir: Path, tmp_path: Path) -> str:
    data = copy.deepcopy(BASE_PARAMS)
    data["cert_validation"] = "tmg"
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(data))
    created = runbook(sessions_dir, "new", "night1", "--params", str(params))
    assert created.returncode == 0, created.stderr
    return "night1"


@pytest.mark.slow  # five runs of the command, ≈0.5 s each
def test_cli_pass_fail_and_bad_input(sessions_dir: Path, session: str, pki: Pki, nginx: Nginx) -> None:
    files = ["--cert", str(pki.user.cert), "--key", str(pki.user.key), "--ca", str(pki.ca.file)]
    passed = runbook(sessions_dir, "check", session, "device", *files, "--url", nginx.url("activesync"))
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "ActiveSync 14.1, 16.0, 16.1" in passed.stdout and "client certificate asked" in passed.stdout
    failed = runbook(sessions_dir, "check", session, "device", *files, "--url", nginx.url("no-client-cert"))
    assert failed.returncode == 1 and "[step 1]" in failed.stdout and "faults found in: device" in failed.stderr
    missing = runbook(sessions_dir, "check", session, "device", *files[:2], "--key", "/nonexistent/alice.key")
    assert missing.returncode == 2 and "--key: cannot read /nonexistent/alice.key" in missing.stderr
    no_cert = runbook(sessions_dir, "check", session, "device")
    assert no_cert.returncode == 2 and "--cert: missing" in no_cert.stderr
    bad_url = runbook(sessions_dir, "check", session, "device", *files, "--url", "http://mail.example.com/")
    assert bad_url.returncode == 2 and "--url: 'http://mail.example.com/' is not an https:// URL" in bad_url.stderr

    journal = (sessions_dir / "night1.journal.jsonl").read_text()
    entries = [json.loads(line) for line in journal.splitlines()]
    checks = [e for e in entries if e["action"] == "check"]
    assert [e["outcome"] for e in checks] == ["ok", "faults: device"]
    assert checks[0]["details"]["versions"] == ["14.1", "16.0", "16.1"]
    assert checks[1]["details"]["steps"] == ["1"]
    key_text = pki.user.key.read_text()
    body = "".join(line for line in key_text.splitlines() if not line.startswith("-----"))
    assert body[:40] not in journal and "PRIVATE KEY" not in journal
    assert runbook(sessions_dir, "journal", session, "--check").returncode == 0

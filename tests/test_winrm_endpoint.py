"""The real pypsrp client (through WinRMShell) against the loopback WinRM endpoint, over real HTTP.

Every test here talks HTTP on 127.0.0.1 to `testsupport.wsman.endpoint.WSManEndpoint`, which
wraps psrpcore's server side; nothing in the client is mocked.
"""
from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import threading
import time
from pathlib import Path

import pytest
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan

from runbook.errors import BadInput, HostError
from runbook.flow.ports import HostReply
from runbook.flow.settings import WinRMSettings
from runbook.hosts.shell import PS_DIR, WinRMHosts
from testsupport.wsman.endpoint import WSManEndpoint, start_endpoints

pytestmark = pytest.mark.timeout(30)

HOST = "eas01.test.lan"
USER = "lab\\operator"
PASSWORD = "Lab-Passw0rd!"

# Values an operator could type that would break (or inject into) PowerShell if formatted into script text.
NASTY = {
    "Quote": "it's \"quoted\"",
    "Dollar": "$env:ComputerName $(Remove-Item C:\\ -Recurse)",
    "Semicolon": "a; Stop-Computer -Force",
    "Brackets": "Default Web Site/[x](y){z}<w>",
    "Newlines": "line1\nline2\r\nline3\ttab",
    "Backtick": "`n`$x @' here '@",
    "Unicode": "Zürich – 東京 ✓",
    "Number": 42,
    "Big": 10485760,
    "Flag": False,
    "List": ["http/eas01", "http/eas01.test.lan", "a'b"],
    "Table": {"Name": "x;y", "Nested": {"Deep": "$z"}},
}

LAB_PS = """function Get-LabEcho {
    param(
        [hashtable]$Parameters
    )
    $Parameters
}

function Start-LabSleep {
    param(
        [int]$Seconds
    )
    Start-Sleep -Seconds $Seconds
}
"""


def lab_dispatch(host: str, name: str, params: dict, endpoint: str) -> HostReply:
    """A tiny stand-in for the simulated Windows host: enough to exercise every stream."""
    if name in ("Get-LabEcho", "Set-ActiveSyncVirtualDirectory"):
        return HostReply(output=[{"Host": host, "Endpoint": endpoint, "Command": name, "Parameters": params}])
    if name == "Get-LabNothing":
        return HostReply(output=[])
    if name == "Get-LabObjects":
        return HostReply(output=list(params.get("Items", [])))
    if name == "Write-LabError":
        return HostReply(output=[{"Partial": True}], errors=[params.get("Message", "something failed")])
    if name == "Write-LabWarning":
        return HostReply(output=["done"], warnings=["a GPO owns SeTcbPrivilege", "second warning"])
    if name == "Invoke-LabThrow":
        raise RuntimeError(params.get("Message", "boom"))
    if name == "Invoke-LabHang":
        raise TimeoutError("the host does not answer")
    if name == "Start-LabSleep":
        time.sleep(float(params.get("Seconds", 1)))
        return HostReply(output=["slept"])
    raise RuntimeError(f"The term '{name}' is not recognized as the name of a cmdlet")


@pytest.fixture(scope="module")
def ps_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("ps")
    (folder / "Lab.ps1").write_text(LAB_PS, encoding="utf-8")
    (folder / "More.ps1").write_text("function Get-LabNothing {\n    $null\n}\n", encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def basic_endpoint(ps_dir: Path):
    with WSManEndpoint(lab_dispatch, host_name=HOST, auth="basic", username=USER, password=PASSWORD,
                       ps_dir=ps_dir) as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def ntlm_endpoint(ps_dir: Path):
    with WSManEndpoint(lab_dispatch, host_name=HOST, auth="ntlm", username=USER, password=PASSWORD,
                       ps_dir=ps_dir) as endpoint:
        yield endpoint


def make_hosts(endpoint: WSManEndpoint, ps_dir: Path | None, *, password: str = PASSWORD, timeout: float = 10,
               **settings) -> WinRMHosts:
    auth = endpoint.auth
    winrm = WinRMSettings(transport="http", auth=auth, user=USER, exchange_auth=auth, **settings)
    return WinRMHosts(winrm, password, insecure=auth == "basic", timeout=timeout,
                      addresses={endpoint.host_name: endpoint.address}, ps_dir=ps_dir)


@pytest.fixture
def basic_hosts(basic_endpoint: WSManEndpoint, ps_dir: Path):
    hosts = make_hosts(basic_endpoint, ps_dir)
    yield hosts
    hosts.close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---------------------------------------------------------------- round trips
def test_basic_parameters_arrive_intact_and_output_round_trips(basic_hosts: WinRMHosts, basic_endpoint):
    reply = basic_hosts.shell(HOST).invoke("Get-LabEcho", NASTY, timeout=10)

    assert basic_endpoint.calls[-1] == ("Get-LabEcho", NASTY)
    assert reply.output == [{"Host": HOST, "Endpoint": "default", "Command": "Get-LabEcho", "Parameters": NASTY}]
    assert reply.errors == [] and reply.warnings == []


def test_ntlm_with_message_encryption(ntlm_endpoint: WSManEndpoint, ps_dir: Path):
    hosts = make_hosts(ntlm_endpoint, ps_dir)
    try:
        reply = hosts.shell(HOST).invoke("Get-LabEcho", NASTY, timeout=10)
    finally:
        hosts.close()

    assert reply.first["Parameters"] == NASTY
    assert ntlm_endpoint.calls[-1] == ("Get-LabEcho", NASTY)
    # Every SOAP message went through NTLM sealing; none in clear text.
    assert ntlm_endpoint.soap_requests["encrypted"] > 0
    assert ntlm_endpoint.soap_requests["plain"] == 0


def test_output_objects_become_the_same_plain_values(basic_hosts: WinRMHosts):
    items = [
        {"Name": "SecureEmailGateway", "processModel": {"identityType": "NetworkService", "userName": ""}},
        {"Right": "SeTcbPrivilege", "Holders": ["*S-1-5-20", "*S-1-5-32-544"], "Count": 2, "Empty": []},
        {"UAC": 0x1001000, "Huge": 2**40, "Negative": -5, "Flag": True, "Missing": None, "Text": "ä'\"$;\n"},
        "a plain string",
        7,
        True,
        None,
    ]
    reply = basic_hosts.shell(HOST).invoke("Get-LabObjects", {"Items": items})

    assert reply.output == items


def test_warnings_are_returned(basic_hosts: WinRMHosts):
    reply = basic_hosts.shell(HOST).invoke("Write-LabWarning")

    assert reply.output == ["done"]
    assert reply.warnings == ["a GPO owns SeTcbPrivilege", "second warning"]


# ---------------------------------------------------------------- failures
def test_non_terminating_error_is_a_host_error(basic_hosts: WinRMHosts):
    shell = basic_hosts.shell(HOST)
    with pytest.raises(HostError) as info:
        shell.invoke("Write-LabError", {"Message": "Access is denied to IIS:\\AppPools"})

    assert info.value.host == HOST
    assert "Access is denied to IIS:\\AppPools" in str(info.value)
    assert str(info.value).startswith(f"{HOST}: ")
    # The pool survives a PowerShell error.
    assert shell.invoke("Get-LabEcho").first["Command"] == "Get-LabEcho"


def test_exception_in_the_host_is_a_terminating_host_error(basic_hosts: WinRMHosts):
    with pytest.raises(HostError, match="the right was granted by a GPO"):
        basic_hosts.shell(HOST).invoke("Invoke-LabThrow", {"Message": "the right was granted by a GPO"})


@pytest.mark.parametrize("auth", ["basic", "ntlm"])
def test_wrong_password_is_a_401_host_error(auth: str, basic_endpoint, ntlm_endpoint, ps_dir):
    endpoint = basic_endpoint if auth == "basic" else ntlm_endpoint
    hosts = make_hosts(endpoint, ps_dir, password="not-the-password")
    try:
        with pytest.raises(HostError) as info:
            hosts.shell(HOST).invoke("Get-LabEcho")
    finally:
        hosts.close()

    message = str(info.value)
    assert message.startswith(f"{HOST}: WinRM refused the credentials for lab\\operator (HTTP 401")
    assert "not-the-password" not in message


def test_host_down_is_a_host_error():
    winrm = WinRMSettings(transport="http", auth="basic", user=USER, exchange_auth="basic")
    hosts = WinRMHosts(winrm, PASSWORD, insecure=True, timeout=5,
                       addresses={"eas02.test.lan": ("127.0.0.1", closed_port())})
    started = time.monotonic()
    with pytest.raises(HostError) as info:
        hosts.shell("eas02.test.lan").invoke("Get-LabEcho")

    assert time.monotonic() - started < 3
    assert info.value.host == "eas02.test.lan"
    assert "connection refused" in str(info.value)


def test_unknown_host_name_is_a_host_error():
    winrm = WinRMSettings(transport="http", auth="basic", user=USER, exchange_auth="basic")
    hosts = WinRMHosts(winrm, PASSWORD, insecure=True, timeout=5)
    with pytest.raises(HostError, match="cannot resolve the host name nohost.invalid"):
        hosts.shell("nohost.invalid").invoke("Get-LabEcho")


def test_host_going_down_mid_session(ps_dir: Path):
    endpoint = WSManEndpoint(lab_dispatch, host_name="tmg01.test.lan", ps_dir=ps_dir)
    endpoint.start()
    hosts = make_hosts(endpoint, ps_dir)
    shell = hosts.shell("tmg01.test.lan")
    assert shell.invoke("Get-LabEcho").first["Host"] == "tmg01.test.lan"
    endpoint.stop()

    with pytest.raises(HostError) as info:
        shell.invoke("Get-LabEcho", timeout=3)
    assert info.value.host == "tmg01.test.lan"
    hosts.close()


def test_slow_command_times_out_and_is_stopped(basic_hosts: WinRMHosts, basic_endpoint):
    shell = basic_hosts.shell(HOST)
    shell.invoke("Get-LabEcho")  # pool open and functions loaded before timing
    opened = len(basic_endpoint.shells_opened)

    started = time.monotonic()
    with pytest.raises(HostError, match=r"Start-LabSleep did not finish within 0.5 s"):
        shell.invoke("Start-LabSleep", {"Seconds": 3}, timeout=0.5)
    elapsed = time.monotonic() - started

    assert 0.4 < elapsed < 1.5
    # The command was stopped on the host; the same pool answers the next call at once.
    started = time.monotonic()
    assert shell.invoke("Get-LabEcho", {"After": "timeout"}).first["Parameters"] == {"After": "timeout"}
    assert time.monotonic() - started < 0.5
    assert len(basic_endpoint.shells_opened) == opened


def test_hanging_host_times_out(basic_hosts: WinRMHosts):
    shell = basic_hosts.shell(HOST)
    started = time.monotonic()
    with pytest.raises(HostError, match="Invoke-LabHang did not finish within 0.3 s"):
        shell.invoke("Invoke-LabHang", timeout=0.3)
    assert time.monotonic() - started < 1.2
    assert shell.invoke("Get-LabEcho").first["Command"] == "Get-LabEcho"


# ---------------------------------------------------------------- pools and scripts
def test_one_pool_per_host_reused_and_functions_loaded_once(basic_endpoint: WSManEndpoint, ps_dir: Path):
    hosts = make_hosts(basic_endpoint, ps_dir)
    before_shells = len(basic_endpoint.shells_opened)
    before_scripts = len(basic_endpoint.scripts_seen)
    try:
        shell = hosts.shell(HOST)
        assert hosts.shell(HOST.upper()) is shell
        for i in range(5):
            shell.invoke("Get-LabEcho", {"Index": i})
        # Only the file defining the function went with the first call; a call of another file's function
        # adds that file alone, once.
        assert basic_endpoint.scripts_seen[before_scripts:] == [(ps_dir / "Lab.ps1").read_text(encoding="utf-8")]
        for _ in range(2):
            shell.invoke("Get-LabNothing")
    finally:
        hosts.close()

    assert shell.pools_opened == 1
    assert basic_endpoint.shells_opened[before_shells:] == ["Microsoft.PowerShell"]
    loaded = basic_endpoint.scripts_seen[before_scripts:]
    assert sorted(loaded) == sorted(p.read_text(encoding="utf-8") for p in ps_dir.glob("*.ps1"))


def test_a_finished_command_is_freed_by_the_next_call_or_by_closing_the_pool(basic_endpoint: WSManEndpoint,
                                                                             ps_dir: Path):
    """A call's own round trips are Command and Receive; its Signal (free the command) goes ahead of the pool's
    next Command, and the pool's Delete frees the last one (a verify-all reads each host once)."""
    hosts = make_hosts(basic_endpoint, ps_dir)
    before = basic_endpoint.soap_requests["plain"]
    try:
        shell = hosts.shell(HOST)
        shell.invoke("Get-LabEcho", {"A": 1})
        assert basic_endpoint.soap_requests["plain"] - before == 4  # Create, Receive (opened), Command, Receive
        shell.invoke("Get-LabEcho", {"A": 2})
        assert basic_endpoint.soap_requests["plain"] - before == 7  # Signal (the first command), Command, Receive
    finally:
        hosts.close()
    assert basic_endpoint.soap_requests["plain"] - before == 8  # Delete: the shell and its last command


def test_the_first_call_carries_the_function_files_and_its_own_error_keeps_them(basic_endpoint: WSManEndpoint,
                                                                               ps_dir: Path):
    hosts = make_hosts(basic_endpoint, ps_dir)
    before_shells, before_scripts = len(basic_endpoint.shells_opened), len(basic_endpoint.scripts_seen)
    shipped = sorted(p.read_text(encoding="utf-8") for p in ps_dir.glob("*.ps1"))
    try:
        shell = hosts.shell(HOST)
        with pytest.raises(HostError, match=f"^{HOST}: Invoke-LabThrow: not today$"):
            shell.invoke("Invoke-LabThrow", {"Message": "not today"})  # the function's error, not the files'
        # The files were sent with that call, then once more alone on a new pool, which is kept: they loaded.
        assert sorted(basic_endpoint.scripts_seen[before_scripts:]) == sorted(shipped * 2)
        assert shell.pools_opened == 2
        assert shell.invoke("Get-LabEcho", {"A": 1}).first["Parameters"] == {"A": 1}
        assert shell.invoke("Get-LabEcho", {"A": 2}).first["Parameters"] == {"A": 2}
        assert sorted(basic_endpoint.scripts_seen[before_scripts:]) == sorted(shipped * 2)
        assert shell.pools_opened == 2
    finally:
        hosts.close()
    assert basic_endpoint.shells_opened[before_shells:] == ["Microsoft.PowerShell"] * 2


def test_no_parameter_value_ever_reaches_script_text(basic_endpoint: WSManEndpoint, ps_dir: Path):
    hosts = make_hosts(basic_endpoint, ps_dir)
    marker = "MARKER-7f3a'; Remove-Item C:\\Windows"
    try:
        hosts.shell(HOST).invoke("Get-LabEcho", {"Value": marker, "Other": NASTY["Dollar"]})
        hosts.shell(HOST).invoke("Set-ActiveSyncVirtualDirectory", {"Identity": marker}, endpoint="exchange")
    finally:
        hosts.close()

    assert basic_endpoint.scripts_seen, "the function files were loaded"
    for script in basic_endpoint.scripts_seen:
        assert "MARKER-7f3a" not in script
        assert NASTY["Dollar"] not in script
    shipped = {p.read_text(encoding="utf-8") for p in ps_dir.glob("*.ps1")}
    assert set(basic_endpoint.scripts_seen) <= shipped


def test_exchange_endpoint_is_a_second_pool_without_scripts(basic_endpoint: WSManEndpoint, ps_dir: Path):
    hosts = make_hosts(basic_endpoint, ps_dir)
    before_shells = len(basic_endpoint.shells_opened)
    before_scripts = len(basic_endpoint.scripts_seen)
    try:
        shell = hosts.shell(HOST)
        params = {"Identity": "EAS01\\Microsoft-Server-ActiveSync (Default Web Site)",
                  "ClientCertAuth": "Required", "BasicAuthEnabled": False}
        reply = shell.invoke("Set-ActiveSyncVirtualDirectory", params, endpoint="exchange")
        shell.invoke("Set-ActiveSyncVirtualDirectory", params, endpoint="exchange")
    finally:
        hosts.close()

    assert reply.first == {"Host": HOST, "Endpoint": "exchange", "Command": "Set-ActiveSyncVirtualDirectory",
                           "Parameters": params}
    assert basic_endpoint.shells_opened[before_shells:] == ["Microsoft.Exchange"]
    assert basic_endpoint.scripts_seen[before_scripts:] == []  # restricted language: no scripts sent
    assert shell.pools_opened == 1


def _raw_pool(endpoint: WSManEndpoint, configuration: str = "Microsoft.PowerShell") -> RunspacePool:
    wsman = WSMan("127.0.0.1", port=endpoint.port, ssl=False, auth="basic", encryption="never",
                  username=USER, password=PASSWORD, operation_timeout=5, read_timeout=10)
    return RunspacePool(wsman, configuration_name=configuration)


def test_endpoint_refuses_script_text_that_was_not_shipped(basic_endpoint: WSManEndpoint):
    injected = "Get-LabEcho -Value 'x'; Remove-Item C:\\ -Recurse"
    with _raw_pool(basic_endpoint) as pool:
        ps = PowerShell(pool)
        ps.add_script(injected)
        ps.invoke()
    assert ps.had_errors
    assert "not one of the function files shipped" in str(ps.streams.error[0])
    assert basic_endpoint.scripts_seen[-1] == injected
    assert ("Remove-Item", {}) not in basic_endpoint.calls


def test_exchange_endpoint_refuses_scripts_even_shipped_ones(basic_endpoint: WSManEndpoint, ps_dir: Path):
    with _raw_pool(basic_endpoint, "Microsoft.Exchange") as pool:
        ps = PowerShell(pool)
        ps.add_script((ps_dir / "Lab.ps1").read_text(encoding="utf-8"))
        ps.invoke()
    assert ps.had_errors
    assert "no-language mode" in str(ps.streams.error[0])


def test_endpoint_with_the_shipped_ps_folder(basic_endpoint: WSManEndpoint):
    """Against the package's own runbook/hosts/ps folder (whatever it holds): the client loads it and calls work."""
    endpoint = WSManEndpoint(lab_dispatch, host_name="seg01.test.lan")
    with endpoint:
        hosts = make_hosts(endpoint, None)
        try:
            assert hosts.shell("seg01.test.lan").invoke("Get-LabEcho", {"A": 1}).first["Parameters"] == {"A": 1}
        finally:
            hosts.close()
    # Client and endpoint read the same folder (compared with what the endpoint read at start, so an edit
    # of runbook/hosts/ps while the suite runs cannot make this flaky).
    assert len(endpoint.allowed_scripts) == len(list(PS_DIR.glob("*.ps1")))
    assert set(endpoint.scripts_seen) == endpoint.allowed_scripts
    assert len(endpoint.scripts_seen) == len(endpoint.allowed_scripts)


# ---------------------------------------------------------------- parallel hosts
def test_two_hosts_in_parallel_take_about_the_time_of_one(ps_dir: Path):
    names = ["eas01.test.lan", "eas02.test.lan"]
    endpoints = start_endpoints(lab_dispatch, names, latency_ms=50, ps_dir=ps_dir)
    winrm = WinRMSettings(transport="http", auth="basic", user=USER, exchange_auth="basic")
    hosts = WinRMHosts(winrm, PASSWORD, insecure=True, timeout=10, ps_dir=ps_dir,
                       addresses={name: ep.address for name, ep in endpoints.items()})
    try:
        hosts.map(names, lambda shell: shell.invoke("Get-LabEcho"))  # open both pools first

        started = time.monotonic()
        hosts.shell(names[0]).invoke("Get-LabEcho")
        one = time.monotonic() - started

        started = time.monotonic()
        results = hosts.map(names, lambda shell: shell.invoke("Get-LabEcho").first["Host"])
        both = time.monotonic() - started
    finally:
        hosts.close()
        for endpoint in endpoints.values():
            endpoint.stop()

    assert results == {name: name for name in names}
    assert one >= 0.1  # several 50 ms round trips per call
    assert both < one * 1.5 + 0.05, (one, both)


def test_map_keeps_order_per_host_and_reports_failures(basic_endpoint: WSManEndpoint, ps_dir: Path):
    hosts = make_hosts(basic_endpoint, ps_dir)
    seen: list[int] = []
    lock = threading.Lock()

    def steps(shell):
        for i in range(3):
            shell.invoke("Get-LabEcho", {"Step": i})
            with lock:
                seen.append(i)
        return "ok"

    try:
        assert hosts.map([HOST, HOST], steps) == {HOST: "ok"}  # duplicates run once
        assert seen == [0, 1, 2]
        failing = hosts.map([HOST], lambda shell: shell.invoke("Invoke-LabThrow"), return_exceptions=True)
        assert isinstance(failing[HOST], HostError)
        with pytest.raises(HostError):
            hosts.map([HOST], lambda shell: shell.invoke("Invoke-LabThrow"))
    finally:
        hosts.close()


# ---------------------------------------------------------------- transport policy
def test_basic_over_plain_http_needs_insecure():
    winrm = WinRMSettings(transport="http", auth="basic", user=USER)
    with pytest.raises(BadInput, match="clear text.*--insecure"):
        WinRMHosts(winrm, PASSWORD)


def test_exchange_basic_over_http_needs_insecure_too():
    winrm = WinRMSettings(transport="https", auth="basic", user=USER, exchange_auth="basic")
    with pytest.raises(BadInput, match="exchange endpoint"):
        WinRMHosts(winrm, PASSWORD)


def test_encrypting_auth_over_http_and_https_defaults_are_accepted():
    WinRMHosts(WinRMSettings(transport="http", auth="ntlm", user=USER), PASSWORD)
    WinRMHosts(WinRMSettings(transport="https", auth="basic", user=USER), PASSWORD)
    hosts = WinRMHosts(WinRMSettings(), None)  # https + negotiate + Kerberos ticket cache
    target = hosts.shell("eas01.test.lan")._targets["default"]
    assert (target.ssl, target.port, target.cert_validation) == (True, 5986, True)
    exchange = hosts.shell("eas01.test.lan")._targets["exchange"]
    assert (exchange.url, exchange.auth, exchange.configuration_name) == (
        "http://eas01.test.lan:80/PowerShell", "kerberos", "Microsoft.Exchange")


def test_basic_and_ntlm_need_a_password():
    with pytest.raises(BadInput, match="needs a user name and a password"):
        WinRMHosts(WinRMSettings(transport="http", auth="ntlm", user=USER), None)


def test_password_never_shown(basic_hosts: WinRMHosts):
    shell = basic_hosts.shell(HOST)
    shell.invoke("Get-LabEcho")
    for text in (repr(basic_hosts), repr(shell), str(vars(shell)), str(vars(basic_hosts))):
        assert PASSWORD not in text


# ---------------------------------------------------------------- HTTPS with a validated certificate
@pytest.fixture(scope="module")
def test_pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    folder = tmp_path_factory.mktemp("pki")
    now = dt.datetime.now(dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test Lab Root CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
          .not_valid_after(now + dt.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName(HOST), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = {"ca": folder / "ca.pem", "cert": folder / "server.pem", "key": folder / "server.key"}
    paths["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths["cert"].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths["key"].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    return paths


@pytest.fixture(scope="module")
def https_endpoint(test_pki, ps_dir: Path):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(test_pki["cert"], test_pki["key"])
    with WSManEndpoint(lab_dispatch, host_name=HOST, auth="basic", ps_dir=ps_dir, tls=context) as endpoint:
        yield endpoint


def test_https_with_a_validated_certificate(https_endpoint: WSManEndpoint, test_pki, ps_dir: Path):
    winrm = WinRMSettings(transport="https", auth="basic", user=USER, ca_file=str(test_pki["ca"]),
                          exchange_auth="kerberos")
    hosts = WinRMHosts(winrm, PASSWORD, timeout=10, ps_dir=ps_dir, addresses={HOST: https_endpoint.address})
    try:
        reply = hosts.shell(HOST).invoke("Get-LabEcho", {"Over": "TLS"})
    finally:
        hosts.close()
    assert reply.first["Parameters"] == {"Over": "TLS"}
    assert https_endpoint.url.startswith("https://")


def test_https_with_an_unknown_ca_is_refused(https_endpoint: WSManEndpoint, ps_dir: Path, monkeypatch):
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    winrm = WinRMSettings(transport="https", auth="basic", user=USER, exchange_auth="kerberos")
    hosts = WinRMHosts(winrm, PASSWORD, timeout=10, ps_dir=ps_dir, addresses={HOST: https_endpoint.address})
    with pytest.raises(HostError, match="TLS certificate of https://127.0.0.1:.* could not be validated"):
        hosts.shell(HOST).invoke("Get-LabEcho")
    assert not https_endpoint.calls or https_endpoint.calls[-1] != ("Get-LabEcho", {})


@pytest.mark.parametrize("auth", ["basic", "ntlm"])
def test_winrm_service_restart_reopens_the_pool_once(auth: str, ps_dir: Path):
    """The host's WinRM service restarts between two steps: the next call opens a new pool and runs once."""
    first = WSManEndpoint(lab_dispatch, host_name=HOST, auth=auth, ps_dir=ps_dir)
    first.start()
    port = first.port
    hosts = make_hosts(first, ps_dir)
    try:
        shell = hosts.shell(HOST)
        shell.invoke("Get-LabEcho", {"Before": 1})
        first.stop()
        second = WSManEndpoint(lab_dispatch, host_name=HOST, auth=auth, ps_dir=ps_dir, port=port)
        with second:
            reply = shell.invoke("Get-LabEcho", {"After": 2})
        assert reply.first["Parameters"] == {"After": 2}
        assert second.calls == [("Get-LabEcho", {"After": 2})]  # ran exactly once
        assert shell.pools_opened == 2
    finally:
        hosts.close()


def test_refused_function_files_fail_the_call_and_are_retried_next_time(basic_endpoint, tmp_path: Path):
    other = tmp_path / "ps"
    other.mkdir()
    (other / "Changed.ps1").write_text("function Get-LabEcho {\n    'not the shipped text'\n}\n", encoding="utf-8")
    hosts = make_hosts(basic_endpoint, other)
    calls_before = len(basic_endpoint.calls)
    try:
        shell = hosts.shell(HOST)
        for expected_pools in (2, 4):  # the call with the files first, then the files alone to name the cause
            with pytest.raises(HostError, match="loading the runbook/hosts/ps functions: script text refused"):
                shell.invoke("Get-LabEcho")
            assert shell.pools_opened == expected_pools  # a pool without the functions is never kept
    finally:
        hosts.close()
    assert len(basic_endpoint.calls) == calls_before  # the command itself never ran

"""A loopback WinRM (WS-Management) endpoint that the real pypsrp client can talk to.

The PowerShell Remoting Protocol itself is psrpcore's server side (`ServerRunspacePool`,
`ServerPipeline`); this module adds what Windows' WinRM service adds around it: the
WS-Man SOAP envelopes (Create, Command, Send, Receive, Signal, Delete) over HTTP, Basic or
NTLM authentication (NTLM with WinRM message encryption, through pyspnego's acceptor), and
a fault for every situation a real client has to survive (operation timeout, unknown shell,
refused credentials).

What a pipeline does is not decided here: every cmdlet/function call goes to `dispatch`
(the lab's simulated Windows host) as `(host_name, command_name, parameters, endpoint)` and
its `runbook.flow.ports.HostReply` comes back to the client as PowerShell streams:

* `output` items (plain dicts/lists/scalars) as PSCustomObjects (dict keys become note
  properties, nested dicts nested PSCustomObjects, lists arrays);
* `errors` as non-terminating ErrorRecords in the error stream;
* `warnings` in the warning stream;
* an exception raised by `dispatch` as a terminating error (pipeline state Failed) whose
  message is the exception's text; except `TimeoutError`, which means "the host hangs": the
  pipeline never answers and the client's own timeout has to fire (it then stops it).

A host that is down is an endpoint that is stopped (`stop()` closes the port and cuts open
connections); a WinRM service restart is `stop()` then a new endpoint on the same port.

Script commands (`AddScript`) are never executed. One is accepted only if its text is exactly
one of the function-definition files shipped in `runbook/hosts/ps/*.ps1` (if that folder holds no
file, any script is accepted unless it contains a parameter value seen earlier by this
endpoint); every script text is recorded in `scripts_seen` so tests can prove that no value
was ever pasted into script text. The Exchange endpoint (configuration `Microsoft.Exchange`)
refuses scripts altogether, as Exchange's restricted language does.

Several hosts: one `WSManEndpoint` is one host (one `host_name`) on one TCP port; run one
endpoint per simulated host (`start_endpoints` starts many at once). Each endpoint costs one
listening socket and one accept thread, plus a thread per open client connection; sixteen
endpoints in one process are cheap. Both WinRM paths are served on the endpoint's port:
`/wsman` and `/PowerShell` (Exchange's path); which endpoint a pipeline runs on is decided,
as on Windows, by the configuration name in the shell's resource URI (`Microsoft.PowerShell`
→ "default", `Microsoft.Exchange` → "exchange").

`latency_ms` is added to every HTTP response (a network round trip), including the
authentication round trips.

The layers around this server live beside it: `http_server` (HTTP, TLS, the Basic/NTLM round
trips), `auth` (the NTLM credential file, message-encryption framing), `envelopes`
(SOAP XML and faults), `shells` (the shell actions and PSRP pipelines) and `streams`
(PowerShell values and records).
"""
from __future__ import annotations

import base64
import hmac
import logging
import socket
import ssl
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from runbook.flow.ports import HostReply
from runbook.hosts.shell import PS_DIR
from testsupport.wsman.auth import KEYTABS, NTLM_USERS, split_user
from testsupport.wsman.envelopes import (
    ERROR_WSMAN_ACTION_NOT_SUPPORTED,
    NS,
    SHELL_ACTION,
    TRANSFER_ACTION,
    WSManFault,
    child_text,
    fault_envelope,
    parse_duration,
    soap_envelope,
)
from testsupport.wsman.http_server import EndpointServer, RequestHandler
from testsupport.wsman.shells import Shell, WSManShells

log = logging.getLogger(__name__)

Dispatch = Callable[[str, str, dict, str], HostReply]

class WSManEndpoint(WSManShells):
    """One simulated Windows host's WinRM service on a loopback port. See the module docstring."""

    def __init__(
        self,
        dispatch: Dispatch,
        *,
        host_name: str = "eas01.test.lan",
        auth: str = "basic",
        username: str = "lab\\operator",
        password: str = "Lab-Passw0rd!",
        bind: str = "127.0.0.1",
        port: int = 0,
        latency_ms: float = 0,
        ps_dir: Path | None = None,
        tls: ssl.SSLContext | None = None,
        keytab: str | None = None,
    ):
        # kerberos: SPNEGO/Kerberos with the HTTP/<host_name> key from `keytab`; `username` is the one principal
        # let in (user@REALM).
        if auth not in ("basic", "ntlm", "kerberos"):
            raise ValueError("auth must be 'basic', 'ntlm' or 'kerberos'")
        if auth == "kerberos" and not keytab:
            raise ValueError("auth 'kerberos' needs the keytab holding HTTP/<host_name>")
        self.keytab = keytab
        self.dispatch = dispatch
        self.host_name = host_name
        self.auth = auth
        self.username = username
        self._password = password
        self.bind = bind
        self._requested_port = port
        self.latency = max(0.0, latency_ms) / 1000.0
        self.ps_dir = ps_dir if ps_dir is not None else PS_DIR
        self.tls = tls  # a server-side SSLContext: HTTPS (the handshake runs in the connection's thread)

        self.scripts_seen: list[str] = []
        self.calls: list[tuple[str, dict]] = []
        self.invocations: list[tuple[str, str, dict]] = []  # (endpoint, command, parameters)
        self.shells_opened: list[str] = []  # configuration name of every runspace pool created
        self.auth_failures = 0
        self.soap_requests = {"plain": 0, "encrypted": 0}  # SOAP messages served, by transport protection

        self._allowed_scripts: frozenset[str] = frozenset()
        self._shells: dict[str, Shell] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._stopping = threading.Event()

    def __repr__(self) -> str:  # never shows the password
        return f"<WSManEndpoint {self.host_name} {self.auth} {self.url if self._server else 'stopped'}>"

    # ------------------------------------------------------------ lifecycle
    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("endpoint not started")
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.bind}:{self.port}/wsman"

    @property
    def address(self) -> tuple[str, int]:
        """(address, port) to give `WinRMHosts(addresses={host_name: ...})`."""
        return (self.bind, self.port)

    @property
    def allowed_scripts(self) -> frozenset[str]:
        """The function-file texts this endpoint accepts (read from `ps_dir` at start)."""
        return self._allowed_scripts

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> None:
        if self._server is not None:
            return
        self._allowed_scripts = frozenset(
            p.read_text(encoding="utf-8") for p in sorted(self.ps_dir.glob("*.ps1")) if p.is_file()
        ) if self.ps_dir.is_dir() else frozenset()
        if self.auth == "ntlm":
            NTLM_USERS.add(id(self), self.username, self._password)
        if self.auth == "kerberos":
            assert self.keytab is not None
            KEYTABS.add(id(self), self.keytab)
        self._stopping.clear()
        handler = type("_BoundHandler", (RequestHandler,), {"endpoint": self})
        server = EndpointServer((self.bind, self._requested_port), handler)
        server.endpoint = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"wsman-{self.host_name}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop answering: the port closes and open client connections are cut (a host going down)."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        with self._lock:
            conns = list(self._connections)
            self._connections.clear()
            shells = list(self._shells.values())
            self._shells.clear()
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for shell in shells:
            with shell.cond:
                shell.closed = True
                shell.cond.notify_all()
        if self.auth == "ntlm":
            NTLM_USERS.remove(id(self))
        if self.auth == "kerberos":
            KEYTABS.remove(id(self))
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> "WSManEndpoint":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------ authentication
    def check_basic(self, header: str | None) -> bool:
        if not header or not header.lower().startswith("basic "):
            return False
        try:
            raw = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return False
        user, _, password = raw.partition(":")
        user_ok = user.lower() == self.username.lower()
        pw_ok = hmac.compare_digest(password.encode("utf-8"), self._password.encode("utf-8"))
        return user_ok and pw_ok

    def principal_ok(self, principal: str | None) -> bool:
        if not principal:
            return False
        return split_user(principal.lower()) == split_user(self.username.lower())

    # ------------------------------------------------------------ WS-Man
    def handle_soap(self, body: bytes) -> tuple[int, bytes]:
        """One SOAP request → (HTTP status, SOAP response)."""
        try:
            envelope = ET.fromstring(body)
        except ET.ParseError:
            return 400, b""
        header = envelope.find("s:Header", NS)
        if header is None:
            return 400, b""
        action = child_text(header, "wsa:Action")
        message_id = child_text(header, "wsa:MessageID")
        resource_uri = child_text(header, "wsman:ResourceURI")
        timeout = parse_duration(child_text(header, "wsman:OperationTimeout")) or 20.0
        selectors = {
            s.attrib.get("Name", ""): (s.text or "")
            for s in header.findall("wsman:SelectorSet/wsman:Selector", NS)
        }
        request_body = envelope.find("s:Body", NS)
        try:
            if action == TRANSFER_ACTION + "Create":
                response_action, content = TRANSFER_ACTION + "CreateResponse", self._create(resource_uri, request_body)
            elif action == SHELL_ACTION + "Command":
                response_action, content = SHELL_ACTION + "CommandResponse", self._command(selectors, request_body)
            elif action == SHELL_ACTION + "Send":
                response_action, content = SHELL_ACTION + "SendResponse", self._send(selectors, request_body)
            elif action == SHELL_ACTION + "Receive":
                response_action, content = SHELL_ACTION + "ReceiveResponse", self._receive(
                    selectors, request_body, timeout
                )
            elif action == SHELL_ACTION + "Signal":
                response_action, content = SHELL_ACTION + "SignalResponse", self._signal(selectors, request_body)
            elif action == TRANSFER_ACTION + "Delete":
                response_action, content = TRANSFER_ACTION + "DeleteResponse", self._delete(selectors)
            else:
                raise WSManFault(
                    ERROR_WSMAN_ACTION_NOT_SUPPORTED, "wsa:ActionNotSupported",
                    f"The action {action} is not supported by this lab endpoint.",
                )
        except WSManFault as fault:
            return 500, fault_envelope(message_id, fault, self.host_name)
        return 200, soap_envelope(response_action, message_id, content)


# ---------------------------------------------------------------- several hosts
def start_endpoints(
    dispatch: Dispatch, host_names: Iterable[str], **kwargs: Any
) -> dict[str, WSManEndpoint]:
    """Start one endpoint per host name (each on its own free loopback port); returns host → endpoint.

    Pass `addresses={h: e.address for h, e in endpoints.items()}` to `WinRMHosts`.
    """
    endpoints: dict[str, WSManEndpoint] = {}
    try:
        for name in host_names:
            endpoint = WSManEndpoint(dispatch, host_name=name, **kwargs)
            endpoint.start()
            endpoints[name] = endpoint
    except BaseException:
        for endpoint in endpoints.values():
            endpoint.stop()
        raise
    return endpoints

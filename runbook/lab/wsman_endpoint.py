"""A loopback WinRM (WS-Management) endpoint that the real pypsrp client can talk to.

The PowerShell Remoting Protocol itself is psrpcore's server side (`ServerRunspacePool`,
`ServerPipeline`); this module adds what Windows' WinRM service adds around it: the
WS-Man SOAP envelopes (Create, Command, Send, Receive, Signal, Delete) over HTTP, Basic or
NTLM authentication (NTLM with WinRM message encryption, through pyspnego's acceptor), and
a fault for every situation a real client has to survive (operation timeout, unknown shell,
refused credentials).

What a pipeline does is not decided here: every cmdlet/function call goes to `dispatch`
(the lab's simulated Windows host) as `(host_name, command_name, parameters, endpoint)` and
its `runbook.ports.HostReply` comes back to the client as PowerShell streams:

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
one of the function-definition files shipped in `runbook/ps/*.ps1` (if that folder holds no
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
"""
from __future__ import annotations

import base64
import hmac
import logging
import os
import re
import socket
import ssl
import tempfile
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psrpcore
from psrpcore.types import (
    ErrorCategory,
    ErrorCategoryInfo,
    ErrorRecord,
    NETException,
    PSCustomObject,
    PSInt,
    PSInt64,
    PSInvocationState,
    PSNoteProperty,
    PSRPMessageType,
    RunspacePoolState,
    WarningRecord,
)

from runbook.ports import HostReply

log = logging.getLogger(__name__)

Dispatch = Callable[[str, str, dict, str], HostReply]

PS_DIR = Path(__file__).resolve().parent.parent / "ps"

# [MS-WSMV] namespaces, exactly as Windows writes them.
NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "wsa": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "wsman": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
    "wsmv": "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd",
    "wst": "http://schemas.xmlsoap.org/ws/2004/09/transfer",
    "rsp": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
    "wsmanfault": "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault",
    "pwsh": "http://schemas.microsoft.com/powershell",
    "xml": "http://www.w3.org/XML/1998/namespace",
}
for _prefix, _uri in NS.items():
    if _prefix != "xml":
        ET.register_namespace(_prefix, _uri)

_ACTION = "http://schemas.xmlsoap.org/ws/2004/09/transfer/"
_SHELL_ACTION = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/"
RESOURCE_PREFIX = "http://schemas.microsoft.com/powershell/"
CONFIGURATIONS = {"Microsoft.PowerShell": "default", "Microsoft.Exchange": "exchange"}

COMMAND_DONE = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Done"
COMMAND_RUNNING = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Running"
SIGNAL_TERMINATE = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/Terminate"
SIGNAL_PS_CTRL_C = "powershell/signal/ctrl_c"

# WS-Man fault codes (winerror.h) that pypsrp and PowerShell react to.
ERROR_WSMAN_OPERATION_TIMEDOUT = 0x80338029  # 2150858793: pypsrp retries the Receive
ERROR_WSMAN_INVALID_SELECTORS = 0x8033805B
ERROR_WSMAN_ACTION_NOT_SUPPORTED = 0x803381A0
ERROR_WSMAN_INVALID_RESOURCE_URI = 0x80338000

_CHUNK = 48 * 1024  # PSRP bytes per outgoing chunk: far below any MaxEnvelopeSize once base64'd
_MAX_RECEIVE_WAIT = 60.0


class _Fault(Exception):
    """A WS-Man fault to send back (HTTP 500 with a SOAP Fault body)."""

    def __init__(self, code: int, subcode: str, reason: str):
        super().__init__(reason)
        self.code, self.subcode, self.reason = code, subcode, reason


# ---------------------------------------------------------------- NTLM credential store
class _NtlmUsers:
    """pyspnego's NTLM acceptor reads credentials from the file named by NTLM_USER_FILE.

    That variable is process-wide, so every NTLM endpoint of this process shares one file
    (one line per endpoint); each endpoint then checks that the authenticated principal is
    its own user, so endpoint A never accepts endpoint B's account.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lines: dict[int, str] = {}
        self._path: str | None = None
        self._previous: str | None = None

    def add(self, key: int, username: str, password: str) -> None:
        if ":" in password or "\n" in password or "\r" in password:
            raise ValueError("the lab NTLM acceptor cannot store a password containing ':' or a line break")
        domain, user = _split_user(username)
        with self._lock:
            if self._path is None:
                fd, self._path = tempfile.mkstemp(prefix="runbook-ntlm-", suffix=".txt")
                os.close(fd)
                self._previous = os.environ.get("NTLM_USER_FILE")
            self._lines[key] = f"{domain}:{user}:{password}"
            self._write()
            os.environ["NTLM_USER_FILE"] = self._path

    def remove(self, key: int) -> None:
        with self._lock:
            if self._lines.pop(key, None) is None or self._path is None:
                return
            if self._lines:
                self._write()
                return
            try:
                os.unlink(self._path)
            except OSError:
                pass
            if self._previous is None:
                os.environ.pop("NTLM_USER_FILE", None)
            else:
                os.environ["NTLM_USER_FILE"] = self._previous
            self._path = None

    def _write(self) -> None:
        assert self._path is not None
        tmp = self._path + ".new"
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write("\n".join(self._lines.values()) + "\n")
        os.chmod(tmp, 0o600)
        os.replace(tmp, self._path)


_NTLM_USERS = _NtlmUsers()


def _split_user(username: str) -> tuple[str, str]:
    if "\\" in username:
        domain, user = username.split("\\", 1)
        return domain, user
    return "", username


# ---------------------------------------------------------------- value conversion
def to_psobject(value: Any) -> Any:
    """Plain Python → what psrpcore serializes like PowerShell would send it.

    dict → PSCustomObject (keys as note properties, in order); list/tuple → array;
    ints outside Int32 → Int64; other scalars unchanged.
    """
    if isinstance(value, dict):
        obj = PSCustomObject()
        for key, item in value.items():
            obj.PSObject.extended_properties.append(PSNoteProperty(str(key), value=to_psobject(item)))
        return obj
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_psobject(item) for item in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return PSInt64(value) if not (PSInt.MinValue <= value <= PSInt.MaxValue) else int(value)
    return value


def to_plain(value: Any) -> Any:
    """psrpcore's deserialized objects → plain dicts/lists/str/int/float/bool/None."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, dict):
        return {str(to_plain(k)): to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, deque)):
        return [to_plain(v) for v in value]
    ps = getattr(value, "PSObject", None)
    if ps is not None:
        props = list(ps.adapted_properties) + list(ps.extended_properties)
        if props:
            return {p.name: to_plain(p.get_value(value)) for p in props}
        if ps.to_string is not None:
            return str(ps.to_string)
    return value


def _string_values(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _string_values(k)
            yield from _string_values(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _string_values(v)


# ---------------------------------------------------------------- shell state
@dataclass
class _Shell:
    shell_id: str
    configuration: str
    endpoint: str  # "default" | "exchange"
    pool: psrpcore.ServerRunspacePool
    cond: threading.Condition = field(default_factory=threading.Condition)
    outbox: dict[uuid.UUID | None, deque[bytes]] = field(default_factory=dict)
    done: set[uuid.UUID] = field(default_factory=set)
    closed: bool = False


class WSManEndpoint:
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
    ):
        if auth not in ("basic", "ntlm"):
            raise ValueError("auth must be 'basic' or 'ntlm'")
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
        self._shells: dict[str, _Shell] = {}
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
            _NTLM_USERS.add(id(self), self.username, self._password)
        self._stopping.clear()
        handler = type("_BoundHandler", (_Handler,), {"endpoint": self})
        server = _Server((self.bind, self._requested_port), handler)
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
            _NTLM_USERS.remove(id(self))
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
        return _split_user(principal.lower()) == _split_user(self.username.lower())

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
        action = _text(header, "wsa:Action")
        message_id = _text(header, "wsa:MessageID")
        resource_uri = _text(header, "wsman:ResourceURI")
        timeout = _parse_duration(_text(header, "wsman:OperationTimeout")) or 20.0
        selectors = {
            s.attrib.get("Name", ""): (s.text or "")
            for s in header.findall("wsman:SelectorSet/wsman:Selector", NS)
        }
        request_body = envelope.find("s:Body", NS)
        try:
            if action == _ACTION + "Create":
                response_action, content = _ACTION + "CreateResponse", self._create(resource_uri, request_body)
            elif action == _SHELL_ACTION + "Command":
                response_action, content = _SHELL_ACTION + "CommandResponse", self._command(selectors, request_body)
            elif action == _SHELL_ACTION + "Send":
                response_action, content = _SHELL_ACTION + "SendResponse", self._send(selectors, request_body)
            elif action == _SHELL_ACTION + "Receive":
                response_action, content = _SHELL_ACTION + "ReceiveResponse", self._receive(
                    selectors, request_body, timeout
                )
            elif action == _SHELL_ACTION + "Signal":
                response_action, content = _SHELL_ACTION + "SignalResponse", self._signal(selectors, request_body)
            elif action == _ACTION + "Delete":
                response_action, content = _ACTION + "DeleteResponse", self._delete(selectors)
            else:
                raise _Fault(
                    ERROR_WSMAN_ACTION_NOT_SUPPORTED, "wsa:ActionNotSupported",
                    f"The action {action} is not supported by this lab endpoint.",
                )
        except _Fault as fault:
            return 500, self._fault_envelope(message_id, fault)
        return 200, _envelope(response_action, message_id, content)

    def _fault_envelope(self, message_id: str, fault: _Fault) -> bytes:
        s, wsa, wf = NS["s"], NS["wsa"], NS["wsmanfault"]
        env = ET.Element(f"{{{s}}}Envelope")
        hdr = ET.SubElement(env, f"{{{s}}}Header")
        ET.SubElement(hdr, f"{{{wsa}}}Action").text = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault"
        ET.SubElement(hdr, f"{{{wsa}}}MessageID").text = f"uuid:{str(uuid.uuid4()).upper()}"
        ET.SubElement(hdr, f"{{{wsa}}}RelatesTo").text = message_id
        body = ET.SubElement(env, f"{{{s}}}Body")
        f = ET.SubElement(body, f"{{{s}}}Fault")
        code = ET.SubElement(f, f"{{{s}}}Code")
        ET.SubElement(code, f"{{{s}}}Value").text = "s:Receiver"
        sub = ET.SubElement(code, f"{{{s}}}Subcode")
        ET.SubElement(sub, f"{{{s}}}Value").text = fault.subcode
        reason = ET.SubElement(f, f"{{{s}}}Reason")
        ET.SubElement(reason, f"{{{s}}}Text", {f"{{{NS['xml']}}}lang": "en-US"}).text = fault.reason
        detail = ET.SubElement(f, f"{{{s}}}Detail")
        wsman_fault = ET.SubElement(
            detail, f"{{{wf}}}WSManFault", {"Code": str(fault.code), "Machine": self.host_name}
        )
        ET.SubElement(wsman_fault, f"{{{wf}}}Message").text = fault.reason
        return ET.tostring(env, encoding="utf-8", xml_declaration=False)

    def _shell(self, selectors: dict[str, str]) -> _Shell:
        shell_id = selectors.get("ShellId", "").upper()
        with self._lock:
            shell = self._shells.get(shell_id)
        if shell is None or shell.closed:
            raise _Fault(
                ERROR_WSMAN_INVALID_SELECTORS, "w:InvalidSelectors",
                "The request for the Windows Remote Shell with ShellId "
                f"{shell_id} failed because the shell was not found on the server.",
            )
        return shell

    def _create(self, resource_uri: str, body: ET.Element | None) -> ET.Element:
        rsp = NS["rsp"]
        configuration = resource_uri[len(RESOURCE_PREFIX):] if resource_uri.startswith(RESOURCE_PREFIX) else ""
        if configuration not in CONFIGURATIONS:
            raise _Fault(
                ERROR_WSMAN_INVALID_RESOURCE_URI, "w:InvalidResourceURI",
                f"The WS-Management service cannot process the request: no session configuration "
                f"{resource_uri!r} on {self.host_name}.",
            )
        shell_el = body.find("rsp:Shell", NS) if body is not None else None
        creation = shell_el.find("pwsh:creationXml", NS) if shell_el is not None else None
        if shell_el is None or creation is None or not (creation.text or "").strip():
            raise _Fault(ERROR_WSMAN_INVALID_RESOURCE_URI, "w:SchemaValidationError", "Missing rsp:Shell/creationXml.")
        shell_id = (shell_el.attrib.get("ShellId") or str(uuid.uuid4())).upper()
        pool = psrpcore.ServerRunspacePool()
        shell = _Shell(shell_id=shell_id, configuration=configuration, endpoint=CONFIGURATIONS[configuration], pool=pool)
        with shell.cond:
            self._feed(shell, base64.b64decode(creation.text or ""), None)
        with self._lock:
            self._shells[shell_id] = shell
        self.shells_opened.append(configuration)

        wst, wsa, wsman = NS["wst"], NS["wsa"], NS["wsman"]
        # pypsrp reads the selector set under wst:ResourceCreated; rsp:Shell (as Windows sends it) follows.
        container = ET.Element("container")
        created = ET.SubElement(container, f"{{{wst}}}ResourceCreated")
        ET.SubElement(created, f"{{{wsa}}}Address").text = self.url
        ref = ET.SubElement(created, f"{{{wsa}}}ReferenceParameters")
        ET.SubElement(ref, f"{{{wsman}}}ResourceURI").text = resource_uri
        sel = ET.SubElement(ref, f"{{{wsman}}}SelectorSet")
        ET.SubElement(sel, f"{{{wsman}}}Selector", {"Name": "ShellId"}).text = shell_id
        out_shell = ET.SubElement(container, f"{{{rsp}}}Shell")
        ET.SubElement(out_shell, f"{{{rsp}}}ShellId").text = shell_id
        ET.SubElement(out_shell, f"{{{rsp}}}ResourceUri").text = resource_uri
        ET.SubElement(out_shell, f"{{{rsp}}}Owner").text = self.username
        ET.SubElement(out_shell, f"{{{rsp}}}ClientIP").text = "127.0.0.1"
        ET.SubElement(out_shell, f"{{{rsp}}}IdleTimeOut").text = "PT7200.000S"
        ET.SubElement(out_shell, f"{{{rsp}}}InputStreams").text = "stdin pr"
        ET.SubElement(out_shell, f"{{{rsp}}}OutputStreams").text = "stdout"
        return container

    def _command(self, selectors: dict[str, str], body: ET.Element | None) -> ET.Element:
        shell = self._shell(selectors)
        line = body.find("rsp:CommandLine", NS) if body is not None else None
        if line is None:
            raise _Fault(ERROR_WSMAN_INVALID_RESOURCE_URI, "w:SchemaValidationError", "Missing rsp:CommandLine.")
        command_id = (line.attrib.get("CommandId") or str(uuid.uuid4())).upper()
        pipeline_id = uuid.UUID(command_id)
        data = b"".join(base64.b64decode(a.text or "") for a in line.findall("rsp:Arguments", NS))
        with shell.cond:
            psrpcore.ServerPipeline(shell.pool, pipeline_id)
            shell.outbox.setdefault(pipeline_id, deque())
            self._feed(shell, data, pipeline_id)
        container = ET.Element("container")
        resp = ET.SubElement(container, f"{{{NS['rsp']}}}CommandResponse")
        ET.SubElement(resp, f"{{{NS['rsp']}}}CommandId").text = command_id
        return container

    def _send(self, selectors: dict[str, str], body: ET.Element | None) -> ET.Element:
        shell = self._shell(selectors)
        streams = body.findall("rsp:Send/rsp:Stream", NS) if body is not None else []
        with shell.cond:
            for stream in streams:
                command_id = stream.attrib.get("CommandId")
                pipeline_id = uuid.UUID(command_id) if command_id else None
                self._feed(shell, base64.b64decode(stream.text or ""), pipeline_id)
        container = ET.Element("container")
        ET.SubElement(container, f"{{{NS['rsp']}}}SendResponse")
        return container

    def _receive(self, selectors: dict[str, str], body: ET.Element | None, timeout: float) -> ET.Element:
        shell = self._shell(selectors)
        desired = body.find("rsp:Receive/rsp:DesiredStream", NS) if body is not None else None
        command_id = desired.attrib.get("CommandId") if desired is not None else None
        target = uuid.UUID(command_id) if command_id else None
        deadline = time.monotonic() + min(timeout, _MAX_RECEIVE_WAIT)
        chunks: list[bytes] = []
        done = False
        with shell.cond:
            if target is not None and target not in shell.outbox:
                raise _Fault(
                    ERROR_WSMAN_INVALID_SELECTORS, "w:InvalidSelectors",
                    f"The request for the command {command_id} failed because the command was not found.",
                )
            while True:
                queue = shell.outbox.get(target)
                if queue:
                    size = 0
                    while queue and (not chunks or size + len(queue[0]) <= 2 * _CHUNK):
                        chunk = queue.popleft()
                        chunks.append(chunk)
                        size += len(chunk)
                    done = target is not None and target in shell.done and not queue
                    break
                if target is not None and target in shell.done:
                    done = True
                    break
                remaining = deadline - time.monotonic()
                if shell.closed or self._stopping.is_set():
                    raise _Fault(
                        ERROR_WSMAN_INVALID_SELECTORS, "w:InvalidSelectors", "The shell was closed on the server."
                    )
                if remaining <= 0:
                    raise _Fault(
                        ERROR_WSMAN_OPERATION_TIMEDOUT, "w:TimedOut",
                        "The WS-Management service cannot complete the operation within the time specified "
                        "in OperationTimeout.",
                    )
                shell.cond.wait(remaining)
        rsp = NS["rsp"]
        container = ET.Element("container")
        resp = ET.SubElement(container, f"{{{rsp}}}ReceiveResponse")
        for chunk in chunks:
            attrs = {"Name": "stdout"}
            if command_id:
                attrs["CommandId"] = command_id
            ET.SubElement(resp, f"{{{rsp}}}Stream", attrs).text = base64.b64encode(chunk).decode()
        if command_id:
            state = ET.SubElement(
                resp, f"{{{rsp}}}CommandState",
                {"CommandId": command_id, "State": COMMAND_DONE if done else COMMAND_RUNNING},
            )
            if done:
                ET.SubElement(state, f"{{{rsp}}}ExitCode").text = "0"
        return container

    def _signal(self, selectors: dict[str, str], body: ET.Element | None) -> ET.Element:
        shell = self._shell(selectors)
        signal = body.find("rsp:Signal", NS) if body is not None else None
        code = _text(signal, "rsp:Code") if signal is not None else ""
        command_id = signal.attrib.get("CommandId") if signal is not None else None
        if command_id:
            pipeline_id = uuid.UUID(command_id)
            with shell.cond:
                pipeline = shell.pool.pipeline_table.get(pipeline_id)
                if pipeline is not None and pipeline.state == PSInvocationState.Running:
                    pipeline.stop()  # PipelineState Stopped is queued for the client
                    shell.done.add(pipeline_id)
                if code == SIGNAL_TERMINATE and pipeline is not None:
                    try:
                        pipeline.close()
                    except psrpcore.PSRPCoreError:
                        shell.pool.pipeline_table.pop(pipeline_id, None)
                    shell.outbox.pop(pipeline_id, None)
                    shell.done.discard(pipeline_id)
                self._drain(shell)
        container = ET.Element("container")
        ET.SubElement(container, f"{{{NS['rsp']}}}SignalResponse")
        return container

    def _delete(self, selectors: dict[str, str]) -> ET.Element | None:
        shell = self._shell(selectors)
        with self._lock:
            self._shells.pop(shell.shell_id, None)
        with shell.cond:
            shell.closed = True
            for pipeline in list(shell.pool.pipeline_table.values()):
                if pipeline.state == PSInvocationState.Running:
                    pipeline.stop()
                shell.pool.pipeline_table.pop(pipeline.pipeline_id, None)
            if shell.pool.state == RunspacePoolState.Opened:
                shell.pool.close()
            shell.cond.notify_all()
        return None

    # ------------------------------------------------------------ PSRP
    def _feed(self, shell: _Shell, data: bytes, pipeline_id: uuid.UUID | None) -> None:
        """Give psrpcore the client's bytes and act on every complete message. Caller holds shell.cond."""
        pool = shell.pool
        pool.receive_data(psrpcore.PSRPPayload(data, psrpcore.StreamType.default, pipeline_id))
        while True:
            try:
                event = pool.next_event()
            except Exception as err:  # malformed PSRP from the client
                log.warning("%s: bad PSRP data: %s", self.host_name, err)
                raise _Fault(ERROR_WSMAN_INVALID_RESOURCE_URI, "w:InternalError", f"Invalid PSRP data: {err}")
            if event is None:
                break
            if isinstance(event, psrpcore.CreatePipelineEvent):
                self._start_pipeline(shell, event.pipeline_id)
            elif isinstance(event, psrpcore.GetAvailableRunspacesEvent):
                pool.runspace_availability_response(event.ci, 1)
            elif isinstance(event, (psrpcore.SetMaxRunspacesEvent, psrpcore.SetMinRunspacesEvent)):
                pool.runspace_availability_response(event.ci, True)
            elif isinstance(event, psrpcore.ResetRunspaceStateEvent):
                pool.runspace_availability_response(event.ci, True)
        self._drain(shell)

    def _drain(self, shell: _Shell) -> None:
        """Move psrpcore's queued fragments to the per-target outboxes. Caller holds shell.cond."""
        while True:
            payload = shell.pool.data_to_send(_CHUNK)
            if payload is None:
                break
            shell.outbox.setdefault(payload.pipeline_id, deque()).append(payload.data)
        shell.cond.notify_all()

    def _start_pipeline(self, shell: _Shell, pipeline_id: uuid.UUID) -> None:
        pipeline = shell.pool.pipeline_table[pipeline_id]
        pipeline.start()
        statements = _statements(pipeline.metadata)
        thread = threading.Thread(
            target=self._run_pipeline, args=(shell, pipeline, statements),
            name=f"wsman-{self.host_name}-pipeline", daemon=True,
        )
        thread.start()

    def _run_pipeline(self, shell: _Shell, pipeline: Any, statements: list[list[Any]]) -> None:
        replies: list[HostReply] = []
        failure: str | None = None
        try:
            for statement in statements:
                if len(statement) != 1:
                    raise _Refused("the lab endpoint runs one command per statement (no '|' pipelines)")
                command = statement[0]
                if command.is_script:
                    self._accept_script(shell, str(command.command_text))
                    continue
                name = str(command.command_text)
                params: dict[str, Any] = {}
                for param_name, param_value in command.parameters:
                    if param_name is None:
                        raise _Refused(f"{name}: positional arguments are not supported; name every parameter")
                    params[str(param_name)] = to_plain(param_value)
                self.calls.append((name, params))
                self.invocations.append((shell.endpoint, name, params))
                reply = self.dispatch(self.host_name, name, params, shell.endpoint)
                if not isinstance(reply, HostReply):
                    raise TypeError(f"dispatch returned {type(reply).__name__}, not HostReply")
                replies.append(reply)
        except _Refused as refused:
            failure = str(refused)
        except TimeoutError:
            return  # the simulated host "hangs": no answer ever comes, the client's own timeout must fire
        except Exception as exc:  # the simulated host threw: a terminating error, as PowerShell's `throw`
            failure = str(exc) or type(exc).__name__
        with shell.cond:
            if shell.closed or pipeline.state != PSInvocationState.Running:
                return  # stopped (ctrl_c / timeout) or shell gone: the result is dropped, as on Windows
            for reply in replies:
                for item in reply.output:
                    if item is None:  # psrpcore would send an empty message, which pypsrp cannot parse
                        pipeline.prepare_message(_NULL, message_type=PSRPMessageType.PipelineOutput)
                    else:
                        pipeline.write_output(to_psobject(item))
                for message in reply.errors:
                    pipeline.write_error(
                        NETException(Message=str(message)),
                        ErrorCategoryInfo(Category=ErrorCategory.NotSpecified, Reason="WriteErrorException"),
                        fully_qualified_error_id="Microsoft.PowerShell.Commands.WriteErrorException",
                    )
                for message in reply.warnings:
                    _write_warning(pipeline, str(message))
            if failure is None:
                pipeline.complete()
            else:
                _fail(pipeline, failure)
            shell.done.add(pipeline.pipeline_id)
            self._drain(shell)

    def _accept_script(self, shell: _Shell, text: str) -> None:
        self.scripts_seen.append(text)
        if shell.endpoint == "exchange":
            raise _Refused("The syntax is not supported by this runspace. This can occur if the runspace is in "
                           "no-language mode (Exchange accepts one cmdlet per pipeline, no scripts).")
        if self._allowed_scripts:
            if text not in self._allowed_scripts:
                raise _Refused("script text refused: it is not one of the function files shipped in runbook/ps")
            return
        for _, params in list(self.calls):
            for value in _string_values(params):
                if len(value) >= 4 and value in text:
                    raise _Refused("script text refused: it contains a parameter value")


class _Refused(Exception):
    """The endpoint refuses the pipeline (terminating error)."""


class _NullOutput:
    """Serializes to `<Nil />`: $null in the output stream, as PowerShell sends it."""

    @classmethod
    def ToPSObjectForRemoting(cls, instance: Any, **kwargs: Any) -> None:  # noqa: N802 - psrpcore's hook name
        return None


_NULL = _NullOutput()


def _write_warning(pipeline: Any, message: str) -> None:
    """A WarningRecord that carries its ToString, as PowerShell's serializer writes it."""
    record = WarningRecord(Message=message)
    record.PSObject.to_string = message
    pipeline.prepare_message(record, message_type=PSRPMessageType.WarningRecord)


def _fail(pipeline: Any, message: str) -> None:
    """Terminate a running pipeline with an error record (PowerShell's `throw`)."""
    record = ErrorRecord(
        Exception=NETException(Message=message),
        CategoryInfo=ErrorCategoryInfo(Category=ErrorCategory.OperationStopped, Reason="RuntimeException"),
        FullyQualifiedErrorId="RuntimeException",
    )
    # psrpcore 0.3 has no public "fail" on ServerPipeline; _change_state is what complete()/stop() use.
    pipeline._change_state(PSInvocationState.Failed, error=record)


def _statements(metadata: Any) -> list[list[Any]]:
    statements: list[list[Any]] = [[]]
    for command in getattr(metadata, "commands", []) or []:
        statements[-1].append(command)
        if command.end_of_statement:
            statements.append([])
    return [s for s in statements if s]


# ---------------------------------------------------------------- SOAP helpers
def _text(parent: ET.Element | None, path: str) -> str:
    if parent is None:
        return ""
    element = parent.find(path, NS)
    return (element.text or "").strip() if element is not None else ""


_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d*)?)S)?)?$")


def _parse_duration(text: str) -> float | None:
    match = _DURATION.match(text or "")
    if not match:
        return None
    days, hours, minutes, seconds = match.groups()
    return int(days or 0) * 86400 + int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(seconds or 0)


def _envelope(action: str, relates_to: str, content: ET.Element | None) -> bytes:
    s, wsa = NS["s"], NS["wsa"]
    env = ET.Element(f"{{{s}}}Envelope")
    hdr = ET.SubElement(env, f"{{{s}}}Header")
    ET.SubElement(hdr, f"{{{wsa}}}Action").text = action
    ET.SubElement(hdr, f"{{{wsa}}}MessageID").text = f"uuid:{str(uuid.uuid4()).upper()}"
    ET.SubElement(hdr, f"{{{wsa}}}RelatesTo").text = relates_to
    ET.SubElement(hdr, f"{{{wsa}}}To").text = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
    body = ET.SubElement(env, f"{{{s}}}Body")
    if content is not None:
        for child in list(content):
            body.append(child)
    return ET.tostring(env, encoding="utf-8", xml_declaration=False)


# ---------------------------------------------------------------- HTTP
class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    endpoint: WSManEndpoint

    def process_request(self, request: Any, client_address: Any) -> None:
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.endpoint._lock:
            self.endpoint._connections.add(request)
        super().process_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("%s: connection from %s ended with an error", self.endpoint.host_name, client_address, exc_info=True)

    def shutdown_request(self, request: Any) -> None:
        with self.endpoint._lock:
            self.endpoint._connections.discard(request)
        super().shutdown_request(request)


_MIME_BOUNDARY = b"--Encrypted Boundary"
_SPNEGO_ENCRYPTED = "application/HTTP-SPNEGO-session-encrypted"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Microsoft-HTTPAPI/2.0"
    sys_version = ""
    endpoint: WSManEndpoint  # set on the per-endpoint subclass

    def setup(self) -> None:
        if self.endpoint.tls is not None:
            raw = self.request
            raw.settimeout(10)
            self.request = self.endpoint.tls.wrap_socket(raw, server_side=True)  # detaches `raw`
            self.request.settimeout(None)
            with self.endpoint._lock:
                self.endpoint._connections.discard(raw)
                self.endpoint._connections.add(self.request)
        super().setup()
        self._ctx: Any = None  # pyspnego acceptor for this connection (NTLM)
        self._authenticated = False

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            if self.endpoint.tls is not None:
                with self.endpoint._lock:
                    self.endpoint._connections.discard(self.request)
                try:
                    self.request.close()
                except OSError:
                    pass

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s %s", self.endpoint.host_name, format % args)

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        endpoint = self.endpoint
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if endpoint._stopping.is_set():
            self.close_connection = True
            return
        if endpoint.latency:
            time.sleep(endpoint.latency)
        if self.path.split("?")[0].strip("/").lower() not in ("wsman", "powershell"):
            self._reply(404, b"", "text/plain")
            return
        if endpoint.auth == "basic":
            if not endpoint.check_basic(self.headers.get("Authorization")):
                endpoint.auth_failures += 1
                self._reply(401, b"", None, {"WWW-Authenticate": 'Basic realm="WSMAN"'})
                return
            self._soap(body, encrypted=False)
            return
        self._ntlm(body)

    # NTLM over HTTP with WinRM message encryption ([MS-WSMV] 3.1.4.1.30.x)
    def _ntlm(self, body: bytes) -> None:
        import spnego

        endpoint = self.endpoint
        header = self.headers.get("Authorization") or ""
        scheme, _, token = header.partition(" ")
        if scheme.lower() in ("negotiate", "ntlm") and token.strip():
            if self._authenticated or self._ctx is None:
                self._ctx = spnego.server(hostname=endpoint.host_name, service="host", protocol="negotiate")
                self._authenticated = False
            try:
                out = self._ctx.step(base64.b64decode(token.strip()))
            except Exception as err:  # bad token or wrong password
                log.info("%s: NTLM authentication failed: %s", endpoint.host_name, type(err).__name__)
                endpoint.auth_failures += 1
                self._ctx = None
                self._reply(401, b"", None, {"WWW-Authenticate": "Negotiate"})
                return
            if not self._ctx.complete:
                self._reply(401, b"", None, {"WWW-Authenticate": "Negotiate " + base64.b64encode(out or b"").decode()})
                return
            if not endpoint.principal_ok(self._ctx.client_principal):
                endpoint.auth_failures += 1
                self._ctx = None
                self._reply(401, b"", None, {"WWW-Authenticate": "Negotiate"})
                return
            self._authenticated = True
            extra = {"WWW-Authenticate": "Negotiate " + base64.b64encode(out).decode()} if out else {}
            if not body:
                self._reply(200, b"", None, extra)
                return
        if not self._authenticated:
            endpoint.auth_failures += 1
            self._reply(401, b"", None, {"WWW-Authenticate": "Negotiate"})
            return
        content_type = self.headers.get("Content-Type", "")
        if not content_type.startswith("multipart/encrypted"):
            # Message encryption is mandatory over HTTP, as on a default Windows WinRM listener.
            self._reply(400, b"", "text/plain")
            return
        try:
            plain = self._unwrap(body)
        except Exception as err:
            log.info("%s: cannot decrypt request: %s", endpoint.host_name, err)
            self._reply(400, b"", "text/plain")
            return
        self._soap(plain, encrypted=True)

    def _unwrap(self, body: bytes) -> bytes:
        parts = [p for p in re.split(rb"--Encrypted Boundary(?:--)?\r\n", body) if p.strip()]
        message = b""
        for i in range(0, len(parts) - 1, 2):
            meta, payload = parts[i], parts[i + 1]
            payload = payload.replace(b"\tContent-Type: application/octet-stream\r\n", b"", 1)
            header_length = int.from_bytes(payload[:4], "little")
            sig, data = payload[4:4 + header_length], payload[4 + header_length:]
            message += self._ctx.unwrap_winrm(sig, data)
            expected = int(re.search(rb"Length=(\d+)", meta).group(1))  # type: ignore[union-attr]
            if len(message) < expected:
                raise ValueError("decrypted length mismatch")
        return message

    def _wrap(self, plain: bytes) -> bytes:
        result = self._ctx.wrap_winrm(plain)
        header, data, padding = result.header, result.data, result.padding_length
        return b"\r\n".join([
            _MIME_BOUNDARY,
            f"\tContent-Type: {_SPNEGO_ENCRYPTED}".encode(),
            f"\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length={len(plain) + padding}".encode(),
            _MIME_BOUNDARY,
            b"\tContent-Type: application/octet-stream",
            len(header).to_bytes(4, "little") + header + data,
        ]) + _MIME_BOUNDARY + b"--\r\n"

    def _soap(self, body: bytes, *, encrypted: bool) -> None:
        self.endpoint.soap_requests["encrypted" if encrypted else "plain"] += 1
        try:
            status, response = self.endpoint.handle_soap(body)
        except Exception:  # a bug in the lab endpoint must not hang the client
            log.exception("%s: endpoint error", self.endpoint.host_name)
            status, response = 500, b""
        if encrypted and response:
            content_type = f'multipart/encrypted;protocol="{_SPNEGO_ENCRYPTED}";boundary="Encrypted Boundary"'
            self._reply(status, self._wrap(response), content_type)
        else:
            self._reply(status, response, "application/soap+xml;charset=UTF-8")

    def _reply(self, status: int, body: bytes, content_type: str | None, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        if content_type and body:
            self.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)


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

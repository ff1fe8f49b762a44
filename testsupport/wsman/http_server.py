"""The HTTP side of the lab WinRM endpoint: connections, TLS, Basic/NTLM/Kerberos round trips, sealing.

Each request's SOAP body goes to `WSManEndpoint.handle_soap`; the connections are tracked on
the endpoint so that `stop()` can cut them, as a host going down would.
"""
from __future__ import annotations

import base64
import logging
import socket
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from testsupport.wsman.auth import KERBEROS_ENCRYPTED, SPNEGO_ENCRYPTED, unwrap, wrap

if TYPE_CHECKING:
    from testsupport.wsman.endpoint import WSManEndpoint

log = logging.getLogger(__name__)


class EndpointServer(ThreadingHTTPServer):
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


class RequestHandler(BaseHTTPRequestHandler):
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
        self._ctx: Any = None  # pyspnego acceptor for this connection (NTLM or Kerberos)
        self._sealed_as = SPNEGO_ENCRYPTED
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
        self._negotiate(body)

    # NTLM or Kerberos (SPNEGO) with WinRM message encryption over HTTP ([MS-WSMV] 3.1.4.1.30.x)
    def _negotiate(self, body: bytes) -> None:
        import spnego

        endpoint = self.endpoint
        header = self.headers.get("Authorization") or ""
        scheme, _, token = header.partition(" ")
        if scheme.lower() in ("negotiate", "ntlm") and token.strip():
            if self._authenticated or self._ctx is None:
                # Kerberos: the default acceptor takes any key in the keytab, as a Windows host holds its own.
                self._ctx = spnego.server(hostname=endpoint.host_name, service="http", protocol="negotiate")
                self._authenticated = False
            try:
                out = self._ctx.step(base64.b64decode(token.strip()))
            except Exception as err:  # bad token, wrong password, no key for the ticket's SPN
                log.info("%s: %s authentication failed: %s", endpoint.host_name, endpoint.auth, err)
                endpoint.auth_failures += 1
                self._ctx = None
                self._reply(401, b"", None, {"WWW-Authenticate": "Negotiate"})
                return
            if not self._ctx.complete:
                self._reply(401, b"", None, {"WWW-Authenticate": "Negotiate " + base64.b64encode(out or b"").decode()})
                return
            wanted = "kerberos" if endpoint.auth == "kerberos" else "ntlm"
            if self._ctx.negotiated_protocol != wanted or not endpoint.principal_ok(self._ctx.client_principal):
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
            if endpoint.tls is not None:  # over HTTPS, TLS protects the messages (a Windows HTTPS listener)
                self._soap(body, encrypted=False)
                return
            # Message encryption is mandatory over HTTP, as on a default Windows WinRM listener.
            self._reply(400, b"", "text/plain")
            return
        try:
            plain = unwrap(self._ctx, body)
        except Exception as err:
            log.info("%s: cannot decrypt request: %s", endpoint.host_name, err)
            self._reply(400, b"", "text/plain")
            return
        # Answer in the protocol asked in: HTTP-Kerberos-session-encrypted for a raw Kerberos client, else SPNEGO.
        self._sealed_as = KERBEROS_ENCRYPTED if KERBEROS_ENCRYPTED in content_type else SPNEGO_ENCRYPTED
        self._soap(plain, encrypted=True)

    def _soap(self, body: bytes, *, encrypted: bool) -> None:
        self.endpoint.soap_requests["encrypted" if encrypted else "plain"] += 1
        try:
            status, response = self.endpoint.handle_soap(body)
        except Exception:  # a bug in the lab endpoint must not hang the client
            log.exception("%s: endpoint error", self.endpoint.host_name)
            status, response = 500, b""
        if encrypted and response:
            content_type = f'multipart/encrypted;protocol="{self._sealed_as}";boundary="Encrypted Boundary"'
            self._reply(status, wrap(self._ctx, response, self._sealed_as), content_type)
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

"""What a phone sees: one ActiveSync `OPTIONS` to the public name, with or without the user's certificate.

`DeviceProbe` is the port; `HttpsDeviceProbe` is the real client (stdlib ssl + http.client), and the rehearsal
lab can stand a simulated device behind the same protocol. A probe never raises for what the network or the
server did: every outcome, a refused connection as much as a 200, is a `ProbeResult` for the diagnosis to read.
"""
from __future__ import annotations

import http.client
import socket
import ssl
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Literal, Protocol
from urllib.parse import urlsplit

from runbook.errors import BadInput

ACTIVESYNC_PATH = "/Microsoft-Server-ActiveSync"
DEFAULT_TIMEOUT = 15.0
BODY_EXCERPT = 2048  # enough to find IIS's "403.7" / "403.16" in its error page

Failure = Literal["dns", "refused", "unreachable", "timeout", "tls-untrusted", "tls-name", "tls-alert", "reset",
                  "protocol"]


@dataclass(frozen=True)
class ProbeResult:
    """One request as the device saw it. `status` is None when no HTTP answer came (then `failure` says why)."""

    url: str
    with_certificate: bool
    status: int | None = None
    reason: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    body_excerpt: str = ""
    failure: Failure | None = None
    detail: str = ""  # the library's own words for a failure (an OpenSSL alert name, errno text)
    certificate_requested: bool | None = None  # None: this client cannot tell
    server_certificate_subject: str | None = None
    server_certificate_issuer: str | None = None
    trusted_cas: tuple[str, ...] = ()  # subjects of the CAs the device trusted; () = the system store
    elapsed_ms: float = 0.0

    def header(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]

    @property
    def protocol_versions(self) -> list[str]:
        return [v.strip() for value in self.header("MS-ASProtocolVersions") for v in value.split(",") if v.strip()]


class DeviceProbe(Protocol):
    """Sends the device's request to `url`, presenting the user's certificate only when `with_certificate`."""

    def probe(self, url: str, with_certificate: bool) -> ProbeResult: ...


def activesync_url(public_name: str) -> str:
    return f"https://{public_name}{ACTIVESYNC_PATH}"


def check_url(url: str) -> tuple[str, int, str]:
    """(host, port, path) of an https URL, or BadInput naming --url."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise BadInput(f"--url: {url!r} is not an https:// URL (expected https://PUBLIC-NAME{ACTIVESYNC_PATH})")
    try:
        port = parts.port or 443
    except ValueError as exc:
        raise BadInput(f"--url: {url!r} has an invalid port ({exc})") from exc
    return parts.hostname, port, (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def _readable(path: str, option: str) -> str:
    try:
        Path(path).read_bytes()
    except OSError as exc:
        raise BadInput(f"{option}: cannot read {path} ({exc.strerror})") from exc
    return path


def ca_subjects(ca_file: str) -> tuple[str, ...]:
    from cryptography import x509

    try:
        certs = x509.load_pem_x509_certificates(Path(ca_file).read_bytes())
    except ValueError as exc:
        raise BadInput(f"--ca: {ca_file} is not a PEM CA bundle ({exc})") from exc
    return tuple(cert.subject.rfc4514_string() for cert in certs)


class HttpsDeviceProbe:
    """The real device: TLS with the system's (or `ca_file`'s) trust, the client certificate from PEM files.

    `key_password` is asked only when the key is encrypted; the key's content never leaves the ssl module.
    """

    def __init__(self, cert_file: str, key_file: str | None, ca_file: str | None = None, *,
                 timeout: float = DEFAULT_TIMEOUT, key_password: Callable[[], str] | None = None):
        self.cert_file = _readable(cert_file, "--cert")
        self.key_file = _readable(key_file, "--key") if key_file else None
        self.ca_file = _readable(ca_file, "--ca") if ca_file else None
        self.timeout = timeout
        self.trusted_cas = ca_subjects(self.ca_file) if self.ca_file else ()
        self._key_password = key_password
        self._with_cert = self._context(True)  # bad files fail here, before anything is sent
        self._without_cert = self._context(False)

    def _context(self, with_certificate: bool) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.ca_file)
        context.post_handshake_auth = True  # IIS asks for the certificate after seeing the vdir's path
        if not with_certificate:
            return context
        try:
            context.load_cert_chain(self.cert_file, self.key_file, password=self._password)
        except ssl.SSLError as exc:
            key = self.key_file or self.cert_file
            if "KEY_VALUES_MISMATCH" in str(exc):
                raise BadInput(f"--key: {key} does not belong to the certificate in --cert {self.cert_file}") from exc
            raise BadInput(f"--cert/--key: cannot load {self.cert_file} with key {key} as PEM "
                           f"({exc.reason or exc}); expected a PEM certificate and its PEM private key") from exc
        return context

    def _password(self) -> str:
        if self._key_password is None:
            raise BadInput(f"--key: {self.key_file or self.cert_file} is encrypted; set RUNBOOK_DEVICE_KEY_PASSWORD "
                           "or run on a terminal to be asked")
        return self._key_password()

    def probe(self, url: str, with_certificate: bool) -> ProbeResult:
        host, port, path = check_url(url)
        context = self._with_cert if with_certificate else self._without_cert
        requested: list[bool] = []
        _watch_certificate_request(context, requested)
        started = time.monotonic()
        base = ProbeResult(url=url, with_certificate=with_certificate, trusted_cas=self.trusted_cas)

        def done(answer: ProbeResult) -> ProbeResult:
            """`answer` with what only the end of the request knows: was a certificate asked for, and when."""
            asked = True if requested else (None if _CANNOT_WATCH else False)
            return replace(answer, certificate_requested=asked, elapsed_ms=(time.monotonic() - started) * 1000)

        conn = http.client.HTTPSConnection(host, port, timeout=self.timeout, context=context)
        try:
            conn.request("OPTIONS", path, headers={"User-Agent": "certauth-runbook-device-probe/1",
                                                   "Accept": "*/*"})
            response = conn.getresponse()
            body = response.read(BODY_EXCERPT).decode("utf-8", "replace")
            return done(replace(base, status=response.status, reason=response.reason,
                                headers=tuple(response.getheaders()), body_excerpt=body))
        except ssl.SSLCertVerificationError as exc:
            subject, issuer = _server_certificate(host, port, self.timeout)
            failure: Failure = "tls-name" if exc.verify_code == 62 else "tls-untrusted"  # X509_V_ERR_HOSTNAME_MISMATCH
            return done(replace(base, failure=failure, detail=str(exc.verify_message or exc),
                                server_certificate_subject=subject, server_certificate_issuer=issuer))
        except ssl.SSLError as exc:
            return done(replace(base, failure="tls-alert", detail=exc.reason or str(exc)))
        except (TimeoutError, socket.timeout):
            return done(replace(base, failure="timeout", detail=f"{self.timeout:g} s"))
        except socket.gaierror as exc:
            return done(replace(base, failure="dns", detail=str(exc.strerror or exc)))
        except ConnectionRefusedError as exc:
            return done(replace(base, failure="refused", detail=str(exc.strerror or exc)))
        except (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected) as exc:
            return done(replace(base, failure="reset", detail=str(exc) or type(exc).__name__))
        except http.client.HTTPException as exc:
            return done(replace(base, failure="protocol", detail=f"{type(exc).__name__}: {exc}"))
        except OSError as exc:
            return done(replace(base, failure="unreachable", detail=str(exc.strerror or exc)))
        finally:
            conn.close()


# ssl exposes no public "the server asked for a certificate" signal; its message callback (a debugging hook
# present since 3.8) sees the CertificateRequest, in the handshake or after it. Without it we say "cannot tell".
_CANNOT_WATCH = not hasattr(ssl.SSLContext, "_msg_callback")


def _watch_certificate_request(context: ssl.SSLContext, seen: list[bool]) -> None:
    if _CANNOT_WATCH:
        return

    def callback(conn: object, direction: str, version: object, content_type: object, msg_type: object,
                 data: bytes) -> None:
        if direction == "read" and msg_type == ssl._TLSMessageType.CERTIFICATE_REQUEST:  # type: ignore[attr-defined]
            seen.append(True)

    context._msg_callback = callback  # type: ignore[attr-defined]


def _server_certificate(host: str, port: int, timeout: float) -> tuple[str | None, str | None]:
    """Who issued the certificate a server presents, read without trusting it (only to name it)."""
    from cryptography import x509

    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw:
            with context.wrap_socket(raw, server_hostname=host) as tls:
                der = tls.getpeercert(binary_form=True)
    except OSError:
        return None, None
    if not der:
        return None, None
    cert = x509.load_der_x509_certificate(der)
    return cert.subject.rfc4514_string(), cert.issuer.rfc4514_string()


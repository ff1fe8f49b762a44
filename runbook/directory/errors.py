"""ldap3, socket and TLS failures, and refused binds, as `DirectoryError`s an operator can act on.

Each message names the DC's host:port (and the CA file for TLS failures); ldap3's own
exceptions never reach the caller.
"""
from __future__ import annotations

import re
import socket
import ssl
from typing import Any

from runbook.errors import (
    DirectoryBindError,
    DirectoryError,
    DirectoryTimeout,
    DirectoryTlsError,
    DirectoryUnreachable,
)
from runbook.flow.settings import DirectorySettings

# AD's "data xxx" codes in a failed bind's diagnostic message.
_BIND_DATA_CODES = {
    "525": "no such user",
    "52e": "invalid credentials",
    "530": "logon not permitted at this time",
    "531": "logon not permitted from this workstation",
    "532": "password expired",
    "533": "account disabled",
    "701": "account expired",
    "773": "password must be changed before first logon",
    "775": "account locked out",
}

_VERIFY_FAILED = re.compile(r"certificate verify failed: ([^'\"()]+)")


def _reason(exc: BaseException) -> str:
    """The innermost useful text of a socket/TLS exception (without ldap3's wrapping noise)."""
    text = str(exc)
    for prefix in (
        "socket connection error while opening: ",
        "socket ssl wrapping error: ",
        "error receiving data: ",
        "error sending data: ",
        "wrap socket error: ",
        "start_tls failed - ",
    ):
        text = text.replace(prefix, "")
    text = text.strip(" -:")
    return text or type(exc).__name__


def bind_error(result: dict[str, Any], settings: DirectorySettings, port: int, who: str, *,
                kerberos: bool = False) -> DirectoryError:
    code = result.get("description") or f"result {result.get('result')}"
    message = (result.get("message") or "").strip()
    where = f"{settings.server}:{port}"
    if kerberos and code == "strongerAuthRequired":
        # Samba before 4.20 at its default (ldap server require strong auth = yes) refuses every GSSAPI bind
        # inside TLS: without a SASL security layer ("Sign or Seal are required") and with one ("not allowed
        # if TLS is used"). AD and newer Samba accept the bind we make (no layer, TLS channel binding).
        return DirectoryBindError(
            f"bind as {who} refused by {where}: the DC accepts no Kerberos (GSSAPI) bind inside TLS ({message}). "
            "On a Samba DC older than 4.20 set 'ldap server require strong auth = allow_sasl_over_tls'; "
            "or set directory.bind_user for a simple bind over TLS"
        )
    if code == "invalidCredentials":
        data = re.search(r"data ([0-9a-f]{3})", message)
        reason = _BIND_DATA_CODES.get(data.group(1), "invalid credentials") if data else "invalid credentials"
        if reason == "no such user":
            reason = "invalid credentials (no such user)"
        return DirectoryBindError(f"bind as {who} refused: {reason} ({where})")
    if code == "strongerAuthRequired":
        return DirectoryBindError(
            f"bind as {who} refused by {where}: the DC requires an encrypted connection (strongerAuthRequired); "
            "use tls: ldaps or starttls"
        )
    return DirectoryBindError(f"bind as {who} refused by {where}: {code}" + (f" ({message})" if message else ""))


_GSS_MINOR = re.compile(r"Minor \(\d+\): (.+?)\s*$", re.S)


def kerberos_bind_error(exc: BaseException, settings: DirectorySettings, port: int) -> DirectoryError | None:
    """A GSSAPI failure during the bind as a message naming the SPN / kinit; None when it is not one."""
    if not any(part in type(exc).__module__ for part in ("gssapi", "krb5")):
        return None
    text = str(exc)
    minor = _GSS_MINOR.search(text)
    reason = minor.group(1).strip() if minor else text
    where = f"{settings.server}:{port}"
    spn = f"ldap/{settings.server}"
    lowered = reason.lower()
    if "not found in kerberos database" in lowered:
        short = settings.server.split(".")[0].upper()
        return DirectoryBindError(
            f"Kerberos bind to {where}: the KDC knows no service {spn} ({reason}). A DC registers "
            f"{spn}, ldap/{short} and ldap/{settings.server}/{settings.domain} on its computer account; add the "
            f"missing SPN to {short}$ (setspn -S {spn} {short}), or check directory.server"
        )
    if "expired" in lowered:
        return DirectoryBindError(f"Kerberos bind to {where}: {reason}: run kinit again")
    if "clock skew" in lowered:
        return DirectoryBindError(
            f"Kerberos bind to {where}: {reason}: this machine's clock differs from the KDC's by more than 5 minutes"
        )
    return DirectoryBindError(f"Kerberos bind to {where} (service {spn}) failed: {reason}")


def map_exception(exc: BaseException, settings: DirectorySettings, port: int, timeout: float,
                   what: str) -> DirectoryError:
    """ldap3 / socket / TLS exceptions → an operator message naming host:port (and the CA file for TLS)."""
    from ldap3.core.exceptions import (
        LDAPCertificateError,
        LDAPOperationResult,
        LDAPSocketReceiveError,
        LDAPStartTLSError,
    )

    where = f"{settings.server}:{port}"
    reason = _reason(exc)
    ca = settings.ca_file or "the system trust store"
    if isinstance(exc, LDAPOperationResult):
        return DirectoryError(f"{what}: {where} answered {exc.description}: {(exc.message or '').strip()}")
    if isinstance(exc, LDAPCertificateError):
        return DirectoryTlsError(
            f"{what}: TLS validation of {where} failed: the certificate (from a CA in {ca}) is not issued to "
            f"{settings.server}; check directory.server"
        )
    if isinstance(exc, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(exc):
        detail = _VERIFY_FAILED.search(str(exc))
        return DirectoryTlsError(
            f"{what}: TLS validation of {where} failed: the certificate of {settings.server} is not signed by a "
            f"CA in {ca} ({detail.group(1).strip() if detail else reason}); check directory.ca_file"
        )
    if isinstance(exc, (socket.timeout, TimeoutError)) or "timed out" in reason.lower():
        return DirectoryTimeout(f"{what}: no answer from {where} within {timeout:g} s (timeout)")
    if isinstance(exc, ssl.SSLError) or isinstance(exc, LDAPStartTLSError):
        return DirectoryTlsError(f"{what}: TLS with {where} failed ({reason}); CA file: {ca}")
    if isinstance(exc, socket.gaierror) or any(
        text in reason for text in ("Name or service not known", "not resolve", "invalid server address")
    ):
        return DirectoryUnreachable(
            f"{what}: cannot resolve {settings.server} ({reason}); check directory.server / DNS"
        )
    if isinstance(exc, ConnectionRefusedError) or "refused" in reason.lower():
        return DirectoryUnreachable(f"{what}: cannot reach the DC at {where}: connection refused")
    if isinstance(exc, OSError) or isinstance(exc, LDAPSocketReceiveError):
        return DirectoryUnreachable(f"{what}: cannot reach the DC at {where}: {reason}")
    if "gssapi" in reason.lower() or "kerberos" in reason.lower() or "GSS" in reason:
        return DirectoryBindError(f"{what}: Kerberos bind to {where} failed ({reason}); run kinit first")
    return DirectoryUnreachable(f"{what}: {where}: {type(exc).__name__}: {reason}")

"""Opening, securing and binding the ldap3 connections behind `LdapDirectory`.

TLS is validated against `directory.ca_file` or the system trust store; the password is used
for the binds and then dropped (ldap3's copy is cleared after each bind). Without
`directory.bind_user` the bind is SASL GSSAPI with the operator's ticket (`runbook.directory.kerberos`):
inside TLS and with no SASL security layer, as AD requires (it refuses sign/seal inside TLS), with
the TLS channel binding that a DC enforcing LDAP channel binding asks for (ldap3 sends it).
"""
from __future__ import annotations

import math
import ssl
from typing import TYPE_CHECKING

from runbook.directory.errors import bind_error, kerberos_bind_error, map_exception
from runbook.directory.kerberos import KerberosError, Ticket, current_ticket, realm_of
from runbook.errors import (
    BadInput,
    DirectoryBindError,
    DirectoryCaFileError,
    DirectoryError,
)
from runbook.flow.settings import DirectorySettings

if TYPE_CHECKING:  # ldap3 itself loads only when a session first talks to the directory
    from ldap3 import Connection, Tls


class _Hidden(str):
    """A password that shows as stars in any repr (tracebacks, debuggers, pytest output)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "'********'"


def whole_seconds(timeout: float) -> int:
    """ldap3 wants whole seconds for SO_RCVTIMEO / time limits."""
    return max(1, int(math.ceil(timeout)))


def first_text(values: list[bytes] | None) -> str | None:
    return values[0].decode("utf-8", "replace") if values else None


def all_texts(values: list[bytes] | None) -> tuple[str, ...]:
    return tuple(value.decode("utf-8", "replace") for value in values or [])


def open_connections(
    settings: DirectorySettings, password: str | None, *, insecure: bool, timeout: float
) -> tuple[Connection, Connection | None, str, list[str], str]:
    """(DC connection, Global Catalog connection or None, naming context to search, warnings, acting as)."""
    if settings.tls not in ("ldaps", "starttls", "none"):
        raise BadInput(f"directory.tls must be ldaps, starttls or none, not {settings.tls!r}")
    if settings.tls == "none" and not insecure:
        raise BadInput(
            f"directory.tls is 'none': refusing to send credentials to {settings.server}:{settings.port} "
            "over plain LDAP; use tls: ldaps (or starttls), or pass --insecure for a lab"
        )
    if settings.bind_user is not None and not password:
        raise BadInput(f"no password for the directory bind as {settings.bind_user}")
    ticket = _ticket(settings) if settings.bind_user is None else None
    acting_as = ticket.principal if ticket else str(settings.bind_user)
    password = _Hidden(password) if password else None

    warnings: list[str] = []
    if settings.tls == "none":
        warnings.append(
            f"plain LDAP to {settings.server}:{settings.port} (--insecure): nothing is encrypted or authenticated"
        )
    conn = _open_and_bind(settings, settings.port, password, timeout, acting_as)
    try:
        base_dn = settings.base_dn
        root = root_dse(conn, settings, settings.port, ["defaultNamingContext"], timeout)
        live_nc = first_text(root.get("defaultNamingContext"))
        if live_nc and live_nc.lower() != base_dn.lower():
            warnings.append(
                f"{settings.server} serves {live_nc}, not {base_dn} (directory.domain {settings.domain!r}); "
                f"searching {live_nc}"
            )
            base_dn = live_nc
        gc_conn = None
        try:
            gc_conn = _open_and_bind(settings, settings.gc_port, password, min(timeout, 10.0), acting_as)
        except DirectoryBindError:
            raise
        except DirectoryError as exc:
            warnings.append(
                f"Global Catalog {settings.server}:{settings.gc_port} did not answer ({exc}); "
                f"SPN duplicate checks search only the domain {base_dn}, not the whole forest"
            )
    except BaseException:
        unbind_quietly(conn)
        raise
    return conn, gc_conn, base_dn, warnings, acting_as


def _ticket(settings: DirectorySettings) -> Ticket:
    """The operator's TGT for a bind without `directory.bind_user` (NoTicket / KerberosUnavailable say why not)."""
    try:
        return current_ticket(
            realm=realm_of(settings.domain),
            purpose=f"no directory.bind_user is set, so the bind to {settings.server}",
        )
    except KerberosError as exc:
        raise DirectoryBindError(str(exc)) from None


def _tls_config(settings: DirectorySettings) -> Tls | None:
    from ldap3 import Tls
    from ldap3.core.exceptions import LDAPSSLConfigurationError

    if settings.tls == "none":
        return None
    if settings.ca_file:
        try:  # a file that is there but is no CA bundle would otherwise fail later as a vague TLS error
            ssl.create_default_context(cafile=settings.ca_file)
        except ssl.SSLError:
            raise DirectoryCaFileError(
                f"directory.ca_file: {settings.ca_file} holds no PEM CA certificate; expected the certificate of "
                f"the CA that signed {settings.server}'s certificate"
            ) from None
        except (OSError, ValueError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            raise DirectoryCaFileError(
                f"directory.ca_file: {settings.ca_file} cannot be read as a PEM CA bundle ({reason}); expected "
                f"the certificate of the CA that signed {settings.server}'s certificate"
            ) from None
    try:
        return Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=settings.ca_file)
    except LDAPSSLConfigurationError:
        raise DirectoryCaFileError(
            f"directory.ca_file: {settings.ca_file} cannot be read (expected a PEM CA bundle that signed "
            f"the certificate of {settings.server})"
        ) from None


def _open_and_bind(settings: DirectorySettings, port: int, password: str | None, timeout: float,
                   acting_as: str) -> Connection:
    from ldap3 import KERBEROS, NONE, SASL, SIMPLE, Connection, Server

    tls = _tls_config(settings)
    server = Server(
        settings.server, port=port, use_ssl=settings.tls == "ldaps", tls=tls, get_info=NONE,
        connect_timeout=timeout,
    )
    if settings.bind_user is None:
        conn = Connection(
            server, authentication=SASL, sasl_mechanism=KERBEROS, receive_timeout=whole_seconds(timeout),
            auto_referrals=False, raise_exceptions=False, read_only=False, return_empty_attributes=True,
        )
        who = f"{acting_as} (Kerberos)"
    else:
        conn = Connection(
            server, user=settings.bind_user, password=password, authentication=SIMPLE,
            receive_timeout=whole_seconds(timeout), auto_referrals=False, raise_exceptions=False, read_only=False,
            return_empty_attributes=True,
        )
        who = settings.bind_user
    what = f"binding as {who}"
    try:
        try:
            conn.open()
            if settings.tls == "starttls":
                conn.start_tls()
            bound = conn.bind()
        except Exception as exc:
            if settings.bind_user is None:
                kerberos_error = kerberos_bind_error(exc, settings, port)
                if kerberos_error is not None:
                    raise kerberos_error from None
            raise map_exception(exc, settings, port, timeout, what) from None
        finally:
            # Never keep the password around: ldap3 holds a copy, and the last request holds the bind.
            conn.password = None
            conn.request = None
        if not bound:
            raise bind_error(conn.result or {}, settings, port, who, kerberos=settings.bind_user is None)
    except BaseException:
        unbind_quietly(conn)
        raise
    return conn


def root_dse(conn: Connection, settings: DirectorySettings, port: int, attributes: list[str],
             timeout: float) -> dict[str, list[bytes]]:
    from ldap3 import BASE

    what = f"reading the rootDSE of {settings.server}"
    try:
        if conn.socket is not None:
            conn.socket.settimeout(timeout)
        conn.search("", "(objectClass=*)", search_scope=BASE, attributes=attributes, time_limit=whole_seconds(timeout))
    except Exception as exc:
        raise map_exception(exc, settings, port, timeout, what) from None
    result = conn.result or {}
    if result.get("description") != "success" or not conn.response:
        raise DirectoryError(f"{what}: {result.get('description')} {result.get('message', '')}")
    raw: dict[str, list[bytes]] = conn.response[0].get("raw_attributes", {})
    return raw


def unbind_quietly(conn: Connection | None) -> None:
    if conn is None:
        return
    try:
        if not conn.closed:
            conn.unbind()
    except Exception:  # closing must never raise
        pass

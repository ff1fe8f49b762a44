"""The operator's Kerberos ticket cache: who it holds, until when, and what to say when it cannot be used.

Kerberos needs the optional `kerberos` extra (`gssapi` and `krb5`, built from source against MIT
Kerberos); without it every Kerberos path raises `KerberosUnavailable` saying what to install.
The cache is the one MIT Kerberos picks (`KRB5CCNAME`, else the system default), so a `kinit` in
the operator's shell is what the tool uses; nothing here ever asks for or holds a password.
"""
from __future__ import annotations

import datetime as dt
import importlib.util
import os
from dataclasses import dataclass

from runbook.errors import StepFailed

INSTALL_HINT = (
    "pip install 'certauth-runbook[kerberos]' (it builds gssapi and krb5 from source: first apt-get install "
    "libkrb5-dev gcc python3-dev)"
)
# A ticket that ends sooner than this is a warning before a change window starts.
EXPIRY_MARGIN = dt.timedelta(hours=1)


class KerberosError(StepFailed):
    """Kerberos cannot be used from here; the message says what to do."""


class KerberosUnavailable(KerberosError):
    """The Python Kerberos bindings are not installed; the message says what to install."""


class NoTicket(KerberosError):
    """No usable ticket in the cache (none, or expired); the message names kinit and the principal."""


@dataclass(frozen=True)
class Ticket:
    """The initial ticket (TGT) in the operator's cache."""

    principal: str
    expires: dt.datetime  # timezone-aware UTC
    cache: str

    def remaining(self, now: dt.datetime | None = None) -> dt.timedelta:
        return self.expires - (now or dt.datetime.now(dt.timezone.utc))

    def expires_soon(self, now: dt.datetime | None = None, margin: dt.timedelta = EXPIRY_MARGIN) -> bool:
        return self.remaining(now) < margin

    def describe(self) -> str:
        return f"{self.principal} (ticket valid until {self.expires:%Y-%m-%d %H:%M} UTC, cache {self.cache})"


def available() -> bool:
    return importlib.util.find_spec("gssapi") is not None


def require(what: str) -> None:
    """Raise KerberosUnavailable naming `what` needed Kerberos and how to install it."""
    if not available():
        raise KerberosUnavailable(f"{what} uses Kerberos, which needs the Python package gssapi: {INSTALL_HINT}")


def cache_name() -> str:
    return os.environ.get("KRB5CCNAME") or "the default credential cache"


def realm_of(domain: str) -> str:
    return domain.upper()


def kinit_hint(principal: str | None, realm: str) -> str:
    who = principal or f"you@{realm}"
    return f"run kinit {who} first"


def current_ticket(*, realm: str, purpose: str) -> Ticket:
    """The cache's TGT, or NoTicket (naming kinit and the principal) / KerberosUnavailable.

    `purpose` says what needs it ("the bind to dc1.test.lan"), `realm` is the domain's realm for
    the kinit hint when the cache does not even name a principal.
    """
    require(purpose)
    import gssapi
    from gssapi.raw import ExpiredCredentialsError, GSSError, MissingCredentialsError

    try:
        creds = gssapi.Credentials(usage="initiate")
        principal, lifetime = str(creds.name), int(creds.lifetime)
    except ExpiredCredentialsError:
        who = cached_principal()
        raise NoTicket(
            f"{purpose} uses Kerberos, but the ticket of {who or 'the cache'} in {cache_name()} has expired: "
            f"{kinit_hint(who, realm)}"
        ) from None
    except (MissingCredentialsError, GSSError):
        who = cached_principal()
        raise NoTicket(
            f"{purpose} uses Kerberos, but there is no valid ticket in {cache_name()}: {kinit_hint(who, realm)} "
            "(or set a user name and password for this connection)"
        ) from None
    if lifetime <= 0:
        raise NoTicket(f"{purpose} uses Kerberos, but the ticket of {principal} has expired: "
                       f"{kinit_hint(principal, realm)}")
    expires = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) + dt.timedelta(seconds=lifetime)
    return Ticket(principal=principal, expires=expires, cache=cache_name())


def cached_principal() -> str | None:
    """The principal a cache was made for, even when its tickets have expired (None: no cache)."""
    if importlib.util.find_spec("krb5") is not None:
        try:
            import krb5

            context = krb5.init_context()
            name = krb5.cc_get_principal(context, krb5.cc_default(context)).name
            return name.decode("utf-8", "replace") if name is not None else None
        except Exception:  # no cache, unreadable cache: the caller says "no ticket"
            return None
    import shutil  # here: only this fallback runs a program, and `runbook status` reads the ticket through here
    import subprocess

    klist = shutil.which("klist")
    if not klist:
        return None
    try:
        out = subprocess.run([klist], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    for line in out.splitlines():
        if line.startswith("Default principal:"):
            return line.split(":", 1)[1].strip() or None
    return None

"""How a WinRM connection is made: the endpoint's address, the transport policy, request deadlines.

The policy is DOMAIN.md's "Remote PowerShell, safely"; `runbook.hosts.shell` opens its pools with these.
"""
from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from pypsrp.wsman import NAMESPACES, OptionSet, SelectorSet, WSMan, WSManAction

from runbook.errors import BadInput

ENCRYPTING_AUTHS = ("negotiate", "kerberos", "ntlm")
SUPPORTED_AUTHS = ENCRYPTING_AUTHS + ("basic",)

CONNECT_TIMEOUT_CAP = 10.0

# The service part of the SPN a Kerberos ticket for WinRM is asked for (HTTP/<host>, as Windows' own WinRM client
# does): AD maps HTTP/ to every computer's HOST/ SPN, so it works on any domain-joined host without a WSMAN/ SPN.
KERBEROS_SERVICE = "HTTP"


def kerberos_spn(host: str) -> str:
    return f"{KERBEROS_SERVICE}/{host}"


@dataclass(frozen=True)
class Target:
    """How one pool connects: everything pypsrp needs except the password."""

    server: str
    port: int
    ssl: bool
    path: str
    auth: str
    encryption: str
    cert_validation: bool | str
    configuration_name: str
    username: str | None
    hostname_override: str | None

    @property
    def url(self) -> str:
        return f"{'https' if self.ssl else 'http'}://{self.server}:{self.port}/{self.path}"


def encryption_policy(
    *, where: str, ssl: bool, auth: str, insecure: bool, user: str | None, password: str | None
) -> str:
    """Check one transport against DOMAIN.md's rules; return pypsrp's `encryption` value or raise BadInput."""
    if auth not in SUPPORTED_AUTHS:
        raise BadInput(f"{where}: WinRM auth {auth!r} is not supported (use one of {', '.join(SUPPORTED_AUTHS)})")
    if auth in ("basic", "ntlm") and (not user or password is None):
        raise BadInput(f"{where}: WinRM auth {auth!r} needs a user name and a password")
    if ssl:
        return "auto"  # TLS protects the messages; the certificate is validated
    if auth in ENCRYPTING_AUTHS:
        return "always"  # HTTP with Kerberos/NTLM message encryption
    if not insecure:
        raise BadInput(
            f"{where}: Basic authentication over plain HTTP would send the password and every command in clear "
            "text. Use transport 'https' (validated certificate), or negotiate/kerberos/ntlm (message encryption) "
            "over http, or pass --insecure for a lab."
        )
    return "never"


class BoundedWSMan(WSMan):
    """pypsrp's WSMan without the hidden retries of a timed-out Receive.

    pypsrp retries a Receive whose HTTP read timed out (up to 5 times, with a growing back-off);
    here every Receive is bounded by the caller's deadline instead.
    """

    def receive(self, resource_uri: str, resource: ET.Element, option_set: OptionSet | None = None,
                selector_set: SelectorSet | None = None, timeout: int | None = None) -> ET.Element:
        res = self.invoke(WSManAction.RECEIVE, resource_uri, resource, option_set, selector_set, timeout)
        # A WSMan response always has a Body (pypsrp's own receive relies on the same).
        return res.find("s:Body", namespaces=NAMESPACES)  # type: ignore[return-value]


class Secret:
    """Holds the password so that repr()/vars() of the objects around it never show it."""

    __slots__ = ("_value",)

    def __init__(self, value: str | None):
        self._value = value

    def reveal(self) -> str | None:
        return self._value

    def __repr__(self) -> str:
        return "<password>" if self._value is not None else "<no password>"


def time_left(deadline: float) -> float:
    return deadline - time.monotonic()


def wsman_operation_timeout(remaining: float) -> float:
    """WS-Man OperationTimeout for one request: what is left of the call (xs:duration allows fractions)."""
    return round(max(remaining, 0.2), 3)


def bound_requests(wsman: WSMan, remaining: float) -> None:
    """Make every HTTP request of this transport give up within what is left of the call."""
    remaining = max(remaining, 0.5)
    # pypsrp annotates int, but writes the value into xs:duration text ("PT%sS"), where a fraction is valid.
    wsman.operation_timeout = wsman_operation_timeout(remaining)  # type: ignore[assignment]
    transport = getattr(wsman, "transport", None)
    if transport is not None:
        transport.connection_timeout = min(remaining, CONNECT_TIMEOUT_CAP)
        transport.read_timeout = remaining + 2


def quiet_environment(wsman: BoundedWSMan) -> None:
    """Build the HTTP session now, so that from the first request on (the authentication legs, Create, the
    Receive that opens the pool) requests stops re-reading the environment (proxy variables, .netrc) on each
    one: proxies are already off and TLS verification explicit, and those reads cost CPU on a farm's verify.
    pypsrp builds the session on its first request otherwise (with the environment's proxy settings merged once,
    as here)."""
    transport = wsman.transport
    if transport.session is None:
        transport.session = transport._build_session()
    transport.session.trust_env = False

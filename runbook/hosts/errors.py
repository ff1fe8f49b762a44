"""Why a WinRM call failed: which failures prove a command never ran, and one sentence per failure for the operator."""
from __future__ import annotations

import socket
import ssl as ssl_module

import requests
from pypsrp.exceptions import AuthenticationError, WinRMError, WinRMTransportError, WSManFaultError

from runbook.hosts.transport import CONNECT_TIMEOUT_CAP, Target, kerberos_spn

WSMAN_OPERATION_TIMEDOUT = 0x80338029
WSMAN_INVALID_SELECTORS = 0x8033805B  # "the shell was not found on the server"


class CallTimeout(Exception):
    """A call ran past its deadline (and was stopped on the host); the message says what was running."""


class NotStarted(Exception):
    """The host answered the Command request with a refusal: the command did not run."""

    def __init__(self, err: BaseException):
        super().__init__(str(err))
        self.err = err


def refused_before_running(err: BaseException) -> bool:
    """Failures of a Command request that prove the command was not started (so sending it again is safe)."""
    if isinstance(err, WSManFaultError):
        fault_code: int = err.code  # pypsrp leaves its exceptions' properties unannotated
        return fault_code == WSMAN_INVALID_SELECTORS  # the shell is unknown to the host
    if isinstance(err, AuthenticationError):
        return True  # HTTP 401
    if isinstance(err, WinRMTransportError):
        return err.code in (400, 401)  # e.g. a message sealed for an authentication the host no longer has
    return False


def describe_failure(err: BaseException, target: Target, timeout: float) -> str:
    """A transport failure as one sentence naming what to check (the host is prefixed by HostError)."""
    where = target.url
    spn = kerberos_spn(target.hostname_override or target.server)
    if isinstance(err, AuthenticationError):
        if target.username is None:
            # Our ticket was for the SPN below; a 401 then means the host holds no key for it.
            return (f"WinRM at {where} refused the Kerberos ticket for {spn} (HTTP 401, auth {target.auth}): the "
                    f"host's WinRM service holds no key for {spn}; {spn} (or HOST/) must be registered on that "
                    f"host's own computer account and on no other account (setspn -Q {spn})")
        return f"WinRM refused the credentials for {target.username} (HTTP 401, auth {target.auth}) at {where}"
    if isinstance(err, requests.exceptions.SSLError):
        reason = _root(err)
        return (f"the TLS certificate of {where} could not be validated ({reason}); "
                "check winrm.ca_file and the certificate's names")
    if isinstance(err, requests.exceptions.ConnectTimeout):
        return f"no TCP connection to {target.server}:{target.port} within {min(timeout, CONNECT_TIMEOUT_CAP):g} s"
    if isinstance(err, requests.exceptions.Timeout):
        return f"WinRM at {where} did not answer within {timeout:g} s"
    if isinstance(err, requests.exceptions.ConnectionError):
        root = _root_exc(err)
        if isinstance(root, socket.gaierror):
            return f"cannot resolve the host name {target.server} (DNS)"
        if isinstance(root, ConnectionRefusedError) or "refused" in str(root).lower():
            return (f"connection refused by {target.server}:{target.port}; is the WinRM listener up "
                    f"(winrm quickconfig, firewall)?")
        if isinstance(root, (ssl_module.SSLError,)):
            return f"TLS handshake with {where} failed ({root})"
        return f"connection to {where} failed ({_root(err)})"
    if isinstance(err, WSManFaultError):
        if err.code == WSMAN_OPERATION_TIMEDOUT:
            return f"WinRM at {where} did not answer within {timeout:g} s"
        reason = err.reason or err.provider_fault or "no details"
        return f"WinRM fault {err.code!r} at {where}: {reason}"
    if isinstance(err, WinRMTransportError):
        if err.code == 404:
            return f"no WinRM endpoint at {where} (HTTP 404)"
        return f"WinRM at {where} answered HTTP {err.code}"
    if isinstance(err, WinRMError):
        return f"PowerShell remoting failed at {where}: {err}"
    name = type(err).__name__
    if "Spnego" in name or type(err).__module__.startswith("spnego"):
        text = str(err)
        if "not found in Kerberos database" in text:
            return (f"{target.auth} authentication to {where} failed: the KDC knows no service {spn}; register it "
                    f"(or HOST/) on the computer account of {target.hostname_override or target.server}, or check "
                    "the host name")
        if "credential cache" in text or "No Kerberos credentials" in text or "expired" in text.lower():
            return f"{target.auth} authentication to {where} ({spn}) needs a valid Kerberos ticket: run kinit first"
        return f"{target.auth} authentication to {where} ({spn}) failed: {err}"
    return f"PowerShell remoting failed at {where}: {name}: {err}"


def _root_exc(err: BaseException) -> BaseException:
    seen: set[int] = set()
    current: BaseException = err
    while id(current) not in seen:
        seen.add(id(current))
        nxt = current.__cause__ or current.__context__
        if nxt is None:
            for arg in getattr(current, "args", ()):
                if isinstance(arg, BaseException):
                    nxt = arg
                    break
            reason = getattr(current, "reason", None)
            if nxt is None and isinstance(reason, BaseException):
                nxt = reason
        if nxt is None:
            break
        current = nxt
    return current


def _root(err: BaseException) -> str:
    root = _root_exc(err)
    return f"{type(root).__name__}: {root}" if str(root) else type(root).__name__

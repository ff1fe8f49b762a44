"""Who may talk to the lab WinRM endpoint, and how NTLM/Kerberos-sealed messages are framed.

The HTTP round trips themselves (401 challenges, the per-connection acceptor) are in
`testsupport.wsman.http_server`; this module holds what they rely on: the process-wide NTLM
credential file and Kerberos keytab pyspnego's acceptor reads, and WinRM's multipart/encrypted framing
([MS-WSMV] 3.1.4.1.30.x) around pyspnego's `wrap_winrm` / `unwrap_winrm`.
"""
from __future__ import annotations

import os
import re
import tempfile
import threading
from typing import Any


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
        domain, user = split_user(username)
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


NTLM_USERS = _NtlmUsers()


class _Keytabs:
    """MIT Kerberos acceptors read their keys from the keytab named by KRB5_KTNAME, which is process-wide.

    Every Kerberos endpoint of this process must therefore use one keytab file (with the HTTP/<host>
    keys of all of them); a second file is refused rather than silently ignored.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users: dict[int, str] = {}
        self._previous: str | None = None

    def add(self, key: int, keytab: str) -> None:
        with self._lock:
            current = next(iter(self._users.values()), None)
            if current is not None and current != keytab:
                raise ValueError(f"another lab Kerberos endpoint uses keytab {current}; all must share one file")
            if not self._users:
                self._previous = os.environ.get("KRB5_KTNAME")
            self._users[key] = keytab
            os.environ["KRB5_KTNAME"] = f"FILE:{keytab}"

    def remove(self, key: int) -> None:
        with self._lock:
            if self._users.pop(key, None) is None or self._users:
                return
            if self._previous is None:
                os.environ.pop("KRB5_KTNAME", None)
            else:
                os.environ["KRB5_KTNAME"] = self._previous


KEYTABS = _Keytabs()


def split_user(username: str) -> tuple[str, str]:
    if "\\" in username:
        domain, user = username.split("\\", 1)
        return domain, user
    return "", username


# WinRM's multipart/encrypted framing of an NTLM-sealed SOAP message.
_MIME_BOUNDARY = b"--Encrypted Boundary"
SPNEGO_ENCRYPTED = "application/HTTP-SPNEGO-session-encrypted"
KERBEROS_ENCRYPTED = "application/HTTP-Kerberos-session-encrypted"


def unwrap(ctx: Any, body: bytes) -> bytes:
    parts = [p for p in re.split(rb"--Encrypted Boundary(?:--)?\r\n", body) if p.strip()]
    message = b""
    for i in range(0, len(parts) - 1, 2):
        meta, payload = parts[i], parts[i + 1]
        payload = payload.replace(b"\tContent-Type: application/octet-stream\r\n", b"", 1)
        header_length = int.from_bytes(payload[:4], "little")
        sig, data = payload[4:4 + header_length], payload[4 + header_length:]
        message += ctx.unwrap_winrm(sig, data)
        expected = int(re.search(rb"Length=(\d+)", meta).group(1))  # type: ignore[union-attr]
        if len(message) < expected:
            raise ValueError("decrypted length mismatch")
    return message


def wrap(ctx: Any, plain: bytes, protocol: str = SPNEGO_ENCRYPTED) -> bytes:
    result = ctx.wrap_winrm(plain)
    header, data, padding = result.header, result.data, result.padding_length
    return b"\r\n".join([
        _MIME_BOUNDARY,
        f"\tContent-Type: {protocol}".encode(),
        f"\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length={len(plain) + padding}".encode(),
        _MIME_BOUNDARY,
        b"\tContent-Type: application/octet-stream",
        len(header).to_bytes(4, "little") + header + data,
    ]) + _MIME_BOUNDARY + b"--\r\n"


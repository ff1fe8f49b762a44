"""Connection settings derived from the params file (no secrets: passwords come from env or a prompt)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DirectorySettings:
    """How to reach the domain controller (params `directory:` section, defaults applied)."""

    domain: str  # DNS domain, e.g. test.lan
    server: str  # DC host name, e.g. dc1.test.lan
    port: int  # 636 for ldaps, 389 for starttls/none
    gc_port: int  # 3269 for ldaps, 3268 for starttls/none
    tls: str  # 'ldaps' | 'starttls' | 'none' ('none' needs --insecure)
    ca_file: str | None  # absolute path; None: system trust store
    bind_user: str | None  # UPN or DOMAIN\\user for a simple bind; None: Kerberos (GSSAPI) from the ticket cache

    @property
    def base_dn(self) -> str:
        return ",".join(f"DC={part}" for part in self.domain.split("."))


@dataclass(frozen=True)
class WinRMSettings:
    """How to reach Windows hosts (params `winrm:` section, defaults applied)."""

    transport: str = "https"  # 'https' (5986, validated) | 'http' (5985, needs message encryption or --insecure)
    port: int | None = None  # None: 5986 for https, 5985 for http
    auth: str = "negotiate"  # 'negotiate' | 'kerberos' | 'ntlm' | 'basic'
    user: str | None = None  # None with kerberos: the operator's ticket cache
    ca_file: str | None = None  # absolute path; None: system trust store
    exchange_auth: str = "kerberos"  # auth for the Exchange management endpoint (http://<fqdn>/PowerShell)
    exchange_port: int = 80  # port of that endpoint (Exchange serves it from IIS on plain HTTP)

    def effective_port(self) -> int:
        return self.port or (5986 if self.transport == "https" else 5985)

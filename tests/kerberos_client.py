"""An operator's Kerberos client against the test Samba DC: a krb5.conf and a private ticket cache.

`kinit` gets its key from a keytab exported from the DC (`samba-tool domain exportkeytab`), so no
password is typed, prompted for or put in any environment variable: exactly the situation of an
operator who ran `kinit` earlier in their shell. The machine's own Kerberos configuration and cache
are never touched (KRB5_CONFIG and KRB5CCNAME point into the test's temp dir).
"""
from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.samba_dc import REALM, SambaDC

KRB5_CONF = """[libdefaults]
    default_realm = {realm}
    dns_lookup_kdc = false
    dns_lookup_realm = false
    rdns = false
    dns_canonicalize_hostname = false
    forwardable = true
[realms]
    {realm} = {{
        kdc = {kdc}
    }}
[domain_realm]
    .{domain} = {realm}
    {domain} = {realm}
"""


@dataclass
class KerberosClient:
    folder: Path
    krb5_conf: Path
    ccache: Path

    @property
    def env(self) -> dict[str, str]:
        return {"KRB5_CONFIG": str(self.krb5_conf), "KRB5CCNAME": f"FILE:{self.ccache}"}

    def kinit(self, dc: SambaDC, account: str, *, lifetime: str | None = None) -> str:
        """`kinit -k -t <exported keytab> account@REALM` into the private cache; returns the principal."""
        principal = account if "@" in account else f"{account}@{REALM}"
        keytab = self.folder / f"{account.replace('/', '_').replace('$', '')}.keytab"
        dc.export_keytab(principal, keytab)
        args = ["kinit", "-k", "-t", str(keytab)]
        if lifetime:
            args += ["-l", lifetime]
        subprocess.run([*args, principal], check=True, capture_output=True, text=True, timeout=30,
                       env={**os.environ, **self.env}, stdin=subprocess.DEVNULL)
        return principal

    def kdestroy(self) -> None:
        subprocess.run(["kdestroy"], capture_output=True, timeout=30, env={**os.environ, **self.env})

    def klist(self) -> str:
        return subprocess.run(["klist"], capture_output=True, text=True, timeout=30,
                              env={**os.environ, **self.env}).stdout


def kerberos_client(dc: SambaDC, folder: Path, monkeypatch: pytest.MonkeyPatch) -> KerberosClient:
    """A client for `dc` whose settings are in this process's environment (so subprocesses inherit them)."""
    folder.mkdir(parents=True, exist_ok=True)
    conf = folder / "krb5.conf"
    conf.write_text(KRB5_CONF.format(realm=REALM, kdc=dc.ip, domain=dc.domain), encoding="utf-8")
    client = KerberosClient(folder, conf, folder / "ccache")
    for name, value in client.env.items():
        monkeypatch.setenv(name, value)
    return client

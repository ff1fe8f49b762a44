"""End-to-end proof of Kerberos constrained delegation with MIT Kerberos tools.

From a host that holds the TMG (or SEG) computer key in a keytab: `kinit -k -t keytab 'TMG01$'`,
then `kvno -k keytab -I alice -P http/eas01.test.lan` asks the KDC for S4U2Self (a ticket to TMG01$
on behalf of alice) followed by S4U2Proxy (a ticket to http/eas01.test.lan for alice). The KDC
issues the second ticket exactly when `msDS-AllowedToDelegateTo` and the protocol-transition bit
(TRUSTED_TO_AUTH_FOR_DELEGATION) are right, so this is the check the troubleshooting section asks for.

Everything runs in a private temporary directory (its own krb5.conf and credential cache) that is
removed afterwards: the operator's own ticket cache and /etc/krb5.conf are never read or touched.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass

__all__ = ["KcdResult", "prove_kcd"]


@dataclass(frozen=True)
class KcdResult:
    """Whether the KDC issued the delegated ticket; `detail` is what an operator reads."""

    ok: bool
    detail: str


def _qualify(name: str, realm: str) -> str:
    return name if "@" in name else f"{name}@{realm}"


def _krb5_conf(realm: str, kdc: str) -> str:
    return (
        "[libdefaults]\n"
        f"  default_realm = {realm}\n"
        "  forwardable = true\n"
        "  dns_lookup_kdc = false\n"
        "  dns_lookup_realm = false\n"
        "  dns_canonicalize_hostname = false\n"
        "  rdns = false\n"
        "[realms]\n"
        f"  {realm} = {{\n"
        f"    kdc = {kdc}\n"
        "  }\n"
    )


def _output(proc: subprocess.CompletedProcess[str]) -> str:
    """The tool's error text (stderr; stdout only if stderr is empty), on one line."""
    text = proc.stderr if proc.stderr and proc.stderr.strip() else proc.stdout or ""
    return " / ".join(line.strip() for line in text.splitlines() if line.strip()) or f"exit status {proc.returncode}"


def _hint(kdc_text: str, principal: str, user: str, target_spn: str) -> str:
    text = kdc_text.lower()
    account, spn = principal.split("@")[0], target_spn.split("@")[0]
    if "client not found" in text:
        return f" (the KDC knows no user {user}: check the test user's name or UPN)"
    if "server not found" in text:
        return f" (no account holds the SPN {spn}: register it, steps 4a/4b)"
    if "constrained delegation" in text or "can't fulfill requested option" in text or "forwardable" in text:
        return (
            f" (check that msDS-AllowedToDelegateTo of {account} holds {spn} and that its userAccountControl "
            "has TRUSTED_TO_AUTH_FOR_DELEGATION 0x1000000 for protocol transition, steps 3a/3b)"
        )
    return ""


def prove_kcd(
    keytab: str,
    principal: str,
    user: str,
    target_spn: str,
    realm: str,
    kdc: str,
    *,
    timeout: float = 30,
) -> KcdResult:
    """Prove that `principal` (with its key in `keytab`) may delegate `user` to `target_spn`.

    `user` is a sAMAccountName (`alice`, sent as alice@REALM) or a UPN (`alice@test.lan`, sent as an
    enterprise name, the way TMG maps a client certificate to a user). `kdc` is a host
    name or IP, optionally with `:port`. Never raises for a Kerberos failure: `ok` is False and
    `detail` carries the KDC's own error text.
    """
    realm = realm.upper()
    kinit, kvno = shutil.which("kinit"), shutil.which("kvno")
    if not kinit or not kvno:
        return KcdResult(False, "could not test KCD: MIT kinit/kvno not found (apt-get install krb5-user)")
    if not os.path.isfile(keytab) or not os.access(keytab, os.R_OK):
        return KcdResult(False, f"could not test KCD: keytab {keytab} is missing or not readable")

    client = _qualify(principal, realm)
    service = _qualify(target_spn, realm)
    if "@" in user:
        user_args = ["-U", user]  # a UPN: sent as an enterprise name, the KDC looks it up
        shown_user = user
    else:
        user_args = ["-I", _qualify(user, realm)]
        shown_user = _qualify(user, realm)

    deadline = time.monotonic() + timeout
    workdir = tempfile.mkdtemp(prefix="runbook-kcd-")
    try:
        conf = os.path.join(workdir, "krb5.conf")
        with open(conf, "w") as handle:
            handle.write(_krb5_conf(realm, kdc))
        env = {key: value for key, value in os.environ.items() if not key.startswith("KRB5")}
        env.update(KRB5_CONFIG=conf, KRB5CCNAME=f"FILE:{os.path.join(workdir, 'ccache')}")

        def run(args: list[str], what: str) -> subprocess.CompletedProcess[str] | KcdResult:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return KcdResult(False, f"{what}: no answer from KDC {kdc} within {timeout:g} s")
            try:
                return subprocess.run(
                    args, env=env, capture_output=True, text=True, timeout=remaining, stdin=subprocess.DEVNULL
                )
            except subprocess.TimeoutExpired:
                return KcdResult(False, f"{what}: no answer from KDC {kdc} within {timeout:g} s")

        got = run([kinit, "-k", "-t", keytab, client], f"kinit as {client}")
        if isinstance(got, KcdResult):
            return got
        if got.returncode != 0:
            return KcdResult(False, f"kinit as {client} with keytab {keytab} failed (KDC {kdc}): {_output(got)}")

        got = run([kvno, "-k", keytab, *user_args, "-P", service], f"S4U2Self/S4U2Proxy for {shown_user}")
        if isinstance(got, KcdResult):
            return got
        if got.returncode != 0:
            kdc_text = _output(got)
            return KcdResult(
                False,
                f"KDC {kdc} refused to let {client} delegate {shown_user} to {service}: {kdc_text}"
                + _hint(kdc_text, principal, shown_user, target_spn),
            )
        return KcdResult(
            True,
            f"KDC {kdc} issued {service} to {client} on behalf of {shown_user} (S4U2Self + S4U2Proxy)",
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

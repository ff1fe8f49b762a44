"""A real Samba AD DC on a loopback address, for tests that must talk to Active Directory for real.

Usage (the pytest fixtures in `tests/samba_fixtures.py` do exactly this)::

    template = SambaTemplate.build(Path("/tmp/x/template"))   # once per test run (~4 s)
    dc = template.instance(Path("/tmp/x/dc-mod1"))            # a private copy (~0.3 s)
    dc.start()                                                # ready when LDAPS answers (~1 s)
    ...
    dc.stop()                                                 # by recorded pid: SIGTERM, then SIGKILL

What is in the directory (seeded with LDIF into the template before the first start):

* computers TMG01, SEG01, SEG02, EAS01, EAS02: enabled (userAccountControl 4096), `dNSHostName`
  `<name>.test.lan`, `HOST/` and `RestrictedKrbHost/` SPNs (short and FQDN) and a password, so
  `export_keytab` works. TMG01 already delegates to an unrelated `cifs/files01.test.lan`
  (msDS-AllowedToDelegateTo only; its userAccountControl stays 4096).
* users: `EASASA` (Exchange alternate service account), `alice` (UPN alice@test.lan, a password),
  `OLDSVC` (an old service account that still holds `http/mail-int.test.lan`: a planted duplicate).

The admin password and the account passwords are random per test run and never printed: every
command output that ends up in an exception message goes through `_redact` first.

Kerberos is real too: the DC account carries the `ldap/` SPNs a DC registers through DNS (this one has no DNS
service), and `ldap server require strong auth = allow_sasl_over_tls` lets a GSSAPI bind inside TLS succeed as
it does on AD and Samba >= 4.20 (Samba 4.17 at its default refuses it with and without a SASL security layer).
Computers' `HTTP/<fqdn>` resolves to their `HOST/` SPN (AD's sPNMappings), so
`export_keytab("HTTP/tmg01.test.lan", ...)` gives a WinRM acceptor's keytab.

TLS is real: the harness makes its own CA and a server certificate for `dc1.test.lan` and the
loopback IP, and adds `127.0.0.21 dc1.test.lan` to /etc/hosts (tests run as root), so clients
validate the name against `ca_file` exactly as in production.

Samba's LDAP ports are fixed (389/636/3268/3269), so one loopback IP serves one running DC at a
time; the fixtures start one DC per test module and stop it when the module is done.
"""
from __future__ import annotations

import atexit
import base64
import contextlib
import datetime as dt
import ipaddress
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

REALM = "TEST.LAN"
NETBIOS_DOMAIN = "TEST"
DNS_DOMAIN = "test.lan"
BASE_DN = "DC=TEST,DC=LAN"
DC_SHORT = "dc1"
DC_HOST = f"{DC_SHORT}.{DNS_DOMAIN}"
DEFAULT_IP = "127.0.0.21"
ADMIN_USER = f"Administrator@{REALM}"
DC_LDAP_SPNS = (f"ldap/{DC_HOST}", f"ldap/{DC_SHORT.upper()}", f"ldap/{DC_HOST}/{DNS_DOMAIN}")

COMPUTERS = ("TMG01", "SEG01", "SEG02", "EAS01", "EAS02")
UNRELATED_DELEGATION = "cifs/files01.test.lan"  # already on TMG01 before any test runs
PLANTED_SPN = "http/mail-int.test.lan"  # held by OLDSVC: a duplicate waiting to happen

HOSTS_FILE = Path("/etc/hosts")
START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0


class SambaUnavailable(RuntimeError):
    """This machine cannot run the DC (not root, samba not installed). Fixtures turn it into a skip."""


class SambaError(RuntimeError):
    """Provisioning, seeding, starting or a witness command failed."""


def missing_prerequisites() -> str | None:
    """Why a DC cannot run here, or None when it can."""
    if os.geteuid() != 0:
        return "the Samba AD DC tests need root (provisioning and binding ports 88/389/636)"
    tools = ("samba", "samba-tool", "ldbadd", "ldbmodify", "ldbsearch", "kinit", "kvno")
    missing = [tool for tool in tools if not _which(tool)]
    if missing:
        return (
            f"{', '.join(missing)} not installed: apt-get install -y --no-install-recommends samba "
            "samba-dsdb-modules samba-vfs-modules samba-ad-provision krb5-user ldb-tools"
        )
    return None


def _which(tool: str) -> str | None:
    return shutil.which(tool, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")


class Secret(str):
    """A password: a plain str everywhere, but shown as stars by repr (pytest's assertion and traceback output)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "'********'"


def _random_password() -> Secret:
    # Satisfies AD complexity (upper, lower, digit, symbol) whatever token_urlsafe returns.
    return Secret("Tq7!" + secrets.token_urlsafe(18))


def _b64_unicode_pwd(password: str) -> str:
    return base64.b64encode(f'"{password}"'.encode("utf-16-le")).decode("ascii")


# --------------------------------------------------------------------------- certificates


@dataclass(frozen=True)
class CertFiles:
    ca_file: Path
    cert_file: Path
    key_file: Path


def make_ca(common_name: str = "TEST-LAN Root CA"):
    """A self-signed CA (key, certificate) made with the `cryptography` package."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def write_ca_file(path: Path, common_name: str = "Unrelated Test CA") -> Path:
    """Write a CA certificate that did NOT sign the DC's certificate (for 'wrong CA' tests)."""
    from cryptography.hazmat.primitives import serialization

    _, cert = make_ca(common_name)
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def make_server_cert(directory: Path, ip: str, host: str = DC_HOST) -> CertFiles:
    """CA + server certificate (SANs: host, its short name, the IP) written as PEM into `directory`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca_cert = make_ca()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=90))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName(host),
                    x509.DNSName(host.split(".")[0]),
                    x509.IPAddress(ipaddress.ip_address(ip)),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=True, data_encipherment=False,
                key_agreement=False, key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    files = CertFiles(directory / "ca.pem", directory / "cert.pem", directory / "key.pem")
    files.ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    files.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    fd = os.open(files.key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            )
        )
    os.chmod(files.key_file, 0o600)  # Samba refuses a key file others can read
    return files


# --------------------------------------------------------------------------- /etc/hosts


def ensure_hosts_entry(ip: str = DEFAULT_IP, host: str = DC_HOST, hosts_file: Path = HOSTS_FILE) -> None:
    """Make `host` resolve to `ip` through /etc/hosts (appending one line if missing)."""
    try:
        resolved = {info[4][0] for info in socket.getaddrinfo(host, None, socket.AF_INET)}
    except socket.gaierror:
        resolved = set()
    if resolved == {ip}:
        return
    text = hosts_file.read_text() if hosts_file.exists() else ""
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) >= 2 and host in fields[1:] and fields[0] != ip:
            raise SambaError(f"{hosts_file} maps {host} to {fields[0]}, the test DC needs {ip}: fix that line")
    with hosts_file.open("a") as handle:
        if text and not text.endswith("\n"):
            handle.write("\n")
        handle.write(f"{ip} {host}\n")


# --------------------------------------------------------------------------- template


def _seed_ldif(passwords: dict[str, str]) -> str:
    """LDIF for the realistic accounts, added with ldbadd before the DC ever starts."""
    blocks: list[str] = []
    for name in COMPUTERS:
        fqdn = f"{name.lower()}.{DNS_DOMAIN}"
        lines = [
            f"dn: CN={name},CN=Computers,{BASE_DN}",
            "objectClass: computer",
            f"cn: {name}",
            f"sAMAccountName: {name}$",
            "userAccountControl: 4096",
            f"dNSHostName: {fqdn}",
            f"servicePrincipalName: HOST/{name}",
            f"servicePrincipalName: HOST/{fqdn}",
            f"servicePrincipalName: RestrictedKrbHost/{name}",
            f"servicePrincipalName: RestrictedKrbHost/{fqdn}",
            f"unicodePwd:: {_b64_unicode_pwd(passwords[name + '$'])}",
        ]
        if name == "TMG01":
            lines.append(f"msDS-AllowedToDelegateTo: {UNRELATED_DELEGATION}")
        blocks.append("\n".join(lines))
    users = {
        "EASASA": [
            "description: Exchange alternate service account (EAS farm)",
            "userAccountControl: 66048",
            f"userPrincipalName: EASASA@{DNS_DOMAIN}",
        ],
        "alice": [
            "userAccountControl: 512",
            f"userPrincipalName: alice@{DNS_DOMAIN}",
            "mail: alice@test.lan",
        ],
        "OLDSVC": [
            "description: retired OWA service account, still holds an SPN",
            "userAccountControl: 66048",
            f"servicePrincipalName: {PLANTED_SPN}",
        ],
    }
    for name, extra in users.items():
        blocks.append(
            "\n".join(
                [
                    f"dn: CN={name},CN=Users,{BASE_DN}",
                    "objectClass: user",
                    f"cn: {name}",
                    f"sAMAccountName: {name}",
                    *extra,
                    f"unicodePwd:: {_b64_unicode_pwd(passwords[name])}",
                ]
            )
        )
    return "\n\n".join(blocks) + "\n"


def _redact(text: str, secrets_: list[str]) -> str:
    for value in secrets_:
        if value:
            text = text.replace(value, "********")
    return text


def _run(args: list[str], *, secrets_: list[str], timeout: float = 120.0, input_: str | None = None,
         env: dict[str, str] | None = None) -> str:
    """Run a command; on failure raise SambaError with its (redacted) output."""
    try:
        proc = subprocess.run(
            args, input=input_, capture_output=True, text=True, timeout=timeout,
            env=env, stdin=None if input_ is not None else subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise SambaError(f"{_redact(' '.join(args), secrets_)}: no answer after {timeout:.0f} s") from None
    if proc.returncode != 0:
        output = _redact((proc.stdout + proc.stderr).strip(), secrets_)
        raise SambaError(f"{_redact(' '.join(args), secrets_)} exited {proc.returncode}:\n{output[-4000:]}")
    return proc.stdout


@dataclass
class SambaTemplate:
    """A provisioned, seeded, never-started DC directory that instances are copied from."""

    root: Path
    ip: str
    admin_password: str = field(repr=False)
    passwords: dict[str, str] = field(repr=False)

    @classmethod
    def build(cls, root: Path, ip: str = DEFAULT_IP) -> SambaTemplate:
        reason = missing_prerequisites()
        if reason:
            raise SambaUnavailable(reason)
        root = Path(root)
        if root.exists():
            shutil.rmtree(root)
        root.mkdir(parents=True)
        admin_password = _random_password()
        passwords = {f"{name}$": _random_password() for name in COMPUTERS}
        passwords.update({name: _random_password() for name in ("EASASA", "alice", "OLDSVC")})
        secret_values = [admin_password, *passwords.values()]

        dirs = {
            "pid directory": root / "run",
            "ncalrpc dir": root / "ncalrpc",
            "winbindd socket directory": root / "winbindd",
            "ntp signd socket directory": root / "ntp_signd",
        }
        for path in dirs.values():
            path.mkdir()
        (root / "log").mkdir()
        options = {
            "interfaces": f"{ip}/8",
            "bind interfaces only": "yes",
            "disable netbios": "yes",
            "server services": "ldap, cldap, kdc",
            "log file": str(root / "log" / "%m.log"),
            "log level": "1",
            # Samba < 4.20 at its default ("yes") refuses every Kerberos (GSSAPI) bind inside TLS; AD and newer
            # Samba accept one without a SASL security layer, which is what production binds make.
            "ldap server require strong auth": "allow_sasl_over_tls",
            **{key: str(value) for key, value in dirs.items()},
        }
        args = [
            "samba-tool", "domain", "provision",
            f"--realm={REALM}", f"--domain={NETBIOS_DOMAIN}", f"--host-name={DC_SHORT}",
            f"--adminpass={admin_password}", "--server-role=dc", "--dns-backend=NONE",
            f"--host-ip={ip}", f"--targetdir={root}",
            *[f"--option={key} = {value}" for key, value in options.items()],
        ]
        _run(args, secrets_=secret_values)

        # Our own CA and server certificate; Samba would otherwise make a self-signed one at first start.
        tls_dir = root / "private" / "tls"
        certs = make_server_cert(tls_dir, ip)
        smb_conf = root / "etc" / "smb.conf"
        text = smb_conf.read_text()
        tls_lines = (
            "\ttls enabled = yes\n"
            f"\ttls keyfile = {certs.key_file}\n"
            f"\ttls certfile = {certs.cert_file}\n"
            f"\ttls cafile = {certs.ca_file}\n"
        )
        smb_conf.write_text(text.replace("[global]\n", "[global]\n" + tls_lines, 1))

        ldif = _seed_ldif(passwords)
        ldif_file = root / "seed.ldif"
        fd = os.open(ldif_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(ldif)
        try:
            _run(["ldbadd", "-H", str(root / "private" / "sam.ldb"), str(ldif_file)], secrets_=secret_values)
        finally:
            ldif_file.unlink()
        # Without its DNS service a provisioned DC never registers its ldap/ SPNs (samba_spnupdate needs DNS):
        # give it the ones a real DC has, so a Kerberos bind can get a ticket for ldap/dc1.test.lan.
        dc_dn = f"CN={DC_SHORT.upper()},OU=Domain Controllers,{BASE_DN}"
        ldap_spns = "".join(f"servicePrincipalName: {spn}\n" for spn in DC_LDAP_SPNS)
        _run(["ldbmodify", "-H", str(root / "private" / "sam.ldb")], secrets_=secret_values,
             input_=f"dn: {dc_dn}\nchangetype: modify\nadd: servicePrincipalName\n{ldap_spns}")
        return cls(root=root, ip=ip, admin_password=admin_password, passwords=passwords)

    def instance(self, directory: Path) -> SambaDC:
        """Copy the template to `directory` (paths in smb.conf rewritten) and return a stopped DC."""
        directory = Path(directory)
        if directory.exists():
            shutil.rmtree(directory)
        shutil.copytree(self.root, directory, symlinks=True)
        smb_conf = directory / "etc" / "smb.conf"
        smb_conf.write_text(smb_conf.read_text().replace(str(self.root), str(directory)))
        return SambaDC(
            base_dir=directory, ip=self.ip, admin_password=self.admin_password, passwords=dict(self.passwords)
        )


# --------------------------------------------------------------------------- running DC

_RUNNING: set[SambaDC] = set()


@atexit.register
def _stop_leftovers() -> None:  # a safety net if a fixture's teardown never ran
    for dc in list(_RUNNING):
        dc.stop()


class SambaDC:
    """One running (or stopped) DC made from a template copy."""

    host = DC_HOST
    realm = REALM
    domain = DNS_DOMAIN
    base_dn = BASE_DN
    admin_user = ADMIN_USER

    def __init__(self, base_dir: Path, ip: str, admin_password: str, passwords: dict[str, str]):
        self.base_dir = Path(base_dir)
        self.ip = ip
        self._admin_password = admin_password
        self._passwords = passwords
        self.smb_conf = str(self.base_dir / "etc" / "smb.conf")
        self.private_dir = str(self.base_dir / "private")
        self.sam_ldb = str(self.base_dir / "private" / "sam.ldb")
        self.ca_file = str(self.base_dir / "private" / "tls" / "ca.pem")
        self.log_file = self.base_dir / "log" / "samba-stdout.log"
        self.process: subprocess.Popen | None = None
        self.pid: int | None = None

    def __repr__(self) -> str:  # never shows a password
        return f"SambaDC(host={self.host!r}, ip={self.ip!r}, dir={str(self.base_dir)!r}, pid={self.pid})"

    def __hash__(self) -> int:
        return id(self)

    @property
    def admin_password(self) -> str:
        return self._admin_password

    def password(self, account: str) -> str:
        """The seeded password of `account` ('alice', 'EASASA', 'TMG01$', ...)."""
        return self._passwords[account]

    def settings(self, **overrides):
        """The production `DirectorySettings` for this DC (LDAPS 636, GC 3269, validated with our CA)."""
        from runbook.flow.settings import DirectorySettings

        values = dict(
            domain=DNS_DOMAIN, server=DC_HOST, port=636, gc_port=3269, tls="ldaps",
            ca_file=self.ca_file, bind_user=ADMIN_USER,
        )
        values.update(overrides)
        return DirectorySettings(**values)

    # ----------------------------------------------------------------- lifecycle

    def start(self, timeout: float = START_TIMEOUT) -> None:
        if self.process is not None:
            return
        ensure_hosts_entry(self.ip, DC_HOST)
        self._wait_port_free(636, timeout=15.0)
        log = self.log_file.open("ab")
        try:
            self.process = subprocess.Popen(
                [_which("samba") or "samba", "-i", "--no-process-group", "-s", self.smb_conf, "--debuglevel=1"],
                stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT, cwd=self.base_dir,
            )
        finally:
            log.close()
        self.pid = self.process.pid
        _RUNNING.add(self)
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise

    def _wait_port_free(self, port: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                probe.settimeout(0.5)
                if probe.connect_ex((self.ip, port)) != 0:
                    return
            time.sleep(0.2)
        raise SambaError(f"{self.ip}:{port} is still in use by another process: is another test DC running?")

    def _wait_ready(self, timeout: float) -> None:
        """Bounded wait until LDAPS on 636 completes a validated TLS handshake for dc1.test.lan."""
        context = ssl.create_default_context(cafile=self.ca_file)
        deadline = time.monotonic() + timeout
        last_error = "no attempt"
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise SambaError(
                    f"samba exited with {self.process.returncode} before answering; last log lines:\n{self._log_tail()}"
                )
            try:
                with socket.create_connection((self.ip, 636), timeout=2.0) as raw:
                    with context.wrap_socket(raw, server_hostname=DC_HOST):
                        pass
                # The KDC starts in its own task: wait for 88 too, the KCD tests need it.
                with socket.create_connection((self.ip, 88), timeout=2.0):
                    pass
                return
            except OSError as exc:
                last_error = str(exc)
                time.sleep(0.1)
        raise SambaError(
            f"samba did not answer LDAPS on {self.ip}:636 within {timeout:.0f} s ({last_error}); "
            f"last log lines:\n{self._log_tail()}"
        )

    def _log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_file.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return _redact("\n".join(text.splitlines()[-lines:]), self._secrets())

    def stop(self) -> None:
        """Stop by the recorded pid: close stdin, SIGTERM, then SIGKILL after a bounded wait."""
        process, self.process = self.process, None
        _RUNNING.discard(self)
        if process is None:
            return
        try:
            if process.poll() is None:
                try:
                    process.send_signal(signal.SIGTERM)
                except ProcessLookupError:
                    pass
                try:
                    process.wait(timeout=STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=STOP_TIMEOUT)
        finally:
            if process.stdin is not None:
                try:
                    process.stdin.close()
                except OSError:
                    pass
        try:
            self._wait_port_free(636, timeout=STOP_TIMEOUT)
        except SambaError:
            pass

    def descendants(self) -> list[int]:
        """Pids of the DC's process tree (the recorded pid and its children), read from /proc by parent pid."""
        if self.process is None or self.pid is None:
            return []
        parents: dict[int, int] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            # "pid (comm) state ppid ...": comm may contain spaces and parentheses.
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
        tree, frontier = [self.pid], [self.pid]
        while frontier:
            children = [pid for pid, ppid in parents.items() if ppid in frontier and pid not in tree]
            tree += children
            frontier = children
        return tree

    @contextlib.contextmanager
    def frozen(self):
        """SIGSTOP the whole DC (a hung DC: TCP still accepts, nothing answers); SIGCONT on exit."""
        pids = self.descendants()
        if not pids:
            raise SambaError("the DC is not running")
        stopped = []
        try:
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGSTOP)
                    stopped.append(pid)
                except ProcessLookupError:
                    pass
            yield
        finally:
            for pid in stopped:
                try:
                    os.kill(pid, signal.SIGCONT)
                except ProcessLookupError:
                    pass

    def __enter__(self) -> SambaDC:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # ----------------------------------------------------------------- witnesses

    def _secrets(self) -> list[str]:
        return [self._admin_password, *self._passwords.values()]

    def samba_tool(self, *args: str, timeout: float = 60.0) -> str:
        """`samba-tool <args> -s smb.conf` against the local database; returns stdout."""
        return _run(["samba-tool", *args, "-s", self.smb_conf], secrets_=self._secrets(), timeout=timeout)

    def ldbsearch(self, expression: str, *attributes: str, base: str | None = None, scope: str = "sub") -> str:
        """`ldbsearch -H sam.ldb` on the live database (an independent witness)."""
        args = ["ldbsearch", "-H", self.sam_ldb, "-s", scope]
        if base:
            args += ["-b", base]
        return _run([*args, expression, *attributes], secrets_=self._secrets())

    def ldb_values(self, dn: str, attribute: str) -> list[str]:
        """Values of one attribute of one object, read with ldbsearch (plain values only)."""
        out = self.ldbsearch("(objectClass=*)", attribute, base=dn, scope="base")
        prefix = f"{attribute.lower()}:"
        return [line.split(":", 1)[1].strip() for line in out.splitlines() if line.lower().startswith(prefix)]

    def ldbmodify(self, ldif: str) -> str:
        """Apply LDIF to the live sam.ldb behind the DC's back (visible over LDAP at once)."""
        return _run(["ldbmodify", "-H", self.sam_ldb], secrets_=self._secrets(), input_=ldif)

    def export_keytab(self, principal: str, path: str | os.PathLike) -> str:
        """Export `principal`'s keys (e.g. 'TMG01$') into a keytab file; returns its path."""
        path = str(path)
        if os.path.exists(path):
            os.unlink(path)
        self.samba_tool("domain", "exportkeytab", path, f"--principal={principal}")
        return path

    def computer_dn(self, name: str) -> str:
        return f"CN={name.rstrip('$').upper()},CN=Computers,{BASE_DN}"

    def user_dn(self, name: str) -> str:
        return f"CN={name},CN=Users,{BASE_DN}"

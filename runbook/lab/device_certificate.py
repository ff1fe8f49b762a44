"""The rehearsal's test user: a lab CA and alice's certificate, made when a demo session is created.

The files sit beside the session (`<session>.lab-ca.pem`, `<session>.alice.pem`, `<session>.alice.key`) so
`runbook check SESSION device` can prove the lab's chain without `--cert`. The session and the lab state name the
files and the CA's subject only; the key is written once, mode 0600, and the CA's own key is never kept (nothing
else is ever issued from it).
"""
from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from runbook.inputs.params import Params

UPN_OID = x509.ObjectIdentifier("1.3.6.1.4.1.311.20.2.3")
TEST_USER = "alice"
VALID_DAYS = 365  # a rehearsal may be resumed for weeks; a real enterprise CA's user template is about a year


@dataclass(frozen=True)
class LabCertificate:
    """File names (relative to the session's folder) and the CA subject the lab's validating hop trusts."""

    cert: str
    key: str
    ca: str
    ca_subject: str
    upn: str

    def to_meta(self) -> dict[str, str]:
        return {"cert": self.cert, "key": self.key, "ca": self.ca, "ca_subject": self.ca_subject, "upn": self.upn}

    @classmethod
    def from_meta(cls, meta: dict[str, str]) -> LabCertificate:
        return cls(meta["cert"], meta["key"], meta["ca"], meta["ca_subject"], meta["upn"])


def _name(common_name: str, domain: str) -> x509.Name:
    # Most significant first (DC=lan, DC=test, CN=…), so the RFC 4514 text reads CN=…,DC=test,DC=lan.
    return x509.Name([x509.NameAttribute(NameOID.DOMAIN_COMPONENT, part) for part in reversed(domain.split("."))]
                     + [x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _upn_value(upn: str) -> bytes:
    """otherName's value is a DER UTF8String (tag 0x0C); a short UPN needs only the one-byte length form."""
    data = upn.encode("utf-8")
    if len(data) > 127:
        raise ValueError(f"UPN {upn!r} is too long for a lab certificate")
    return b"\x0c" + bytes([len(data)]) + data


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    # Created 0600 from the start: a chmod after writing would leave a moment where others could read it.
    path.unlink(missing_ok=True)  # a key left by a removed session of the same name must not keep its old mode
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))


def issue_test_user(session_path: Path, params: Params) -> LabCertificate:
    """A lab enterprise CA and alice's certificate as its user template issues it (SAN e-mail + UPN, Client Auth)."""
    now = dt.datetime.now(dt.timezone.utc)
    realm = params.domain.split(".")[0].upper()
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name(f"{realm} Lab Enterprise CA", params.domain)
    ca_cert = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=VALID_DAYS * 2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    upn = f"{TEST_USER}@{params.domain}"
    mail_domain = params.public_name.split(".", 1)[-1] if "." in params.public_name else params.domain
    user_key = ec.generate_private_key(ec.SECP256R1())
    user_cert = (
        x509.CertificateBuilder().subject_name(_name(TEST_USER, params.domain)).issuer_name(ca_name)
        .public_key(user_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(f"{TEST_USER}@{mail_domain}"),
                                                    x509.OtherName(UPN_OID, _upn_value(upn))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=True, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    stem = session_path.stem
    files = LabCertificate(cert=f"{stem}.{TEST_USER}.pem", key=f"{stem}.{TEST_USER}.key", ca=f"{stem}.lab-ca.pem",
                           ca_subject=ca_cert.subject.rfc4514_string(), upn=upn)
    folder = session_path.parent
    (folder / files.ca).write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    (folder / files.cert).write_bytes(user_cert.public_bytes(serialization.Encoding.PEM))
    _write_key(folder / files.key, user_key)
    return files

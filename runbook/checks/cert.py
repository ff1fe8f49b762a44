"""Offline checks of a user certificate file, as the guide's troubleshooting section asks."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from runbook.errors import BadInput

UPN_OID = x509.ObjectIdentifier("1.3.6.1.4.1.311.20.2.3")


@dataclass
class CertReport:
    subject: str
    issuer: str
    emails: list[str] = field(default_factory=list)
    upns: list[str] = field(default_factory=list)
    client_auth: bool = False
    faults: list[str] = field(default_factory=list)


def load_certificate(path: str, option: str = "--file") -> x509.Certificate:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise BadInput(f"{option}: cannot read {path} ({exc.strerror})") from exc
    try:
        return x509.load_pem_x509_certificate(data) if b"-----BEGIN" in data else x509.load_der_x509_certificate(data)
    except ValueError as exc:
        raise BadInput(f"{option}: {path} is not a PEM or DER certificate ({exc})") from exc


def _upn(value: bytes) -> str:
    """The UPN otherName is a DER UTF8String; decode it without pulling in an ASN.1 library."""
    if len(value) >= 2 and value[0] == 0x0C:
        length, offset = value[1], 2
        if length & 0x80:
            count = length & 0x7F
            length, offset = int.from_bytes(value[2:2 + count], "big"), 2 + count
        return value[offset:offset + length].decode("utf-8", "replace")
    return value.decode("utf-8", "replace")


def check_certificate(path: str, option: str = "--file") -> CertReport:
    cert = load_certificate(path, option)
    report = CertReport(subject=cert.subject.rfc4514_string(), issuer=cert.issuer.rfc4514_string())
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        report.emails = san.get_values_for_type(x509.RFC822Name)
        report.upns = [_upn(other.value) for other in san.get_values_for_type(x509.OtherName)
                       if other.type_id == UPN_OID]
    except x509.ExtensionNotFound:
        report.faults.append("no Subject Alternative Name: the template or the CA does not put the e-mail and UPN "
                             "in the SAN")
    else:
        if not report.emails:
            report.faults.append("SAN has no e-mail (rfc822Name)")
        if not report.upns:
            report.faults.append("SAN has no Principal Name (UPN, otherName 1.3.6.1.4.1.311.20.2.3)")
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        report.client_auth = ExtendedKeyUsageOID.CLIENT_AUTH in eku
    except x509.ExtensionNotFound:
        report.client_auth = False
    if not report.client_auth:
        report.faults.append("Enhanced Key Usage lacks Client Authentication (1.3.6.1.5.5.7.3.2): the template is "
                             "not configured for it")
    if cert.issuer == cert.subject:
        report.faults.append("self-signed: user certificates must come from the internal enterprise CA")
    return report

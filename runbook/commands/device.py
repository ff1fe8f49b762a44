"""`runbook check SESSION device`: the end-to-end proof that a device with a certificate can sync.

The certificate file is checked first (the `check cert` rules), then the real device probe asks the public name
twice, with and without the certificate, and the diagnosis names the hop and the step. The journal gets the
outcome and the statuses; never the key, its path's content, or anything the key protects.
"""
from __future__ import annotations

import argparse
import getpass
import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from runbook.checks.cert import CertReport, check_certificate
from runbook.device.diagnosis import DeviceVerdict, Finding, diagnose
from runbook.device.probe import (
    DEFAULT_TIMEOUT,
    DeviceProbe,
    HttpsDeviceProbe,
    ProbeResult,
    activesync_url,
    check_url,
)
from runbook.errors import EXIT_FAILED, EXIT_OK, BadInput

if TYPE_CHECKING:
    from runbook.flow.engine import Runbook

KEY_PASSWORD_ENV = "RUNBOOK_DEVICE_KEY_PASSWORD"
USAGE = ("runbook check SESSION device --cert USER.pem --key USER.key [--ca CA.pem] [--url https://PUBLIC/…] "
         "(a rehearsal uses the demo's test user and the lab's simulated chain when --cert and --url are left out)")


def _key_password() -> str:
    if os.environ.get(KEY_PASSWORD_ENV):
        return os.environ[KEY_PASSWORD_ENV]
    if not sys.stdin.isatty():
        raise BadInput(f"--key: the key is encrypted; set {KEY_PASSWORD_ENV} or run on a terminal to be asked")
    return getpass.getpass("password of the --key file: ")


def _user(report: CertReport) -> str:
    if report.upns or report.emails:
        return (report.upns or report.emails)[0]
    return report.subject


def _outcome(result: ProbeResult) -> str:
    return str(result.status) if result.status is not None else str(result.failure)


@dataclass(frozen=True)
class DeviceProof:
    url: str
    certificate: CertReport
    with_certificate: ProbeResult
    without_certificate: ProbeResult
    verdict: DeviceVerdict


@dataclass(frozen=True)
class Device:
    """Who asks, with which files: the real client, or a rehearsal's simulated phone with the demo's alice."""

    probe: DeviceProbe
    cert: str
    lab_reason: Callable[[], str] | None = None  # the lab's account of the last answer (rehearsals only)


def _lab_files(book: Runbook) -> tuple[str, str | None]:
    device = (book.session.lab or {}).get("device")
    if not device:
        raise BadInput(f"--cert: missing, and this rehearsal was created before `runbook demo` shipped a test "
                       f"user's certificate; start a new one with `runbook demo`, or: {USAGE}")
    folder = book.path.parent
    return str(folder / device["cert"]), str(folder / device["key"])


def _device(args: argparse.Namespace, book: Runbook, issuer: str) -> Device:
    """A rehearsal asks the lab's simulated chain unless --url points somewhere real; production asks for real."""
    if book.session.lab and not args.url:
        from runbook.lab.device_sim import lab_device

        simulated = lab_device(book.path, book.session, book.params, issuer)
        return Device(simulated, args.cert, lambda: simulated.last_reason)
    return Device(HttpsDeviceProbe(args.cert, args.key, args.ca, timeout=args.timeout or DEFAULT_TIMEOUT,
                                   key_password=_key_password), args.cert)


def prove(args: argparse.Namespace, book: Runbook) -> tuple[DeviceProof, Device]:
    params = book.params
    if not args.cert and book.session.lab:
        args.cert, args.key = _lab_files(book)  # the demo's alice: no option needed in a rehearsal
    if not args.cert:
        raise BadInput(f"--cert: missing, expected the test user's certificate (PEM): {USAGE}")
    if args.timeout is not None and args.timeout <= 0:
        raise BadInput(f"--timeout: {args.timeout:g} is not a positive number of seconds")
    report = check_certificate(args.cert, option="--cert")
    url = args.url or activesync_url(params.public_name)
    check_url(url)
    device = _device(args, book, report.issuer)
    user = _user(report)
    with_cert, without_cert = device.probe.probe(url, True), device.probe.probe(url, False)
    verdict = diagnose(with_cert, without_cert, params, user=user, issuer=report.issuer)
    for fault in reversed(report.faults):  # the certificate's own faults come first: no hop can fix them
        verdict.faults.insert(0, Finding(f"the certificate {args.cert}: {fault}"))
    if report.faults and verdict.ok:
        verdict.ok = False
        verdict.summary = f"{user}'s certificate is not fit for devices: {report.faults[0]}"
    return DeviceProof(url, report, with_cert, without_cert, verdict), device


def record(book: Runbook, proof: DeviceProof) -> None:
    """Journal the proof (outcome, statuses, summary; never key material) in the shape completion reads."""
    if book.lock is None:
        return
    verdict = proof.verdict
    book.journal.append(step=None, action="check", outcome="ok" if verdict.ok else "faults: device",
                        details={"checks": ["device"], "url": proof.url, "certificate": proof.certificate.subject,
                                 "with_certificate": _outcome(proof.with_certificate),
                                 "without_certificate": _outcome(proof.without_certificate),
                                 "versions": verdict.versions, "steps": list(verdict.first_steps),
                                 "summary": verdict.summary,
                                 # the shape completion reads: an open fault names the hop and step
                                 "faults": {} if verdict.ok else {"device": [verdict.summary]},
                                 "warnings": {"device": verdict.warnings} if verdict.warnings else {}})


def rehearsal_proof(book: Runbook) -> list[str]:
    """The proof as the TUI runs it on a rehearsal (the demo's alice, the lab's simulated chain): its lines."""
    if not book.session.lab:
        raise BadInput(f"the device proof of a real change needs the test user's certificate and key: {USAGE}")
    args = argparse.Namespace(cert=None, key=None, ca=None, url=None, timeout=None)
    proof, device = prove(args, book)
    record(book, proof)
    lines = ["FAULT: " + finding.text for finding in proof.verdict.faults]
    if device.lab_reason and not proof.verdict.ok:
        lines.append("lab: " + device.lab_reason())
    return [proof.verdict.summary, *lines]


def cmd_check_device(args: argparse.Namespace) -> int:
    from runbook.commands.core import opened_for_reading_or_driving

    with opened_for_reading_or_driving(args) as book:
        proof, device = prove(args, book)
        verdict, report, url = proof.verdict, proof.certificate, proof.url
        print(f"device: {'ok' if verdict.ok else 'fail'}  {url}" + (" (rehearsal lab)" if device.lab_reason else ""))
        print(f"  certificate: {report.subject}, issued by {report.issuer}")
        print("\n".join("  " + line for line in verdict.lines))
        for finding in verdict.faults:
            print("  FAULT: " + finding.text + (f" [step {', '.join(finding.steps)}]" if finding.steps else ""))
        for warning in verdict.warnings:
            print("  warning: " + warning)
        if verdict.ok:  # a failure's summary is its first FAULT line, already printed
            print("  " + verdict.summary)
        if device.lab_reason and not verdict.ok:  # what a real device cannot see; the rehearsal may show it
            print("  lab: " + device.lab_reason())
        record(book, proof)
    if not verdict.ok:
        print("faults found in: device", file=sys.stderr)
    return EXIT_OK if verdict.ok else EXIT_FAILED

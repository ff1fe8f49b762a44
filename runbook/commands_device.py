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

from runbook.certcheck import CertReport, check_certificate
from runbook.device_diagnosis import DeviceVerdict, Finding, diagnose
from runbook.device_probe import DEFAULT_TIMEOUT, HttpsDeviceProbe, ProbeResult, activesync_url, check_url
from runbook.errors import EXIT_FAILED, EXIT_OK, BadInput
from runbook.params import Params

KEY_PASSWORD_ENV = "RUNBOOK_DEVICE_KEY_PASSWORD"
USAGE = "runbook check SESSION device --cert USER.pem --key USER.key [--ca CA.pem] [--url https://PUBLIC/…]"


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


def prove(args: argparse.Namespace, params: Params) -> DeviceProof:
    if not args.cert:
        raise BadInput(f"--cert: missing, expected the test user's certificate (PEM): {USAGE}")
    if args.timeout is not None and args.timeout <= 0:
        raise BadInput(f"--timeout: {args.timeout:g} is not a positive number of seconds")
    report = check_certificate(args.cert, option="--cert")
    device = HttpsDeviceProbe(args.cert, args.key, args.ca, timeout=args.timeout or DEFAULT_TIMEOUT,
                              key_password=_key_password)
    url = args.url or activesync_url(params.public_name)
    check_url(url)
    user = _user(report)
    with_cert, without_cert = device.probe(url, True), device.probe(url, False)
    verdict = diagnose(with_cert, without_cert, params, user=user, issuer=report.issuer)
    for fault in reversed(report.faults):  # the certificate's own faults come first: no hop can fix them
        verdict.faults.insert(0, Finding(f"the certificate {args.cert}: {fault}"))
    if report.faults and verdict.ok:
        verdict.ok = False
        verdict.summary = f"{user}'s certificate is not fit for devices: {report.faults[0]}"
    return DeviceProof(url, report, with_cert, without_cert, verdict)


def cmd_check_device(args: argparse.Namespace) -> int:
    from runbook.commands import opened_for_reading_or_driving

    with opened_for_reading_or_driving(args) as book:
        proof = prove(args, book.params)
        verdict, report, url = proof.verdict, proof.certificate, proof.url
        print(f"device: {'ok' if verdict.ok else 'fail'}  {url}")
        print(f"  certificate: {report.subject}, issued by {report.issuer}")
        print("\n".join("  " + line for line in verdict.lines))
        for finding in verdict.faults:
            print("  FAULT: " + finding.text + (f" [step {', '.join(finding.steps)}]" if finding.steps else ""))
        for warning in verdict.warnings:
            print("  warning: " + warning)
        if verdict.ok:  # a failure's summary is its first FAULT line, already printed
            print("  " + verdict.summary)
        if book.lock is not None:
            book.journal.append(step=None, action="check", outcome="ok" if verdict.ok else "faults: device",
                                details={"checks": ["device"], "url": url, "certificate": report.subject,
                                         "with_certificate": _outcome(proof.with_certificate),
                                         "without_certificate": _outcome(proof.without_certificate),
                                         "versions": verdict.versions, "steps": list(verdict.first_steps),
                                         "summary": verdict.summary})
    if not verdict.ok:
        print("faults found in: device", file=sys.stderr)
    return EXIT_OK if verdict.ok else EXIT_FAILED

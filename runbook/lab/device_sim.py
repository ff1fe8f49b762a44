"""The rehearsal lab's phone: the `DeviceProbe` port answered from the lab's state, as the real chain would answer.

`ChainWalk` (device_hops) finds the first hop that is not coherent for the session's chain; this module turns it
into what a device sees — the statuses, challenges, Exchange headers and IIS sub-status texts that
`runbook.device.diagnosis` reads for a real device — so one diagnosis serves the lab and production. When every hop
is coherent the device syncs: 200 with the ActiveSync versions, and without a certificate it is refused where the
chain checks it.
"""
from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from runbook.device.probe import ProbeResult, check_url
from runbook.inputs.params import Params
from runbook.lab import device_hops as hops
from runbook.lab.lab import Lab
from runbook.record.session import Session

PROTOCOL_VERSIONS = "14.1,16.0,16.1"  # what Exchange 2016/2019 announce to an OPTIONS request
EXCHANGE_BUILD = "15.1"
# IIS's detailed error texts: the diagnosis reads the sub-status in them, as it does on a real server.
IIS_403_7 = ("HTTP Error 403.7 - Forbidden: The page you are attempting to access requires your browser to have a "
             "Secure Sockets Layer (SSL) client certificate that the Web server recognizes.")
IIS_403_16 = "HTTP Error 403.16 - Forbidden: Your client certificate is either not trusted or is invalid."
IIS_403 = "HTTP Error 403 - Forbidden: Access is denied. The certificate was not mapped to a user account."
IIS_401 = "401 - Unauthorized: Access is denied due to invalid credentials."
TMG_502 = "Error Code: 502 Proxy Error. The request could not be routed: no rule publishes this URL."
TLS_CERT_REQUIRED = "TLSV13_ALERT_CERTIFICATE_REQUIRED"  # a listener that requires the certificate, none sent
TLS_UNKNOWN_CA = "TLSV1_ALERT_UNKNOWN_CA"


class LabDevice:
    """Implements `runbook.device.probe.DeviceProbe` over a rehearsal lab. `last_reason` is the lab's own account
    of the last answer (a real device cannot know it; the rehearsal shows it to the operator)."""

    def __init__(self, lab: Lab, params: Params, issuer: str | None):
        self.lab, self.params, self.issuer = lab, params, issuer
        self.last_reason = ""

    def probe(self, url: str, with_certificate: bool) -> ProbeResult:
        started = time.monotonic()
        host, port, _path = check_url(url)
        base = ProbeResult(url=url, with_certificate=with_certificate)  # each answer fills in the rest
        if host.lower() != self.params.public_name.lower():
            self.last_reason = f"the lab publishes only {self.params.public_name}"
            answer = replace(base, failure="dns", detail="Name or service not known",
                                 certificate_requested=False)
        elif port != 443:
            self.last_reason = f"the lab's TMG listens on 443 only, not {port}"
            answer = replace(base, failure="refused", detail="Connection refused",
                                 certificate_requested=False)
        else:
            walk = hops.ChainWalk(self.lab, self.params, self.issuer if with_certificate else None)
            found = walk.first_break()
            self.last_reason = found.reason if found else "every hop is coherent for the chain"
            answer = self._answer(base, found, with_certificate, walk)
        elapsed = (time.monotonic() - started) * 1000
        return replace(answer, elapsed_ms=elapsed)

    # -- what each break looks like from the device -----------------------------------------------------------
    def _exchange(self, host: str | None) -> tuple[tuple[str, str], ...]:
        eas = next((s for s in self.params.eas if host and s.host.lower() == host.lower()), self.params.eas[0])
        return (("X-FEServer", eas.computer),)

    def _validator_refuses(self, base: ProbeResult) -> ProbeResult:
        """No certificate at the hop that requires one: TMG's listener ends the handshake, IIS answers 403.7."""
        if self.params.cert_validation == "tmg":
            return replace(base, failure="tls-alert", detail=TLS_CERT_REQUIRED,
                               certificate_requested=True)
        headers = self._exchange(None) if self.params.cert_validation == "eas" else ()
        return replace(base, status=403, reason="Forbidden", headers=headers,
                           body_excerpt=IIS_403_7, certificate_requested=True)

    def _synced(self, base: ProbeResult, asked: bool) -> ProbeResult:
        headers = (("MS-Server-ActiveSync", EXCHANGE_BUILD), ("MS-ASProtocolVersions", PROTOCOL_VERSIONS),
                   ("MS-ASProtocolCommands", "Sync,FolderSync,Ping,Provision,Settings"),
                   *self._exchange(None))
        return replace(base, status=200, reason="OK", headers=headers,
                           certificate_requested=asked)

    def _answer(self, base: ProbeResult, found: hops.Break | None, with_certificate: bool,
                walk: hops.ChainWalk) -> ProbeResult:
        if found is None:
            return self._synced(base, True) if with_certificate else self._validator_refuses(base)
        kind = found.kind
        if kind == hops.REFUSED:  # no TLS handshake happened, so nothing was asked
            return replace(base, failure="refused", detail="Connection refused",
                               certificate_requested=False)
        if kind == hops.NOT_ASKING or (kind == hops.TLS_AT_TMG and not found.asks):
            return self._synced(base, False)  # nobody asks, so with or without a certificate the request gets in
        if not with_certificate:
            return self._validator_refuses(base)
        from_eas = found.role == "eas"
        exchange = self._exchange(found.host) if from_eas else ()
        if kind == hops.TLS_AT_TMG or kind == hops.CERT_AT_KERBEROS_HOP:
            return replace(base, status=403, reason="Forbidden", headers=exchange,
                               body_excerpt=IIS_403_7, certificate_requested=True)
        if kind == hops.UNTRUSTED:
            if found.role == "tmg":
                return replace(base, failure="tls-alert", detail=TLS_UNKNOWN_CA,
                                   certificate_requested=True)
            return replace(base, status=403, reason="Forbidden", headers=exchange,
                               body_excerpt=IIS_403_16, certificate_requested=True)
        if kind == hops.NOT_MAPPED:
            return replace(base, status=403, reason="Forbidden", headers=exchange,
                               body_excerpt=IIS_403, certificate_requested=True)
        if kind == hops.NO_RULE:
            return replace(base, status=502, reason="Bad Gateway", body_excerpt=TMG_502,
                               certificate_requested=True)
        challenges = tuple(("WWW-Authenticate", offer) for offer in walk.offers(found.host))
        return replace(base, status=401, reason="Unauthorized",
                           headers=challenges + exchange, body_excerpt=IIS_401, certificate_requested=True)


def lab_device(session_path: Path, session: Session, params: Params, issuer: str | None) -> LabDevice:
    """The simulated device of a rehearsal session, over the lab state its `lab:` metadata names."""
    meta = session.lab or {}
    return LabDevice(Lab.load(session_path.with_name(meta.get("state_file", ""))), params, issuer)

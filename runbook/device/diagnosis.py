"""What the device proof's two answers mean, in the operator's terms: which hop, which step fixes it.

A pure function of the two `ProbeResult`s and the params (and, when known, the user's certificate), so the real
client and the rehearsal lab's simulated device are read by one definition. The chain (DOMAIN.md, first section)
decides the names: the certificate is checked at exactly one hop, and every delegated hop must accept Kerberos.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from runbook.device.chain import KcdLink, ValidatingHop, kcd_links, validating_hop
from runbook.device.probe import ProbeResult
from runbook.flow.topology import ROLE_NAMES
from runbook.inputs.params import Params

# Headers only Exchange's own IIS modules add: their presence says the 401 came from the EAS, not a hop before it.
EXCHANGE_HEADERS = ("X-FEServer", "X-BEServer", "X-CalculatedBETarget", "X-DiagInfo")
# What servers write when a certificate is missing or refused: IIS's sub-status pages, and nginx's 400 texts.
CERT_REQUIRED_MARKS = ("403.7", "client certificate required", "no required ssl certificate was sent")
CERT_UNTRUSTED_MARKS = ("403.16", "not trusted or is invalid", "the ssl certificate error")
REFUSING_ALERTS = ("CERTIFICATE_REQUIRED", "HANDSHAKE_FAILURE", "BAD_CERTIFICATE", "CERTIFICATE_UNKNOWN",
                   "UNKNOWN_CA", "ACCESS_DENIED")


@dataclass(frozen=True)
class Finding:
    """One fault: what is wrong, at which hop, and the steps that fix it (first one first)."""

    text: str
    steps: tuple[str, ...] = ()
    hop: str | None = None  # tmg | seg | eas, when the fault is placed at one


@dataclass
class DeviceVerdict:
    ok: bool
    summary: str  # one line for the TUI and the report
    lines: list[str] = field(default_factory=list)  # what was seen, in order
    faults: list[Finding] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    versions: list[str] = field(default_factory=list)

    @property
    def first_steps(self) -> tuple[str, ...]:
        return self.faults[0].steps if self.faults else ()


def _text(result: ProbeResult) -> str:
    return f"{result.reason} {result.body_excerpt}".lower()


def _seen(result: ProbeResult) -> str:
    if result.status is None:
        return f"no HTTP answer: {result.failure} ({result.detail})"
    versions = result.protocol_versions
    return (f"{result.status} {result.reason}".rstrip() + (f", ActiveSync {', '.join(versions)}" if versions else "")
            + f" in {result.elapsed_ms:.0f} ms")


def _asked(result: ProbeResult) -> str:
    return {True: "asked", False: "not asked", None: "cannot tell"}[result.certificate_requested]


def _endpoint(result: ProbeResult) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(result.url)
    return f"{parts.hostname}:{parts.port or 443}"


def _not_asking(hop: ValidatingHop, params: Params, seen: str = "") -> Finding:
    if hop.role == "tmg":
        return Finding(f"{seen}{hop.what} is not asking for a client certificate: set its authentication to SSL "
                       "Client Certificate Authentication (step 1)", (hop.step,), hop.role)
    return Finding(f"{seen}{hop.what} is not asking for a client certificate: require it there (step {hop.step}); "
                   "and TMG must pass TLS through with a server publishing rule (step 2), or the device's TLS ends on "
                   "TMG", (hop.step, "2"), hop.role)


def _transport(result: ProbeResult, hop: ValidatingHop, params: Params) -> Finding:
    where, failure = _endpoint(result), result.failure
    publish = (f"the TMG listener (step 1) on {params.listener_ip or 'the public IP'} and its publishing rule "
               "(step 2)" if hop.role == "tmg" else "TMG's server publishing rule (step 2) on the public IP")
    publish_steps = ("1", "2") if hop.role == "tmg" else ("2",)
    if failure == "dns":
        return Finding(f"{where.split(':')[0]} does not resolve from here ({result.detail}): the public DNS record "
                       f"for {params.public_name}, or the host in --url", (), None)
    if failure == "refused":
        return Finding(f"nothing accepts connections on {where} ({result.detail}): check {publish}", publish_steps,
                       "tmg")
    if failure == "timeout":
        return Finding(f"no answer from {where} within {result.detail}: a firewall drops the traffic, {publish} "
                       "are missing, or a hop behind it hangs", publish_steps, "tmg")
    if failure == "unreachable":
        return Finding(f"{where} cannot be reached ({result.detail}): routing or firewall between here and "
                       f"{params.public_name}", (), None)
    if failure in ("tls-untrusted", "tls-name"):
        trusted = "; ".join(result.trusted_cas) or "the system's trusted roots (no --ca given)"
        shown = (f"a certificate for {result.server_certificate_subject} issued by "
                 f"{result.server_certificate_issuer}" if result.server_certificate_issuer
                 else "a certificate that could not be read")
        if failure == "tls-name":
            return Finding(f"TLS: {where} presents {shown}, which does not name {where.split(':')[0]} "
                           f"({result.detail}): {hop.what} must present the certificate for {params.public_name}",
                           (hop.step,), hop.role)
        return Finding(f"TLS trust: {where} presents {shown}, but the device trusts {trusted} ({result.detail}): "
                       f"give --ca the CA that issued it, or bind {hop.what} to a certificate from a CA devices "
                       "trust", (hop.step,), hop.role)
    if failure == "tls-alert":
        detail = result.detail.upper()
        if "UNKNOWN_CA" in detail or "BAD_CERTIFICATE" in detail or "CERTIFICATE_UNKNOWN" in detail:
            return _untrusted(hop, result)
        if "WRONG_VERSION_NUMBER" in detail or "RECORD_LAYER" in detail:
            return Finding(f"{where} does not speak TLS ({result.detail}): plain HTTP on the HTTPS port? "
                           f"{publish}", publish_steps, "tmg")
        return Finding(f"TLS handshake refused by {where} ({result.detail}): {hop.what} refused the device's "
                       "certificate or its TLS versions", (hop.step,), hop.role)
    if failure == "reset":
        return Finding(f"{where} closed the connection without an answer ({result.detail}): {hop.what} dropped it; "
                       "its log says why", (hop.step,), hop.role)
    return Finding(f"{where} answered something that is not HTTP ({result.detail})", (), None)


def _untrusted(hop: ValidatingHop, result: ProbeResult, issuer: str | None = None) -> Finding:
    whose = f"issued by {issuer}" if issuer else "from the user's CA"
    where = "TMG's trusted root store (the listener checks the chain)" if hop.role == "tmg" else \
        "the trusted root store of the server (IIS client certificate mapping checks the chain)"
    return Finding(f"{hop.what} does not trust the user's certificate ({whose}; like IIS 403.16): put the issuing "
                   f"CA in {where}, and in NTAuth for the mapping to AD", (hop.step,), hop.role)


def _kcd(result: ProbeResult, links: list[KcdLink], hop: ValidatingHop, params: Params) -> Finding:
    offered = ", ".join(result.header("WWW-Authenticate")) or "(none)"
    if not links:  # eas: nobody delegates, so a Kerberos challenge means the certificate never reached the EAS
        return Finding(f"401 with a Negotiate challenge ({offered}): with cert_validation eas nothing delegates; "
                       f"{hop.what} asks for Windows authentication instead of mapping the certificate: require the "
                       "certificate there (6a) and let TLS pass through TMG (step 2, server publishing)",
                       ("6a", "2"), "eas")
    exchange = [f"{name}: {value}" for name in EXCHANGE_HEADERS for value in result.header(name)]
    if exchange:  # the EAS answered: the link that delivers the user to the EAS is the broken one
        chosen = [link for link in links if link.target == "eas"]
        origin = f" (Exchange answered: {'; '.join(exchange)})"
    else:
        chosen, origin = links, ""
    parts = []
    for link in chosen:
        parts.append(f"{link.describe(params)}: delegation {link.delegation_step}, SPN {link.spn_step}, rights "
                     f"{link.rights_step}, Kerberos accepted {link.kerberos_step}; prove it with "
                     f"`runbook check SESSION kcd --role {link.check_role} --keytab … --user …`")
    if len(chosen) == 1:
        answered, target = chosen[0].target, ROLE_NAMES[chosen[0].target]
    else:  # no Exchange header: a hop before Exchange answered, so the first link is the first suspect
        answered = chosen[0].target
        target = (f"{ROLE_NAMES[answered]} (no Exchange header in the answer, so a hop before Exchange answered; "
                  "or further on)")
    steps = tuple(step for link in chosen for step in link.steps)
    return Finding(f"401 with a Negotiate challenge ({offered}){origin}: Kerberos constrained delegation broke "
                   f"before {target}; check " + " | ".join(parts) + "; and every host's clock within 5 min of the "
                   "DC (`runbook check SESSION clock`)", steps, answered)


def _with_certificate(result: ProbeResult, hop: ValidatingHop, params: Params, issuer: str | None) -> Finding | None:
    status, text = result.status, _text(result)
    assert status is not None
    if 200 <= status < 300:
        if result.protocol_versions:
            return None
        return Finding(f"{status} but no MS-ASProtocolVersions header: {result.url} does not reach Exchange "
                       "ActiveSync (a portal or another site answers; check the path and TMG's rule, step 2)",
                       ("2",), "tmg")
    links = kcd_links(params)
    if status == 401:
        if any(v.lower().startswith(("negotiate", "kerberos")) for v in result.header("WWW-Authenticate")):
            return _kcd(result, links, hop, params)
        offered = ", ".join(result.header("WWW-Authenticate")) or "no challenge"
        steps = tuple(link.kerberos_step for link in links) or (hop.step,)
        return Finding(f"401 asking for {offered}, not Kerberos: the hop that receives the delegated user does not "
                       f"accept Kerberos (Windows authentication with Negotiate, step {'/'.join(steps)})",
                       steps, links[-1].target if links else hop.role)
    if any(mark in text for mark in CERT_UNTRUSTED_MARKS):
        return _untrusted(hop, result, issuer)
    if any(mark in text for mark in CERT_REQUIRED_MARKS):
        if hop.role == "tmg":
            kerberos = tuple(link.kerberos_step for link in links)
            return Finding(f"{status} certificate required (like IIS 403.7) although the device sent one: an IIS "
                           "behind TMG requires a client certificate, which TMG cannot forward; with "
                           f"cert_validation tmg the hops behind it accept Kerberos instead ({'/'.join(kerberos)})",
                           kerberos, None)
        return Finding(f"{status} certificate required (like IIS 403.7) although the device sent one: it never "
                       f"reached {hop.what}; TMG must pass TLS through (step 2, server publishing, not web "
                       "publishing)", ("2", hop.step), hop.role)
    if status == 403:
        return Finding(f"403 {result.reason}: the certificate was accepted but the user is refused: the mapping "
                       f"at {hop.what} (step {hop.step}) finds no enabled account for the UPN in the SAN, or the "
                       "account may not use ActiveSync", (hop.step,), hop.role)
    if status in (500, 502, 503, 504):
        source = "TMG" if hop.role == "tmg" or links else hop.what
        if "target principal name is incorrect" in text:
            return Finding(f"{status} from {source}: “{result.reason}”: the SPN TMG asks a ticket for is not on the "
                           "account that runs the next hop: the rule's SPN (step 2) and the SPNs (4a/4b)",
                           ("2", "4a", "4b"), "tmg")
        return Finding(f"{status} {result.reason} from {source}: it got no usable answer from the next hop (down, "
                       "wrong internal name, or a delegation it cannot use); TMG's rule Test (step 2) shows which",
                       ("2", *(link.delegation_step for link in links)), "tmg")
    return Finding(f"unexpected {status} {result.reason} with the certificate", (), None)


def _without_certificate(result: ProbeResult, hop: ValidatingHop, params: Params,
                         verdict: DeviceVerdict) -> None:
    if result.status is None:
        if result.failure in ("tls-alert", "reset") and (
                result.failure == "reset" or any(a in result.detail.upper() for a in REFUSING_ALERTS)):
            return
        verdict.faults.append(Finding(f"without a certificate: {_seen(result)}; that is not a clear refusal, so "
                                      "the proof cannot show the certificate is required", (), None))
        return
    if 200 <= result.status < 300:
        verdict.faults[:] = [f for f in verdict.faults if not f.text.startswith(hop.what)]  # said more precisely:
        verdict.faults.insert(0, _not_asking(hop, params, f"the request succeeds without a certificate "
                                                          f"({result.status} {result.reason}): "))
        return
    if result.status == 401 and any(v.lower().startswith("basic") for v in result.header("WWW-Authenticate")):
        verdict.warnings.append(f"without a certificate the server asks for a password (Basic): {hop.what} still "
                                "accepts passwords; devices with a certificate are unaffected")


def diagnose(with_cert: ProbeResult, without_cert: ProbeResult, params: Params, *, user: str = "the test user",
             issuer: str | None = None) -> DeviceVerdict:
    """Pass: 200 with MS-ASProtocolVersions with the certificate, and a refusal without it."""
    hop = validating_hop(params)
    verdict = DeviceVerdict(ok=False, summary="")
    verdict.lines.append(f"the certificate is checked by {hop.what} (step {hop.step})")
    verdict.lines.append(f"with {user}'s certificate: {_seen(with_cert)}; client certificate {_asked(with_cert)}")
    verdict.lines.append(f"without a certificate: {_seen(without_cert)}")
    if with_cert.status is None:
        verdict.faults.append(_transport(with_cert, hop, params))
    else:
        fault = _with_certificate(with_cert, hop, params, issuer)
        if fault is not None:
            if with_cert.certificate_requested is False:
                verdict.faults.append(_not_asking(hop, params))  # the cause before its symptom
            verdict.faults.append(fault)
        verdict.versions = with_cert.protocol_versions
        _without_certificate(without_cert, hop, params, verdict)
    verdict.ok = not verdict.faults
    if verdict.ok:
        verdict.summary = (f"a device with {user}'s certificate syncs: {with_cert.status}, ActiveSync "
                           f"{', '.join(verdict.versions)}; without a certificate it is refused")
    else:
        first = verdict.faults[0]
        fix = f" (step {', '.join(first.steps)})" if first.steps else ""
        at = f" at {ROLE_NAMES[first.hop]}" if first.hop else ""
        verdict.summary = f"a device with {user}'s certificate cannot sync{at}{fix}: {first.text}"
    return verdict

"""The device proof's diagnosis, a pure function: every failure mode over every chain (topology × cert_validation)."""
from __future__ import annotations

import pytest

from runbook.device.chain import kcd_links, validating_hop
from runbook.device.diagnosis import diagnose
from runbook.device.probe import ProbeResult, activesync_url
from runbook.inputs.params import Params
from tests.conftest import params_for

CHAINS = [("tmg-eas", "tmg"), ("tmg-eas", "eas"), ("tmg-seg-eas", "tmg"), ("tmg-seg-eas", "seg"),
          ("add-seg", "tmg"), ("add-seg", "seg")]
VALIDATING_STEP = {"tmg": "1", "eas": "6a", "seg": "6b"}
URL = activesync_url("mail.example.com")
ACTIVESYNC = (("MS-ASProtocolVersions", "14.1,16.0,16.1"), ("MS-ASProtocolCommands", "Sync,FolderSync"))


def answer(status: int, reason: str, *, headers: tuple[tuple[str, str], ...] = (), body: str = "",
           with_certificate: bool = True, asked: bool | None = True) -> ProbeResult:
    return ProbeResult(URL, with_certificate, status=status, reason=reason, headers=headers, body_excerpt=body,
                       certificate_requested=asked)


def failed(failure: str, detail: str, *, with_certificate: bool = True, **fields: object) -> ProbeResult:
    return ProbeResult(URL, with_certificate, failure=failure, detail=detail, **fields)  # type: ignore[arg-type]


OK = answer(200, "OK", headers=ACTIVESYNC)
REFUSED = answer(400, "Bad Request", body="400 No required SSL certificate was sent", with_certificate=False)
REFUSED_IN_TLS = failed("tls-alert", "TLSV13_ALERT_CERTIFICATE_REQUIRED", with_certificate=False)


@pytest.fixture(params=CHAINS, ids=["/".join(chain) for chain in CHAINS])
def params(request: pytest.FixtureRequest) -> Params:
    return params_for(*request.param)


def test_pass_prints_versions_and_the_refusal(params: Params) -> None:
    for refusal in (REFUSED, REFUSED_IN_TLS, answer(403, "Forbidden", body="HTTP Error 403.7", with_certificate=False)):
        verdict = diagnose(OK, refusal, params, user="alice@test.lan")
        assert verdict.ok, verdict.faults
        assert verdict.versions == ["14.1", "16.0", "16.1"]
        assert verdict.summary.startswith("a device with alice@test.lan's certificate syncs: 200, ActiveSync 14.1, "
                                          "16.0, 16.1")


def test_success_without_a_certificate_names_the_validating_hop_and_its_step(params: Params) -> None:
    verdict = diagnose(answer(200, "OK", headers=ACTIVESYNC, asked=False),
                       answer(200, "OK", headers=ACTIVESYNC, with_certificate=False, asked=False), params)
    assert not verdict.ok
    step = VALIDATING_STEP[params.cert_validation]
    first = verdict.faults[0]
    assert first.steps[0] == step and first.hop == params.cert_validation
    assert "succeeds without a certificate" in first.text and "is not asking for a client certificate" in first.text
    assert f"step {step}" in verdict.summary
    if params.cert_validation == "tmg":
        assert "TMG listener “EAS Listener”" in first.text
    else:
        assert "server publishing rule (step 2)" in first.text


def test_tls_trust_names_the_issuer_and_what_the_device_trusts(params: Params) -> None:
    untrusted = failed("tls-untrusted", "unable to get local issuer certificate",
                       server_certificate_subject="CN=mail.example.com", server_certificate_issuer="CN=Fabrikam CA",
                       trusted_cas=("CN=Contoso Enterprise CA",))
    verdict = diagnose(untrusted, untrusted, params)
    text = verdict.faults[0].text
    assert "issued by CN=Fabrikam CA" in text and "trusts CN=Contoso Enterprise CA" in text
    assert verdict.faults[0].steps == (VALIDATING_STEP[params.cert_validation],)
    assert len(verdict.faults) == 1  # the same trouble without a certificate is not repeated


def test_certificate_required_although_sent(params: Params) -> None:
    verdict = diagnose(answer(403, "Forbidden", body="HTTP Error 403.7 - Forbidden"), REFUSED, params)
    fault = verdict.faults[-1]
    assert "certificate required (like IIS 403.7) although the device sent one" in fault.text
    if params.cert_validation == "tmg":
        assert "TMG cannot forward" in fault.text
        assert fault.steps == (("6b", "6a") if params.has_seg else ("6a",))
    else:
        assert fault.steps == ("2", VALIDATING_STEP[params.cert_validation])


def test_certificate_not_trusted(params: Params) -> None:
    for seen in (answer(403, "Forbidden", body="HTTP Error 403.16 - Forbidden: Your client certificate is either "
                        "not trusted or is invalid."),
                 answer(400, "Bad Request", body="400 The SSL certificate error"),
                 failed("tls-alert", "TLSV1_ALERT_UNKNOWN_CA")):
        verdict = diagnose(seen, REFUSED, params, issuer="CN=Contoso Enterprise CA")
        fault = verdict.faults[0]
        assert "does not trust the user's certificate" in fault.text, seen
        assert fault.steps == (VALIDATING_STEP[params.cert_validation],)


def test_negotiate_401_points_at_the_delegation_steps_of_the_chain(params: Params) -> None:
    verdict = diagnose(answer(401, "Unauthorized", headers=(("WWW-Authenticate", "Negotiate"),
                                                            ("WWW-Authenticate", "NTLM"))), REFUSED, params)
    fault = verdict.faults[0]
    links = kcd_links(params)
    if params.cert_validation == "eas":
        assert not links and fault.steps == ("6a", "2") and "nothing delegates" in fault.text
        return
    assert "Kerberos constrained delegation broke" in fault.text and "runbook check SESSION kcd" in fault.text
    assert fault.steps[:4] == links[0].steps
    if params.cert_validation == "tmg":
        assert "3a" in fault.steps and "--role tmg" in fault.text
    if params.has_seg:
        assert "3b" in fault.steps and "4a" in fault.steps and "--role seg" in fault.text


def test_negotiate_401_from_exchange_narrows_to_the_link_into_eas(params: Params) -> None:
    if params.cert_validation == "eas":
        pytest.skip("no delegation in this chain")
    seen = answer(401, "Unauthorized", headers=(("WWW-Authenticate", "Negotiate"), ("X-FEServer", "EAS01")))
    fault = diagnose(seen, REFUSED, params).faults[0]
    assert "Exchange answered: X-FEServer: EAS01" in fault.text and fault.hop == "eas"
    assert fault.steps == (("3b", "4a", "5b", "6a") if params.has_seg else ("3a", "4a", "5a", "6a"))


def test_basic_401_means_the_receiving_hop_does_not_take_kerberos(params: Params) -> None:
    fault = diagnose(answer(401, "Unauthorized", headers=(("WWW-Authenticate", 'Basic realm="x"'),)), REFUSED,
                     params).faults[0]
    assert "not Kerberos" in fault.text
    receiving = tuple(link.kerberos_step for link in kcd_links(params))
    assert fault.steps == (receiving or (VALIDATING_STEP[params.cert_validation],))


def test_plain_403_is_the_user_refused_after_the_certificate(params: Params) -> None:
    fault = diagnose(answer(403, "Forbidden", body="<h1>403 Forbidden</h1>"), REFUSED, params).faults[0]
    assert "the user is refused" in fault.text and fault.steps == (VALIDATING_STEP[params.cert_validation],)


@pytest.mark.parametrize("status", [500, 502, 504])
def test_tmg_errors(params: Params, status: int) -> None:
    fault = diagnose(answer(status, "Bad Gateway"), REFUSED, params).faults[0]
    assert f"{status} Bad Gateway from" in fault.text and fault.steps[0] == "2"


def test_tmg_wrong_spn_message(params: Params) -> None:
    seen = answer(500, "Internal Server Error ( The target principal name is incorrect. (-2146893022) )")
    fault = diagnose(seen, REFUSED, params).faults[0]
    assert "the SPN TMG asks a ticket for" in fault.text and fault.steps == ("2", "4a", "4b")


@pytest.mark.parametrize("failure, words, steps", [
    ("timeout", "no answer from mail.example.com:443 within detail", None),
    ("refused", "nothing accepts connections on mail.example.com:443", None),
    ("dns", "does not resolve from here", ()),
    ("reset", "closed the connection without an answer", "hop"),
])
def test_transport_failures(params: Params, failure: str, words: str, steps: object) -> None:
    seen = failed(failure, "detail")
    fault = diagnose(seen, failed(failure, "detail", with_certificate=False), params).faults[0]
    assert words in fault.text
    if steps is None:  # where the device's TLS lands: TMG's listener (tmg) or its server publishing rule
        assert fault.steps == (("1", "2") if params.cert_validation == "tmg" else ("2",))
    elif steps == "hop":
        assert fault.steps == (VALIDATING_STEP[params.cert_validation],)
    else:
        assert fault.steps == steps


def test_a_certificate_request_never_made_comes_before_its_symptom(params: Params) -> None:
    verdict = diagnose(answer(401, "Unauthorized", headers=(("WWW-Authenticate", "Negotiate"),), asked=False),
                       REFUSED, params)
    if params.cert_validation != "eas":
        assert "is not asking for a client certificate" in verdict.faults[0].text
        assert verdict.first_steps[0] == VALIDATING_STEP[params.cert_validation]


def test_200_without_activesync_headers_is_not_exchange(params: Params) -> None:
    fault = diagnose(answer(200, "OK", body="<html>portal</html>"), REFUSED, params).faults[0]
    assert "no MS-ASProtocolVersions header" in fault.text


def test_no_clear_refusal_without_a_certificate(params: Params) -> None:
    verdict = diagnose(OK, failed("timeout", "1 s", with_certificate=False), params)
    assert not verdict.ok and "not a clear refusal" in verdict.faults[0].text


def test_basic_offered_without_a_certificate_is_a_warning(params: Params) -> None:
    verdict = diagnose(OK, answer(401, "Unauthorized", headers=(("WWW-Authenticate", "Basic"),),
                                  with_certificate=False), params)
    assert verdict.ok and "asks for a password" in verdict.warnings[0]


def test_validating_hop_follows_the_chain(params: Params) -> None:
    hop = validating_hop(params)
    assert hop.role == params.cert_validation and hop.step == VALIDATING_STEP[hop.role]
    assert hop.servers == tuple(s.computer for s in params.servers(hop.role))

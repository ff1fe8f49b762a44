"""The authentication chain (DOMAIN.md, first section): for every topology × cert_validation × farm × TMG array,
the steps that apply make exactly one hop check the certificate, make every delegation target accept Kerberos,
and grant no delegation or right on a hop that never authenticates the user."""
from __future__ import annotations

import itertools

import pytest

from runbook.errors import ParamsError
from runbook.flow import chain
from runbook.flow.automation import chain_problems
from runbook.flow.catalogue import expand
from runbook.inputs.params import CHAIN_CHOICES, parse_params
from steps import CATALOGUE
from tests.conftest import BASE_PARAMS

EAS_FARM = [{"computer": "EAS01", "host": "eas01.test.lan"}, {"computer": "EAS02", "host": "eas02.test.lan"}]
SEG_FARM = [{"computer": "SEG01", "host": "seg01.test.lan"}, {"computer": "SEG02", "host": "seg02.test.lan"}]
TMG_ARRAY = [{"computer": "TMG01", "host": "tmg01.test.lan"}, {"computer": "TMG02", "host": "tmg02.test.lan"}]


def params_for(topology: str, cert_validation: str, eas_farm: bool, seg_farm: bool, tmg_array: bool):
    data = dict(BASE_PARAMS, topology=topology, cert_validation=cert_validation)
    data["eas"] = EAS_FARM if eas_farm else EAS_FARM[:1]
    data["tmg"] = TMG_ARRAY if tmg_array else TMG_ARRAY[0]
    if eas_farm:
        data["internal_names"], data["service_accounts"] = {"eas": "mail-int.test.lan"}, {"eas": "EASASA"}
    else:
        data.pop("internal_names"), data.pop("service_accounts")
    if topology == "tmg-eas":
        data.pop("seg")
    else:
        data["seg"] = SEG_FARM if seg_farm else SEG_FARM[:1]
    return parse_params(data)


COMBINATIONS = [
    (topology, validator, eas_farm, seg_farm, tmg_array)
    for topology, validators in CHAIN_CHOICES.items()
    for validator in validators
    for eas_farm, seg_farm, tmg_array in itertools.product((False, True), repeat=3)
    if not (topology == "tmg-eas" and seg_farm)
]


@pytest.mark.parametrize("combo", COMBINATIONS, ids=["-".join(map(str, c)) for c in COMBINATIONS])
def test_every_valid_combination_builds_a_coherent_chain(combo) -> None:
    params = params_for(*combo)
    instances = expand(CATALOGUE, params)
    effects = [e for i in instances for e in i.effects(params)]
    assert chain_problems(params, instances) == []
    validators = {e.role for e in effects if e.kind == chain.REQUIRES_CERT}
    assert validators == {params.cert_validation}
    kerberos = {e.host for e in effects if e.kind == chain.ACCEPTS_KERBEROS}
    for effect in effects:
        if effect.kind == chain.DELEGATES:
            for spn in effect.spns:
                assert set(chain.servers_named_by(params, spn)) <= kerberos, (effect.step, spn)
    # Per member of a TMG array, and not at all where TMG only passes TLS through.
    tmg_steps = [i.key for i in instances if i.id in ("3a", "5a") and not i.not_applicable]
    if params.cert_validation == "tmg":
        assert len(tmg_steps) == 2 * len(params.tmg_array)
        assert ("3a@TMG02" in tmg_steps) == (len(params.tmg_array) > 1)
    else:
        assert tmg_steps == []


APPLIES = {
    ("tmg-eas", "tmg"): {"1", "2", "3a", "4a", "5a", "6a"},
    ("tmg-eas", "eas"): {"2", "6a"},
    ("tmg-seg-eas", "tmg"): {"1", "2", "3a", "3b", "4a", "4b", "5a", "5b", "6a", "6b"},
    ("tmg-seg-eas", "seg"): {"2", "3b", "4a", "5b", "6a", "6b"},
    ("add-seg", "tmg"): {"1", "2", "3a", "3b", "4a", "4b", "5a", "5b", "6a", "6b", "7"},
    ("add-seg", "seg"): {"2", "3b", "4a", "5b", "6a", "6b", "7"},
}


@pytest.mark.parametrize("chain_key", sorted(APPLIES), ids=["/".join(k) for k in sorted(APPLIES)])
def test_which_steps_apply_per_chain(chain_key) -> None:
    params = params_for(*chain_key, False, False, False)
    assert {i.id for i in expand(CATALOGUE, params) if not i.not_applicable} == APPLIES[chain_key]


def test_default_is_tmg_everywhere() -> None:
    for topology in CHAIN_CHOICES:
        data = dict(BASE_PARAMS, topology=topology)
        if topology == "tmg-eas":
            data.pop("seg")
        assert parse_params(data).cert_validation == "tmg"


@pytest.mark.parametrize("topology,validator", [("tmg-eas", "seg"), ("tmg-seg-eas", "eas"), ("add-seg", "eas"),
                                                ("tmg-eas", "iis")])
def test_a_validator_impossible_for_the_topology_is_refused_naming_the_field(topology, validator) -> None:
    data = dict(BASE_PARAMS, topology=topology, cert_validation=validator)
    if topology == "tmg-eas":
        data.pop("seg")
    with pytest.raises(ParamsError, match=r"cert_validation: '\w+' is not one of"):
        parse_params(data)


def test_the_checker_refuses_two_validators_and_a_delegation_to_a_hop_that_rejects_kerberos() -> None:
    """The invariants themselves, on effect sets no valid catalogue produces (the guide's own contradiction)."""
    params = params_for("tmg-eas", "tmg", False, False, False)
    guide = [chain.Effect(chain.REQUIRES_CERT, "tmg", "tmg01.test.lan", step="1"),
             chain.Effect(chain.DELEGATES, "tmg", "tmg01.test.lan", ("http/eas01.test.lan",), step="3a"),
             chain.Effect(chain.REQUIRES_CERT, "eas", "eas01.test.lan", step="6a@EAS01")]
    found = chain.problems(params, guide)
    assert any("exactly one hop" in p and "TMG, EAS" in p for p in found)
    assert any("no step makes eas01.test.lan accept Kerberos" in p for p in found)
    passthrough = [chain.Effect(chain.REQUIRES_CERT, "eas", "eas01.test.lan", step="6a@EAS01"),
                   chain.Effect(chain.ACTS_AS_OS, "tmg", "tmg01.test.lan", step="5a")]
    assert any("never authenticates the user" in p for p in chain.problems(params, passthrough))


def test_chain_line_says_where_the_certificate_is_checked() -> None:
    assert chain.chain_line(params_for("tmg-seg-eas", "tmg", False, False, False)) == (
        "device → TMG [checks the certificate; KCD] → SEG (accepts Kerberos; KCD) → EAS (accepts Kerberos)")
    assert chain.chain_line(params_for("tmg-seg-eas", "seg", False, False, False)) == (
        "device → TMG (server publishing: TLS passes through) → SEG [checks the certificate; KCD] → EAS "
        "(accepts Kerberos)")
    assert chain.chain_line(params_for("tmg-eas", "eas", False, False, False)) == (
        "device → TMG (server publishing: TLS passes through) → EAS [checks the certificate]")


def test_a_catalogue_that_breaks_the_chain_writes_no_session(tmp_path, write_params) -> None:
    """The engine enforces the invariants itself: the guide's 'certificate on TMG and on IIS' is refused."""
    import dataclasses

    from runbook.flow.engine import Runbook
    from runbook.lab.lab import lab_ports_factory
    from steps.iis import EAS_IIS

    def always_certificate(params, target):
        return [chain.Effect(chain.REQUIRES_CERT, "eas", target.server.host)]

    broken = [dataclasses.replace(spec, effects=always_certificate) if spec is EAS_IIS else spec
              for spec in CATALOGUE]
    path = tmp_path / "guide.yaml"
    params = write_params(topology="tmg-eas", seg=None, internal_names=None, service_accounts=None)
    with pytest.raises(ParamsError, match="exactly one hop must check the client certificate"):
        Runbook.create(path, str(params), broken, lab_ports_factory)
    assert not path.exists() and not list(tmp_path.glob("guide*"))

"""Every topology's step list, farm expansion, applicability reasons and dependencies."""
from __future__ import annotations

from runbook.catalogue import expand, select
from runbook.params import load_params_file
from steps import CATALOGUE


def instances(path):
    return expand(CATALOGUE, load_params_file(path))


def applicable(items) -> list[str]:
    return [i.key for i in items if i.not_applicable is None]


def test_tmg_eas_single_server(write_params) -> None:
    items = instances(write_params(topology="tmg-eas", seg=None, internal_names=None, service_accounts=None,
                                   eas=[{"computer": "EAS01", "host": "eas01.test.lan"}]))
    assert applicable(items) == ["1", "2", "3a", "4a@EAS01", "5a", "6a@EAS01"]
    reasons = {i.key: i.not_applicable for i in items if i.not_applicable}
    assert set(reasons) == {"3b", "4b", "5b", "6b"}
    assert "no SEG" in reasons["3b"]


def test_tmg_seg_eas_with_two_eas_farm(write_params) -> None:
    items = instances(write_params())
    assert applicable(items) == ["1", "2", "3a", "3b@SEG01", "4a@EAS01", "4a@EAS02", "4a@EASASA", "4b@SEG01",
                                 "5a", "5b@SEG01", "6b@SEG01"]
    six_a = next(i for i in items if i.id == "6a")
    assert six_a.not_applicable == "skipped: the client certificate is validated on the SEG (SEG01)"


def test_add_seg_orders_6b_after_listener_and_rule(write_params) -> None:
    items = instances(write_params(topology="add-seg"))
    six_b = next(i for i in items if i.id == "6b")
    assert six_b.depends_on == ("1", "2")
    listener = next(i for i in items if i.id == "1")
    text = " ".join(m.text for m in listener.manual(load_params_file(write_params(topology="add-seg"))))
    assert "No Authentication" in text and "SEG validates" in text


def test_cert_validation_on_tmg_skips_both_iis_steps(write_params) -> None:
    items = instances(write_params(topology="tmg-eas", seg=None, cert_validation="tmg", internal_names=None,
                                   service_accounts=None))
    reasons = {i.id: i.not_applicable for i in items}
    assert "validated on the TMG listener" in reasons["6a"]


def test_select_bare_id_means_every_instance(write_params) -> None:
    items = instances(write_params())
    assert [i.key for i in select(items, "4a")] == ["4a@EAS01", "4a@EAS02", "4a@EASASA"]
    assert [i.key for i in select(items, "4a@eas02")] == ["4a@EAS02"]


def test_manual_instructions_fill_in_real_names(write_params) -> None:
    params = load_params_file(write_params(listener_ip="203.0.113.10"))
    items = {i.key: i for i in expand(CATALOGUE, params)}
    rule = " ".join(m.text for m in items["2"].manual(params))
    assert "mail.example.com" in rule and "EAS Listener" in rule and "http/seg01.test.lan" in rule
    listener = " ".join(m.text for m in items["1"].manual(params))
    assert "203.0.113.10" in listener
    spn = [m.command for m in items["4a@EASASA"].manual(params) if m.command]
    assert "setspn -S http/mail-int.test.lan EASASA" in spn
    assert not any(c and "setspn -A" in c for c in spn)
    delegation = " ".join(m.text + (m.command or "") for m in items["3b@SEG01"].manual(params))
    assert "http/eas02.test.lan" in delegation and "http/mail-int.test.lan" in delegation


def test_farm_without_alias_uses_wildcard_only_in_tmg_rule(write_params) -> None:
    params = load_params_file(write_params(topology="tmg-eas", seg=None, internal_names=None,
                                           service_accounts=None))
    items = {i.key: i for i in expand(CATALOGUE, params)}
    rule = [m for m in items["2"].manual(params)]
    assert any(m.command == "http/*" for m in rule)
    for key, item in items.items():
        if key.startswith(("3", "4")) and not item.not_applicable:
            for m in item.manual(params):
                assert "http/*" not in (m.command or ""), key

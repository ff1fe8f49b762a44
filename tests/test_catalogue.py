"""Every topology's step list, farm expansion, applicability reasons and dependencies."""
from __future__ import annotations

from runbook.flow.catalogue import expand, select
from runbook.inputs.params import load_params_file
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
    assert set(reasons) == {"3b", "4b", "5b", "6b", "7"}
    assert "no SEG" in reasons["3b"]


def test_tmg_seg_eas_with_two_eas_farm(write_params) -> None:
    items = instances(write_params(cert_validation="seg"))
    assert applicable(items) == ["2", "3b@SEG01", "4a@EAS01", "4a@EAS02", "4a@EASASA", "5b@SEG01",
                                 "6a@EAS01", "6a@EAS02", "6b@SEG01"]
    reasons = {i.key: i.not_applicable for i in items if i.not_applicable}
    assert "TMG passes TLS through to the SEG" in reasons["3a"]
    assert "needs no http SPN" in reasons["4b"]


def test_add_seg_prepares_the_seg_side_before_the_cutover(write_params) -> None:
    params = load_params_file(write_params(topology="add-seg"))
    items = {i.key: i for i in expand(CATALOGUE, params)}
    side = ("3b@SEG01", "4a@EAS01", "4a@EAS02", "4a@EASASA", "4b@SEG01", "5b@SEG01", "6a@EAS01", "6a@EAS02",
            "6b@SEG01")
    assert set(side) <= set(items["2"].depends_on) and set(side) <= set(items["3a"].depends_on)
    assert "3a" in items["2"].depends_on
    assert set(items["7"].depends_on) == {"2", "3a"}
    assert items["6b@SEG01"].depends_on == ()
    listener = " ".join(m.text for m in items["1"].manual(params))
    assert "SSL Client Certificate Authentication" in listener and "stay" in listener
    rule = " ".join(m.text for m in items["2"].manual(params))
    assert "re-points the existing rule" in rule


def test_add_seg_with_the_seg_checking_replaces_the_web_rule(write_params) -> None:
    params = load_params_file(write_params(topology="add-seg", cert_validation="seg"))
    items = {i.key: i for i in expand(CATALOGUE, params)}
    assert items["1"].not_applicable and items["3a"].not_applicable and items["5a"].not_applicable
    rule = " ".join(m.text for m in items["2"].manual(params))
    assert "Disable" in rule and "HTTPS Server" in rule


def test_not_applicable_steps_have_no_checklist_and_no_dependencies(write_params) -> None:
    params = load_params_file(write_params(topology="tmg-eas", seg=None, internal_names=None,
                                           service_accounts=None, cert_validation="eas"))
    for item in expand(CATALOGUE, params):
        if item.not_applicable:
            assert item.manual(params) == [] and item.depends_on == () and item.effects(params) == []
    rule = next(i for i in expand(CATALOGUE, params) if i.id == "2")
    assert rule.depends_on == ()  # 1 does not apply: nothing to wait for


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
    assert "setspn -F -S http/mail-int.test.lan EASASA" in spn
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

"""A rehearsal lab for any params file: the `lab:` section a scenario would hold, derived from the params.

`runbook demo --params FILE` rehearses the operator's own change, farms and TMG arrays included, so the lab
must hold what the guide assumes is already there before step 1: every computer and service account the
params name, IIS with Client Certificate Mapping Authentication and ActiveSync on each SEG, Exchange's
alternate service account on each EAS (Exchange's own set-up, see `build_state`), and for add-seg the working
TMG → EAS publication the change starts from. Nothing the runbook itself configures is pre-installed, so
every applicable step has something to do.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from runbook.flow import topology as topo
from runbook.inputs.params import Params
from runbook.lab.windows_state import EAS_VDIR
from runbook.lab.windows_tmg import tmg_listener, tmg_rule

# TMG's account as the guide's TMG → EAS set-up leaves it: trusted for delegation with protocol transition.
TRUSTED_FOR_DELEGATION_ANY_PROTOCOL = 0x1001000
NETWORK_SERVICE = "S-1-5-20"


def setup_for(params: Params) -> dict[str, Any]:
    """The lab set-up, in a scenario's `lab:` keys (users, features, locations, delegate, uac, rights, tmg_policy)."""
    setup: dict[str, Any] = {
        "features": {seg.host: ["Web-Client-Auth"] for seg in params.seg},
        "locations": {seg.host: [f"{params.iis_site}/{EAS_VDIR}"] for seg in params.seg},
    }
    spns: dict[str, list[str]] = {}
    if params.topology == "add-seg":
        setup.update(_existing_tmg_to_eas(params))
        spns = setup.pop("spns")
    users = sorted({account.upper() for account in params.service_accounts.values()})
    setup["users"] = [{"sam": sam, "spns": spns.get(sam, [])} for sam in users]
    return setup


def _existing_tmg_to_eas(params: Params) -> dict[str, Any]:
    """What the same servers' finished TMG → EAS change left behind: the state an add-seg change starts from."""
    before = dataclasses.replace(params, topology="tmg-eas", seg=(), cert_validation="tmg")
    targets = topo.delegation_targets(before, "tmg")
    tmg_accounts = [member.sam for member in params.tmg_array]
    listener = tmg_listener(params.listener, [params.listener_ip] if params.listener_ip else [],
                            params.listener_certificate, client_cert_auth=True)
    rule = tmg_rule(params.publishing_rule, params.listener, topo.internal_site_name(before), [params.public_name],
                    spn=topo.rule_spn(before))
    setup: dict[str, Any] = {
        "delegate": {sam: list(targets) for sam in tmg_accounts},
        "uac": {sam: TRUSTED_FOR_DELEGATION_ANY_PROTOCOL for sam in tmg_accounts},
        "rights": {member.host: {"SeTcbPrivilege": [NETWORK_SERVICE]} for member in params.tmg_array},
        "tmg_policy": {"listeners": [listener], "rules": [rule]},
    }
    # The farm's alias SPN already lives on its shared account, or TMG → EAS could not have worked.
    alias_owner = topo.alias_account(before, "eas")
    setup["spns"] = {alias_owner.upper(): topo.alias_spns(before, "eas")} if alias_owner else {}
    return setup

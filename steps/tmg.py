"""Steps 1 and 2: the TMG web listener and the publishing rule, by chain.

No supported write API is worth the risk here, so both stay manual (the TMG console clicks,
with this change's names filled in, in steps/tmg_checklists.py); they are verified read-only
through the TMG COM object model. Which rule TMG needs follows the chain: a web publishing rule
with Kerberos constrained delegation when TMG checks the certificate, a server publishing rule
(TLS passes through) when the EAS or the SEG checks it.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runbook.flow import chain
from runbook.flow import topology as topo
from runbook.flow.catalogue import ManualItem, StepSpec, Target
from runbook.flow.changes import Verification
from steps import host_reads
from steps import tmg_checklists as checklists
from steps.applicability import tmg_authenticates, validates
from steps.targets import on_tmg

if TYPE_CHECKING:
    from runbook.flow.context import StepContext
    from runbook.inputs.params import Params

KCD_DELEGATION_TYPE = 6  # TMG's fpcDelegationType for Kerberos constrained delegation
HTTPS_SERVER = "HTTPS Server"
# What a rule must wait for when a SEG is added: the whole SEG side, so the cutover finds it ready.
SEG_SIDE = ["3b", "4a", "4b", "5b", "6a", "6b"]


def _policy(ctx: StepContext) -> dict[str, Any]:
    policy: dict[str, Any] = ctx.hosts.shell(ctx.params.tmg.host).invoke("Get-CertAuthTmgPolicy", {}).first
    return policy


class PolicyRead:
    """What a check of TMG's policy reads: a verify-all reads it with 5a's rights, in one call to TMG."""

    def state_reads(self, ctx: StepContext) -> dict[str, Any]:
        return host_reads.asks(tmg_policy=True)


class ListenerCheck(PolicyRead):
    """Read-only: TMG's listener as the COM object model reports it."""

    def verify(self, ctx: StepContext) -> Verification:
        params = ctx.params
        listeners = {item["Name"]: item for item in _policy(ctx)["Listeners"]}
        result = Verification()
        listener = listeners.get(params.listener)
        result.expect(f"listener “{params.listener}” exists", True, listener is not None)
        if listener is None:
            result.notes.append("listeners on TMG: " + (", ".join(listeners) or "(none)"))
            return result
        result.expect("requires SSL from clients", True, bool(listener["RequireSsl"]))
        result.expect("asks for the client certificate (SSL Client Certificate Authentication)", True,
                      bool(listener["ClientCertAuth"]))
        if params.listener_ip:
            result.expect(f"listens on {params.listener_ip}", True, params.listener_ip in listener["IPs"])
        if params.listener_certificate:
            result.expect("certificate", params.listener_certificate, listener["Certificate"],
                          ok=params.listener_certificate.lower() in str(listener["Certificate"]).lower())
        return result


def _named_or_public(params: Params, rules: list[dict[str, Any]]) -> dict[str, Any] | None:
    return next((r for r in rules if r["Name"] == params.publishing_rule), None) or next(
        (r for r in rules if params.public_name in r.get("PublicNames", [])), None)


class RuleCheck(PolicyRead):
    """Read-only: the publishing rule the chain needs, and for a SEG that nothing still publishes straight to EAS."""

    def verify(self, ctx: StepContext) -> Verification:
        policy = _policy(ctx)
        if validates(ctx.params, "tmg"):
            return self._web(ctx.params, policy["Rules"])
        return self._server(ctx.params, policy)

    def _web(self, params: Params, rules: list[dict[str, Any]]) -> Verification:
        result = Verification()
        rule = _named_or_public(params, rules)
        result.expect(f"web publishing rule “{params.publishing_rule}” (or one for {params.public_name}) exists",
                      True, rule is not None)
        if rule is None:
            return result
        result.expect("enabled", True, bool(rule["Enabled"]))
        result.expect("listener", params.listener, rule["Listener"])
        result.expect("internal site name", topo.internal_site_name(params), str(rule["InternalSiteName"]).lower())
        result.expect(f"accepts requests for {params.public_name}", True, params.public_name in rule["PublicNames"])
        result.expect("authentication delegation", "Kerberos constrained delegation (6)",
                      "Kerberos constrained delegation (6)" if rule["DelegationType"] == KCD_DELEGATION_TYPE
                      else f"type {rule['DelegationType']}")
        result.expect("rule SPN", topo.rule_spn(params), rule["Spn"], ok=str(rule["Spn"]).lower() ==
                      topo.rule_spn(params).lower())
        result.expect("applies to All Authenticated Users", True, "All Authenticated Users" in rule["UserSets"])
        if params.has_seg:
            result.expect("no enabled rule still publishes straight to EAS", [], rules_to_eas(params, rules))
        return result

    def _server(self, params: Params, policy: dict[str, Any]) -> Verification:
        result = Verification()
        hop = topo.ROLE_NAMES[topo.next_hop_role(params, "tmg")]
        servers = policy.get("ServerRules") or []
        rule = next((r for r in servers if r["Name"] == params.publishing_rule), None) or next(
            (r for r in servers if r["Enabled"] and r["Protocol"] == HTTPS_SERVER), None)
        result.expect(f"server publishing rule “{params.publishing_rule}” (HTTPS Server) exists", True,
                      rule is not None)
        if rule is not None:
            result.expect("enabled", True, bool(rule["Enabled"]))
            result.expect("protocol", HTTPS_SERVER, rule["Protocol"])
            result.notes.append(f"it publishes {rule['PublishedServerIP']}: that must be the {hop}'s address (TMG "
                                "stores an IP, so this check cannot compare names)")
        web = [r["Name"] for r in policy["Rules"] if r["Enabled"] and params.public_name in r["PublicNames"]]
        result.expect(f"no enabled web publishing rule still terminates TLS for {params.public_name}", [], web)
        return result


def rules_to_eas(params: Params, rules: list[dict[str, Any]]) -> list[str]:
    """Enabled rules whose internal site is an EAS server or the EAS alias (by FQDN or short name)."""
    names = [s.host for s in params.eas] + ([params.internal_names["eas"]] if "eas" in params.internal_names else [])
    eas_sites = {n.lower() for n in names} | {topo.short_name(n).lower() for n in names}
    return [r["Name"] for r in rules if r["Enabled"] and str(r["InternalSiteName"]).lower() in eas_sites]


def _rule_manual(params: Params, target: Target) -> list[ManualItem]:
    return checklists.web_rule(params, target) if validates(params, "tmg") else checklists.server_rule(params, target)


def _rule_depends(params: Params) -> list[str]:
    if params.topology == "add-seg":  # the cutover: only once the SEG side is ready (and TMG may delegate to it)
        return SEG_SIDE + ["3a"]
    return ["1"]


def _rule_title(params: Params) -> str:
    if validates(params, "tmg"):
        return "TMG web publishing rule (KCD)" if params.topology != "add-seg" else "TMG rule re-pointed at the SEG"
    return "TMG server publishing rule (TLS passes through)"


def _rule_why(params: Params) -> str:
    hop = topo.ROLE_NAMES[topo.next_hop_role(params, "tmg")]
    if validates(params, "tmg"):
        return (f"TMG publishes ActiveSync to the {hop} and presents the user there with Kerberos constrained "
                "delegation (it cannot forward the device's certificate).")
    return (f"TMG hands the device's TLS connection to the {hop} unchanged, so the {hop} can ask for and check the "
            "certificate itself.")


def _rule_detail(params: Params) -> list[str]:
    if validates(params, "tmg"):
        return [f"publishes {params.public_name} to {topo.internal_site_name(params)}; rule SPN: "
                f"{topo.rule_spn(params)}"]
    return [chain.validator_summary(params)]


def _listener_effects(params: Params, target: Target) -> list[chain.Effect]:
    return [chain.Effect(chain.REQUIRES_CERT, "tmg", member.host) for member in params.tmg_array]


LISTENER = StepSpec(
    id="1",
    title="TMG web listener: SSL client certificate authentication",
    why="Devices reach TMG over SSL on the external IP; the listener holds the public certificate and checks the "
        "device's certificate — the one point in this chain where it is checked.",
    track="common", role="tmg", modes=("manual", "verify"), per_server=False,
    manual=checklists.listener, targets=on_tmg, verify_only=ListenerCheck(), applies=tmg_authenticates,
    detail=lambda params: [chain.validator_summary(params)], effects=_listener_effects,
)

RULE = StepSpec(
    id="2",
    title=_rule_title,
    why=_rule_why,
    track="common", role="tmg", modes=("manual", "verify"), per_server=False,
    manual=_rule_manual, targets=on_tmg, depends_on=_rule_depends, verify_only=RuleCheck(), detail=_rule_detail,
)

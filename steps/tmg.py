"""Steps 1 and 2: the TMG web listener and the Exchange publishing rule.

No supported write API is worth the risk here, so both stay manual (the TMG
console clicks, with this change's names filled in); they can be verified
read-only through the TMG COM object model.
"""
from __future__ import annotations

from runbook import topology as topo
from runbook.catalogue import ManualItem, StepSpec, Target
from runbook.changes import Verification
from runbook.context import StepContext
from runbook.params import Params
from steps.targets import on_tmg

ITEM = ManualItem


def listener_wants_client_certs(params: Params) -> bool:
    return params.cert_validation == "tmg"


def _listener_manual(params: Params, target: Target) -> list[ManualItem]:
    ip = params.listener_ip or "the external IP address that public DNS gives for " + params.public_name
    cert = params.listener_certificate or f"the certificate issued to {params.public_name}"
    if params.topology == "add-seg":
        return [
            ITEM(f"On {params.tmg.host}, open Forefront TMG Management → Firewall Policy → Toolbox → Network "
                 f"Objects → Web Listeners, and open the properties of listener “{params.listener}”."),
            ITEM("Authentication tab: change the client authentication method from “SSL Client Certificate "
                 "Authentication” to “No Authentication”. The SEG validates certificates from now on; two "
                 "validators break the chain (the guide's troubleshooting section)."),
            ITEM("Connections tab: keep “Require SSL secured connections with clients” and the listener's IP "
                 f"({ip}) and certificate ({cert}) as they are."),
            ITEM("Click OK, then Apply in the TMG console, and wait until the configuration status shows synced."),
        ]
    auth = ("SSL Client Certificate Authentication" if listener_wants_client_certs(params)
            else "No Authentication")
    auth_why = ("TMG is where the client certificate is validated"
                if listener_wants_client_certs(params) else
                f"{topo.validator_reason(params)}; the guide selects SSL Client Certificate Authentication here, "
                "but a certificate can be validated at only one point, so this listener must not ask for it")
    return [
        ITEM(f"On {params.tmg.host}, open Forefront TMG Management → Firewall Policy → Toolbox tab → Network "
             "Objects → New → Web Listener."),
        ITEM(f"Web listener name: “{params.listener}” (add a description naming this change). Next."),
        ITEM("Client Connection Security: select “Require SSL secured connections with clients”. Next."),
        ITEM("Web Listener IP Addresses: tick External, click Select IP Addresses → Specified IP addresses on the "
             f"Forefront TMG computer in the selected network → add {ip} → OK. Next."),
        ITEM(f"Listener SSL Certificates: Select Certificate → {cert} → Select. Next."),
        ITEM(f"Authentication Settings: choose “{auth}” ({auth_why}). Next."),
        ITEM("Single Sign On Settings: TMG says SSO is only available for HTML form authentication; ignore it. "
             "Next, then Finish."),
        ITEM("Click Apply in the TMG console and wait until the configuration status shows synced."),
    ]


def _rule_manual(params: Params, target: Target) -> list[ManualItem]:
    hop = topo.next_hop_role(params, "tmg")
    hop_name = topo.ROLE_NAMES[hop]
    servers = params.servers(hop)
    site = topo.internal_site_name(params)
    spn = topo.rule_spn(params)
    publish = ("Publish a single Web site or load balancer" if len(servers) == 1 or hop in params.internal_names
               else "Publish a server farm of load balanced Web servers (" + ", ".join(s.host for s in servers) + ")")
    items = []
    if params.topology == "add-seg":
        eas = ", ".join(s.host for s in params.eas)
        items.append(ITEM(f"This change re-points the existing rule: it must no longer publish to the EAS ({eas}) "
                          f"before it publishes to the SEG. Open rule “{params.publishing_rule}” and edit the To "
                          "tab and Authentication Delegation tab as below, instead of creating a new rule."))
    items += [
        ITEM(f"On {params.tmg.host}: Forefront TMG Management → Firewall Policy → Tasks → Publish Exchange Web "
             f"Client Access. Rule name: “{params.publishing_rule}”. Next."),
        ITEM("Select Services: choose your Exchange version" +
             (f" ({params.exchange_version})" if params.exchange_version else "") +
             " and tick “Exchange ActiveSync”. Next."),
        ITEM(f"Publishing Type: “{publish}”. Next."),
        ITEM("Server Connection Security: “Use SSL to connect to the published Web server or server farm”. Next."),
        ITEM(f"Internal Publishing Details: Internal site name = {site} (the {hop_name}). Next."),
        ITEM(f"Public Name Details: Accept requests for “This domain name”, Public name = {params.public_name}. Next."),
        ITEM(f"Select Web Listener: “{params.listener}”. Next."),
        ITEM(f"Authentication Delegation: “Kerberos constrained delegation”, SPN = {spn}. Next.", command=spn),
    ]
    if spn == "http/*":
        items.append(ITEM("http/* is right in this TMG rule only (TMG balances the farm itself and asks for each "
                          "server's own SPN); never put a wildcard SPN into Active Directory."))
    items += [
        ITEM("User Sets: replace “All Users” with “All Authenticated Users”. Next, then Finish."),
        ITEM("TMG warns that SPNs may need configuring: steps 3 and 4 of this runbook do that. Click Apply and wait "
             "until the configuration status shows synced."),
    ]
    return items


def _rule_depends(params: Params) -> list[str]:
    return ["1"]


KCD_DELEGATION_TYPE = 6  # TMG's fpcDelegationType for Kerberos constrained delegation


def _policy(ctx: StepContext) -> dict:
    return ctx.hosts.shell(ctx.params.tmg.host).invoke("Get-CertAuthTmgPolicy", {}).first


class ListenerCheck:
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
        result.expect("asks for the client certificate", listener_wants_client_certs(params),
                      bool(listener["ClientCertAuth"]))
        if params.listener_ip:
            result.expect(f"listens on {params.listener_ip}", True, params.listener_ip in listener["IPs"])
        if params.listener_certificate:
            result.expect("certificate", params.listener_certificate, listener["Certificate"],
                          ok=params.listener_certificate.lower() in str(listener["Certificate"]).lower())
        return result


class RuleCheck:
    """Read-only: the Exchange publishing rule, and for add-seg that nothing still publishes to EAS."""

    def verify(self, ctx: StepContext) -> Verification:
        params = ctx.params
        rules = _policy(ctx)["Rules"]
        result = Verification()
        rule = next((r for r in rules if r["Name"] == params.publishing_rule), None) or next(
            (r for r in rules if params.public_name in r["PublicNames"]), None)
        result.expect(f"rule “{params.publishing_rule}” (or one for {params.public_name}) exists", True,
                      rule is not None)
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


def rules_to_eas(params: Params, rules: list[dict]) -> list[str]:
    """Enabled rules whose internal site is an EAS server or the EAS alias (by FQDN or short name)."""
    names = [s.host for s in params.eas] + ([params.internal_names["eas"]] if "eas" in params.internal_names else [])
    eas_sites = {n.lower() for n in names} | {topo.short_name(n).lower() for n in names}
    return [r["Name"] for r in rules if r["Enabled"] and str(r["InternalSiteName"]).lower() in eas_sites]


def seg_takeover_blockers(ctx: StepContext) -> list[str]:
    """add-seg: what TMG still does that the SEG takes over, read live (one read-only call) before 6b.

    Recorded states say the operator did steps 1 and 2; this says whether TMG agrees: certificate auth still on
    the listener, or a rule still publishing straight to EAS, and the SEG must not start validating certificates.
    """
    params = ctx.params
    policy = _policy(ctx)
    rules = policy["Rules"]
    used = {params.listener} | {r["Listener"] for r in rules if r["Enabled"] and params.public_name in r["PublicNames"]}
    blockers = [f"listener “{item['Name']}” still asks for the client certificate (step 1)"
                for item in policy["Listeners"] if item["Name"] in used and item["ClientCertAuth"]]
    still = rules_to_eas(params, rules)
    if still:
        blockers.append("rule " + ", ".join(f"“{name}”" for name in still) + " still publishes straight to EAS "
                        "(step 2)")
    return blockers


LISTENER = StepSpec(
    id="1",
    title="TMG web listener",
    why="Devices reach TMG over SSL on the external IP; the listener holds the public certificate and decides "
        "whether TMG asks for the client certificate.",
    track="common", role="tmg", modes=("manual", "verify"), per_server=False,
    manual=_listener_manual, targets=on_tmg, verify_only=ListenerCheck(),
    detail=lambda params: [topo.validator_reason(params)],
)

RULE = StepSpec(
    id="2",
    title="TMG Exchange publishing rule (KCD)",
    why="TMG publishes ActiveSync to the next hop and authenticates to it with Kerberos constrained delegation "
        "on the user's behalf.",
    track="common", role="tmg", modes=("manual", "verify"), per_server=False,
    manual=_rule_manual, targets=on_tmg, depends_on=_rule_depends, verify_only=RuleCheck(),
    detail=lambda params: [f"publishes {params.public_name} to {topo.internal_site_name(params)}; "
                           f"rule SPN: {topo.rule_spn(params)}"],
)

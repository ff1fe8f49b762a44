"""The TMG console clicks for steps 1 and 2, by chain: a web listener and a web publishing rule with KCD when TMG
checks the certificate, a server publishing rule (TLS passes through) when the EAS or the SEG does."""
from __future__ import annotations

from typing import TYPE_CHECKING

from runbook.flow import topology as topo
from runbook.flow.catalogue import ManualItem, Target

if TYPE_CHECKING:
    from runbook.inputs.params import Params

ITEM = ManualItem


def listener(params: Params, target: Target) -> list[ManualItem]:
    ip = params.listener_ip or "the external IP address that public DNS gives for " + params.public_name
    cert = params.listener_certificate or f"the certificate issued to {params.public_name}"
    auth = ("Authentication Settings: choose “SSL Client Certificate Authentication” (TMG checks the device's "
            "certificate against AD and the trusted root list; the next hops receive the user as a Kerberos ticket, "
            "never the certificate). Next.")
    if params.topology == "add-seg":
        return [
            ITEM(f"On {params.tmg.host}, open Forefront TMG Management → Firewall Policy → Toolbox → Network "
                 f"Objects → Web Listeners, and open the properties of listener “{params.listener}”."),
            ITEM("Authentication tab: it must stay “SSL Client Certificate Authentication”: TMG keeps checking the "
                 "certificate and now delegates to the SEG instead of EAS. Change nothing else here."),
            ITEM(f"Connections tab: keep “Require SSL secured connections with clients”, the IP ({ip}) and the "
                 f"certificate ({cert})."),
            ITEM("Close with Cancel if nothing had to change, or OK and Apply, and wait until the configuration "
                 "status shows synced."),
        ]
    return [
        ITEM(f"On {params.tmg.host}, open Forefront TMG Management → Firewall Policy → Toolbox tab → Network "
             "Objects → New → Web Listener."),
        ITEM(f"Web listener name: “{params.listener}” (add a description naming this change). Next."),
        ITEM("Client Connection Security: select “Require SSL secured connections with clients”. Next."),
        ITEM("Web Listener IP Addresses: tick External, click Select IP Addresses → Specified IP addresses on the "
             f"Forefront TMG computer in the selected network → add {ip} → OK. Next."),
        ITEM(f"Listener SSL Certificates: Select Certificate → {cert} → Select. Next."),
        ITEM(auth),
        ITEM("Single Sign On Settings: TMG says SSO is only available for HTML form authentication; ignore it. "
             "Next, then Finish."),
        ITEM("Click Apply in the TMG console and wait until the configuration status shows synced."),
    ]


def web_rule(params: Params, target: Target) -> list[ManualItem]:
    hop = topo.next_hop_role(params, "tmg")
    hop_name = topo.ROLE_NAMES[hop]
    servers = params.servers(hop)
    site = topo.internal_site_name(params)
    spn = topo.rule_spn(params)
    farm = len(servers) > 1 and hop not in params.internal_names
    publish = ("Publish a single Web site or load balancer" if not farm
               else "Publish a server farm of load balanced Web servers (" + ", ".join(s.host for s in servers) + ")")
    items: list[ManualItem] = []
    if params.topology == "add-seg":
        eas = ", ".join(s.host for s in params.eas)
        items.append(ITEM(f"This change re-points the existing rule “{params.publishing_rule}” from the EAS ({eas}) "
                          "to the SEG: open its properties and edit the To tab and the Authentication Delegation "
                          "tab as below; do not create a second rule."))
        if farm:
            items.append(ITEM("Several SEGs without an alias: first create the server farm object — Toolbox → "
                              "Network Objects → New → Server Farm, name it after the SEGs, add "
                              + ", ".join(s.host for s in servers) + ", connectivity verification: HTTPS GET "
                              "/Microsoft-Server-ActiveSync — then select that farm on the rule's To tab."))
        items += [
            ITEM(f"To tab: internal site name = {site} (the {hop_name}); keep “Forward the original host header” "
                 "off; use SSL to connect to the published server."),
            ITEM(f"Authentication Delegation tab: “Kerberos constrained delegation”, SPN = {spn}.", command=spn),
            ITEM("Users tab: “All Authenticated Users”. OK, then Apply, and wait until the configuration status "
                 "shows synced."),
            ITEM("On the Authentication Delegation tab, click Test Rule: TMG asks the SEG for a Negotiate challenge; "
                 "it passes only once 6b made the SEG accept Kerberos."),
        ]
        return items
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
        ITEM(f"Rule properties → Authentication Delegation → Test Rule: TMG asks the {hop_name} for a Negotiate "
             f"challenge; it passes once step 6 made the {hop_name} accept Kerberos."),
    ]
    return items


def server_rule(params: Params, target: Target) -> list[ManualItem]:
    hop = topo.next_hop_role(params, "tmg")
    hop_name = topo.ROLE_NAMES[hop]
    servers = params.servers(hop)
    address = (f"the IP address of {servers[0].host}" if len(servers) == 1
               else f"the IP address of the load balancer in front of {', '.join(s.host for s in servers)}")
    public_ip = params.listener_ip or "the public IP of " + params.public_name
    items: list[ManualItem] = []
    if params.topology == "add-seg":
        items.append(ITEM(f"This change replaces the existing web publishing rule: TMG stops checking the certificate "
                          f"and passes TLS through to the {hop_name}, which checks it (step 6b). Right-click rule "
                          f"“{params.publishing_rule}” → Disable (keep it for back-out), then create the rule below."))
    items += [
        ITEM(f"On {params.tmg.host}: Forefront TMG Management → Firewall Policy → Tasks → Publish Non-Web Server "
             f"Protocols. Rule name: “{params.publishing_rule}”. Next."),
        ITEM(f"Select Server: {address} (TMG publishes an IP address, not a name). Next."),
        ITEM("Select Protocol: “HTTPS Server” (TCP 443 inbound). Next."),
        ITEM(f"Network Listener IP Addresses: External → Address → {public_ip} → OK. Next, then Finish."),
        ITEM(f"No web listener, no authentication delegation and no user set: TLS passes through unchanged and the "
             f"{hop_name} asks for the device's certificate itself."),
        ITEM("Click Apply in the TMG console and wait until the configuration status shows synced."),
    ]
    return items

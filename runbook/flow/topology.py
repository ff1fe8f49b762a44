"""What the topology implies: who talks to whom, which SPNs each hop needs, who checks certificates."""
from __future__ import annotations

from runbook.inputs.params import Params, Server

ROLE_NAMES = {"tmg": "TMG", "seg": "SEG", "eas": "EAS"}
# The hops of each topology; where the certificate is checked is the chain's business (runbook.flow.chain).
CHAINS = {
    "tmg-eas": "device → TMG → EAS",
    "tmg-seg-eas": "device → TMG → SEG → EAS",
    "add-seg": "an existing TMG → EAS becomes device → TMG → SEG → EAS",
}


def next_hop_role(params: Params, role: str) -> str:
    if role == "tmg":
        return "seg" if params.has_seg else "eas"
    if role == "seg":
        return "eas"
    raise ValueError(f"{role} has no next hop")


def short_name(fqdn: str) -> str:
    return fqdn.split(".", 1)[0]


def server_http_spns(server: Server) -> list[str]:
    """The http SPNs that name one server (short and fully qualified), as ADUC's Delegation tab writes them."""
    return [f"http/{server.host}", f"http/{short_name(server.host)}"]


def alias_spns(params: Params, role: str) -> list[str]:
    alias = params.internal_names.get(role)
    return [f"http/{alias}", f"http/{short_name(alias)}"] if alias else []


def delegation_targets(params: Params, role: str) -> list[str]:
    """Every SPN an account of `role` must be allowed to delegate to: each next-hop server, plus its alias."""
    hop = next_hop_role(params, role)
    targets: list[str] = []
    for server in params.servers(hop):
        targets.extend(server_http_spns(server))
    targets.extend(alias_spns(params, hop))
    return targets


def internal_site_name(params: Params) -> str:
    """What the TMG rule's 'Internal site name' holds: the alias when one is used, else the first next-hop server."""
    hop = next_hop_role(params, "tmg")
    return params.internal_names.get(hop) or params.servers(hop)[0].host


def rule_spn(params: Params) -> str:
    """The SPN typed into the TMG rule. `http/*` for a farm TMG balances itself; it never goes into AD."""
    hop = next_hop_role(params, "tmg")
    if hop in params.internal_names:
        return f"http/{params.internal_names[hop]}"
    servers = params.servers(hop)
    return f"http/{servers[0].host}" if len(servers) == 1 else "http/*"


def alias_account(params: Params, role: str) -> str | None:
    """The one account holding a farm's alias SPN (None when there is no alias or a single server keeps it)."""
    if role not in params.internal_names or len(params.servers(role)) < 2:
        return None
    return params.service_accounts.get(role)

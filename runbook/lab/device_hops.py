"""Where the lab's chain breaks for a device: the hops walked device side first, the first incoherence returned.

Read from the lab's state only (the simulated TMG policy, IIS, Exchange vdir, user rights, clocks and the lab
directory), against the chain `cert_validation` chooses (DOMAIN.md, first section): TMG terminates TLS and checks
the certificate (`tmg`) or passes TLS through with a server publishing rule (`eas`/`seg`); the validating hop asks
for, trusts and maps the certificate; every KCD link has its delegation, rights, SPNs, clocks, and a target that
accepts Kerberos and does not ask for a certificate. `runbook.lab.device_sim` turns a `Break` into what a device
would see.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runbook.device.chain import KcdLink, kcd_links
from runbook.flow import topology as topo
from runbook.flow.ports import UAC_TRUSTED_TO_AUTH_FOR_DELEGATION
from runbook.inputs.params import Params, Server
from runbook.lab.iis_sim import IisConfigError
from runbook.lab.windows_host import SimWindowsHost
from runbook.lab.windows_state import ACCESS, BASIC_AUTH, EAS_VDIR, WINDOWS_AUTH
from runbook.lab.windows_tmg import KCD

if TYPE_CHECKING:
    from runbook.lab.lab import Lab

MAX_SKEW_S = 300  # Kerberos' default tolerance: a ticket from a clock further off is refused (KRB_AP_ERR_SKEW)
CERT_MAPPING = "system.webServer/security/authentication/clientCertificateMappingAuthentication"
CLIENT_AUTH_FEATURE = "Web-Client-Auth"
SEG_POOL = "SecureEmailGateway"
COMPUTER_IDENTITIES = ("NetworkService", "ApplicationPoolIdentity", "LocalSystem")

# What kind of answer the break produces (device_sim maps each to statuses and headers).
REFUSED = "refused"  # nothing publishes the public name: the TCP connection is refused
NOT_ASKING = "not-asking"  # the validating hop never asks for the certificate
TLS_AT_TMG = "tls-at-tmg"  # eas/seg: TMG web-publishes, so the certificate never reaches the validating hop
UNTRUSTED = "untrusted"  # the validating hop does not trust the user's CA
NOT_MAPPED = "not-mapped"  # the certificate is accepted but not mapped to the user
NO_RULE = "no-rule"  # TMG has no usable publishing rule for the public name (502)
CERT_AT_KERBEROS_HOP = "cert-at-kerberos-hop"  # a hop behind the validating one asks for a certificate (403.7)
NO_KERBEROS = "no-kerberos"  # the hop receiving the delegated ticket does not offer Negotiate (401, not Kerberos)
KCD_BROKEN = "kcd-broken"  # the ticket never arrives or is refused: the target answers 401 Negotiate


@dataclass(frozen=True)
class Break:
    kind: str
    reason: str  # the lab's inside knowledge, for the rehearsal's operator (a real device cannot see it)
    host: str | None = None  # the server that answers the device
    role: str | None = None
    asks: bool = False  # TLS_AT_TMG: the validating hop would require the certificate TMG cannot forward


def vdir_location(params: Params) -> str:
    return f"{params.iis_site}/{EAS_VDIR}"


def _read(sim: SimWindowsHost, location: str, section: str, name: str) -> object:
    try:
        return sim.iis.config.read(location, section, name)
    except IisConfigError:
        return None  # the site or application does not exist: nothing is configured there


def _providers(sim: SimWindowsHost, location: str) -> list[str]:
    try:
        return [p.lower() for p in sim.iis.config.providers(location)]
    except IisConfigError:
        return []


def effective_holders(sim: SimWindowsHost, right: str) -> list[str]:
    """What the host enforces: a domain GPO's list replaces local policy (DOMAIN.md, 5a/5b)."""
    return [h.lower() for h in sim.lsa.effective(right)]


class ChainWalk:
    """One reading of the lab for one probe."""

    def __init__(self, lab: Lab, params: Params, issuer: str | None):
        self.lab, self.params, self.issuer = lab, params, issuer
        self.location = vdir_location(params)

    def sim(self, server: Server) -> SimWindowsHost:
        found = self.lab.sim_hosts.find(server.host)
        if found is None:
            raise ValueError(f"the lab has no host {server.host}")
        return found

    # -- the walk ---------------------------------------------------------------------------------------------
    def first_break(self) -> Break | None:
        found = self._tmg_tls() if self.params.cert_validation == "tmg" else self._passthrough()
        if found is not None:
            return found
        for link in kcd_links(self.params):
            found = self._link(link)
            if found is not None:
                return found
        return None

    def _policy(self) -> dict[str, Any]:
        return self.sim(self.params.tmg).tmg.policy or {"Listeners": [], "Rules": [], "ServerRules": []}

    def _web_rules(self) -> list[dict[str, Any]]:
        public = self.params.public_name.lower()
        return [rule for rule in self._policy()["Rules"]
                if rule["Enabled"] and public in {name.lower() for name in rule["PublicNames"]}]

    def _trusted(self) -> bool:
        trusted = self.lab.state.get("client_ca")
        return trusted is None or self.issuer is None or self.issuer == trusted

    def _tmg_tls(self) -> Break | None:
        """cert_validation tmg: the listener terminates TLS and checks the certificate; the rule delegates."""
        params, tmg = self.params, self.params.tmg.host
        listeners = {item["Name"]: item for item in self._policy()["Listeners"]}
        rules = self._web_rules()
        listener = listeners.get(rules[0]["Listener"]) if rules else listeners.get(params.listener)
        if listener is None:
            return Break(REFUSED, f"TMG has no web listener “{params.listener}”: nothing accepts "
                                  f"{params.public_name}:443", tmg, "tmg")
        if not listener["ClientCertAuth"]:
            return Break(NOT_ASKING, f"the TMG listener “{listener['Name']}” does not use SSL Client Certificate "
                                     "Authentication", tmg, "tmg")
        if not self._trusted():
            return Break(UNTRUSTED, f"TMG's trusted root store does not hold {self.issuer}", tmg, "tmg")
        if not rules:
            return Break(NO_RULE, f"no enabled web publishing rule on TMG publishes {params.public_name}", tmg, "tmg")
        rule, hop = rules[0], topo.next_hop_role(params, "tmg")
        if not self._names_role(rule["InternalSiteName"], hop):
            return Break(NO_RULE, f"the rule “{rule['Name']}” publishes {rule['InternalSiteName']}, not the "
                                  f"{topo.ROLE_NAMES[hop]} this chain goes through", tmg, "tmg")
        if rule["DelegationType"] != KCD:
            first = params.servers(hop)[0]
            return Break(KCD_BROKEN, f"the rule “{rule['Name']}” does not delegate with Kerberos constrained "
                                     f"delegation (type {rule['DelegationType']})", first.host, hop)
        return None

    def _names_role(self, name: str, role: str) -> bool:
        wanted = name.lower()
        names = {n.lower() for server in self.params.servers(role) for n in (server.host, topo.short_name(server.host))}
        alias = self.params.internal_names.get(role)
        if alias:
            names |= {alias.lower(), topo.short_name(alias).lower()}
        return wanted in names

    def _passthrough(self) -> Break | None:
        """cert_validation eas/seg: TMG passes TLS through; the next hop asks for, trusts and maps the certificate."""
        params, role = self.params, self.params.cert_validation
        servers = [rule for rule in self._policy()["ServerRules"]
                   if rule["Enabled"] and rule["Protocol"].lower() == "https server"]
        if not servers:
            if self._web_rules():
                asks = any("sslrequirecert" in str(_read(self.sim(s), self.location, ACCESS, "sslFlags")).lower()
                           for s in params.servers(role))
                return Break(TLS_AT_TMG, "TMG web-publishes the public name, so TLS ends on TMG and the certificate "
                                         f"never reaches the {topo.ROLE_NAMES[role]}", params.servers(role)[0].host,
                             role, asks=asks)
            return Break(REFUSED, f"TMG has no enabled HTTPS server publishing rule for {params.public_name}",
                         params.tmg.host, "tmg")
        for server in params.servers(role):
            sim = self.sim(server)
            flags = str(_read(sim, self.location, ACCESS, "sslFlags") or "").lower()
            if "sslrequirecert" not in flags:
                return Break(NOT_ASKING, f"{server.host} {self.location}: sslFlags {flags or 'unset'} does not require "
                                         "a client certificate", server.host, role)
            if not self._trusted():
                return Break(UNTRUSTED, f"{server.host}'s trusted root store does not hold {self.issuer}",
                             server.host, role)
            if CLIENT_AUTH_FEATURE not in sim.system.features:
                return Break(NOT_MAPPED, f"{server.host}: the IIS feature {CLIENT_AUTH_FEATURE} is not installed",
                             server.host, role)
            if _read(sim, self.location, CERT_MAPPING, "enabled") is not True:
                return Break(NOT_MAPPED, f"{server.host} {self.location}: clientCertificateMappingAuthentication is "
                                         "not enabled", server.host, role)
            if role == "eas":
                vdir = sim.exchange.vdirs.get(params.iis_site) or {}
                if vdir.get("ClientCertAuth") != "Required":
                    return Break(NOT_MAPPED, f"{server.computer}: Exchange ActiveSync ClientCertAuth is "
                                             f"{vdir.get('ClientCertAuth')}, not Required", server.host, role)
        return None

    def offers(self, host: str | None) -> tuple[str, ...]:
        """The WWW-Authenticate challenges the server at `host` sends: its Windows providers, then Basic."""
        server = next((s for s in self.params.all_servers() if host and s.host.lower() == host.lower()), None)
        if server is None:
            return ()
        sim, found = self.sim(server), []
        windows = _read(sim, self.location, WINDOWS_AUTH, "enabled") is True
        if server in self.params.eas:
            windows = windows and bool((sim.exchange.vdirs.get(self.params.iis_site) or {}).get(
                "WindowsAuthEnabled"))
        if windows:
            found += list(sim.iis.config.providers(self.location)) if sim.iis.config.has_location(self.location) else []
        if _read(sim, self.location, BASIC_AUTH, "enabled") is True:
            found.append(f'Basic realm="{server.host}"')
        return tuple(found)

    # -- one KCD link -----------------------------------------------------------------------------------------
    def _link(self, link: KcdLink) -> Break | None:
        for check in (self._target_takes_kerberos, self._delegation, self._rights, self._spns, self._clocks):
            found = next(check(link), None)
            if found is not None:
                return found
        return None

    def _target_takes_kerberos(self, link: KcdLink) -> Iterator[Break]:
        for server in self.params.servers(link.target):
            sim = self.sim(server)
            flags = str(_read(sim, self.location, ACCESS, "sslFlags") or "").lower()
            if "sslrequirecert" in flags:
                yield Break(CERT_AT_KERBEROS_HOP, f"{server.host} {self.location} requires a client certificate "
                                                  "(sslFlags), which TMG cannot forward", server.host, link.target)
            accepts = _read(sim, self.location, WINDOWS_AUTH, "enabled") is True
            if link.target == "eas":
                accepts = accepts and bool((sim.exchange.vdirs.get(self.params.iis_site) or {}).get(
                    "WindowsAuthEnabled"))
            if not accepts:
                yield Break(NO_KERBEROS, f"{server.host} {self.location}: Windows authentication is off",
                            server.host, link.target)
            if "negotiate" not in _providers(sim, self.location):
                yield Break(NO_KERBEROS, f"{server.host} {self.location}: Negotiate is not among the Windows "
                                         "authentication providers", server.host, link.target)

    def _delegating(self, link: KcdLink) -> list[tuple[Server, str, str]]:
        """(server, account, SID that needs the rights) of each server that delegates on this link."""
        found = []
        for server in self.params.servers(link.source):
            if link.source == "tmg":
                found.append((server, server.sam, self.params.tmg_service_sid))
                continue
            pool = self.sim(server).iis.app_pools.get(SEG_POOL) or {}
            identity = pool.get("IdentityType", "NetworkService")
            account = server.sam if identity in COMPUTER_IDENTITIES else str(pool.get("UserName")).split("\\")[-1]
            found.append((server, account, str(pool.get("Sid", "S-1-5-20"))))
        return found

    def _first_target(self, link: KcdLink) -> str:
        return self.params.servers(link.target)[0].host

    def _delegation(self, link: KcdLink) -> Iterator[Break]:
        wanted = topo.delegation_targets(self.params, link.source)
        for server, sam, _sid in self._delegating(link):
            account = self.lab.directory.accounts.get(sam.lower())
            if account is None:
                yield Break(KCD_BROKEN, f"the account {sam} that {server.computer} delegates as does not exist",
                            self._first_target(link), link.target)
                continue
            present = {value.lower() for value in account.delegate_to}
            missing = [spn for spn in wanted if spn.lower() not in present]
            if missing:
                yield Break(KCD_BROKEN, f"{sam} may not delegate to {', '.join(missing)} (msDS-AllowedToDelegateTo)",
                            self._first_target(link), link.target)
            if not account.uac & UAC_TRUSTED_TO_AUTH_FOR_DELEGATION:
                yield Break(KCD_BROKEN, f"{sam} lacks protocol transition (TRUSTED_TO_AUTH_FOR_DELEGATION): with a "
                                        "certificate there is no Kerberos ticket of the user to delegate",
                            self._first_target(link), link.target)

    def _rights(self, link: KcdLink) -> Iterator[Break]:
        for server, _sam, sid in self._delegating(link):
            sim = self.sim(server)
            for right in ("SeTcbPrivilege", "SeImpersonatePrivilege"):
                if sid.lower() not in effective_holders(sim, right):
                    owner = sim.lsa.gpo_rights.get(right)
                    why = f" (a domain GPO, {owner['gpo_name']}, owns the right)" if owner else ""
                    yield Break(KCD_BROKEN, f"{server.host}: {sid} does not hold {right}{why}, so protocol "
                                            "transition gives no ticket it may delegate",
                                self._first_target(link), link.target)

    def _accepted_holders(self, role: str) -> set[str]:
        holders = {server.sam.lower() for server in self.params.servers(role)}
        if role in self.params.service_accounts:
            holders.add(self.params.service_accounts[role].lower())
        if role == "seg":
            holders |= {sam.lower() for _s, sam, _sid in self._delegating(KcdLink("seg", "eas", "", "", "", ""))}
        return holders

    def _spns(self, link: KcdLink) -> Iterator[Break]:
        accounts = self.lab.directory.accounts.values()
        accepted = self._accepted_holders(link.target)
        for spn in topo.delegation_targets(self.params, link.source):
            service, _, name = spn.partition("/")
            holders = {a.sam for a in accounts if spn.lower() in {s.lower() for s in a.spns}}
            if service.lower() == "http":  # HOST/<name> of a computer covers http/<name>
                holders |= {a.sam for a in accounts if f"host/{name}".lower() in {s.lower() for s in a.spns}}
            if not holders:
                yield Break(KCD_BROKEN, f"no account holds {spn}: the KDC cannot issue a ticket for it",
                            self._first_target(link), link.target)
            elif len(holders) > 1:
                yield Break(KCD_BROKEN, f"{spn} is held by {', '.join(sorted(holders))}: a duplicate SPN, the KDC "
                                        "refuses or encrypts for the wrong account", self._first_target(link),
                            link.target)
            elif next(iter(holders)).lower() not in accepted:
                yield Break(KCD_BROKEN, f"{spn} is on {next(iter(holders))}, which does not run the "
                                        f"{topo.ROLE_NAMES[link.target]}: it cannot decrypt the ticket",
                            self._first_target(link), link.target)

    def _clocks(self, link: KcdLink) -> Iterator[Break]:
        dc = self.lab.directory.clock_offset
        for role in (link.source, link.target):
            for server in self.params.servers(role):
                skew = self.sim(server).system.clock_offset - dc
                if abs(skew) > MAX_SKEW_S:
                    answering = server.host if role == link.target else self._first_target(link)
                    yield Break(KCD_BROKEN, f"{server.host}'s clock is {abs(skew) / 60:.1f} min "
                                            f"{'ahead of' if skew > 0 else 'behind'} the DC (Kerberos allows 5)",
                                answering, link.target)

"""Step 6 where this server is the one hop that checks the client certificate (cert_validation eas or seg):
IIS (and, on EAS, Exchange) require and map client certificates. The Exchange cmdlet runs first because it
writes the vdir's SSL setting itself; iisreset is the point of no return and runs only with the operator's
explicit consent.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from runbook.errors import StepFailed
from runbook.flow import chain
from runbook.flow.catalogue import ManualItem, Target
from runbook.flow.changes import Change, Plan, Verification
from steps import host_changes as hc
from steps import host_reads as reads

if TYPE_CHECKING:
    from runbook.flow.context import StepContext
    from runbook.inputs.params import Params

VDIR = "Microsoft-Server-ActiveSync"
CERT_MAPPING = "system.webServer/security/authentication/clientCertificateMappingAuthentication"
ACCESS = "system.webServer/security/access"
RUNTIME = "system.webServer/serverRuntime"
REQUIRE_CERT = "Ssl,SslNegotiateCert,SslRequireCert"
READ_AHEAD = 10485760
FEATURE = "Web-Client-Auth"


def wanted_settings(params: Params) -> list[tuple[str, str, str, object]]:
    """(location, section, property, value) in the order they are applied."""
    vdir = f"{params.iis_site}/{VDIR}"
    return [
        ("", CERT_MAPPING, "enabled", True),
        (vdir, CERT_MAPPING, "enabled", True),
        (vdir, ACCESS, "sslFlags", REQUIRE_CERT),
        ("", RUNTIME, "uploadReadAheadSize", READ_AHEAD),
        (params.iis_site, RUNTIME, "uploadReadAheadSize", READ_AHEAD),
    ]


def vdir_identity(params: Params, computer: str) -> str:
    return f"{computer}\\{VDIR} ({params.iis_site})"


def _where(location: str) -> str:
    return location or "server level"


def _vdir_changes(host: str, identity: str, vdir: dict[str, Any]) -> list[Change]:
    changes = []
    for attribute, wanted in (("ClientCertAuth", "Required"), ("BasicAuthEnabled", False)):
        if not hc.same(vdir[attribute], wanted):
            changes.append(Change(kind=hc.EXCHANGE_VDIR.name, target=host, attribute=attribute, op="set",
                                  before=vdir[attribute], after=wanted, locator={"host": host, "identity": identity}))
    return changes


class CertificateAuth(hc.HostUndo):
    def __init__(self, *, exchange: bool) -> None:
        self.exchange = exchange  # Exchange runs here (EAS): its ActiveSync vdir requires the certificate too

    def state_reads(self, ctx: StepContext) -> dict[str, Any]:
        """What `plan` and `verify` read on the host itself: the feature and the five IIS values."""
        return reads.asks(features=[FEATURE], settings=[setting[:3] for setting in wanted_settings(ctx.params)])

    def _read(self, ctx: StepContext) -> tuple[reads.HostState, Callable[[], dict[str, Any]] | None]:
        """The feature and the five IIS values in one call; on EAS, Exchange's vdir at the same time (read after
        the feature, as the steps go: its failure counts after the host's own)."""
        server = ctx.target.server
        assert server is not None

        def host_state() -> reads.HostState:
            return reads.read_asked(ctx.hosts, server.host, self.state_reads(ctx))
        if not self.exchange:
            return host_state(), None
        return reads.at_once(host_state, lambda: reads.exchange_vdir(
            ctx.hosts, server.host, vdir_identity(ctx.params, server.computer)))

    def plan(self, ctx: StepContext) -> Plan:
        server = ctx.target.server
        assert server is not None
        state, vdir = self._read(ctx)
        if not state.feature(FEATURE)["Installed"]:
            raise StepFailed(f"{server.host}: the IIS feature {FEATURE} (Client Certificate Mapping Authentication) "
                             f"is not installed; install it first: Install-WindowsFeature {FEATURE}")
        identity = vdir_identity(ctx.params, server.computer)
        plan = Plan(changes=_vdir_changes(server.host, identity, vdir()) if vdir is not None else [])
        for location, section, name, value in wanted_settings(ctx.params):
            reply = state.setting(location, section, name)
            live = reply["Value"]
            if not hc.same(live, value):
                # An inherited value is restored on undo by inheriting again, not by writing it here.
                plan.changes.append(Change(
                    kind=hc.WEB_CONFIG.name, target=server.host, attribute=f"{section.rsplit('/', 1)[-1]}.{name} "
                    f"@ {_where(location)}", op="set", before=live, after=value,
                    locator={"host": server.host, "location": location, "filter": section, "name": name,
                             **({} if reply["Local"] else {"inherited": True})}))
        if plan.changes:
            plan.changes.append(Change(kind=hc.IISRESET.name, target=server.host, attribute="iisreset", op="action",
                                       locator={"host": server.host}, note=f"restarts {hc.IISRESET.restarts}"))
            plan.point_of_no_return = f"iisreset on {server.host} restarts IIS and interrupts every site on it"
        return plan

    def apply(self, ctx: StepContext, plan: Plan) -> None:
        for change in plan.changes:
            if change.kind == hc.WEB_CONFIG.name and hc.same(hc.read(ctx, change), change.after):
                # Written by the Exchange cmdlet, or now inherited from the server level set just before.
                ctx.say(f"{change.describe_already()}, not written")
                continue
            hc.apply(ctx, change)

    def verify(self, ctx: StepContext) -> Verification:
        server = ctx.target.server
        assert server is not None
        state, vdir = self._read(ctx)
        result = Verification()
        installed = state.feature(FEATURE)["Installed"]
        result.expect(f"{server.host} feature {FEATURE} installed", True, bool(installed))
        if vdir is not None:
            exchange = vdir()
            result.expect("Exchange ActiveSync ClientCertAuth", "Required", exchange["ClientCertAuth"])
            result.expect("Exchange ActiveSync BasicAuthEnabled", False, exchange["BasicAuthEnabled"],
                          ok=hc.same(exchange["BasicAuthEnabled"], False))
        for location, section, name, value in wanted_settings(ctx.params):
            live = state.setting(location, section, name)["Value"]
            result.expect(f"{server.host} {section.rsplit('/', 1)[-1]}.{name} @ {_where(location)}", value, live,
                          ok=hc.same(live, value))
        return result


def manual(params: Params, target: Target) -> list[ManualItem]:
    assert target.server is not None
    host, computer, site = target.server.host, target.server.computer, params.iis_site
    vdir = f"{site}/{VDIR}"
    appcmd = "C:\\Windows\\System32\\inetsrv\\appcmd.exe"
    items = [ManualItem(f"Why here: {chain.validator_summary(params)}.")]
    items.append(ManualItem(f"On {host}: check the IIS feature Client Certificate Mapping Authentication is "
                            "installed (Web-Cert-Auth is the other one and is not needed).",
                            command=f"Install-WindowsFeature {FEATURE}"))
    if target.server in params.eas:
        items.append(ManualItem(
            "Exchange first (it writes the vdir's SSL setting itself): in the Exchange Management Shell — or EMC → "
            f"Server Configuration → Client Access → {computer} → Exchange ActiveSync → Microsoft-Server-ActiveSync "
            "→ Authentication: clear Basic, select Require client certificates.",
            command=f"Set-ActiveSyncVirtualDirectory -Identity '{vdir_identity(params, computer)}' "
                    "-ClientCertAuth Required -BasicAuthEnabled $false"))
    items += [
        ManualItem(f"inetmgr → {computer} → Authentication → Active Directory Client Certificate Authentication → "
                   "Enable.",
                   command=f"{appcmd} set config -section:{CERT_MAPPING} /enabled:True /commit:apphost"),
        ManualItem(f"Sites → {site} → {VDIR} → Configuration Editor → {CERT_MAPPING} → enabled = True → Apply.",
                   command=f'{appcmd} set config "{vdir}" -section:{CERT_MAPPING} /enabled:True /commit:apphost'),
        ManualItem(f"{VDIR} → SSL Settings → Require SSL, Client certificates: Required (Accept only if other "
                   "authentication must keep working) → Apply.",
                   command=f'{appcmd} set config "{vdir}" -section:{ACCESS} /sslFlags:"{REQUIRE_CERT}" '
                           "/commit:apphost"),
        ManualItem("uploadReadAheadSize 48 KB → 10 MB, server level:",
                   command=f"{appcmd} set config -section:{RUNTIME} /uploadReadAheadSize:{READ_AHEAD} /commit:apphost"),
        ManualItem(f"… and on the site {site}:",
                   command=f'{appcmd} set config "{site}" -section:{RUNTIME} /uploadReadAheadSize:{READ_AHEAD} '
                           "/commit:apphost"),
        ManualItem(f"POINT OF NO RETURN — iisreset interrupts every site on {host}: do it inside the window.",
                   command="iisreset"),
    ]
    return items

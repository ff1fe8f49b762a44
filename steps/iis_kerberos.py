"""Step 6 where this server receives the user as a delegated Kerberos ticket (from TMG or the SEG): it must accept
Kerberos, or every delegated request gets 401. On EAS through Exchange (`-WindowsAuthEnabled $true`, which writes
the vdir's IIS Windows Authentication itself), on the SEG in IIS; Negotiate must be among the providers. Nothing here
asks for a client certificate: a device's certificate never reaches this hop (DOMAIN.md, first section).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runbook.flow import topology as topo
from runbook.flow.catalogue import ManualItem, Target
from runbook.flow.changes import Change, Plan, Verification
from steps import host_changes as hc
from steps import host_reads as reads
from steps.iis_certificate import ACCESS, VDIR, vdir_identity

if TYPE_CHECKING:
    from runbook.flow.context import StepContext
    from runbook.inputs.params import Params, Server

WINDOWS_AUTH = "system.webServer/security/authentication/windowsAuthentication"
NEGOTIATE = "Negotiate"


def location(params: Params) -> str:
    return f"{params.iis_site}/{VDIR}"


def _server(ctx: StepContext) -> Server:
    assert ctx.target.server is not None
    return ctx.target.server


def _pool_credentials(params: Params) -> bool:
    """useAppPoolCredentials: the SEG farm's alias SPN lives on the shared account the pool runs as."""
    return topo.alias_account(params, "seg") is not None


class KerberosAcceptance(hc.HostUndo):
    def __init__(self, *, exchange: bool) -> None:
        # Exchange runs here (EAS): Windows Authentication is switched through its ActiveSync vdir, which writes
        # the IIS values itself; elsewhere (SEG) the IIS values are set directly.
        self.exchange = exchange

    def _asks(self, ctx: StepContext, names: list[str], *, ssl_flags: bool = False) -> dict[str, Any]:
        """The vdir's Windows Authentication values `names` (and its sslFlags), and its providers."""
        where = location(ctx.params)
        settings = [(where, WINDOWS_AUTH, name) for name in names]
        if ssl_flags:
            settings.append((where, ACCESS, "sslFlags"))
        return reads.asks(settings=settings, providers=[where])

    def _verified(self, ctx: StepContext) -> list[str]:
        """The Windows Authentication values `verify` checks (useAppPoolCredentials where a farm shares an
        account)."""
        pooled = not self.exchange and _pool_credentials(ctx.params)
        return ["enabled"] + (["useAppPoolCredentials"] if pooled else [])

    def state_reads(self, ctx: StepContext) -> dict[str, Any]:
        """What `verify` reads on the host itself (a verify-all reads it with the host's other checks)."""
        return self._asks(ctx, self._verified(ctx), ssl_flags=True)

    def _read(self, ctx: StepContext, names: list[str], *, ssl_flags: bool = False,
              ) -> tuple[reads.HostState, dict[str, Any] | None]:
        """The vdir's Windows Authentication values and providers in one call; on EAS, Exchange's vdir at the
        same time (read first, as the steps go: its failure counts before the host's own)."""
        server = _server(ctx)

        def host_state() -> reads.HostState:
            return reads.read_asked(ctx.hosts, server.host, self._asks(ctx, names, ssl_flags=ssl_flags))
        if not self.exchange:
            return host_state(), None
        vdir, state = reads.at_once(
            lambda: reads.exchange_vdir(ctx.hosts, server.host, vdir_identity(ctx.params, server.computer)), host_state)
        return state(), vdir

    def plan(self, ctx: StepContext) -> Plan:
        server = _server(ctx)
        plan = Plan()
        wanted_settings: list[tuple[str, bool]] = []
        if not self.exchange:
            wanted_settings.append(("enabled", True))
            if _pool_credentials(ctx.params):
                wanted_settings.append(("useAppPoolCredentials", True))
        state, vdir = self._read(ctx, [name for name, _ in wanted_settings])
        if vdir is not None:
            identity = vdir_identity(ctx.params, server.computer)
            for attribute, wanted in (("WindowsAuthEnabled", True), ("ClientCertAuth", "Ignore")):
                if not hc.same(vdir.get(attribute), wanted):
                    plan.changes.append(Change(kind=hc.EXCHANGE_VDIR.name, target=server.host, attribute=attribute,
                                               op="set", before=vdir.get(attribute), after=wanted,
                                               locator={"host": server.host, "identity": identity}))
            if vdir.get("BasicAuthEnabled"):
                plan.notes.append("Basic authentication stays on as it was: devices authenticate only through TMG/SEG "
                                  "with Kerberos; turn Basic off by hand if nothing else uses it")
        for name, wanted in wanted_settings:
            reply = state.setting(location(ctx.params), WINDOWS_AUTH, name)
            if not hc.same(reply["Value"], wanted):
                plan.changes.append(Change(
                    kind=hc.WEB_CONFIG.name, target=server.host, attribute=f"windowsAuthentication.{name} @ "
                    f"{location(ctx.params)}", op="set", before=reply["Value"], after=wanted,
                    locator={"host": server.host, "location": location(ctx.params), "filter": WINDOWS_AUTH,
                             "name": name, **({} if reply["Local"] else {"inherited": True})}))
        providers = state.providers(location(ctx.params))
        if NEGOTIATE.lower() not in {p.lower() for p in providers}:
            plan.changes.append(Change(kind=hc.AUTH_PROVIDER.name, target=server.host,
                                       attribute=f"Windows Authentication providers @ {location(ctx.params)}",
                                       op="add", values=[NEGOTIATE], before=providers, after=providers + [NEGOTIATE],
                                       locator={"host": server.host, "location": location(ctx.params)}))
        if "NTLM" not in {p.upper() for p in providers}:
            plan.notes.append("NTLM is not among the providers: keep it after Negotiate if anything else needs it")
        return plan

    def apply(self, ctx: StepContext, plan: Plan) -> None:
        for change in plan.changes:
            hc.apply(ctx, change)

    def verify(self, ctx: StepContext) -> Verification:
        server, where = _server(ctx), location(ctx.params)
        result = Verification()
        names = self._verified(ctx)
        state, vdir = self._read(ctx, names, ssl_flags=True)
        if vdir is not None:
            result.expect("Exchange ActiveSync WindowsAuthEnabled", True, vdir.get("WindowsAuthEnabled"),
                          ok=hc.same(vdir.get("WindowsAuthEnabled"), True))
            result.expect("Exchange ActiveSync ClientCertAuth (the certificate was checked before this hop)",
                          "Ignore", vdir.get("ClientCertAuth"))
        enabled = state.setting(where, WINDOWS_AUTH, "enabled")["Value"]
        result.expect(f"{server.host} windowsAuthentication.enabled @ {where}", True, enabled,
                      ok=hc.same(enabled, True))
        if "useAppPoolCredentials" in names:
            app_pool = state.setting(where, WINDOWS_AUTH, "useAppPoolCredentials")["Value"]
            result.expect(f"{server.host} windowsAuthentication.useAppPoolCredentials", True, app_pool,
                          ok=hc.same(app_pool, True))
        providers = state.providers(where)
        result.expect(f"{server.host} Windows Authentication providers include Negotiate", True,
                      NEGOTIATE.lower() in {p.lower() for p in providers})
        flags = state.setting(where, ACCESS, "sslFlags")
        result.expect(f"{server.host} does not require a client certificate (sslFlags)", "no SslRequireCert",
                      flags["Value"], ok="sslrequirecert" not in str(flags["Value"]).lower())
        return result


def manual(params: Params, target: Target) -> list[ManualItem]:
    assert target.server is not None
    host, computer = target.server.host, target.server.computer
    vdir = location(params)
    appcmd = "C:\\Windows\\System32\\inetsrv\\appcmd.exe"
    sender = "the SEG" if target.server in params.eas and params.has_seg else "TMG"
    items = [ManualItem(f"Why here: {computer} receives the user from {sender} as a Kerberos ticket (constrained "
                        "delegation); it must accept Kerberos. A client certificate never reaches it, so nothing "
                        "here may require one (the guide's IIS certificate settings do not apply to this hop).")]
    if target.server in params.eas:
        items += [
            ManualItem(f"On {host}, Exchange Management Shell: turn on Windows authentication for ActiveSync "
                       "(Exchange writes the vdir's IIS setting itself).",
                       command=f"Set-ActiveSyncVirtualDirectory -Identity '{vdir_identity(params, computer)}' "
                               "-WindowsAuthEnabled $true -ClientCertAuth Ignore"),
            ManualItem("Leave Basic authentication as it is (devices authenticate only through TMG/SEG); check:",
                       command=f"Get-ActiveSyncVirtualDirectory -Identity '{vdir_identity(params, computer)}' | "
                               "Format-List WindowsAuthEnabled,BasicAuthEnabled,ClientCertAuth"),
        ]
    else:
        items.append(ManualItem(f"On {host}: inetmgr → Sites → {vdir} → Authentication → Windows Authentication → "
                                "Enable.",
                                command=f'{appcmd} set config "{vdir}" -section:{WINDOWS_AUTH} /enabled:True '
                                        "/commit:apphost"))
        if _pool_credentials(params):
            items.append(ManualItem("The alias SPN lives on the farm's shared account, which runs the pool: let IIS "
                                    "decrypt tickets with it (useAppPoolCredentials).",
                                    command=f'{appcmd} set config "{vdir}" -section:{WINDOWS_AUTH} '
                                            "/useAppPoolCredentials:True /commit:apphost"))
    items += [
        ManualItem(f"{vdir} → Windows Authentication → Providers: Negotiate first, then NTLM (add Negotiate if "
                   "missing). TMG's “Test Rule” needs a Negotiate challenge from this server.",
                   command=f'{appcmd} set config "{vdir}" -section:{WINDOWS_AUTH} '
                           "/+providers.[value='Negotiate'] /commit:apphost"),
        ManualItem(f"{vdir} → SSL Settings: Require SSL, Client certificates: Ignore (the certificate was checked "
                   "before this hop)."),
    ]
    return items

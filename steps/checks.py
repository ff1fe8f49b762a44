"""The guide's troubleshooting checks: clock skew, user certificate, SCEP URLs, 401 providers, KCD end to end."""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from runbook.checks.runs import CheckContext, CheckResult, CheckSpec
from runbook.errors import BadInput, RunbookError
from runbook.flow import chain
from runbook.flow import topology as topo
from runbook.flow.catalogue import expand
from steps import CATALOGUE
from steps import host_reads as reads
from steps.iis_kerberos import WINDOWS_AUTH

if TYPE_CHECKING:
    from runbook.inputs.params import Params

SKEW_WARN = dt.timedelta(minutes=2)
SKEW_FAIL = dt.timedelta(minutes=5)  # Kerberos' default tolerance
PROVIDERS = ("Negotiate", "NTLM")


def _skew(result: CheckResult, who: str, theirs: dt.datetime, reference: dt.datetime, ref_name: str) -> None:
    delta = theirs - reference
    size = abs(delta)
    direction = "ahead of" if delta > dt.timedelta(0) else "behind"
    text = f"{who} is {size.total_seconds() / 60:.1f} min {direction} {ref_name}"
    if size > SKEW_FAIL:
        result.fault(text + " (Kerberos allows 5 min: tickets will be refused; fix NTP)")
    elif size >= SKEW_WARN:
        result.warn(text + " (within Kerberos' 5 min, but drifting)")
    else:
        result.info(text)


def check_clock(ctx: CheckContext) -> CheckResult:
    result = CheckResult("clock")
    dc_time = ctx.ports.directory.current_time()
    _skew(result, "this jump host", ctx.now(), dc_time, f"the DC {ctx.params.directory.server}")
    for server in ctx.params.all_servers():
        try:
            reply = ctx.ports.hosts.shell(server.host).invoke("Get-CertAuthClock", {}).first
        except RunbookError as exc:
            result.fault(f"{server.host}: could not read its clock ({exc})")
            continue
        host_time = dt.datetime.fromisoformat(str(reply["UtcNow"]).replace("Z", "+00:00"))
        _skew(result, server.host, host_time, dc_time, "the DC")
    return result


def check_cert(ctx: CheckContext) -> CheckResult:
    from runbook.checks.cert import check_certificate

    result = CheckResult("cert")
    path = ctx.options.get("file")
    if not path:
        result.status = "skip"
        result.info("needs a certificate file: runbook check SESSION cert --file user.pem")
        return result
    report = check_certificate(path)
    result.info(f"subject: {report.subject}")
    result.info(f"issuer: {report.issuer}")
    result.info(f"SAN e-mail: {', '.join(report.emails) or '(none)'}; SAN UPN: {', '.join(report.upns) or '(none)'}")
    for fault in report.faults:
        result.fault(fault)
    return result


def check_scep(ctx: CheckContext) -> CheckResult:
    result = CheckResult("scep")
    scep = ctx.params.scep
    if scep is None:
        result.status = "skip"
        result.info("no scep: section in the params")
        return result
    for name, url in (("server_url", scep.server_url), ("challenge_url", scep.challenge_url)):
        if url.endswith("/"):
            result.info(f"scep.{name} {url} ends with /")
        else:
            result.fault(f"scep.{name} {url} must end with / (Workspace ONE builds the request URL by appending)")
    return result


def kerberos_receivers(params: Params) -> list[tuple[str, str]]:
    """(step, server) of every hop that receives a delegated ticket: where a 401 can come from. Read from the steps'
    own effects, so the check and the chain invariants cannot disagree about which hops accept Kerberos."""
    return [(instance.key, effect.host) for instance in expand(CATALOGUE, params)
            for effect in instance.effects(params) if effect.kind == chain.ACCEPTS_KERBEROS]


def check_providers(ctx: CheckContext) -> CheckResult:
    """The guide's 401: Windows Authentication on, with Negotiate (and NTLM), on every hop that receives Kerberos."""
    result = CheckResult("providers")
    location = f"{ctx.params.iis_site}/Microsoft-Server-ActiveSync"
    receivers = kerberos_receivers(ctx.params)
    if not receivers:
        result.info(f"no hop receives Kerberos (cert_validation {ctx.params.cert_validation}): nothing to check")
    for step, host in receivers:
        try:
            state = reads.read_state(ctx.ports.hosts, host, settings=[(location, WINDOWS_AUTH, "enabled")],
                                     providers=[location])
        except RunbookError as exc:
            result.fault(f"{host}: could not read Windows Authentication ({exc})")
            continue
        enabled, providers = state.setting(location, WINDOWS_AUTH, "enabled")["Value"], state.providers(location)
        if str(enabled).lower() != "true":
            result.fault(f"{host} {location}: Windows Authentication is off, so the delegated Kerberos request is "
                         f"answered 401; step {step} turns it on")
        have = {str(p).lower() for p in providers}
        missing = [p for p in PROVIDERS if p.lower() not in have]
        if "negotiate" not in have:
            result.fault(f"{host} {location}: Windows Authentication lacks Negotiate (the delegated Kerberos "
                         f"request is answered 401); step {step} adds it")
        elif missing:
            result.warn(f"{host} {location}: Windows Authentication lacks {', '.join(missing)} (Kerberos works "
                        "through Negotiate; add it back if anything else needs it)")
        elif str(enabled).lower() == "true":
            result.info(f"{host}: Windows Authentication on, Negotiate and NTLM present")
    return result


def check_kcd(ctx: CheckContext) -> CheckResult:
    from runbook.checks.kcd import prove_kcd

    result = CheckResult("kcd")
    keytab, user = ctx.options.get("keytab"), ctx.options.get("user")
    if not keytab or not user:
        result.status = "skip"
        result.info("needs a keytab of the TMG (or SEG) account and a test user: "
                    "runbook check SESSION kcd --keytab tmg.keytab --user alice")
        return result
    role = ctx.options.get("role", "tmg")
    if role not in ("tmg", "seg"):
        raise BadInput(f"--role: {role!r} is not tmg or seg")
    principal = (ctx.params.tmg if role == "tmg" else ctx.params.seg[0]).sam
    for spn in topo.delegation_targets(ctx.params, role)[:1]:
        proof = prove_kcd(keytab, principal, user, spn, ctx.params.realm, ctx.params.directory.server)
        (result.info if proof.ok else result.fault)(f"{principal} → {user} → {spn}: {proof.detail}")
    return result


def check_spn(ctx: CheckContext) -> CheckResult:
    from steps.spn import spn_targets, wanted_spns

    result = CheckResult("spn")
    for role in ("eas", "seg") if ctx.params.has_seg else ("eas",):
        for target in spn_targets(role)(ctx.params):
            holder = target.server.sam if target.server else str(target.account)
            for spn in wanted_spns(ctx.params, role, target):
                others = [o for o in ctx.ports.directory.spn_owners(spn) if o.lower() != holder.lower()]
                if others:
                    result.fault(f"{spn} is registered on {', '.join(others)}, but belongs on {holder}: a duplicate "
                                 "SPN makes Kerberos fail (KRB_AP_ERR_MODIFIED); remove it with "
                                 f"setspn -D {spn} {others[0].rstrip('$')}")
                else:
                    result.info(f"{spn}: no other account holds it")
    return result


def check_gpo(ctx: CheckContext) -> CheckResult:
    from steps.rights import RIGHTS

    result = CheckResult("gpo")
    for server in [ctx.params.tmg, *ctx.params.seg]:
        try:
            state = reads.read_state(ctx.ports.hosts, server.host, rights=list(RIGHTS))
        except RunbookError as exc:
            for right in RIGHTS:
                result.fault(f"{server.host}: could not read {right} ({exc})")
            continue
        for right, label in RIGHTS.items():
            reply = state.right(right)
            if reply.get("GpoOwned"):
                result.fault(f"{server.host} “{label}” ({right}) is defined by GPO {reply.get('GpoName') or '?'}: "
                             "a local grant (step 5) will not stick; add the account in that GPO")
            else:
                result.info(f"{server.host} {right}: local policy")
    return result


DELEGATION_WRITES = ["msDS-AllowedToDelegateTo", "userAccountControl"]
SPN_WRITES = ["servicePrincipalName"]


def directory_accounts(params: Params) -> list[tuple[str, list[str], list[str]]]:
    """Every account steps 3a/3b/4a/4b write: (sAMAccountName, attributes written there, step keys)."""
    from steps.spn import spn_targets

    needs: dict[str, tuple[str, list[str], list[str]]] = {}

    def need(sam: str, attributes: list[str], step: str) -> None:
        _, attrs, steps = needs.setdefault(sam.lower(), (sam, [], []))
        attrs.extend(a for a in attributes if a not in attrs)
        steps.append(step)

    need(params.tmg.sam, DELEGATION_WRITES, "3a")
    for server in params.seg if params.has_seg else ():
        need(server.sam, DELEGATION_WRITES, f"3b@{server.computer}")
    for role, step in (("eas", "4a"), ("seg", "4b")) if params.has_seg else (("eas", "4a"),):
        for target in spn_targets(role)(params):
            need(target.server.sam if target.server else str(target.account), SPN_WRITES, f"{step}@{target.label}")
    return list(needs.values())


def check_directory(ctx: CheckContext) -> CheckResult:
    """Pre-flight for the AD steps: the accounts exist, the bind account may write them, the DC's clock is close."""
    from steps import directory_changes as dc

    result = CheckResult("directory")
    directory = ctx.ports.directory
    for warning in getattr(directory, "warnings", None) or []:
        result.warn(warning)
    _skew(result, "this jump host", ctx.now(), directory.current_time(), f"the DC {ctx.params.directory.server}")
    for sam, attributes, steps in directory_accounts(ctx.params):
        account = directory.find_account(sam)
        if account is None:
            result.fault(f"{', '.join(steps)}: {dc.missing_account_message(directory, sam, ctx.params.domain)}")
            continue
        denied = dc.denied_attributes(directory, account, attributes)
        if denied:
            result.fault(f"{', '.join(steps)}: {dc.write_denied_message(ctx.params, account, denied)}")
        else:
            result.info(f"{account.sam_account_name} found; {dc.bind_identity(ctx.params)} may write "
                        f"{', '.join(attributes)} ({', '.join(steps)})")
    return result


KERBEROS_STEPS = ("3a", "3b", "4a", "4b", "5a", "5b", "6a", "6b")  # a ticket is issued, delegated or accepted there

CHECKS = [
    CheckSpec("directory", "AD pre-flight: accounts exist, the bind may write them, clock vs the DC", False,
              check_directory, blocks=("3a", "3b", "4a", "4b"),
              fix="create the missing account, or bind as an account that may write it (directory.bind_user)"),
    CheckSpec("clock", "Clock skew between the DC, this host and every server (≤ 5 min)", False, check_clock,
              blocks=KERBEROS_STEPS, fix="resync the host with the domain's time source (w32tm /resync), then check "
              "again"),
    CheckSpec("scep", "SCEP server and challenge URLs end with /", False, check_scep,
              fix="end the URL with / in the params and in Workspace ONE's SCEP settings (devices enrol there)"),
    CheckSpec("providers", "Windows Authentication with Negotiate on every hop that receives Kerberos (the 401 fix)",
              False, check_providers, blocks=("6a", "6b"),
              fix="run the step the line names: it turns Windows Authentication on with Negotiate"),
    CheckSpec("spn", "No wanted SPN is registered on another account", False, check_spn, blocks=("4a", "4b"),
              fix="remove the SPN from the other account (the setspn -D the line gives), then run 4a/4b"),
    CheckSpec("gpo", "No domain GPO owns the rights step 5 grants", False, check_gpo, blocks=("5a", "5b"),
              fix="add the account to that right in the GPO that owns it (a local grant is overwritten)"),
    CheckSpec("cert", "User certificate: SAN e-mail + UPN, Client Authentication EKU", True, check_cert,
              fix="issue the user a certificate with e-mail and UPN in the SAN and the Client Authentication EKU"),
    CheckSpec("kcd", "KCD end to end: S4U2Self + S4U2Proxy with the TMG keytab", True, check_kcd, blocks=("3a", "3b"),
              fix="check the delegation targets (3a/3b), protocol transition and the SPNs (4a/4b), then check again"),
]

"""The simulated Windows host answers like the real functions in runbook/hosts/ps/*.ps1 and the Exchange cmdlets."""
from __future__ import annotations

import copy
import datetime as dt
import threading

import pytest
import yaml

from runbook.errors import HostError
from runbook.flow.ports import HostShell, HostsPort
from runbook.lab import windows_contract as contract
from runbook.lab.windows_errors import SimCommandError, SimConnectionError, SimTimeout
from runbook.lab.windows_host import SimWindowsHost, dispatch_table
from runbook.lab.windows_shells import SimHosts
from runbook.lab.windows_state import SAVED_KEYS
from runbook.lab.windows_tmg import tmg_listener

NOON = dt.datetime(2026, 11, 25, 20, 0, 0, tzinfo=dt.UTC)
VDIR = "Default Web Site/Microsoft-Server-ActiveSync"
IDENTITY = "EAS01\\Microsoft-Server-ActiveSync (Default Web Site)"
RUNTIME = "system.webServer/serverRuntime"
ACCESS = "system.webServer/security/access"
CERT_MAPPING = "system.webServer/security/authentication/clientCertificateMappingAuthentication"
BASIC = "system.webServer/security/authentication/basicAuthentication"
DEFAULT_IMPERSONATE = ["S-1-5-19", "S-1-5-20", "S-1-5-32-544", "S-1-5-6"]


def make(role: str, fqdn: str | None = None, **kwargs) -> SimWindowsHost:
    return SimWindowsHost(role, fqdn or f"{role}01.test.lan", clock=lambda: NOON, **kwargs)


def first(host: SimWindowsHost, function: str, endpoint: str = "default", **params):
    return host.invoke(function, params, endpoint).first


def web(host: SimWindowsHost, location: str, filter_: str, name: str):
    return first(host, "Get-CertAuthWebConfig", Location=location, Filter=filter_, Name=name)["Value"]


# ------------------------------------------------------------------------------ user rights
def test_default_rights_are_those_of_windows_server():
    host = make("tmg")
    assert first(host, "Get-CertAuthUserRight", Right="SeImpersonatePrivilege") == {
        "Right": "SeImpersonatePrivilege", "Holders": DEFAULT_IMPERSONATE, "GpoOwned": False, "GpoName": None}
    assert first(host, "Get-CertAuthUserRight", Right="SeTcbPrivilege")["Holders"] == []


def test_grant_and_revoke_touch_only_the_one_sid():
    host = make("seg")
    host.lsa.set_user_right("SeTcbPrivilege", ["S-1-5-21-1-2-3-1105"])
    granted = first(host, "Grant-CertAuthUserRight", Right="SeTcbPrivilege", Sid="S-1-5-20")
    assert granted == {"Right": "SeTcbPrivilege", "Before": ["S-1-5-21-1-2-3-1105"],
                       "After": ["S-1-5-21-1-2-3-1105", "S-1-5-20"]}
    again = first(host, "Grant-CertAuthUserRight", Right="SeTcbPrivilege", Sid="S-1-5-20")
    assert again["Before"] == again["After"]  # LsaAddAccountRights is idempotent
    revoked = first(host, "Revoke-CertAuthUserRight", Right="SeTcbPrivilege", Sid="S-1-5-20")
    assert revoked["After"] == ["S-1-5-21-1-2-3-1105"]
    revoked = first(host, "Revoke-CertAuthUserRight", Right="SeImpersonatePrivilege", Sid="S-1-5-20")
    assert revoked["After"] == ["S-1-5-19", "S-1-5-32-544", "S-1-5-6"]


def test_bad_right_and_bad_sid_are_refused_like_powershell():
    host = make("tmg")
    with pytest.raises(SimCommandError, match=r'does not belong to the set "SeTcbPrivilege,SeImpersonatePrivilege"'):
        host.invoke("Get-CertAuthUserRight", {"Right": "SeDebugPrivilege"})
    with pytest.raises(SimCommandError, match=r"The argument \"NETWORK SERVICE\" does not match"):
        host.invoke("Grant-CertAuthUserRight", {"Right": "SeTcbPrivilege", "Sid": "NETWORK SERVICE"})
    with pytest.raises(SimCommandError, match="missing mandatory parameters: Sid"):
        host.invoke("Grant-CertAuthUserRight", {"Right": "SeTcbPrivilege"})
    with pytest.raises(SimCommandError, match="cannot be found that matches parameter name 'User'"):
        host.invoke("Get-CertAuthUserRight", {"Right": "SeTcbPrivilege", "User": "x"})
    assert host.lsa.rights["SeTcbPrivilege"] == []  # nothing ran


def test_a_gpo_owned_right_is_reported_and_overrides_a_local_grant():
    host = make("tmg")
    host.lsa.own_right_by_gpo("SeTcbPrivilege", ["S-1-5-32-544"], "Tier0 Server Baseline")
    assert first(host, "Get-CertAuthUserRight", Right="SeTcbPrivilege") == {
        "Right": "SeTcbPrivilege", "Holders": ["S-1-5-32-544"], "GpoOwned": True, "GpoName": "Tier0 Server Baseline"}
    granted = first(host, "Grant-CertAuthUserRight", Right="SeTcbPrivilege", Sid="S-1-5-20")
    assert granted["After"] == ["S-1-5-32-544"]  # the re-read shows the GPO's list: the grant did not stick
    assert "S-1-5-20" in host.lsa.rights["SeTcbPrivilege"]  # ... although the local call succeeded
    host.lsa.release_right_from_gpo("SeTcbPrivilege")
    assert first(host, "Get-CertAuthUserRight", Right="SeTcbPrivilege")["Holders"] == ["S-1-5-20"]


def test_concurrent_grants_on_one_host_all_land():
    host = make("seg")
    sids = [f"S-1-5-21-9-9-9-{n}" for n in range(1000, 1020)]
    threads = [threading.Thread(target=host.invoke, args=("Grant-CertAuthUserRight",
                                                          {"Right": "SeTcbPrivilege", "Sid": sid})) for sid in sids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(first(host, "Get-CertAuthUserRight", Right="SeTcbPrivilege")["Holders"]) == sorted(sids)


# ------------------------------------------------------------------------------ IIS
def test_web_config_inherits_from_parent_locations_and_reports_before_after():
    host = make("eas")
    assert web(host, VDIR, RUNTIME, "uploadReadAheadSize") == 49152  # IIS default, inherited all the way
    changed = first(host, "Set-CertAuthWebConfig", Location="", Filter=RUNTIME, Name="uploadReadAheadSize",
                    Value="10485760")
    assert changed == {"Location": "", "Filter": RUNTIME, "Name": "uploadReadAheadSize", "Before": 49152,
                       "After": 10485760}
    assert web(host, "Default Web Site", RUNTIME, "uploadReadAheadSize") == 10485760
    assert web(host, VDIR, RUNTIME, "uploadReadAheadSize") == 10485760
    own = first(host, "Set-CertAuthWebConfig", Location="Default Web Site", Filter=RUNTIME,
                Name="uploadReadAheadSize", Value=65536)
    assert (own["Before"], own["After"]) == (10485760, 65536)
    assert web(host, VDIR, RUNTIME, "uploadReadAheadSize") == 65536
    assert web(host, "", RUNTIME, "uploadReadAheadSize") == 10485760


def test_web_config_reports_local_values_and_clear_makes_them_inherit_again():
    host = make("eas")
    untouched = host.to_dict()["iis"]
    assert first(host, "Get-CertAuthWebConfig", Location="Default Web Site", Filter=RUNTIME,
                 Name="uploadReadAheadSize")["Local"] is False
    first(host, "Set-CertAuthWebConfig", Location="", Filter=RUNTIME, Name="uploadReadAheadSize", Value=10485760)
    first(host, "Set-CertAuthWebConfig", Location="Default Web Site", Filter=RUNTIME, Name="uploadReadAheadSize",
          Value=65536)
    assert first(host, "Get-CertAuthWebConfig", Location="Default Web Site", Filter=RUNTIME,
                 Name="uploadReadAheadSize")["Local"] is True
    cleared = first(host, "Clear-CertAuthWebConfig", Location="Default Web Site", Filter=RUNTIME,
                    Name="uploadReadAheadSize")
    assert (cleared["Before"], cleared["After"]) == (65536, 10485760)  # inherited from the server level again
    first(host, "Clear-CertAuthWebConfig", Location="", Filter=RUNTIME, Name="uploadReadAheadSize")
    again = first(host, "Clear-CertAuthWebConfig", Location="", Filter=RUNTIME, Name="uploadReadAheadSize")
    assert (again["Before"], again["After"]) == (49152, 49152)  # nothing of its own left: a no-op
    assert host.to_dict()["iis"] == untouched


def test_web_config_converts_values_as_iis_does():
    host = make("eas")
    assert web(host, "", CERT_MAPPING, "enabled") is False
    assert first(host, "Set-CertAuthWebConfig", Location=VDIR, Filter=CERT_MAPPING, Name="enabled",
                 Value="True")["After"] is True
    flags = first(host, "Set-CertAuthWebConfig", Location=VDIR, Filter=ACCESS, Name="sslFlags",
                  Value="SslRequireCert, Ssl, SslNegotiateCert")
    assert flags == {"Location": VDIR, "Filter": ACCESS, "Name": "sslFlags", "Before": "Ssl",
                     "After": "Ssl,SslNegotiateCert,SslRequireCert"}
    assert web(host, "Default Web Site", ACCESS, "sslFlags") == "None"
    with pytest.raises(SimCommandError, match="not a valid value for uploadReadAheadSize"):
        host.invoke("Set-CertAuthWebConfig", {"Location": "", "Filter": RUNTIME, "Name": "uploadReadAheadSize",
                                              "Value": "lots"})
    with pytest.raises(SimCommandError, match="'SslSometimes' is not a valid value"):
        host.invoke("Set-CertAuthWebConfig", {"Location": VDIR, "Filter": ACCESS, "Name": "sslFlags",
                                              "Value": "Ssl,SslSometimes"})


def test_web_config_refuses_unknown_locations_and_properties():
    host = make("eas")
    missing = "IIS location Contoso/Microsoft-Server-ActiveSync does not exist on EAS01"
    with pytest.raises(SimCommandError, match=missing):
        web(host, "Contoso/Microsoft-Server-ActiveSync", RUNTIME, "uploadReadAheadSize")
    with pytest.raises(SimCommandError, match="property maxAllowedContentLength of system.webServer/serverRuntime"):
        web(host, "", RUNTIME, "maxAllowedContentLength")
    with pytest.raises(SimCommandError, match="does not match the"):
        web(host, "", "system.web/httpRuntime", "maxRequestLength")
    with pytest.raises(SimCommandError, match="because it is an empty string"):
        web(host, "", "", "enabled")
    host.iis.add_location("Contoso")
    assert web(host, "contoso/", RUNTIME, "uploadReadAheadSize") == 49152  # IIS paths are case-insensitive


def test_iis_functions_fail_on_a_host_without_iis():
    with pytest.raises(SimCommandError, match="WebAdministration"):
        web(make("tmg"), "", RUNTIME, "uploadReadAheadSize")
    with pytest.raises(SimCommandError, match="IIS is not installed on TMG01"):
        make("tmg").invoke("Invoke-CertAuthIisReset")


def test_auth_providers_inherit_and_change_per_location():
    host = make("eas")
    assert first(host, "Get-CertAuthAuthProviders", Location=VDIR) == {"Location": VDIR,
                                                                       "Providers": ["Negotiate", "NTLM"]}
    removed = first(host, "Remove-CertAuthAuthProvider", Location=VDIR, Provider="ntlm")
    assert removed == {"Location": VDIR, "Before": ["Negotiate", "NTLM"], "After": ["Negotiate"]}
    assert first(host, "Get-CertAuthAuthProviders", Location="")["Providers"] == ["Negotiate", "NTLM"]
    added = first(host, "Add-CertAuthAuthProvider", Location=VDIR, Provider="NTLM")
    assert added["After"] == ["Negotiate", "NTLM"]
    assert first(host, "Add-CertAuthAuthProvider", Location=VDIR, Provider="NTLM")["Before"] == ["Negotiate", "NTLM"]
    with pytest.raises(SimCommandError, match="does not belong to the set"):
        host.invoke("Add-CertAuthAuthProvider", {"Location": VDIR, "Provider": "Basic"})


def test_iisreset_is_recorded_with_the_host_clock():
    host = make("seg")
    host.system.set_clock_offset(90)
    assert first(host, "Invoke-CertAuthIisReset") == {"Restarted": True, "At": "2026-11-25T20:01:30Z"}
    assert (host.iis.reset_count, host.iis.last_reset) == (1, "2026-11-25T20:01:30Z")
    assert first(host, "Get-CertAuthClock") == {"UtcNow": "2026-11-25T20:01:30Z"}


# ------------------------------------------------------------------------------ app pools, features
def test_app_pool_identity():
    seg = make("seg")
    assert first(seg, "Get-CertAuthAppPoolIdentity", Name="SecureEmailGateway") == {
        "Name": "SecureEmailGateway", "IdentityType": "NetworkService", "UserName": None, "Sid": "S-1-5-20"}
    # the SID Windows really gives IIS APPPOOL\DefaultAppPool
    assert first(seg, "Get-CertAuthAppPoolIdentity", Name="DefaultAppPool")["Sid"] == \
        "S-1-5-82-3006700770-424185619-1745488364-794895919-4004696415"
    seg.iis.set_app_pool("SecureEmailGateway", "SpecificUser", "TEST\\svc-seg", "S-1-5-21-1-2-3-4101")
    assert first(seg, "Get-CertAuthAppPoolIdentity", Name="SecureEmailGateway")["UserName"] == "TEST\\svc-seg"
    seg.iis.remove_app_pool("SecureEmailGateway")
    with pytest.raises(SimCommandError, match="application pool SecureEmailGateway does not exist on SEG01"):
        seg.invoke("Get-CertAuthAppPoolIdentity", {"Name": "SecureEmailGateway"})


def test_windows_features():
    assert first(make("seg"), "Get-CertAuthWindowsFeature", Name="Web-Client-Auth") == {
        "Name": "Web-Client-Auth", "Installed": False}
    assert first(make("eas"), "Get-CertAuthWindowsFeature", Name="web-client-auth")["Installed"] is True
    with pytest.raises(SimCommandError, match="Windows feature Web-Teleport is not known on EAS01"):
        make("eas").invoke("Get-CertAuthWindowsFeature", {"Name": "Web-Teleport"})
    with pytest.raises(SimCommandError, match="does not match"):
        make("eas").invoke("Get-CertAuthWindowsFeature", {"Name": "Web-*"})


# ------------------------------------------------------------------------------ Exchange
def test_set_activesync_vdir_also_writes_the_iis_ssl_flags():
    host = make("eas")
    assert first(host, "Get-ActiveSyncVirtualDirectory", "exchange", Identity=IDENTITY) == {
        "Identity": IDENTITY, "Server": "EAS01", "ClientCertAuth": "Ignore", "BasicAuthEnabled": True,
        "WindowsAuthEnabled": False}
    assert web(host, VDIR, ACCESS, "sslFlags") == "Ssl"
    reply = host.invoke("Set-ActiveSyncVirtualDirectory",
                        {"Identity": IDENTITY, "ClientCertAuth": "Required", "BasicAuthEnabled": False}, "exchange")
    assert reply.output == [] and reply.errors == []
    assert web(host, VDIR, ACCESS, "sslFlags") == "Ssl,SslNegotiateCert,SslRequireCert"
    assert web(host, VDIR, BASIC, "enabled") is False
    vdir = first(host, "Get-ActiveSyncVirtualDirectory", "exchange", Identity=IDENTITY)
    assert (vdir["ClientCertAuth"], vdir["BasicAuthEnabled"]) == ("Required", False)
    host.invoke("Set-ActiveSyncVirtualDirectory", {"Identity": IDENTITY, "ClientCertAuth": "Accepted"}, "exchange")
    assert web(host, VDIR, ACCESS, "sslFlags") == "Ssl,SslNegotiateCert"


def test_windows_auth_enabled_writes_the_vdir_windows_authentication():
    """Exchange's -WindowsAuthEnabled writes IIS Windows Authentication on the vdir (what TMG's KCD needs)."""
    host = make("eas")
    windows = "system.webServer/security/authentication/windowsAuthentication"
    assert web(host, VDIR, windows, "enabled") is False
    host.invoke("Set-ActiveSyncVirtualDirectory", {"Identity": IDENTITY, "WindowsAuthEnabled": True}, "exchange")
    assert web(host, VDIR, windows, "enabled") is True
    assert first(host, "Get-ActiveSyncVirtualDirectory", "exchange", Identity=IDENTITY)["WindowsAuthEnabled"] is True
    with pytest.raises(SimCommandError, match="Boolean parameters accept only Boolean"):
        host.invoke("Set-ActiveSyncVirtualDirectory", {"Identity": IDENTITY, "WindowsAuthEnabled": "$true"},
                    "exchange")


def test_client_access_service_reports_the_alternate_service_account():
    host = make("eas")
    host.exchange.set_alternate_service_account("TEST\\EASASA$")
    reply = first(host, "Get-ClientAccessService", "exchange", Identity="EAS01",
                  IncludeAlternateServiceAccountCredentialStatus=True)
    assert reply["AlternateServiceAccountConfiguration"] == {"EffectiveCredentials": ["TEST\\EASASA$"]}
    bare = first(host, "Get-ClientAccessService", "exchange", Identity="EAS01")
    assert bare["AlternateServiceAccountConfiguration"] is None


def test_exchange_cmdlets_refuse_what_exchange_refuses():
    host = make("eas")
    with pytest.raises(SimCommandError, match="couldn't be found on 'eas01.test.lan'"):
        host.invoke("Get-ActiveSyncVirtualDirectory", {"Identity": "EAS02\\Microsoft-Server-ActiveSync "
                                                                   "(Default Web Site)"}, "exchange")
    with pytest.raises(SimCommandError, match="Boolean parameters accept only Boolean values"):
        host.invoke("Set-ActiveSyncVirtualDirectory", {"Identity": IDENTITY, "BasicAuthEnabled": "$false"},
                    "exchange")
    with pytest.raises(SimCommandError, match="is not recognized as the name of a cmdlet"):
        host.invoke("Get-ActiveSyncVirtualDirectory", {"Identity": IDENTITY})  # default endpoint: no Exchange
    with pytest.raises(SimCommandError, match="is not recognized"):
        host.invoke("Get-CertAuthClock", {}, "exchange")  # restricted endpoint: only Exchange cmdlets
    with pytest.raises(SimConnectionError, match="HTTP 404"):
        make("seg").invoke("Get-ActiveSyncVirtualDirectory", {"Identity": IDENTITY}, "exchange")


# ------------------------------------------------------------------------------ TMG
def test_tmg_policy_is_read_as_set_up_by_the_lab():
    host = make("tmg")
    assert first(host, "Get-CertAuthTmgPolicy") == {"Listeners": [], "Rules": [], "ServerRules": []}
    host.tmg.add_listener("EAS Listener", ["203.0.113.10"], "CN=mail.example.com", client_cert_auth=True)
    host.tmg.add_rule("ActiveSync", "EAS Listener", "eas01.test.lan", ["mail.example.com"])
    policy = first(host, "Get-CertAuthTmgPolicy")
    assert policy["Listeners"] == [tmg_listener("EAS Listener", ["203.0.113.10"], "CN=mail.example.com",
                                                client_cert_auth=True)]
    rule = policy["Rules"][0]
    assert tuple(rule) == contract.TMG_RULE_KEYS and tuple(policy["Listeners"][0]) == contract.TMG_LISTENER_KEYS
    assert (rule["DelegationType"], rule["Spn"], rule["UserSets"]) == (6, "http/eas01.test.lan",
                                                                        ["All Authenticated Users"])
    policy["Rules"].clear()  # the caller's copy, not the host's policy
    host.tmg.update_rule("ActiveSync", InternalSiteName="seg01.test.lan", Spn="http/seg01.test.lan")
    assert first(host, "Get-CertAuthTmgPolicy")["Rules"][0]["InternalSiteName"] == "seg01.test.lan"
    with pytest.raises(ValueError, match="unknown Colour"):
        host.tmg.update_rule("ActiveSync", Colour="red")
    with pytest.raises(SimCommandError, match="Forefront TMG is not installed on EAS01"):
        make("eas").invoke("Get-CertAuthTmgPolicy")


# ------------------------------------------------------------------------------ every read in one call
def test_state_answers_each_item_as_its_single_value_function_in_the_order_asked():
    seg = make("seg")
    seg.iis.add_location(VDIR)
    seg.lsa.own_right_by_gpo("SeTcbPrivilege", ["S-1-5-32-544"], "Servers Hardening")
    settings = [{"Location": VDIR, "Filter": ACCESS, "Name": "sslFlags"},
                {"location": "", "FILTER": RUNTIME, "name": "uploadReadAheadSize"}]  # hashtable keys: any case
    state = first(seg, "Get-CertAuthState", Right=["seimpersonateprivilege", "SeTcbPrivilege"],
                  Feature=["Web-Client-Auth"], AppPool=["SecureEmailGateway"], WebConfig=settings,
                  ProviderLocation=[VDIR])
    assert state == {
        "Rights": [first(seg, "Get-CertAuthUserRight", Right="SeImpersonatePrivilege"),
                   first(seg, "Get-CertAuthUserRight", Right="SeTcbPrivilege")],
        "Features": [first(seg, "Get-CertAuthWindowsFeature", Name="Web-Client-Auth")],
        "AppPools": [first(seg, "Get-CertAuthAppPoolIdentity", Name="SecureEmailGateway")],
        "WebConfig": [first(seg, "Get-CertAuthWebConfig", Location=VDIR, Filter=ACCESS, Name="sslFlags"),
                      first(seg, "Get-CertAuthWebConfig", Location="", Filter=RUNTIME, Name="uploadReadAheadSize")],
        "Providers": [first(seg, "Get-CertAuthAuthProviders", Location=VDIR)],
        "TmgPolicy": None,
    }
    assert state["Rights"][1]["GpoName"] == "Servers Hardening"
    # Nothing asked, every list empty; one value (not a list) is a list of one, as PowerShell binds it.
    assert first(seg, "Get-CertAuthState") == {**{key: [] for key in contract.OUTPUTS["Get-CertAuthState"]},
                                               "TmgPolicy": None}
    assert len(first(seg, "Get-CertAuthState", Right="SeTcbPrivilege")["Rights"]) == 1
    assert seg.calls[-1] == ("default", "Get-CertAuthState", {"Right": "SeTcbPrivilege"})  # one call on the host


def test_state_answers_the_tmg_policy_when_asked_for_as_get_certauthtmgpolicy_does():
    tmg = make("tmg")
    tmg.tmg.add_listener("EAS Listener", ["203.0.113.10"], "CN=mail.example.com", client_cert_auth=True)
    state = first(tmg, "Get-CertAuthState", Right=["SeTcbPrivilege"], TmgPolicy=True)
    assert state["TmgPolicy"] == first(tmg, "Get-CertAuthTmgPolicy")
    assert state["Rights"] == [first(tmg, "Get-CertAuthUserRight", Right="SeTcbPrivilege")]
    assert first(tmg, "Get-CertAuthState", Right=["SeTcbPrivilege"], TmgPolicy=False)["TmgPolicy"] is None
    with pytest.raises(SimCommandError, match="Forefront TMG is not installed on EAS01"):
        make("eas").invoke("Get-CertAuthState", {"TmgPolicy": True})


@pytest.mark.parametrize(("params", "message"), [
    ({"Right": ["SeTcbPrivilege", "SeDebugPrivilege"]}, "parameter 'Right'. The argument \"SeDebugPrivilege\" does "
                                                        "not belong to the set"),
    ({"Feature": ["Web-*"]}, "parameter 'Feature'. The argument \"Web-\\*\" does not match"),
    ({"Feature": ["Web-Teleport"]}, "Windows feature Web-Teleport is not known on SEG01"),
    ({"AppPool": ["Nope"]}, "application pool Nope does not exist on SEG01"),
    ({"WebConfig": ["enabled"]}, "parameter 'WebConfig'. Cannot convert the \"enabled\" value"),
    ({"WebConfig": [{"Location": "", "Filter": "system.web/x", "Name": "enabled"}]},
     "parameter 'Filter'. The argument \"system.web/x\" does not match"),
    ({"WebConfig": [{"Location": "", "Name": "enabled"}]}, "parameter 'Filter' because it is null"),
    ({"WebConfig": [{"Location": "Contoso", "Filter": ACCESS, "Name": "sslFlags"}]},
     "IIS location Contoso does not exist on SEG01"),
    ({"ProviderLocation": ["Contoso"]}, "IIS location Contoso does not exist on SEG01"),
    ({"Sid": ["S-1-5-20"]}, "A parameter cannot be found that matches parameter name 'Sid'"),
])
def test_state_fails_as_the_single_value_function_would(params, message):
    with pytest.raises(SimCommandError, match=message):
        make("seg").invoke("Get-CertAuthState", params)


def test_a_fault_planted_on_a_single_value_function_strikes_the_state_read_too():
    host = make("tmg")
    host.fail_once("Get-CertAuthUserRight", "secedit /export failed with exit code 5")
    with pytest.raises(SimCommandError, match="secedit /export failed"):
        host.invoke("Get-CertAuthState", {"Right": ["SeTcbPrivilege"]})
    assert first(host, "Get-CertAuthState", Right=["SeTcbPrivilege"])["Rights"][0]["Holders"] == []


# ------------------------------------------------------------------------------ shapes, persistence
SAMPLE_CALLS = [
    ("tmg", "default", "Get-CertAuthClock", {}),
    ("tmg", "default", "Get-CertAuthUserRight", {"Right": "SeTcbPrivilege"}),
    ("tmg", "default", "Grant-CertAuthUserRight", {"Right": "SeTcbPrivilege", "Sid": "S-1-5-20"}),
    ("tmg", "default", "Revoke-CertAuthUserRight", {"Right": "SeTcbPrivilege", "Sid": "S-1-5-20"}),
    ("tmg", "default", "Get-CertAuthTmgPolicy", {}),
    ("seg", "default", "Get-CertAuthState", {"Right": "SeTcbPrivilege", "AppPool": ["SecureEmailGateway"]}),
    ("seg", "default", "Get-CertAuthWindowsFeature", {"Name": "Web-Client-Auth"}),
    ("seg", "default", "Get-CertAuthAppPoolIdentity", {"Name": "SecureEmailGateway"}),
    ("seg", "default", "Get-CertAuthWebConfig", {"Location": "", "Filter": RUNTIME, "Name": "uploadReadAheadSize"}),
    ("seg", "default", "Set-CertAuthWebConfig", {"Location": "", "Filter": RUNTIME, "Name": "uploadReadAheadSize",
                                                 "Value": 10485760}),
    ("seg", "default", "Clear-CertAuthWebConfig", {"Location": "", "Filter": RUNTIME, "Name": "uploadReadAheadSize"}),
    ("seg", "default", "Get-CertAuthAuthProviders", {"Location": "Default Web Site"}),
    ("seg", "default", "Add-CertAuthAuthProvider", {"Location": "Default Web Site", "Provider": "NTLM"}),
    ("seg", "default", "Remove-CertAuthAuthProvider", {"Location": "Default Web Site", "Provider": "NTLM"}),
    ("seg", "default", "Invoke-CertAuthIisReset", {}),
    ("eas", "exchange", "Get-ActiveSyncVirtualDirectory", {"Identity": IDENTITY}),
    ("eas", "exchange", "Set-ActiveSyncVirtualDirectory", {"Identity": IDENTITY, "ClientCertAuth": "Required"}),
    ("eas", "exchange", "Get-ClientAccessService", {"Identity": "EAS01",
                                                    "IncludeAlternateServiceAccountCredentialStatus": True}),
]


def test_sample_calls_cover_every_command():
    covered = {name for _, _, name, _ in SAMPLE_CALLS}
    assert covered == set(contract.HOST_FUNCTIONS) | set(contract.EXCHANGE_CMDLETS)


@pytest.mark.parametrize(("role", "endpoint", "function", "params"), SAMPLE_CALLS, ids=lambda v: str(v)[:30])
def test_output_shapes_follow_the_contract(role, endpoint, function, params):
    reply = make(role).invoke(function, params, endpoint)
    assert [tuple(item) for item in reply.output] == ([contract.OUTPUTS[function]] if contract.OUTPUTS[function]
                                                      else [])


def test_state_round_trips_through_yaml():
    tmg, eas = make("tmg"), make("eas")
    tmg.lsa.own_right_by_gpo("SeImpersonatePrivilege", ["S-1-5-32-544"], "Baseline")
    tmg.tmg.add_listener("L", ["10.0.0.1"], None)
    tmg.tmg.add_rule("R", "L", "eas01.test.lan", ["mail.example.com"])
    tmg.system.set_clock_offset(-400)
    tmg.latency_ms, tmg.fail_next = 25, {"Get-CertAuthClock": "boom"}
    eas.invoke("Set-ActiveSyncVirtualDirectory", {"Identity": IDENTITY, "ClientCertAuth": "Required"}, "exchange")
    eas.invoke("Remove-CertAuthAuthProvider", {"Location": VDIR, "Provider": "NTLM"})
    eas.invoke("Invoke-CertAuthIisReset")
    for host in (tmg, eas, make("seg")):
        data = host.to_dict()
        text = yaml.safe_dump(data)
        loaded = SimWindowsHost.from_dict(yaml.safe_load(text), clock=lambda: NOON)
        assert loaded.to_dict() == data
    assert web(SimWindowsHost.from_dict(eas.to_dict()), VDIR, ACCESS, "sslFlags") == \
        "Ssl,SslNegotiateCert,SslRequireCert"


def test_from_dict_keeps_role_defaults_for_keys_not_given():
    host = SimWindowsHost.from_dict({"role": "seg", "fqdn": "SEG02.test.lan",
                                     "features": ["Web-Server", "Web-Scripting-Tools", "Web-Client-Auth"]})
    assert host.fqdn == "seg02.test.lan"
    assert first(host, "Get-CertAuthWindowsFeature", Name="Web-Client-Auth")["Installed"] is True
    assert first(host, "Get-CertAuthAppPoolIdentity", Name="SecureEmailGateway")["Sid"] == "S-1-5-20"


# What the first lab files held (before the alternate service account, TMG server publishing rules and
# -WindowsAuthEnabled existed): still loaded, and answered as a host of today would.
OLD_EAS = {"role": "eas", "fqdn": "eas01.test.lan", "clock_offset": 12.0, "latency_ms": 0, "down": False,
           "fail_next": {}, "nonterminating_next": {},
           "rights": {"SeTcbPrivilege": [], "SeImpersonatePrivilege": DEFAULT_IMPERSONATE},
           "gpo_rights": {}, "app_pools": {}, "features": ["Web-Scripting-Tools", "Web-Server"],
           "iis": {"locations": ["Default Web Site", VDIR], "values": {VDIR: {ACCESS: {"sslFlags": "Ssl"}}},
                   "providers": {"": ["Negotiate", "NTLM"]}},
           "activesync_vdirs": {"Default Web Site": {"ClientCertAuth": "Required", "BasicAuthEnabled": False}},
           "iisreset": {"count": 2, "last": "2026-01-02T03:04:05Z"}, "tmg_policy": None}
OLD_TMG = {"role": "tmg", "fqdn": "tmg01.test.lan", "clock_offset": 0.0, "latency_ms": 0, "down": False,
           "fail_next": {}, "nonterminating_next": {}, "rights": {"SeTcbPrivilege": ["S-1-5-20"]}, "gpo_rights": {},
           "app_pools": {}, "features": ["NET-Framework-Core"],
           "iis": {"locations": [], "values": {}, "providers": {"": ["Negotiate", "NTLM"]}}, "activesync_vdirs": {},
           "iisreset": {"count": 0, "last": None},
           "tmg_policy": {"Listeners": [tmg_listener("L", ["10.0.0.1"], None)], "Rules": []}}


def test_a_lab_file_of_the_first_format_loads_and_is_brought_up_to_date():
    given = copy.deepcopy((OLD_EAS, OLD_TMG))
    eas, tmg = (SimWindowsHost.from_dict(data, clock=lambda: NOON) for data in given)
    assert given == (OLD_EAS, OLD_TMG)  # reading does not change the caller's data
    assert first(eas, "Get-ActiveSyncVirtualDirectory", "exchange", Identity=IDENTITY) == {
        "Identity": IDENTITY, "Server": "EAS01", "ClientCertAuth": "Required", "BasicAuthEnabled": False,
        "WindowsAuthEnabled": False}
    assert first(eas, "Get-ClientAccessService", "exchange", IncludeAlternateServiceAccountCredentialStatus=True)[
        "AlternateServiceAccountConfiguration"] == {"EffectiveCredentials": []}
    assert first(eas, "Get-CertAuthClock") == {"UtcNow": "2026-11-25T20:00:12Z"}
    assert first(tmg, "Get-CertAuthTmgPolicy")["ServerRules"] == []
    saved = eas.to_dict()
    assert tuple(saved) == SAVED_KEYS and saved["asa_credentials"] == []
    assert saved["activesync_vdirs"]["Default Web Site"]["WindowsAuthEnabled"] is False
    unchanged = [key for key in SAVED_KEYS if key not in ("activesync_vdirs", "asa_credentials")]
    assert [saved[key] for key in unchanged] == [OLD_EAS[key] for key in unchanged]


def test_the_saved_host_keeps_its_keys_in_their_order_for_every_role():
    # Lab files and <lab>.kept lines written now must read in the previous version too: same keys, same order.
    assert SAVED_KEYS == ("role", "fqdn", "clock_offset", "latency_ms", "down", "fail_next", "nonterminating_next",
                          "rights", "gpo_rights", "app_pools", "features", "iis", "activesync_vdirs", "iisreset",
                          "tmg_policy", "asa_credentials")
    for role in ("tmg", "seg", "eas"):
        assert tuple(make(role).to_dict()) == SAVED_KEYS


def test_every_command_is_answered_by_the_part_holding_its_state():
    host = make("eas")
    parts = (host.system, host.lsa, host.iis, host.exchange, host.tmg)
    own = {"Get-CertAuthState": lambda **lists: []}
    table = dispatch_table(parts, own)
    owner = {name: getattr(answer, "__self__", None) for name, answer in table.items()}
    assert owner["Get-CertAuthClock"] is host.system and owner["Get-CertAuthWindowsFeature"] is host.system
    assert owner["Grant-CertAuthUserRight"] is host.lsa and owner["Invoke-CertAuthIisReset"] is host.iis
    assert owner["Set-ActiveSyncVirtualDirectory"] is host.exchange and owner["Get-CertAuthTmgPolicy"] is host.tmg
    with pytest.raises(ValueError, match="Get-CertAuthTmgPolicy is answered twice"):
        dispatch_table(parts + (host.tmg,), own)
    with pytest.raises(ValueError, match=r"leave \['Get-CertAuthTmgPolicy'\] unanswered"):
        dispatch_table(parts[:-1], own)


# ------------------------------------------------------------------------------ faults, HostsPort
def test_fail_next_raises_once_and_changes_nothing():
    host = make("tmg")
    host.fail_once("Grant-CertAuthUserRight", "Access is denied")
    with pytest.raises(SimCommandError, match="Access is denied"):
        host.invoke("Grant-CertAuthUserRight", {"Right": "SeTcbPrivilege", "Sid": "S-1-5-20"})
    assert host.lsa.rights["SeTcbPrivilege"] == []
    assert first(host, "Grant-CertAuthUserRight", Right="SeTcbPrivilege", Sid="S-1-5-20")["After"] == ["S-1-5-20"]


def test_a_nonterminating_error_comes_back_with_the_work_done():
    host = make("eas")
    host.error_once("Set-CertAuthWebConfig", "WARNING-level trouble: config file locked briefly")
    reply = host.invoke("Set-CertAuthWebConfig", {"Location": "", "Filter": RUNTIME, "Name": "uploadReadAheadSize",
                                                  "Value": 10485760})
    assert reply.errors == ["WARNING-level trouble: config file locked briefly"]
    assert reply.first["After"] == 10485760
    assert web(host, "", RUNTIME, "uploadReadAheadSize") == 10485760


def test_sim_hosts_is_a_hosts_port_that_raises_host_error():
    tmg, eas = make("tmg"), make("eas")
    hosts = SimHosts([tmg, eas])
    port: HostsPort = hosts  # checked by mypy; the protocols are not runtime-checkable
    shell: HostShell = port.shell("eas01.test.lan")
    assert callable(hosts.close) and callable(shell.close) and shell.host == "eas01.test.lan"
    assert hosts.shell("EAS01") is not shell and hosts.shell("eas01.test.lan") is shell  # one shell per name
    assert shell.invoke("Get-CertAuthClock").first == {"UtcNow": "2026-11-25T20:00:00Z"}

    eas.error_once("Get-CertAuthClock", "the clock is odd")
    with pytest.raises(HostError, match=r"^eas01.test.lan: Get-CertAuthClock: the clock is odd$"):
        shell.invoke("Get-CertAuthClock")
    with pytest.raises(HostError, match="Get-CertAuthUserRight: .*does not belong to the set"):
        shell.invoke("Get-CertAuthUserRight", {"Right": "SeBackupPrivilege"})
    with pytest.raises(HostError, match="cannot connect: .*HTTP 404"):
        hosts.shell("tmg01.test.lan").invoke("Get-ActiveSyncVirtualDirectory", {}, endpoint="exchange")
    with pytest.raises(ValueError, match="unknown endpoint"):
        shell.invoke("Get-CertAuthClock", endpoint="ecp")

    eas.down = True
    with pytest.raises(HostError, match="^eas01.test.lan: cannot connect"):
        shell.invoke("Get-CertAuthClock")
    with pytest.raises(HostError, match="^eas09.test.lan: cannot connect: cannot resolve the host name eas09"):
        hosts.shell("eas09.test.lan").invoke("Get-CertAuthClock")


def test_latency_beyond_the_timeout_is_a_host_error():
    slept: list[float] = []
    host = make("seg", sleep=slept.append)
    host.latency_ms = 2500
    shell = SimHosts([host]).shell("seg01.test.lan")
    assert shell.invoke("Get-CertAuthClock", timeout=5).first["UtcNow"] == "2026-11-25T20:00:00Z"
    with pytest.raises(HostError, match="Get-CertAuthClock did not finish within 1 s"):
        shell.invoke("Get-CertAuthClock", timeout=1)
    assert slept == [2.5, 1.0]
    with pytest.raises(SimTimeout):
        host.invoke("Get-CertAuthClock", timeout=0.5)


def test_dispatch_is_the_endpoint_hook():
    eas = make("eas")
    hosts = SimHosts({"eas01.test.lan": eas})
    reply = hosts.dispatch("eas01.test.lan", "Get-ActiveSyncVirtualDirectory", {}, "exchange")
    assert [item["Identity"] for item in reply.output] == [IDENTITY]
    assert eas.calls[-1] == ("exchange", "Get-ActiveSyncVirtualDirectory", {})

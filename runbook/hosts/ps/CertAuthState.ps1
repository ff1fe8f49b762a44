#Requires -Version 3.0
# Every value one step reads on this host, in one call (steps 5a, 5b, 6a, 6b): a round trip per host
# and step instead of one per value; a verify-all asks once per host for what all its steps read (with
# -TmgPolicy, steps 1 and 2's TMG policy too). Each item is answered by the single-value function of
# CertAuthHost.ps1 / CertAuthIis.ps1 / CertAuthTmg.ps1 that a step would otherwise call on its own, so the
# values, their validation and their errors are exactly that function's.
#
# Contract: runbook/hosts/ps/README.md. Nothing in this file runs when it is loaded: it only defines functions.

function ConvertTo-CertAuthTable {
    param(
        [object]$InputObject
    )

    # An object nested in a function's answer, as a hashtable. Remoting serializes output one level deep
    # (properties of the object written; an object inside them arrives as its ToString() text), while
    # hashtables and arrays are sent whole at any depth: nested items must be hashtables.
    $table = @{}
    foreach ($property in $InputObject.PSObject.Properties) {
        $table[$property.Name] = $property.Value
    }
    $table
}

function Get-CertAuthState {
    <#
    .SYNOPSIS
    User rights, Windows features, app pool identities, IIS configuration values and Windows
    Authentication providers, each list in the order asked (each item a hashtable with the single-value
    function's properties); a list nobody asked for is empty. With -TmgPolicy, TmgPolicy is what
    Get-CertAuthTmgPolicy answers (as a hashtable); without it, $null.
    #>
    [CmdletBinding()]
    param(
        [ValidateSet('SeTcbPrivilege', 'SeImpersonatePrivilege')]
        [string[]]$Right,

        [ValidatePattern('^[A-Za-z0-9][A-Za-z0-9-]*$')]
        [string[]]$Feature,

        [string[]]$AppPool,

        # Each item: @{ Location = ''; Filter = 'system.webServer/...'; Name = 'enabled' }
        [hashtable[]]$WebConfig,

        [string[]]$ProviderLocation,

        [switch]$TmgPolicy
    )

    $ErrorActionPreference = 'Stop'
    $rights = @(foreach ($name in $Right) {
        ConvertTo-CertAuthTable -InputObject (Get-CertAuthUserRight -Right $name)
    })
    $features = @(foreach ($name in $Feature) {
        ConvertTo-CertAuthTable -InputObject (Get-CertAuthWindowsFeature -Name $name)
    })
    $pools = @(foreach ($name in $AppPool) {
        ConvertTo-CertAuthTable -InputObject (Get-CertAuthAppPoolIdentity -Name $name)
    })
    $settings = @(foreach ($query in $WebConfig) {
        $setting = Get-CertAuthWebConfig -Location $query.Location -Filter $query.Filter -Name $query.Name
        ConvertTo-CertAuthTable -InputObject $setting
    })
    $providers = @(foreach ($location in $ProviderLocation) {
        ConvertTo-CertAuthTable -InputObject (Get-CertAuthAuthProviders -Location $location)
    })
    $policy = $null
    if ($TmgPolicy) {
        $policy = ConvertTo-CertAuthTable -InputObject (Get-CertAuthTmgPolicy)
    }
    [pscustomobject]@{
        Rights = $rights
        Features = $features
        AppPools = $pools
        WebConfig = $settings
        Providers = $providers
        TmgPolicy = $policy
    }
}

#Requires -Version 3.0
# Every value one step reads on this host, in one call (steps 5a, 5b, 6a, 6b): a round trip per host
# and step instead of one per value. Each item is answered by the single-value function of
# CertAuthHost.ps1 / CertAuthIis.ps1 that a step would otherwise call on its own, so the values,
# their validation and their errors are exactly that function's.
#
# Contract: runbook/ps/README.md. Nothing in this file runs when it is loaded: it only defines a function.

function Get-CertAuthState {
    <#
    .SYNOPSIS
    User rights, Windows features, app pool identities, IIS configuration values and Windows
    Authentication providers, each list in the order asked; a list nobody asked for is empty.
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

        [string[]]$ProviderLocation
    )

    $ErrorActionPreference = 'Stop'
    $rights = @(foreach ($name in $Right) {
        Get-CertAuthUserRight -Right $name
    })
    $features = @(foreach ($name in $Feature) {
        Get-CertAuthWindowsFeature -Name $name
    })
    $pools = @(foreach ($name in $AppPool) {
        Get-CertAuthAppPoolIdentity -Name $name
    })
    $settings = @(foreach ($query in $WebConfig) {
        Get-CertAuthWebConfig -Location $query.Location -Filter $query.Filter -Name $query.Name
    })
    $providers = @(foreach ($location in $ProviderLocation) {
        Get-CertAuthAuthProviders -Location $location
    })
    [pscustomobject]@{
        Rights = $rights
        Features = $features
        AppPools = $pools
        WebConfig = $settings
        Providers = $providers
    }
}

#Requires -Version 3.0
# IIS functions the runbook calls over PowerShell remoting (steps 5b, 6a, 6b): app pool identity, the
# IIS configuration values the procedure changes, Windows Authentication providers, iisreset.
#
# Contract: runbook/hosts/ps/README.md. Every configuration read and write goes to applicationHost.config
# (-PSPath MACHINE/WEBROOT/APPHOST, with -Location for a site or application), where the procedure's
# settings live and where even sections locked for web.config can be set.
#
# Every function the runbook calls is an advanced function ([CmdletBinding()]); plain functions are
# helpers. Nothing in this file runs when it is loaded: it only defines functions.

function Import-CertAuthWebAdministration {
    $ErrorActionPreference = 'Stop'
    # The IIS: drive and the *-WebConfigurationProperty cmdlets come from this module. Without it the
    # host has no IIS (or no IIS scripting tools) and the caller gets that error, not a later puzzle.
    if (-not (Get-Module -Name WebAdministration)) {
        Import-Module -Name WebAdministration
    }
}

function Assert-CertAuthIisLocation {
    param(
        [string]$Location
    )

    $ErrorActionPreference = 'Stop'
    # IIS would accept a <location> for a site that does not exist and silently configure nothing; a
    # mistyped site name must fail loudly instead. An empty location is the server level.
    if (-not $Location) {
        return
    }
    $providerPath = 'IIS:\Sites\' + $Location.Trim('/').Replace('/', '\')
    if (-not (Test-Path -LiteralPath $providerPath)) {
        throw ('IIS location {0} does not exist on {1}' -f $Location, $env:COMPUTERNAME)
    }
}

function New-CertAuthConfigQuery {
    param(
        [string]$Location,
        [string]$Filter
    )

    # Parameters shared by every *-WebConfigurationProperty call. -Location is left out for the server
    # level because the cmdlets refuse an empty string there.
    $query = @{
        PSPath = 'MACHINE/WEBROOT/APPHOST'
        Filter = $Filter
    }
    if ($Location) {
        $query.Location = $Location.Trim('/')
    }
    $query
}

function Read-CertAuthConfigValue {
    param(
        [string]$Location,
        [string]$Filter,
        [string]$Name
    )

    $ErrorActionPreference = 'Stop'
    $query = New-CertAuthConfigQuery -Location $Location -Filter $Filter
    $raw = Get-WebConfigurationProperty @query -Name $Name
    if ($null -eq $raw) {
        throw ('IIS configuration property {0} of {1} was not found at location "{2}"' -f $Name, $Filter, $Location)
    }
    # Booleans and numbers come back wrapped in a ConfigurationAttribute; flags such as sslFlags come
    # back as a plain string ('Ssl,SslNegotiateCert').
    if ($raw.PSObject.Properties['Value']) {
        return $raw.Value
    }
    $raw
}

function Test-CertAuthConfigLocal {
    param(
        [string]$Location,
        [string]$Filter,
        [string]$Name
    )

    $ErrorActionPreference = 'Stop'
    # Whether applicationHost.config sets the attribute at exactly this location, rather than the value
    # being inherited from a parent location or IIS's schema default. Undo needs it: a value that was
    # inherited is restored by removing the location's own value, not by writing the old value there.
    # The file is read as XML and walked by element names (no XPath is built from the parameters).
    $file = Join-Path -Path $env:windir -ChildPath 'System32\inetsrv\config\applicationHost.config'
    $document = New-Object -TypeName System.Xml.XmlDocument
    $document.Load($file)
    $wanted = $Location.Trim('/')
    # A typed list: `+=` on an array would enumerate an XmlElement's children instead of adding it.
    $roots = New-Object -TypeName 'System.Collections.Generic.List[System.Xml.XmlElement]'
    if (-not $wanted) {
        $roots.Add($document.DocumentElement)
    }
    foreach ($node in $document.DocumentElement.ChildNodes) {
        if ($node.LocalName -eq 'location' -and $node.GetAttribute('path').Trim('/') -eq $wanted) {
            $roots.Add($node)
        }
    }
    foreach ($root in $roots) {
        $element = $root
        foreach ($part in $Filter.Split('/')) {
            $next = $null
            foreach ($child in $element.ChildNodes) {
                if ($child.LocalName -eq $part) {
                    $next = $child
                    break
                }
            }
            $element = $next
            if ($null -eq $element) {
                break
            }
        }
        if ($null -ne $element -and $element.HasAttribute($Name)) {
            return $true
        }
    }
    $false
}

function Get-CertAuthWebConfig {
    <#
    .SYNOPSIS
    One IIS configuration value as IIS resolves it at a location (inherited values included), and
    whether the location sets it itself.
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory = $true)]
        [AllowEmptyString()]
        [string]$Location,

        [Parameter(Mandatory = $true)]
        [ValidatePattern('^system\.webServer(/[A-Za-z]+)+$')]
        [string]$Filter,

        [Parameter(Mandatory = $true)]
        [ValidatePattern('^[A-Za-z][A-Za-z0-9]*$')]
        [string]$Name
    )

    $ErrorActionPreference = 'Stop'
    Import-CertAuthWebAdministration
    Assert-CertAuthIisLocation -Location $Location
    [pscustomobject]@{
        Location = $Location
        Filter = $Filter
        Name = $Name
        Value = Read-CertAuthConfigValue -Location $Location -Filter $Filter -Name $Name
        Local = Test-CertAuthConfigLocal -Location $Location -Filter $Filter -Name $Name
    }
}

function Set-CertAuthWebConfig {
    <#
    .SYNOPSIS
    Set one IIS configuration value at a location, committed to applicationHost.config; returns the
    value before and after, so undo can restore exactly what was there.
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory = $true)]
        [AllowEmptyString()]
        [string]$Location,

        [Parameter(Mandatory = $true)]
        [ValidatePattern('^system\.webServer(/[A-Za-z]+)+$')]
        [string]$Filter,

        [Parameter(Mandatory = $true)]
        [ValidatePattern('^[A-Za-z][A-Za-z0-9]*$')]
        [string]$Name,

        [Parameter(Mandatory = $true)]
        [AllowEmptyString()]
        [object]$Value
    )

    $ErrorActionPreference = 'Stop'
    Import-CertAuthWebAdministration
    Assert-CertAuthIisLocation -Location $Location
    $before = Read-CertAuthConfigValue -Location $Location -Filter $Filter -Name $Name
    $query = New-CertAuthConfigQuery -Location $Location -Filter $Filter
    # Set-WebConfigurationProperty commits at once (no delayed-commit session is open here).
    Set-WebConfigurationProperty @query -Name $Name -Value $Value
    $after = Read-CertAuthConfigValue -Location $Location -Filter $Filter -Name $Name
    [pscustomobject]@{
        Location = $Location
        Filter = $Filter
        Name = $Name
        Before = $before
        After = $after
    }
}

function Clear-CertAuthWebConfig {
    <#
    .SYNOPSIS
    Remove a location's own value of one IIS configuration attribute, so that it inherits again from
    the parent location or IIS's default (undo of a Set-CertAuthWebConfig where the value was
    inherited before); returns the value in effect before and after.
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory = $true)]
        [AllowEmptyString()]
        [string]$Location,

        [Parameter(Mandatory = $true)]
        [ValidatePattern('^system\.webServer(/[A-Za-z]+)+$')]
        [string]$Filter,

        [Parameter(Mandatory = $true)]
        [ValidatePattern('^[A-Za-z][A-Za-z0-9]*$')]
        [string]$Name
    )

    $ErrorActionPreference = 'Stop'
    Import-CertAuthWebAdministration
    Assert-CertAuthIisLocation -Location $Location
    $before = Read-CertAuthConfigValue -Location $Location -Filter $Filter -Name $Name
    if (Test-CertAuthConfigLocal -Location $Location -Filter $Filter -Name $Name) {
        $query = New-CertAuthConfigQuery -Location $Location -Filter $Filter
        # An attribute path (section/@name) clears just that attribute at this location.
        $query.Filter = $Filter + '/@' + $Name
        Clear-WebConfiguration @query
    }
    $after = Read-CertAuthConfigValue -Location $Location -Filter $Filter -Name $Name
    [pscustomobject]@{
        Location = $Location
        Filter = $Filter
        Name = $Name
        Before = $before
        After = $after
    }
}

function Get-CertAuthProviderList {
    param(
        [string]$Location
    )

    $ErrorActionPreference = 'Stop'
    $query = New-CertAuthConfigQuery -Location $Location -Filter 'system.webServer/security/authentication/windowsAuthentication/providers'
    foreach ($item in Get-WebConfigurationProperty @query -Name 'Collection') {
        [string]$item.value
    }
}

function Get-CertAuthAuthProviders {
    <#
    .SYNOPSIS
    The Windows Authentication providers in effect at a location, in order.
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory = $true)]
        [AllowEmptyString()]
        [string]$Location
    )

    $ErrorActionPreference = 'Stop'
    Import-CertAuthWebAdministration
    Assert-CertAuthIisLocation -Location $Location
    [pscustomobject]@{
        Location = $Location
        Providers = @(Get-CertAuthProviderList -Location $Location)
    }
}

function Add-CertAuthAuthProvider {
    <#
    .SYNOPSIS
    Add one Windows Authentication provider at a location (the 401 troubleshooting fix); a provider
    already present is left as it is.
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory = $true)]
        [AllowEmptyString()]
        [string]$Location,

        [Parameter(Mandatory = $true)]
        [ValidateSet('Negotiate', 'NTLM', 'Negotiate:Kerberos', 'Negotiate:PKU2U')]
        [string]$Provider
    )

    $ErrorActionPreference = 'Stop'
    Import-CertAuthWebAdministration
    Assert-CertAuthIisLocation -Location $Location
    $before = @(Get-CertAuthProviderList -Location $Location)
    # IIS refuses a duplicate collection entry; already present means there is nothing to do.
    if ($before -notcontains $Provider) {
        $query = New-CertAuthConfigQuery -Location $Location -Filter 'system.webServer/security/authentication/windowsAuthentication/providers'
        Add-WebConfigurationProperty @query -Name '.' -Value @{ value = $Provider }
    }
    [pscustomobject]@{
        Location = $Location
        Before = $before
        After = @(Get-CertAuthProviderList -Location $Location)
    }
}

function Remove-CertAuthAuthProvider {
    <#
    .SYNOPSIS
    Remove one Windows Authentication provider at a location (undo of Add-CertAuthAuthProvider).
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory = $true)]
        [AllowEmptyString()]
        [string]$Location,

        [Parameter(Mandatory = $true)]
        [ValidateSet('Negotiate', 'NTLM', 'Negotiate:Kerberos', 'Negotiate:PKU2U')]
        [string]$Provider
    )

    $ErrorActionPreference = 'Stop'
    Import-CertAuthWebAdministration
    Assert-CertAuthIisLocation -Location $Location
    $before = @(Get-CertAuthProviderList -Location $Location)
    if ($before -contains $Provider) {
        $query = New-CertAuthConfigQuery -Location $Location -Filter 'system.webServer/security/authentication/windowsAuthentication/providers'
        Remove-WebConfigurationProperty @query -Name '.' -AtElement @{ value = $Provider }
    }
    [pscustomobject]@{
        Location = $Location
        Before = $before
        After = @(Get-CertAuthProviderList -Location $Location)
    }
}

function Get-CertAuthAppPoolIdentity {
    <#
    .SYNOPSIS
    The account an IIS application pool runs as, with its SID (step 5b: the SEG's SecureEmailGateway).
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory = $true)]
        [string]$Name
    )

    $ErrorActionPreference = 'Stop'
    Import-CertAuthWebAdministration
    # -LiteralPath: an application pool name is data, never a wildcard pattern.
    $poolPath = 'IIS:\AppPools\' + $Name
    if (-not (Test-Path -LiteralPath $poolPath)) {
        throw ('application pool {0} does not exist on {1}' -f $Name, $env:COMPUTERNAME)
    }
    $processModel = Get-ItemProperty -LiteralPath $poolPath -Name 'processModel'
    $identityType = [string]$processModel.identityType
    $userName = $null
    switch ($identityType) {
        'NetworkService' {
            $sid = 'S-1-5-20'
        }
        'LocalSystem' {
            $sid = 'S-1-5-18'
        }
        'LocalService' {
            $sid = 'S-1-5-19'
        }
        'ApplicationPoolIdentity' {
            $userName = 'IIS APPPOOL\' + $Name
        }
        'SpecificUser' {
            $userName = [string]$processModel.userName
        }
        default {
            throw ('application pool {0} has an identity type this runbook does not know: {1}' -f $Name, $identityType)
        }
    }
    if ($userName) {
        $account = New-Object -TypeName System.Security.Principal.NTAccount -ArgumentList $userName
        $sid = $account.Translate([System.Security.Principal.SecurityIdentifier]).Value
    }
    [pscustomobject]@{
        Name = $Name
        IdentityType = $identityType
        UserName = $userName
        Sid = $sid
    }
}

function Invoke-CertAuthIisReset {
    <#
    .SYNOPSIS
    Restart IIS (iisreset). Interrupts every site on the server: the runbook asks the operator first.
    #>
    [CmdletBinding()]
    param()

    $ErrorActionPreference = 'Stop'
    # WinRM is served by HTTP.sys in its own service, not by IIS, so this session survives the restart.
    $iisreset = Join-Path -Path $env:SystemRoot -ChildPath 'System32\iisreset.exe'
    if (-not (Test-Path -LiteralPath $iisreset)) {
        throw ('IIS is not installed on {0}: iisreset.exe was not found' -f $env:COMPUTERNAME)
    }
    $output = & $iisreset /restart 2>&1
    if ($LASTEXITCODE -ne 0) {
        throw ('iisreset /restart failed with exit code {0}: {1}' -f $LASTEXITCODE, ($output -join ' '))
    }
    [pscustomobject]@{
        Restarted = $true
        At = Format-CertAuthUtc -Time (Get-Date)
    }
}

#Requires -Version 3.0
# Read-only view of the Forefront TMG web listeners and web publishing rules (steps 1 and 2).
#
# Steps 1 and 2 stay manual: TMG has no write API worth the risk. This file only READS through the
# FPC.Root COM object model; it never assigns a property and never calls Save(), so running it cannot
# change the firewall policy. Contract: runbook/hosts/ps/README.md.
#
# Every function the runbook calls is an advanced function ([CmdletBinding()]); plain functions are
# helpers. Nothing in this file runs when it is loaded: it only defines functions.

function ConvertTo-CertAuthThumbprint {
    param(
        $Hash
    )

    # FPCAppliedSSLCertificate.Hash is the certificate's SHA-1 hash as bytes (some builds hand back a
    # hex string); certificate stores name certificates by its upper-case hex form.
    if ($Hash -is [string]) {
        return $Hash.Replace(' ', '').ToUpperInvariant()
    }
    (@($Hash) | ForEach-Object { '{0:X2}' -f [byte]$_ }) -join ''
}

function ConvertFrom-CertAuthTmgListener {
    param(
        $Listener
    )

    $ErrorActionPreference = 'Stop'
    $properties = $Listener.Properties

    # FpcIPSelectionMethods: 0 = every address of the network, 1 = its default address, 2 = the listed
    # addresses. Only the last gives real IPs; the others are reported as '<network>:*' and
    # '<network>:default' so the operator sees what TMG listens on.
    $ips = @(
        foreach ($ipOnNetwork in $Listener.IPsOnNetworks) {
            $method = [int]$ipOnNetwork.IPSelectionMethod
            if ($method -eq 2) {
                foreach ($address in $ipOnNetwork.IPAddresses) {
                    [string]$address
                }
            }
            elseif ($method -eq 1) {
                '{0}:default' -f $ipOnNetwork.Name
            }
            else {
                '{0}:*' -f $ipOnNetwork.Name
            }
        }
    )

    # The first applied server certificate, by subject when it is in the local machine store.
    $certificate = $null
    foreach ($applied in $properties.AppliedSSLCertificates) {
        $thumbprint = ConvertTo-CertAuthThumbprint -Hash $applied.Hash
        $stored = Get-Item -LiteralPath ('Cert:\LocalMachine\My\' + $thumbprint) -ErrorAction SilentlyContinue
        if ($stored) {
            $certificate = [string]$stored.Subject
        }
        else {
            $certificate = $thumbprint
        }
        break
    }

    # SSL only: an SSL port, and plain HTTP either off (port 0) or always redirected to HTTPS
    # (RedirectHTTPAsHTTPS = 2, 'Always').
    $requireSsl = ([int]$properties.SSLPort -gt 0) -and (([int]$properties.TCPPort -eq 0) -or ([int]$properties.RedirectHTTPAsHTTPS -eq 2))

    # The listener's 'SSL Client Certificate Authentication' method is exposed under different names by
    # ISA 2006 and TMG 2010 builds: probe the known property names, then the authentication schemes.
    $clientCertAuth = $false
    foreach ($candidate in @('SSLClientCertificateAuthentication', 'ClientCertificateAuthentication')) {
        $property = $properties.PSObject.Properties[$candidate]
        if ($property) {
            $clientCertAuth = [bool]$property.Value
            break
        }
    }
    if (-not $clientCertAuth) {
        foreach ($scheme in $properties.AuthenticationSchemes) {
            if ([string]$scheme.Name -like '*Certificate*') {
                $clientCertAuth = $true
            }
        }
    }

    [pscustomobject]@{
        Name = [string]$Listener.Name
        IPs = $ips
        Certificate = $certificate
        RequireSsl = [bool]$requireSsl
        ClientCertAuth = [bool]$clientCertAuth
    }
}

function ConvertFrom-CertAuthTmgRule {
    param(
        $Rule
    )

    $ErrorActionPreference = 'Stop'
    $publishing = $Rule.WebPublishingProperties

    $listenerName = $null
    if ($publishing.WebListenerUsed) {
        $listenerName = [string]$publishing.WebListenerUsed.Name
    }

    # An Exchange publishing rule covers several services; ActiveSync is the one whose internal path
    # is /Microsoft-Server-ActiveSync.
    $activeSync = $false
    foreach ($mapping in $publishing.PathMappings) {
        if ([string]$mapping.InternalPath -like '/Microsoft-Server-ActiveSync*') {
            $activeSync = $true
        }
    }

    $spn = [string]$publishing.ServicePrincipalName
    if (-not $spn) {
        $spn = $null
    }

    [pscustomobject]@{
        Name = [string]$Rule.Name
        Enabled = [bool]$Rule.Enabled
        Listener = $listenerName
        InternalSiteName = [string]$publishing.WebSite
        PublicNames = @(
            foreach ($publicName in $publishing.PublicNames) {
                [string]$publicName
            }
        )
        # FpcCredentialsDelegationType: 6 = Kerberos constrained delegation.
        DelegationType = [int]$publishing.CredentialsDelegationType
        Spn = $spn
        UserSets = @(
            foreach ($userSet in $publishing.UserSets) {
                [string]$userSet.Name
            }
        )
        ExchangeActiveSync = $activeSync
    }
}

function ConvertFrom-CertAuthTmgServerRule {
    param(
        $Rule
    )

    $ErrorActionPreference = 'Stop'
    $publishing = $Rule.ServerPublishingProperties
    # TMG stores the published server as an IP address; the protocol is a reference to its definition.
    $protocol = $null
    if ($publishing.PublishedProtocol) {
        $protocol = [string]$publishing.PublishedProtocol.Name
    }

    [pscustomobject]@{
        Name = [string]$Rule.Name
        Enabled = [bool]$Rule.Enabled
        PublishedServerIP = [string]$publishing.PublishedServerIP
        Protocol = $protocol
    }
}

function Get-CertAuthTmgPolicy {
    <#
    .SYNOPSIS
    The TMG array's web listeners, web publishing rules and server publishing rules, read only.
    #>
    [CmdletBinding()]
    param()

    $ErrorActionPreference = 'Stop'
    try {
        $root = New-Object -ComObject 'FPC.Root'
    }
    catch {
        throw ('Forefront TMG is not installed on {0} (COM class FPC.Root is not registered)' -f $env:COMPUTERNAME)
    }
    $array = $root.GetContainingArray()

    # Each listener and rule as a hashtable (ConvertTo-CertAuthTable, CertAuthState.ps1): remoting would
    # send an object nested in the answer as its ToString() text.
    $listeners = @(
        foreach ($listener in $array.RuleElements.WebListeners) {
            ConvertTo-CertAuthTable -InputObject (ConvertFrom-CertAuthTmgListener -Listener $listener)
        }
    )
    # FpcPolicyRuleTypes: 2 = web publishing, 1 = server publishing (the chains where TMG passes TLS
    # through); access rules are not ours to show.
    $rules = @(
        foreach ($rule in $array.ArrayPolicy.PolicyRules) {
            if ([int]$rule.Type -eq 2) {
                ConvertTo-CertAuthTable -InputObject (ConvertFrom-CertAuthTmgRule -Rule $rule)
            }
        }
    )
    $serverRules = @(
        foreach ($rule in $array.ArrayPolicy.PolicyRules) {
            if ([int]$rule.Type -eq 1) {
                ConvertTo-CertAuthTable -InputObject (ConvertFrom-CertAuthTmgServerRule -Rule $rule)
            }
        }
    )
    [pscustomobject]@{
        Listeners = $listeners
        Rules = $rules
        ServerRules = $serverRules
    }
}

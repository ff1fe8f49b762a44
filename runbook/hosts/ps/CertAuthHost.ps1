#Requires -Version 3.0
# Host-level functions the runbook calls over PowerShell remoting: clock, local user rights, Windows features.
#
# Contract (names, parameters, output properties): runbook/hosts/ps/README.md. The rehearsal lab's
# runbook/lab/windows_host.py answers the same calls; tests/test_ps_scripts.py keeps the two in step.
#
# Every function the runbook calls is an advanced function ([CmdletBinding()]); plain functions are
# helpers and not part of the contract. Nothing in this file runs when it is loaded: it only defines
# functions, so loading it into a runspace changes nothing on the host.

function Format-CertAuthUtc {
    param(
        [datetime]$Time
    )

    # One textual form for every timestamp we return: ISO 8601, UTC, whole seconds. A string rather than
    # a [datetime] so the value does not change meaning with the client's time zone after deserialisation.
    $Time.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", [System.Globalization.CultureInfo]::InvariantCulture)
}

function Get-CertAuthClock {
    <#
    .SYNOPSIS
    The host's clock in UTC, for the Kerberos clock-skew check (at most 5 minutes against the DC).
    #>
    [CmdletBinding()]
    param()

    $ErrorActionPreference = 'Stop'
    [pscustomobject]@{
        UtcNow = Format-CertAuthUtc -Time (Get-Date)
    }
}

function ConvertTo-CertAuthSid {
    param(
        [string]$Entry
    )

    $ErrorActionPreference = 'Stop'
    # secedit writes '*S-1-5-20' for accounts it stores by SID and a plain name for the few it stores by
    # name; callers compare SIDs, so names are translated, and kept as written if they no longer resolve.
    $trimmed = $Entry.Trim()
    if ($trimmed.StartsWith('*')) {
        return $trimmed.Substring(1)
    }
    try {
        $account = New-Object -TypeName System.Security.Principal.NTAccount -ArgumentList $trimmed
        return $account.Translate([System.Security.Principal.SecurityIdentifier]).Value
    }
    catch {
        return $trimmed
    }
}

function Get-CertAuthRightHolder {
    param(
        [string]$Right
    )

    $ErrorActionPreference = 'Stop'
    # secedit exports the effective local policy, including what domain GPOs have applied, which is what
    # the operator must see. The temporary file is ours alone and removed whatever happens.
    $exportPath = [System.IO.Path]::GetTempFileName()
    try {
        $secedit = Join-Path -Path $env:SystemRoot -ChildPath 'System32\secedit.exe'
        $seceditOutput = & $secedit /export /areas USER_RIGHTS /cfg $exportPath /quiet 2>&1
        if ($LASTEXITCODE -ne 0) {
            throw ('secedit /export failed with exit code {0}: {1}' -f $LASTEXITCODE, ($seceditOutput -join ' '))
        }
        foreach ($line in Get-Content -LiteralPath $exportPath) {
            if ($line -match '^\s*(\w+)\s*=\s*(.*)$' -and $Matches[1] -eq $Right) {
                foreach ($entry in ($Matches[2] -split ',')) {
                    if ($entry.Trim()) {
                        ConvertTo-CertAuthSid -Entry $entry
                    }
                }
            }
        }
    }
    finally {
        Remove-Item -LiteralPath $exportPath -Force -ErrorAction SilentlyContinue
    }
}

function Get-CertAuthRightGpo {
    param(
        [string]$Right
    )

    $ErrorActionPreference = 'Stop'
    # Best effort: the RSoP data Windows logs at each policy refresh names the GPO that won each user
    # right (precedence 1). The local policy object ('LocalGPO') is what we edit ourselves, so it does
    # not count as a GPO owning the right. Filtering happens here, not in a WQL string, so no value is
    # ever formatted into a query.
    try {
        $setting = Get-CimInstance -Namespace 'root\rsop\computer' -ClassName 'RSOP_UserPrivilegeRight' |
            Where-Object { $_.UserRight -eq $Right -and $_.precedence -eq 1 } |
            Select-Object -First 1
    }
    catch {
        Write-Warning ('RSoP data is not available, so GPO ownership of {0} is unknown: {1}' -f $Right, $_.Exception.Message)
        return $null
    }
    if (-not $setting -or $setting.GPOID -eq 'LocalGPO') {
        return $null
    }
    $gpo = Get-CimInstance -Namespace 'root\rsop\computer' -ClassName 'RSOP_GPO' |
        Where-Object { $_.id -eq $setting.GPOID } |
        Select-Object -First 1
    if ($gpo -and $gpo.name) {
        return [string]$gpo.name
    }
    return [string]$setting.GPOID
}

function Get-CertAuthUserRight {
    <#
    .SYNOPSIS
    Who holds a user right (SIDs), and whether a domain GPO owns it.
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory = $true)]
        [ValidateSet('SeTcbPrivilege', 'SeImpersonatePrivilege')]
        [string]$Right
    )

    $ErrorActionPreference = 'Stop'
    $holders = @(Get-CertAuthRightHolder -Right $Right)
    $gpoName = Get-CertAuthRightGpo -Right $Right
    [pscustomobject]@{
        Right = $Right
        Holders = $holders
        GpoOwned = ($null -ne $gpoName)
        GpoName = $gpoName
    }
}

function Initialize-CertAuthLsa {
    $ErrorActionPreference = 'Stop'
    # LsaAddAccountRights / LsaRemoveAccountRights change one account on one right and leave every other
    # holder alone, as Ansible's win_user_right does. 'secedit /configure' with a hand-made template would
    # replace the whole list instead. The C# source is a constant: no value is ever formatted into it;
    # the SID and the right travel as method arguments.
    if ('CertAuthRunbook.LsaRights' -as [type]) {
        return
    }
    $source = @'
using System;
using System.ComponentModel;
using System.Runtime.InteropServices;
using System.Security.Principal;

namespace CertAuthRunbook
{
    public static class LsaRights
    {
        [StructLayout(LayoutKind.Sequential, CharSet = CharSet.Unicode)]
        private struct LSA_UNICODE_STRING
        {
            public ushort Length;
            public ushort MaximumLength;
            [MarshalAs(UnmanagedType.LPWStr)]
            public string Buffer;
        }

        [StructLayout(LayoutKind.Sequential)]
        private struct LSA_OBJECT_ATTRIBUTES
        {
            public int Length;
            public IntPtr RootDirectory;
            public IntPtr ObjectName;
            public int Attributes;
            public IntPtr SecurityDescriptor;
            public IntPtr SecurityQualityOfService;
        }

        private const int POLICY_CREATE_ACCOUNT = 0x00000010;
        private const int POLICY_LOOKUP_NAMES = 0x00000800;
        private const uint STATUS_OBJECT_NAME_NOT_FOUND = 0xC0000034;

        [DllImport("advapi32.dll")]
        private static extern uint LsaOpenPolicy(IntPtr systemName, ref LSA_OBJECT_ATTRIBUTES objectAttributes, int desiredAccess, out IntPtr policyHandle);

        [DllImport("advapi32.dll")]
        private static extern uint LsaAddAccountRights(IntPtr policyHandle, byte[] accountSid, LSA_UNICODE_STRING[] userRights, int countOfRights);

        [DllImport("advapi32.dll")]
        private static extern uint LsaRemoveAccountRights(IntPtr policyHandle, byte[] accountSid, [MarshalAs(UnmanagedType.U1)] bool allRights, LSA_UNICODE_STRING[] userRights, int countOfRights);

        [DllImport("advapi32.dll")]
        private static extern uint LsaClose(IntPtr policyHandle);

        [DllImport("advapi32.dll")]
        private static extern int LsaNtStatusToWinError(uint status);

        public static void Add(string sid, string right)
        {
            Change(sid, right, true);
        }

        public static void Remove(string sid, string right)
        {
            Change(sid, right, false);
        }

        private static void Change(string sid, string right, bool add)
        {
            SecurityIdentifier identifier = new SecurityIdentifier(sid);
            byte[] sidBytes = new byte[identifier.BinaryLength];
            identifier.GetBinaryForm(sidBytes, 0);

            LSA_UNICODE_STRING[] rights = new LSA_UNICODE_STRING[1];
            rights[0].Buffer = right;
            rights[0].Length = (ushort)(right.Length * 2);
            rights[0].MaximumLength = (ushort)((right.Length + 1) * 2);

            LSA_OBJECT_ATTRIBUTES attributes = new LSA_OBJECT_ATTRIBUTES();
            attributes.Length = Marshal.SizeOf(typeof(LSA_OBJECT_ATTRIBUTES));
            IntPtr policy;
            Check(LsaOpenPolicy(IntPtr.Zero, ref attributes, POLICY_CREATE_ACCOUNT | POLICY_LOOKUP_NAMES, out policy), "LsaOpenPolicy");
            try
            {
                if (add)
                {
                    Check(LsaAddAccountRights(policy, sidBytes, rights, 1), "LsaAddAccountRights");
                }
                else
                {
                    uint status = LsaRemoveAccountRights(policy, sidBytes, false, rights, 1);
                    // An account that holds no right at all is not in the LSA database: nothing to remove.
                    if (status != STATUS_OBJECT_NAME_NOT_FOUND)
                    {
                        Check(status, "LsaRemoveAccountRights");
                    }
                }
            }
            finally
            {
                LsaClose(policy);
            }
        }

        private static void Check(uint status, string call)
        {
            if (status != 0)
            {
                int win32 = LsaNtStatusToWinError(status);
                throw new Win32Exception(win32, call + " failed: " + new Win32Exception(win32).Message);
            }
        }
    }
}
'@
    Add-Type -TypeDefinition $source -Language CSharp
}

function Grant-CertAuthUserRight {
    <#
    .SYNOPSIS
    Add one SID to one user right, keeping every other holder; returns the holders before and after.
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory = $true)]
        [ValidateSet('SeTcbPrivilege', 'SeImpersonatePrivilege')]
        [string]$Right,

        [Parameter(Mandatory = $true)]
        [ValidatePattern('^S-1-\d+(-\d+)+$')]
        [string]$Sid
    )

    $ErrorActionPreference = 'Stop'
    $before = @(Get-CertAuthRightHolder -Right $Right)
    if ($before -notcontains $Sid) {
        Initialize-CertAuthLsa
        [CertAuthRunbook.LsaRights]::Add($Sid, $Right)
    }
    # Read back rather than assume: a domain GPO that owns the right shows its own list here.
    $after = @(Get-CertAuthRightHolder -Right $Right)
    [pscustomobject]@{
        Right = $Right
        Before = $before
        After = $after
    }
}

function Revoke-CertAuthUserRight {
    <#
    .SYNOPSIS
    Remove one SID from one user right, keeping every other holder; returns the holders before and after.
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory = $true)]
        [ValidateSet('SeTcbPrivilege', 'SeImpersonatePrivilege')]
        [string]$Right,

        [Parameter(Mandatory = $true)]
        [ValidatePattern('^S-1-\d+(-\d+)+$')]
        [string]$Sid
    )

    $ErrorActionPreference = 'Stop'
    $before = @(Get-CertAuthRightHolder -Right $Right)
    if ($before -contains $Sid) {
        Initialize-CertAuthLsa
        [CertAuthRunbook.LsaRights]::Remove($Sid, $Right)
    }
    $after = @(Get-CertAuthRightHolder -Right $Right)
    [pscustomobject]@{
        Right = $Right
        Before = $before
        After = $after
    }
}

function Get-CertAuthWindowsFeature {
    <#
    .SYNOPSIS
    Whether one Windows feature (role service) is installed, e.g. Web-Client-Auth.
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory = $true)]
        [ValidatePattern('^[A-Za-z0-9][A-Za-z0-9-]*$')]
        [string]$Name
    )

    $ErrorActionPreference = 'Stop'
    # Windows Server 2008 R2 (the TMG platform) does not auto-load ServerManager. The pattern above keeps
    # wildcards out: Get-WindowsFeature would otherwise answer for a whole family of features.
    Import-Module -Name ServerManager
    $feature = Get-WindowsFeature -Name $Name
    if (-not $feature) {
        throw ('Windows feature {0} is not known on {1}' -f $Name, $env:COMPUTERNAME)
    }
    [pscustomobject]@{
        Name = [string]$feature.Name
        Installed = [bool]$feature.Installed
    }
}

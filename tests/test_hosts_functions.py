"""runbook.hosts.functions: which shipped function files a call needs (synthetic files: the edge cases)."""
from __future__ import annotations

from runbook.hosts.functions import FunctionFiles

HELPERS = """function Get-Helper {
    'h'
}

function Get-Other {
    'o'
}
"""

MAIN = """function Get-Main {
    <#
    .SYNOPSIS
    Mentions Get-Other in its help, which is no call.
    #>
    param(
        [string[]]$Item,
        [switch]$More,
        [string[]]$Defaulted = @('x'),
        [string[]]$Assigned
    )
    # Get-Other in a comment line is no call either.
    $Assigned = @('y')
    $a = @(foreach ($i in $Item) { Get-Helper })
    if ($More) { Get-Other }
    foreach ($d in $Defaulted) { Get-Helper }
    foreach ($s in $Assigned) { Get-Other }
}
"""

FILES = FunctionFiles([("Helpers.ps1", HELPERS), ("Main.ps1", MAIN)])


def test_unknown_function_loads_every_file():
    assert FILES.needed("Get-Unknown", {}) == ["Helpers.ps1", "Main.ps1"]


def test_a_helper_alone():
    assert FILES.needed("get-helper", {}) == ["Helpers.ps1"]


def test_blocks_guarded_by_a_parameter_not_passed_are_left_out():
    main_only = FunctionFiles([("Helpers.ps1", HELPERS), ("Main.ps1", MAIN.replace(
        "    foreach ($d in $Defaulted) { Get-Helper }\n    foreach ($s in $Assigned) { Get-Other }\n", ""))])
    assert main_only.needed("Get-Main", {}) == ["Main.ps1"]  # comments name Get-Other: not a call
    assert main_only.needed("Get-Main", {"Item": ["a"]}) == ["Helpers.ps1", "Main.ps1"]
    assert main_only.needed("Get-Main", {"More": True}) == ["Helpers.ps1", "Main.ps1"]


def test_a_parameter_with_a_default_or_assigned_is_no_guard():
    assert FILES.needed("Get-Main", {}) == ["Helpers.ps1", "Main.ps1"]


def test_unbalanced_braces_keep_the_call():
    broken = FunctionFiles([("Helpers.ps1", HELPERS), ("Main.ps1", "function Get-Main {\n    param([string[]]$Item)\n"
                                                       "    foreach ($i in $Item) { Get-Helper\n")])
    assert broken.needed("Get-Main", {}) == ["Helpers.ps1", "Main.ps1"]

"""How a change and its revert read: each in its own direction, a restart once at the end."""
from __future__ import annotations

from runbook.flow.changes import Change, revert_order

UAC = Change(kind="ldap-uac", target="TMG01$", attribute="userAccountControl", op="set", before=0x1000,
             after=0x1001000, note="+TRUSTED_TO_AUTH_FOR_DELEGATION")
ADDED = Change(kind="ldap-values", target="TMG01$", attribute="msDS-AllowedToDelegateTo", op="add",
               values=["http/seg01.test.lan", "http/seg01"], before=[], after=["http/seg01.test.lan", "http/seg01"])
RESET = Change(kind="iisreset", target="eas01.test.lan", attribute="iisreset", op="action", note="restarts IIS")


def test_a_revert_reads_from_what_is_live_to_what_comes_back() -> None:
    assert UAC.describe() == "TMG01$ userAccountControl: 0x1000 → 0x1001000 (+TRUSTED_TO_AUTH_FOR_DELEGATION)"
    assert UAC.revert_describe() == \
        "revert TMG01$ userAccountControl: 0x1001000 → 0x1000 (-TRUSTED_TO_AUTH_FOR_DELEGATION)"
    assert ADDED.revert_describe() == "revert TMG01$ msDS-AllowedToDelegateTo: - http/seg01.test.lan, - http/seg01"
    removed = Change(kind="ldap-values", target="TMG01$", attribute="msDS-AllowedToDelegateTo", op="remove",
                     values=["http/eas01"])
    assert removed.revert_describe() == "revert TMG01$ msDS-AllowedToDelegateTo: + http/eas01"


def test_a_value_already_live_says_only_that_value() -> None:
    setting = Change(kind="web-config", target="eas01.test.lan", attribute="serverRuntime.uploadReadAheadSize",
                     op="set", before=49152, after=10485760)
    assert setting.describe_already() == "eas01.test.lan serverRuntime.uploadReadAheadSize: already 10485760"


def test_undo_order_is_newest_first_with_one_restart_at_the_end() -> None:
    assert revert_order([UAC, RESET, ADDED, RESET]) == [ADDED, UAC, RESET]
    assert RESET.revert_describe() == "eas01.test.lan: iisreset again (restarts IIS)"

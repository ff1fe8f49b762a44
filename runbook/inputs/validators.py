"""Field-level checks used by the params schema. Each returns None when fine, else what is expected."""
from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlparse

_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
_NETBIOS = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,14}$")
_SAM_FORBIDDEN = set('"/\\[]:;|=,+*?<>@')
IIS_SITE_FORBIDDEN = set("\\/?;:@&=+$,|\"<>*'")


def dns_name(value: object, *, fully_qualified: bool = True) -> str | None:
    expected = "a fully qualified DNS name like eas01.test.lan" if fully_qualified else "a DNS name"
    if not isinstance(value, str) or not value:
        return expected
    if "*" in value:
        return f"{expected}; wildcards belong only in the TMG rule, never in AD"
    name = value[:-1] if value.endswith(".") else value
    labels = name.split(".")
    if len(name) > 253 or not all(_LABEL.match(label) for label in labels):
        return expected
    if fully_qualified and len(labels) < 2:
        return expected
    return None


def computer_name(value: object) -> str | None:
    if not isinstance(value, str) or not _NETBIOS.match(value):
        return "a computer (NetBIOS) name: 1-15 letters, digits or hyphens, without the trailing $"
    return None


def account_name(value: object) -> str | None:
    if not isinstance(value, str) or not value or len(value.rstrip("$")) > 20:
        return "an account's sAMAccountName (1-20 characters)"
    if _SAM_FORBIDDEN & set(value):
        return 'an account\'s sAMAccountName (none of " / \\ [ ] : ; | = , + * ? < > @)'
    return None


def iis_site(value: object) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return "an IIS site name"
    if IIS_SITE_FORBIDDEN & set(value):
        return "an IIS site name (none of \\ / ? ; : @ & = + $ , | \" < > * ')"
    return None


def url(value: object) -> str | None:
    if not isinstance(value, str):
        return "an http(s) URL"
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        return "an http(s) URL"
    return None


def ip_address(value: object) -> str | None:
    try:
        ipaddress.ip_address(str(value))
    except ValueError:
        return "an IPv4 or IPv6 address"
    return None


def port(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        return "a TCP port number (1-65535)"
    return None


def text(value: object) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return "a non-empty text"
    return None


_SID = re.compile(r"^S-1-\d+(-\d+)+$", re.IGNORECASE)


def sid(value: object) -> str | None:
    if not isinstance(value, str) or not _SID.match(value):
        return "a SID like S-1-5-20"
    return None


# Characters that can rewrite what another operator's terminal shows (ESC sequences, bidi overrides) or hide text
# (zero-width): never accepted in anything an operator typed that other operators will read.
_INVISIBLE = set("\u200b\u200c\u200d\u2060\ufeff\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
MAX_TEXT = 2000


def unsafe_text(value: str, limit: int = MAX_TEXT) -> str | None:
    """Why `value` may not be shown to other operators as typed, or None."""
    if len(value) > limit:
        return f"{len(value)} characters is too long (at most {limit})"
    for char in value:
        code = ord(char)
        if code < 0x20 or 0x7f <= code < 0xa0:
            return f"contains the control character U+{code:04X} (line breaks, tabs and escapes are not accepted)"
        if char in _INVISIBLE:
            return f"contains the invisible or bidi character U+{code:04X}"
    return None

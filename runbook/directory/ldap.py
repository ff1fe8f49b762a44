"""`DirectoryPort` on a real Active Directory, with ldap3.

* TLS always validated: LDAPS (636) or StartTLS, `ssl.CERT_REQUIRED`, the params' `ca_file` or the
  system trust store, and the DC's name checked against the certificate. Plain LDAP (`tls: none`)
  only with an explicit `insecure=True` (the CLI's `--insecure`).
* Simple bind with `bind_user` + password, or SASL GSSAPI from the operator's ticket cache when
  `bind_user` is None. The password is used for the binds in `connect` and then dropped: it is never
  logged, never kept on this object (ldap3's copy is cleared after the bind).
* One connection to the DC, reused; a second one to the Global Catalog for forest-wide SPN searches
  (falls back to the domain with a note in `warnings` when the GC port does not answer).
* Every failure becomes a `DirectoryError` (the subclasses live in `runbook.errors`, shared with the
  rehearsal lab, and are re-exported here) with a message an operator can act on; ldap3 exceptions
  never escape.
* Opening and binding live in `runbook.directory.connect`, the mapping of failures to messages in
  `runbook.directory.errors`; this module holds the port's operations.
"""
from __future__ import annotations

import datetime as dt
import difflib
import logging
import re
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Iterator

from runbook.directory.connect import all_texts, first_text, open_connections, root_dse, unbind_quietly, whole_seconds
from runbook.directory.errors import map_exception
from runbook.errors import (
    DELEGATION_ATTRIBUTES,
    DirectoryAccessDenied,
    DirectoryBindError,
    DirectoryError,
    DirectoryTimeout,
    DirectoryTlsError,
    DirectoryUnreachable,
    DriftError,
    DuplicateSpn,
    NoSuchObject,
    ValueAlreadyPresent,
    ValueNotPresent,
    uac_drift_message,
    write_access_hint,
)
from runbook.flow.ports import DEFAULT_TIMEOUT, Account
from runbook.flow.settings import DirectorySettings

if TYPE_CHECKING:  # ldap3 itself loads with the first connection
    from ldap3 import Connection

log = logging.getLogger(__name__)

__all__ = [
    "LdapDirectory",
    "DirectoryUnreachable",
    "DirectoryTlsError",
    "DirectoryTimeout",
    "DirectoryBindError",
    "DirectoryAccessDenied",
    "DuplicateSpn",
    "ValueAlreadyPresent",
    "ValueNotPresent",
    "NoSuchObject",
]


_ACCOUNT_ATTRIBUTES = [
    "sAMAccountName",
    "userAccountControl",
    "msDS-AllowedToDelegateTo",
    "servicePrincipalName",
    "dNSHostName",
]
_SIMILAR_LIMIT = 5000  # similar_accounts never reads more names than this
_CURRENT_TIME = re.compile(r"^(\d{14})(?:\.\d+)?Z$")


class LdapDirectory:
    """Active Directory over ldap3; see the module docstring. Create it with `LdapDirectory.connect`."""

    def __init__(self, settings: DirectorySettings, conn: Connection, gc_conn: Connection | None, base_dn: str,
                 warnings: list[str], acting_as: str | None = None):
        self.settings = settings
        # Who the DC sees: the bind user, or the Kerberos principal of the operator's ticket (journaled).
        self.acting_as = acting_as or settings.bind_user
        self._conn = conn
        self._gc = gc_conn
        self.base_dn = base_dn
        self.warnings = warnings

    def __repr__(self) -> str:
        return (
            f"LdapDirectory(server={self.settings.server!r}, port={self.settings.port}, tls={self.settings.tls!r}, "
            f"bind_user={self.settings.bind_user!r})"
        )

    # ------------------------------------------------------------------ connecting

    @classmethod
    def connect(
        cls,
        settings: DirectorySettings,
        password: str | None,
        *,
        insecure: bool = False,
        timeout: float = 15.0,
    ) -> LdapDirectory:
        """Open, secure and bind one connection to the DC (and one to the Global Catalog)."""
        return cls(settings, *open_connections(settings, password, insecure=insecure, timeout=timeout))

    def close(self) -> None:
        for conn in (self._gc, self._conn):
            unbind_quietly(conn)
        self._gc = None

    def __enter__(self) -> LdapDirectory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ plumbing

    def _where(self, port: int | None = None) -> str:
        return f"{self.settings.server}:{port or self.settings.port}"

    @contextmanager
    def _op(self, conn: Connection | None, port: int, timeout: float, what: str) -> Iterator[Connection]:
        """Run one LDAP operation on `conn` (handed back open) with a per-call timeout; map ldap3/socket exceptions."""
        if conn is None or conn.closed:
            raise DirectoryUnreachable(
                f"the connection to {self.settings.server}:{port} is closed (lost after an earlier error); "
                "reconnect to the DC and retry"
            )
        sock = getattr(conn, "socket", None)
        if sock is not None:
            try:
                sock.settimeout(timeout)
            except OSError:
                pass
        try:
            yield conn
        except DirectoryError:
            raise
        except Exception as exc:  # ldap3 raises many exception types; none may escape
            raise map_exception(exc, self.settings, port, timeout, what) from None

    def _search(self, base: str, filt: str, attributes: list[str], *, scope: str, timeout: float, what: str,
                gc: bool = False, size_limit: int = 0) -> list[dict[str, Any]]:
        from ldap3 import BASE, SUBTREE

        conn = self._gc if gc else self._conn
        port = self.settings.gc_port if gc else self.settings.port
        with self._op(conn, port, timeout, what) as live:
            live.search(
                base, filt, search_scope=BASE if scope == "base" else SUBTREE, attributes=attributes,
                size_limit=size_limit, time_limit=whole_seconds(timeout),
            )
        result = live.result or {}
        code = result.get("description", "")
        if code not in ("success", "sizeLimitExceeded"):
            raise self._result_error(result, what=what, dn=base)
        return [entry for entry in live.response or [] if entry.get("type") == "searchResEntry"]

    def _modify(self, dn: str, changes: dict[str, Any], *, timeout: float, what: str) -> dict[str, Any]:
        with self._op(self._conn, self.settings.port, timeout, what):
            self._conn.modify(dn, changes)  # type: ignore[no-untyped-call]  # ldap3's stubs leave modify unannotated
        result: dict[str, Any] = self._conn.result or {}
        return result

    def _result_error(self, result: dict[str, Any], *, what: str, dn: str, attribute: str = "",
                      values: list[str] | None = None) -> DirectoryError:
        code = result.get("description") or f"result {result.get('result')}"
        message = (result.get("message") or "").strip()
        server = f"{code}: {message}" if message else code
        values = values or []
        shown = ", ".join(values)
        if code == "insufficientAccessRights" or (
            code == "constraintViolation" and attribute.lower() in DELEGATION_ATTRIBUTES
        ):
            who = self.acting_as or "the Kerberos bind account"
            why = write_access_hint([attribute] if attribute else [], dn)
            return DirectoryAccessDenied(f"{what}: {who} may not change {attribute or dn} on {dn} ({server}); {why}")
        if code == "constraintViolation" and attribute.lower() == "serviceprincipalname":
            holders = []
            for value in values:
                try:
                    holders += [f"{value} is held by {owner}" for owner in self.spn_owners(value, timeout=10)]
                except DirectoryError:
                    pass
            held = "; ".join(holders) if holders else "another account already holds it"
            return DuplicateSpn(
                f"{what}: AD refused servicePrincipalName {shown} on {dn}: duplicate SPN ({held}). An SPN may "
                f"live on exactly one account: remove it from the other account first (setspn -D), or use that "
                f"account ({server})",
                values,
                holders,
            )
        if code == "attributeOrValueExists":
            present = self._present_values(dn, attribute, values)
            return ValueAlreadyPresent(f"{what}: {attribute} of {dn} already holds {', '.join(present)} ({server})")
        if code == "noSuchAttribute":
            return ValueNotPresent(f"{what}: {attribute} of {dn} does not hold {shown} ({server})")
        if code == "noSuchObject":
            return NoSuchObject(f"{what}: no object {dn} in {self._where()} (renamed, moved or deleted?) ({server})")
        if code in ("timeLimitExceeded", "busy", "unavailable"):
            return DirectoryTimeout(f"{what}: {self._where()} answered {server}")
        if code == "strongerAuthRequired":
            return DirectoryBindError(
                f"{what}: {self._where()} requires an encrypted connection ({server}); use tls: ldaps or starttls"
            )
        if code == "constraintViolation":
            return DirectoryError(f"{what}: AD refused {attribute} {shown} on {dn} ({server})")
        return DirectoryError(f"{what}: {self._where()} answered {server}")

    def _present_values(self, dn: str, attribute: str, values: list[str]) -> list[str]:
        """Which of `values` the attribute already holds (AD's own message gives only a value number)."""
        try:
            entries = self._search(dn, "(objectClass=*)", [attribute], scope="base", timeout=10,
                                   what=f"reading {attribute} of {dn}")
        except DirectoryError:
            return values
        live = set(all_texts(entries[0]["raw_attributes"].get(attribute))) if entries else set()
        present = [value for value in values if value in live]
        repeated = [value for index, value in enumerate(values) if value in values[:index]]
        return present + [f"{value} (given twice)" for value in repeated if value not in present] or values

    # ------------------------------------------------------------------ DirectoryPort

    def find_account(self, name: str, *, timeout: float = DEFAULT_TIMEOUT) -> Account | None:
        from ldap3.utils.conv import escape_filter_chars

        name = name.strip()
        if not name:
            return None
        bare = name[:-1] if name.endswith("$") else name
        candidates = [name] if name.endswith("$") else [name, name + "$"]
        filt = "(&(objectClass=user)(|{}))".format(
            "".join(f"(sAMAccountName={escape_filter_chars(c)})" for c in candidates)
        )
        entries = self._search(self.base_dn, filt, _ACCOUNT_ATTRIBUTES, scope="sub", timeout=timeout,
                               what=f"looking up account {name}", size_limit=5)
        if not entries:
            return None

        def sam(entry: dict[str, Any]) -> str:
            return first_text(entry["raw_attributes"].get("sAMAccountName")) or ""

        # An exact name wins ('TMG01' the user over 'TMG01$' the computer); else the computer.
        entries.sort(key=lambda e: (sam(e).lower() != name.lower(), sam(e).lower() != bare.lower() + "$"))
        entry = entries[0]
        attrs = entry["raw_attributes"]
        uac_text = first_text(attrs.get("userAccountControl")) or "0"
        return Account(
            dn=entry["dn"],
            sam_account_name=sam(entry),
            user_account_control=int(uac_text),
            allowed_to_delegate_to=all_texts(attrs.get("msDS-AllowedToDelegateTo")),
            service_principal_names=all_texts(attrs.get("servicePrincipalName")),
            dns_host_name=first_text(attrs.get("dNSHostName")),
        )

    def similar_accounts(self, name: str, *, timeout: float = DEFAULT_TIMEOUT) -> list[str]:
        from ldap3 import SUBTREE

        wanted = name.strip().rstrip("$").lower()
        if not wanted:
            return []
        names: list[str] = []
        what = f"looking for accounts named like {name}"
        filt = "(&(objectClass=user)(|(objectCategory=computer)(objectCategory=person)))"
        with self._op(self._conn, self.settings.port, timeout, what):
            entries = self._conn.extend.standard.paged_search(
                self.base_dn, filt, search_scope=SUBTREE, attributes=["sAMAccountName"], paged_size=500,
                generator=True, time_limit=whole_seconds(timeout),
            )
            for entry in entries:
                if entry.get("type") != "searchResEntry":
                    continue
                value = first_text(entry["raw_attributes"].get("sAMAccountName"))
                if value:
                    names.append(value)
                if len(names) >= _SIMILAR_LIMIT:
                    break
        result = self._conn.result or {}
        if result.get("description") not in (None, "success", "sizeLimitExceeded"):
            raise self._result_error(result, what=what, dn=self.base_dn)
        by_key: dict[str, str] = {}
        for value in names:
            by_key.setdefault(value.rstrip("$").lower(), value)
        matches = difflib.get_close_matches(wanted, list(by_key), n=5, cutoff=0.6)
        return [by_key[key] for key in matches if key != wanted]

    def spn_owners(self, spn: str, *, timeout: float = DEFAULT_TIMEOUT) -> list[str]:
        from ldap3.utils.conv import escape_filter_chars

        filt = f"(servicePrincipalName={escape_filter_chars(spn)})"
        what = f"searching the forest for SPN {spn}"
        entries = None
        if self._gc is not None:
            try:
                # Base "" on the GC: every domain of the forest.
                entries = self._search("", filt, ["sAMAccountName"], scope="sub", timeout=timeout, what=what,
                                       gc=True)
            except (DirectoryUnreachable, DirectoryTimeout) as exc:
                self.warnings.append(
                    f"Global Catalog {self._where(self.settings.gc_port)} failed ({exc}); "
                    f"SPN duplicate checks now search only the domain {self.base_dn}"
                )
                unbind_quietly(self._gc)
                self._gc = None
        if entries is None:
            entries = self._search(self.base_dn, filt, ["sAMAccountName"], scope="sub", timeout=timeout,
                                   what=f"searching the domain for SPN {spn}")
        owners = [first_text(e["raw_attributes"].get("sAMAccountName")) or e["dn"] for e in entries]
        return sorted(set(owners), key=str.lower)

    def add_values(self, dn: str, attribute: str, values: list[str], *, timeout: float = DEFAULT_TIMEOUT) -> None:
        from ldap3 import MODIFY_ADD

        if not values:
            return
        what = f"adding {', '.join(values)} to {attribute}"
        result = self._modify(dn, {attribute: [(MODIFY_ADD, list(values))]}, timeout=timeout, what=what)
        if result.get("description") != "success":
            raise self._result_error(result, what=what, dn=dn, attribute=attribute, values=list(values))

    def remove_values(self, dn: str, attribute: str, values: list[str], *, timeout: float = DEFAULT_TIMEOUT) -> None:
        from ldap3 import MODIFY_DELETE

        if not values:
            return
        what = f"removing {', '.join(values)} from {attribute}"
        result = self._modify(dn, {attribute: [(MODIFY_DELETE, list(values))]}, timeout=timeout, what=what)
        if result.get("description") != "success":
            raise self._result_error(result, what=what, dn=dn, attribute=attribute, values=list(values))

    def _read_uac(self, dn: str, timeout: float) -> int:
        entries = self._search(dn, "(objectClass=*)", ["userAccountControl"], scope="base", timeout=timeout,
                               what=f"reading userAccountControl of {dn}")
        if not entries:
            raise NoSuchObject(f"reading userAccountControl: no object {dn} in {self._where()}")
        value = first_text(entries[0]["raw_attributes"].get("userAccountControl"))
        if value is None:
            raise DirectoryError(f"{dn} has no userAccountControl (not a user or computer account?)")
        return int(value)

    def replace_uac(self, dn: str, expected: int, new: int, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        from ldap3 import MODIFY_ADD, MODIFY_DELETE

        live: int | None = self._read_uac(dn, timeout)
        if live != expected:
            raise DriftError(_uac_drift(dn, live, expected))
        if live == new:
            return
        what = f"changing userAccountControl of {dn} from {expected:#x} to {new:#x}"
        # Delete the value we read + add the new one in ONE modify: if anybody changed it meanwhile, the
        # server itself refuses the delete (noSuchAttribute) and nothing is written.
        result = self._modify(
            dn,
            {"userAccountControl": [(MODIFY_DELETE, [str(expected)]), (MODIFY_ADD, [str(new)])]},
            timeout=timeout,
            what=what,
        )
        if result.get("description") == "success":
            return
        if result.get("description") == "noSuchAttribute":
            try:
                live = self._read_uac(dn, timeout)
            except DirectoryError:
                live = None
            raise DriftError(_uac_drift(dn, live, expected, concurrent=True))
        raise self._result_error(result, what=what, dn=dn, attribute="userAccountControl", values=[str(new)])

    def current_time(self, *, timeout: float = DEFAULT_TIMEOUT) -> dt.datetime:
        root = root_dse(self._conn, self.settings, self.settings.port, ["currentTime"], timeout)
        text = first_text(root.get("currentTime"))
        match = _CURRENT_TIME.match(text or "")
        if not match:
            raise DirectoryError(f"{self._where()}: rootDSE currentTime {text!r} is not YYYYmmddHHMMSS.0Z")
        return dt.datetime.strptime(match.group(1), "%Y%m%d%H%M%S").replace(tzinfo=dt.timezone.utc)

    # ------------------------------------------------------------------ beyond the port

    def can_write(self, dn: str, attributes: list[str], *, timeout: float = DEFAULT_TIMEOUT) -> dict[str, bool]:
        """Whether the bind account may write each attribute on `dn` (from allowedAttributesEffective).

        A pre-flight check: AD computes the list for the bound account. Delegation attributes also need
        SeEnableDelegationPrivilege, which this list does not show; a write can still be refused.
        """
        entries = self._search(dn, "(objectClass=*)", ["allowedAttributesEffective"], scope="base",
                               timeout=timeout, what=f"checking write access on {dn}")
        if not entries:
            raise NoSuchObject(f"checking write access: no object {dn} in {self._where()}")
        allowed = {v.lower() for v in all_texts(entries[0]["raw_attributes"].get("allowedAttributesEffective"))}
        return {attribute: attribute.lower() in allowed for attribute in attributes}


# --------------------------------------------------------------------------- module helpers


def _uac_drift(dn: str, live: int | None, expected: int, concurrent: bool = False) -> str:
    return uac_drift_message(dn, live, expected, concurrent=concurrent)

"""Forefront TMG on a simulated host: the firewall policy (web listeners, web and server publishing rules).

The runbook only ever reads it (Get-CertAuthTmgPolicy); the lab sets it up and changes it, as the
operator's console clicks would.
"""
from __future__ import annotations

import copy
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from runbook.lab.windows_contract import TMG_LISTENER_KEYS, TMG_RULE_KEYS, TMG_SERVER_RULE_KEYS
from runbook.lab.windows_errors import SimCommandError
from runbook.lab.windows_part import Answer, Machine

KCD = 6  # FpcCredentialsDelegationType: Kerberos constrained delegation
Policy = dict[str, list[dict[str, Any]]]


def tmg_listener(name: str, ips: Iterable[str], certificate: str | None, *, require_ssl: bool = True,
                 client_cert_auth: bool = False) -> dict[str, Any]:
    """A web listener as Get-CertAuthTmgPolicy reports it."""
    return {"Name": name, "IPs": list(ips), "Certificate": certificate, "RequireSsl": require_ssl,
            "ClientCertAuth": client_cert_auth}


def tmg_rule(name: str, listener: str | None, internal_site_name: str, public_names: Iterable[str], *,
             delegation_type: int = KCD, spn: str | None = None,
             user_sets: Iterable[str] = ("All Authenticated Users",), enabled: bool = True,
             exchange_active_sync: bool = True) -> dict[str, Any]:
    """A web publishing rule as Get-CertAuthTmgPolicy reports it; the SPN defaults to http/<internal site name>."""
    return {"Name": name, "Enabled": enabled, "Listener": listener, "InternalSiteName": internal_site_name,
            "PublicNames": list(public_names), "DelegationType": delegation_type,
            "Spn": spn if spn is not None else f"http/{internal_site_name}", "UserSets": list(user_sets),
            "ExchangeActiveSync": exchange_active_sync}


def tmg_server_rule(name: str, published_server_ip: str, *, protocol: str = "HTTPS Server",
                    enabled: bool = True) -> dict[str, Any]:
    """A server publishing rule as Get-CertAuthTmgPolicy reports it: TMG stores the published server's IP only."""
    return {"Name": name, "Enabled": enabled, "PublishedServerIP": published_server_ip, "Protocol": protocol}


def _checked(item: Mapping[str, Any], keys: tuple[str, ...], what: str) -> dict[str, Any]:
    missing, unknown = set(keys) - set(item), set(item) - set(keys)
    if missing or unknown:
        raise ValueError(f"a TMG {what} needs exactly the keys {', '.join(keys)}"
                         + (f"; missing {', '.join(sorted(missing))}" if missing else "")
                         + (f"; unknown {', '.join(sorted(unknown))}" if unknown else ""))
    return dict(item)


class TmgPart:
    """The TMG policy (None: TMG is not installed on this host) and Get-CertAuthTmgPolicy."""

    def __init__(self, machine: Machine, lock: threading.RLock) -> None:
        self._machine = machine
        self._lock = lock
        self.policy: Policy | None = None

    # -- saved state ------------------------------------------------------------------------------------------
    def load(self, state: Mapping[str, Any]) -> None:
        self.policy = copy.deepcopy(state["tmg_policy"])

    def saved(self) -> dict[str, Any]:
        return {"tmg_policy": self.policy}

    # -- what the lab changes ---------------------------------------------------------------------------------
    def _installed(self) -> Policy:
        if self._machine.role != "tmg" or self.policy is None:
            raise ValueError("only a TMG host has a TMG policy")
        return self.policy

    def set_policy(self, listeners: Iterable[Mapping[str, Any]], rules: Iterable[Mapping[str, Any]],
                   server_rules: Iterable[Mapping[str, Any]] = ()) -> None:
        with self._lock:
            policy = self._installed()
            policy["Listeners"] = [_checked(item, TMG_LISTENER_KEYS, "listener") for item in listeners]
            policy["Rules"] = [_checked(item, TMG_RULE_KEYS, "rule") for item in rules]
            policy["ServerRules"] = [_checked(item, TMG_SERVER_RULE_KEYS, "server publishing rule")
                                     for item in server_rules]

    def add_listener(self, name: str, ips: Iterable[str], certificate: str | None, **options: Any) -> None:
        with self._lock:
            self._installed()["Listeners"].append(tmg_listener(name, ips, certificate, **options))

    def add_rule(self, name: str, listener: str | None, internal_site_name: str, public_names: Iterable[str],
                 **options: Any) -> None:
        with self._lock:
            self._installed()["Rules"].append(tmg_rule(name, listener, internal_site_name, public_names, **options))

    def _find(self, kind: str, name: str) -> dict[str, Any]:
        for item in self._installed()[kind]:
            if item["Name"] == name:
                return item
        raise KeyError(f"no TMG {kind[:-1].lower()} named {name!r}")

    def update_listener(self, name: str, **changes: Any) -> None:
        """Change listener fields by their contract names, e.g. ClientCertAuth=False."""
        with self._lock:
            _checked(self._find("Listeners", name) | changes, TMG_LISTENER_KEYS, "listener")
            self._find("Listeners", name).update(changes)

    def update_rule(self, name: str, **changes: Any) -> None:
        """Change rule fields by their contract names, e.g. InternalSiteName='seg01.test.lan'."""
        with self._lock:
            _checked(self._find("Rules", name) | changes, TMG_RULE_KEYS, "rule")
            self._find("Rules", name).update(changes)

    def remove_listener(self, name: str) -> None:
        with self._lock:
            self._installed()["Listeners"].remove(self._find("Listeners", name))

    def remove_rule(self, name: str) -> None:
        with self._lock:
            self._installed()["Rules"].remove(self._find("Rules", name))

    # -- the function -----------------------------------------------------------------------------------------
    def answers(self) -> dict[str, Answer]:
        return {"Get-CertAuthTmgPolicy": self.get_tmg_policy}

    def get_tmg_policy(self) -> list[Any]:
        if self._machine.role != "tmg" or self.policy is None:
            raise SimCommandError(f"Forefront TMG is not installed on {self._machine.computer} "
                                  "(COM class FPC.Root is not registered)")
        return [{"Listeners": self.policy["Listeners"], "Rules": self.policy["Rules"],
                 "ServerRules": self.policy["ServerRules"]}]

"""The UI's password hook: the environment first, then the UI's prompt, never the terminal."""
from __future__ import annotations

import pytest

from runbook.backends import LDAP_PASSWORD_ENV, Options, password
from runbook.errors import BadInput


def test_environment_comes_before_the_prompt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(LDAP_PASSWORD_ENV, "from-env")
    asked: list[str] = []
    assert password(LDAP_PASSWORD_ENV, "admin@TEST.LAN", "LDAP bind", Options(prompt=asked.append)) == "from-env"
    assert asked == []


def test_the_prompt_supplies_the_password() -> None:
    asked: list[str] = []

    def prompt(text: str) -> str:
        asked.append(text)
        return "s3cret"

    assert password(LDAP_PASSWORD_ENV, "admin@TEST.LAN", "LDAP bind", Options(prompt=prompt)) == "s3cret"
    assert asked == ["LDAP bind password for admin@TEST.LAN"]


def test_a_cancelled_prompt_is_bad_input_naming_the_variable() -> None:
    with pytest.raises(BadInput, match=LDAP_PASSWORD_ENV):
        password(LDAP_PASSWORD_ENV, "admin@TEST.LAN", "LDAP bind", Options(prompt=lambda text: None))


def test_kerberos_needs_no_prompt() -> None:
    assert password(LDAP_PASSWORD_ENV, None, "LDAP bind", Options(prompt=lambda text: "unused")) is None

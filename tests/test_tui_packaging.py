"""The TUI installs whole: every package under screens/ is listed, the stylesheet ships, the CLI finds run_app."""
from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from runbook.errors import BadInput

ROOT = Path(__file__).resolve().parent.parent


def test_every_screens_package_and_the_stylesheet_are_packaged() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    packages = set(config["packages"])
    for init in (ROOT / "screens").rglob("__init__.py"):
        name = ".".join(init.parent.relative_to(ROOT).parts)
        assert name in packages, f"{name} is not in [tool.setuptools] packages"
    assert "*.tcss" in config["package-data"]["screens"]
    assert (ROOT / "screens" / "app.tcss").is_file()


def test_opening_a_missing_session_is_bad_input_before_any_screen(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from screens.app import run_app

    monkeypatch.setenv("RUNBOOK_SESSIONS_DIR", str(tmp_path))
    with pytest.raises(BadInput, match="does not exist"):
        run_app(tmp_path / "nosuch.yaml", takeover=False)

"""`runbook --help` says what a script needs (exit codes, STEP syntax); every demo and mark option says what it does."""
from __future__ import annotations

import argparse

import pytest

from runbook.cli import build_parser


def subcommand(name: str) -> argparse.ArgumentParser:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[name]


def test_top_level_help_lists_exit_codes_and_step_syntax() -> None:
    text = build_parser().format_help()
    assert "0  ok" in text and "1  a step failed" in text and "2  bad input" in text
    assert "4a@EAS02" in text and "bare id (4a) means every instance" in text


@pytest.mark.parametrize("name", ["demo", "mark"])
def test_every_option_has_a_description(name: str) -> None:
    undescribed = [a.dest for a in subcommand(name)._actions if not a.help]
    assert undescribed == []

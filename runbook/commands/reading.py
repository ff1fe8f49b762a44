"""The read-only subcommands (`status`, `steps`, `manual`): a session view, without the lock, the ports or the
engine's driving machinery, so they load only what they read."""
from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from runbook.errors import EXIT_OK
from runbook.flow.view import SessionView
from runbook.record import store
from runbook.reports import text as render

if TYPE_CHECKING:
    import argparse

    from runbook.flow.catalogue import StepSpec


def viewed(args: argparse.Namespace) -> SessionView:
    from steps import CATALOGUE

    view = SessionView.load(store.session_path(args.session), CATALOGUE)
    for notice in view.notices:
        print(f"note: {notice}", file=sys.stderr)
    return view


def cmd_status(args: argparse.Namespace) -> int:
    view = SessionView.outlined(store.session_path(args.session), _catalogue)
    for notice in view.notices:
        print(f"note: {notice}", file=sys.stderr)
    warning = None if view.session.lab else _ticket_warning(view)
    if args.json:
        import json

        print(json.dumps({**render.status_data(view), "warnings": [warning] if warning else []}, indent=2))
    else:
        print(render.status_text(view))
        if warning:
            print(f"warning: {warning}")
    return EXIT_OK


def _catalogue() -> list[StepSpec]:
    from steps import CATALOGUE

    return CATALOGUE


def _ticket_warning(view: SessionView) -> str | None:
    from runbook.checks.auth import ticket_warning

    return ticket_warning(view.params)


def cmd_steps(args: argparse.Namespace) -> int:
    print(render.steps_text(viewed(args)))
    return EXIT_OK


def cmd_manual(args: argparse.Namespace) -> int:
    view = viewed(args)
    print("\n\n".join(render.manual_text(view, i.key) for i in view.resolve(args.step)))
    return EXIT_OK

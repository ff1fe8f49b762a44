"""The subcommands that open the TUI (`open`, `demo`, and `runbook` alone). They import neither the engine nor the
steps before the first frame: the app shows it from cheap widgets and loads the rest behind it."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from runbook.commands import catalogue
from runbook.errors import EXIT_OK, BadInput, NotAvailable
from runbook.record import store

if TYPE_CHECKING:
    from runbook.flow.view import SessionView


def cmd_demo(args: argparse.Namespace) -> int:
    if args.params and args.scenario:
        raise BadInput("--params: a rehearsal is of a scenario or of your params file, not both; drop --scenario")
    if args.params and args.resume:
        raise BadInput("--params: --resume continues the last rehearsal as it was built; drop --params")
    scenario = args.scenario or "tmg-seg-eas"

    def prepare() -> Path:
        from runbook.lab import lab

        return lab.prepare_demo(scenario, catalogue(), init=args.init, resume=args.resume, latency_ms=args.latency,
                                fail=args.fail, seed=args.seed, cert_validation=args.cert_validation,
                                params_file=args.params)

    if args.cert_validation and not args.resume and not args.params:  # refused before any screen: exit 2
        from runbook.inputs.params import CHAIN_CHOICES
        from runbook.lab import lab

        topology = lab.scenario(scenario)["params"]["topology"]
        if args.cert_validation not in CHAIN_CHOICES[topology]:
            raise BadInput(f"--cert-validation: {args.cert_validation!r} does not fit the {scenario} scenario "
                           f"(topology {topology}: one of {' | '.join(CHAIN_CHOICES[topology])})")
    if (args.fail or args.params) and not (args.init or args.resume):  # bad input: exit 2 before any screen
        from runbook.lab import lab

        label = lab.params_label(args.params) if args.params else scenario
        lab.demo_state(label, catalogue(), fail=args.fail, cert_validation=args.cert_validation,
                       params_file=args.params)
    if args.init or args.resume:  # nothing to build, or an answer needed before the screen takes over
        path = prepare()
        if args.resume:
            return _tui(path, takeover=False)
        built = f"a lab built from {args.params}" if args.params else f"scenario {scenario}"
        print(f"created rehearsal session {path} ({built}); try: runbook status {path}")
        return EXIT_OK
    def rehearsal() -> SessionView | None:  # the steps listed on screen while `prepare` builds the session
        from runbook.lab import rehearsal_outline

        return rehearsal_outline.fresh_view(store.sessions_dir(), scenario, args.cert_validation)

    # The lab is built behind the first frames, which list a scenario's steps (not a params file's) when they can.
    return _tui(None, takeover=False, prepare=prepare, rehearsal=None if args.params else rehearsal)


def cmd_open(args: argparse.Namespace) -> int:
    return _tui(store.session_path(args.session), takeover=args.takeover)


def start_screen(args: argparse.Namespace) -> int:
    return _tui(None, takeover=False)


def _tui(path: Path | None, *, takeover: bool, prepare: Callable[[], Path] | None = None,
         rehearsal: Callable[[], SessionView | None] | None = None) -> int:
    from runbook.record.lock import release_on_hangup

    release_on_hangup()  # here, on the main thread: the TUI opens sessions from workers
    try:
        from screens.app import run_app
    except ImportError as exc:
        raise NotAvailable(f"the TUI is not available ({exc}); every command also works from the CLI: "
                           "runbook --help") from exc
    return run_app(path, takeover=takeover, prepare=prepare, rehearsal=rehearsal)

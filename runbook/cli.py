"""The `runbook` command. Exit 0 ok, 1 a step failed / verify mismatch / refused by a safety check, 2 bad input.

This module is the composition root: it wires the procedure (steps/) and the
backends into the engine. The TUI (screens/) is imported only by `open`, `demo`
and the bare command, so every other subcommand runs without Textual.
"""
from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING, Any, Callable, Protocol, Sequence

from runbook.errors import EXIT_FAILED, RunbookError

if TYPE_CHECKING:
    import argparse

STEP_HELP = "a step: 4a is every instance of 4a, 4a@EAS02 only the one on EAS02 (see `runbook steps SESSION`)"
EPILOG = """\
STEP: a bare id (4a) means every instance of that step; id@LABEL (4a@EAS02, 3a@TMG02) one instance of it.
`runbook steps SESSION` lists the instances of a change.

exit codes:
  0  ok
  1  a step failed, a verification found a mismatch, or a safety check refused
  2  bad input (the message names the field, the value and what is expected)

`runbook` alone opens the start screen; `runbook COMMAND --help` describes a command."""


class ArgumentGroup(Protocol):
    def add_argument(self, *args: Any, **kwargs: Any) -> object: ...


class CommandArguments(ArgumentGroup, Protocol):
    """What building a command calls on its parser: argparse's, or the stand-in for a command not asked for."""

    def add_mutually_exclusive_group(self, *, required: bool = ...) -> ArgumentGroup: ...

    def set_defaults(self, **kwargs: Any) -> None: ...


class Command(Protocol):
    def __call__(self, name: str, text: str, *, session: bool = ...) -> CommandArguments: ...


class _NotOnTheCommandLine:
    """Takes the arguments of a command that was not asked for: argparse's parsers are slow to build (each looks up
    its translations), and building all of them cost `runbook status` more than its own work."""

    def add_argument(self, *args: object, **kwargs: object) -> None:
        return None

    def add_mutually_exclusive_group(self, **kwargs: object) -> _NotOnTheCommandLine:
        return self

    def set_defaults(self, **kwargs: object) -> None:
        return None


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """Every command's parser; with `only` (the command given), that command's alone, unless no command has that
    name (the full parser then says what is wrong, listing them all)."""
    import argparse  # `status` does without it (see main)

    built: list[str] = []
    parser = argparse.ArgumentParser(prog="runbook", description="Certificate authentication for Exchange "
                                     "ActiveSync behind TMG (and SEG) with Kerberos constrained delegation.",
                                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, text: str, *, session: bool = True) -> CommandArguments:
        if only is not None and name != only:
            return _NotOnTheCommandLine()
        built.append(name)
        p = sub.add_parser(name, help=text, description=text)
        if session:
            p.add_argument("session", metavar="SESSION", help="session file, or a name in $RUNBOOK_SESSIONS_DIR "
                                                               "(default ./sessions)")
        return p

    def driving(p: CommandArguments) -> None:
        p.add_argument("--takeover", action="store_true", help="take over a stale lock (journaled)")
        p.add_argument("--reason", metavar="WHY", help="with --takeover of a driver that is still alive: why "
                       "(journaled with both names; waits one heartbeat period first)")

    def connecting(p: CommandArguments) -> None:
        p.add_argument("--insecure", action="store_true", help="allow plain LDAP / Basic over HTTP (lab use only)")

    p = command("new", "create a session from a params file")
    p.add_argument("--params", required=True, metavar="FILE")
    p = command("status", "where the change stands")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handlers="runbook.commands.reading")
    p = command("steps", "which steps apply to this change, and why")
    p.set_defaults(handlers="runbook.commands.reading")
    p = command("manual", "the manual procedure of a step, with this change's names filled in")
    p.add_argument("step", metavar="STEP", help=STEP_HELP)
    p.set_defaults(handlers="runbook.commands.reading")
    p = command("mark", "record a step done by hand (verified read-only first), skipped, or reopened")
    p.add_argument("step", metavar="STEP", help=STEP_HELP)
    how = p.add_mutually_exclusive_group(required=True)
    how.add_argument("--done", dest="how", action="store_const", const="done",
                     help="done by hand: its verification runs first; a mismatch refuses (exit 1) unless --force; "
                          "a verification that cannot run records it done-unverified with the reason")
    how.add_argument("--skip", dest="how", action="store_const", const="skip", help="skipped (needs --note REASON)")
    how.add_argument("--reopen", dest="how", action="store_const", const="reopen", help="back to pending")
    p.add_argument("--note", default=None, help="why (journaled with your name); required with --skip and --force")
    p.add_argument("--force", action="store_true", help="with --done: record it although the verification "
                                                        "disagrees (needs --note REASON; journaled)")
    driving(p)
    p = command("tick", "tick (or untick) one item of a step's manual checklist")
    p.add_argument("step", metavar="STEP", help=STEP_HELP)
    p.add_argument("item", type=int, metavar="N")
    p.add_argument("--untick", action="store_true")
    driving(p)
    p = command("note", "add a note to the journal (and to a step)")
    p.add_argument("text")
    p.add_argument("--step", default=None)
    driving(p)
    for name, text in (("verify", "compare the live state with what the steps want"),
                       ("plan", "show exactly what a step would change"),
                       ("run", "execute a step (shows the plan and asks first)"),
                       ("undo", "revert exactly what this session changed in a step")):
        p = command(name, text)
        p.add_argument("step", metavar="STEP", nargs="?" if name == "verify" else None,
                       help=STEP_HELP + ("; without it, every step done so far" if name == "verify" else ""))
        connecting(p)
        if name in ("run", "undo"):
            p.add_argument("--yes", action="store_true", help="do not ask (points of no return still need "
                                                                "--allow-restart)")
            p.add_argument("--allow-restart", action="store_true", help="consent to iisreset on the target")
        if name != "plan":
            driving(p)
    p = command("check", "the guide's troubleshooting checks")
    p.add_argument("name", nargs="?", choices=["directory", "clock", "cert", "scep", "providers", "kcd",
                                                   "spn", "gpo", "device", "auth"])
    p.add_argument("--file", help="user certificate (PEM or DER) for `cert`")
    p.add_argument("--keytab", help="keytab of the TMG/SEG account for `kcd`")
    p.add_argument("--user", help="test user for `kcd`")
    p.add_argument("--role", default="tmg", help="whose keytab for `kcd`: tmg or seg")
    p.add_argument("--cert", help="the test user's certificate (PEM) for `device`")
    p.add_argument("--key", help="its private key (PEM) for `device`; read only by the TLS client")
    p.add_argument("--ca", help="CA bundle (PEM) the device trusts for `device` (default: the system's)")
    p.add_argument("--url", help="for `device`: default https://<public_name>/Microsoft-Server-ActiveSync")
    p.add_argument("--timeout", type=float, default=None, metavar="S", help="for `device`: seconds per request")
    connecting(p)
    p = command("journal", "the session's journal")
    p.add_argument("--check", action="store_true", help="verify the hash chain and the head anchor")
    p.add_argument("--acknowledge", action="store_true", help="accept a journal that fails its check as it is, "
                   "so drivers may write again (needs --note WHY; journaled and shown in the report)")
    p.add_argument("--note", metavar="WHY", help="why the journal is acknowledged")
    driving(p)
    def record_command(name: str, text: str, *, session: bool = True) -> CommandArguments:
        p = command(name, text, session=session)
        p.set_defaults(handlers="runbook.commands.record")
        return p

    _record_commands(record_command, driving)
    p = command("open", "open a session in the TUI")
    p.set_defaults(handlers="runbook.commands.tui")
    driving(p)
    p = command("demo", "rehearse on the built-in lab (no servers needed)", session=False)
    p.set_defaults(handlers="runbook.commands.tui")
    p.add_argument("--scenario", default=None, choices=["tmg-eas", "tmg-seg-eas", "add-seg", "broken"],
                   help="the lab to rehearse on (default tmg-seg-eas): a fresh TMG → EAS or TMG → SEG → EAS change, "
                        "a SEG added to a working TMG → EAS setup, or broken (planted faults for the checks)")
    p.add_argument("--params", metavar="FILE", help="rehearse your own change instead of a scenario: the lab holds "
                                                    "every computer, host and service account FILE names, with the "
                                                    "guide's prerequisites in place (farms and TMG arrays included)")
    p.add_argument("--init", metavar="SESSION", help="create the demo session and its lab, without the TUI "
                                                     "(with --params: `runbook demo --init NAME --params FILE`)")
    p.add_argument("--resume", action="store_true", help="continue the last demo session")
    p.add_argument("--latency", type=float, default=0.0, metavar="MS",
                   help="simulated network delay of every LDAP and WinRM call, in milliseconds (each host varies "
                        "±20%%; default 0)")
    p.add_argument("--fail", metavar="STEP", help="the lab's connection drops in the middle of STEP, leaving it "
                                                  "half-changed; STEP must change something in the scenario")
    p.add_argument("--seed", type=int, default=None, metavar="N",
                   help="seed of the latency jitter, so a rehearsal's timing repeats")
    p.add_argument("--cert-validation", choices=["tmg", "seg", "eas"], default=None,
                   help="where the client certificate is checked (default tmg: the TMG listener; eas: tmg-eas only; "
                        "seg: SEG scenarios only)")
    if only is not None and not built:
        return build_parser()
    return parser


def _plain_status(words: list[str]) -> Any:
    """`status SESSION [--json]` read without argparse, which costs the command a sixth of its time (an operator
    who watches runs it in a loop); any other shape, `--help` included, goes to the full parser."""
    if not words or words[0] != "status" or not 2 <= len(words) <= 3:
        return None
    rest = words[1:]
    json_wanted = "--json" in rest
    sessions = [word for word in rest if word != "--json"]
    if len(sessions) != 1 or sessions[0].startswith("-") or len(rest) != len(sessions) + json_wanted:
        return None
    from types import SimpleNamespace

    return SimpleNamespace(command="status", session=sessions[0], json=json_wanted,
                           handlers="runbook.commands.reading")


def _record_commands(command: Command, driving: Callable[[CommandArguments], None]) -> None:
    """Pair work and the change record (runbook.commands.record)."""
    p = command("watch", "follow a session live, read-only (another operator drives)")
    p.add_argument("--until-settled", action="store_true", help="exit 0 once every step is settled")
    p.add_argument("--timeout", type=float, default=None, metavar="S", help="stop after S seconds")
    p.add_argument("--ack", action="store_true", help="allow typing `ack` to acknowledge a waiting point of no "
                                                      "return (two-person confirm); writes only the ack file")
    p = command("ack", "acknowledge, as the second operator, the plan a driver waits on (two-person confirm)")
    p.add_argument("step", metavar="STEP", nargs="?")
    p.add_argument("--plan", metavar="HASH", help="the plan hash shown by `runbook watch` (needed without a "
                                                  "terminal): acknowledges that exact plan only")
    p = command("handover", "hand the session over with a note for the next driver (journaled; releases the lock)")
    p.add_argument("--note", required=True)
    driving(p)
    p = command("settings", "show or change per-session settings")
    p.add_argument("--two-person", choices=["on", "off"], help="points of no return need a second operator's "
                                                               "acknowledgement")
    p.add_argument("--ack-wait", type=float, metavar="S", help="how long a run waits for it (default 300)")
    driving(p)
    for name, text, formats in (("report", "the change record", ["md", "html"]),
                                ("backout", "the back-out plan: the undo of every change still in force, newest "
                                            "first", ["text", "md"])):
        p = command(name, text)
        p.add_argument("--format", choices=formats, default=formats[0])
        p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    args = _plain_status(words) or build_parser(only=words[0] if words else None).parse_args(words)
    if args.command is None:
        from runbook.commands import tui
        return tui.start_screen(args)
    try:
        if getattr(args, "takeover", None) is not None and getattr(args, "session", None):
            from runbook.commands.driving import before_driving
            before_driving(args)
        # Only the module that holds the command is imported: `status` never loads watch, report or backout.
        handlers = importlib.import_module(getattr(args, "handlers", "runbook.commands.core"))
        return int(getattr(handlers, "cmd_" + args.command)(args) or 0)
    except RunbookError as exc:
        print(f"runbook {args.command}: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"runbook {args.command}: interrupted", file=sys.stderr)
        return EXIT_FAILED
    except BrokenPipeError:
        return EXIT_FAILED

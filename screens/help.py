"""The help text: the keys, what the glyphs mean, and the order of work."""
from __future__ import annotations

from textual.content import Content

from screens.view import LEGEND

KEYS = [
    ("n", "go to the next step that can go now (else the first unsettled one)"),
    ("↑ ↓", "move in the step list (no wrap); tab moves to the checklist, the log and back"),
    ("p", "plan: what running the step would change now (reads, changes nothing)"),
    ("r", "run: shows the exact change and asks; a restart (iisreset) asks you to type the host name"),
    ("v", "verify: compare the live state with what the step wants"),
    ("d", "record a step done by hand (after its checklist)"),
    ("space", "tick the highlighted checklist item, from the step list too (journaled)"),
    ("c", "copy the highlighted command to your clipboard (OSC 52, works over SSH)"),
    ("u", "undo exactly what this session changed (refused if someone changed it since)"),
    ("s / o", "skip a step with a reason / reopen it"),
    ("a", "add a note to the journal"),
    ("V", "verify every done step again: flags drift"),
    ("t", "take the wheel when the operator you follow has left"),
    ("H", "hand over with a note for the next driver (journaled); this view then follows"),
    ("x", "stop a running step before its next remote call (it comes back interrupted: verify it)"),
    ("k", "troubleshooting checks: clock, SPNs, GPO rights, SCEP, 401 providers, AD, certificate, KCD"),
    ("P", "device proof: a device with the test user's certificate syncs through the whole chain"),
    ("j / b / e", "the journal (and its hash check) / the back-out plan / export the change record"),
    ("z", "zoom the selected step: why, plan and log take the whole screen; z again goes back"),
    ("ctrl+p", "every action by name"),
    ("ctrl+q", "quit; the session lock is released"),
]
ORDER = [
    "Work from the top: n takes you to the next step that can go now (add-seg: the SEG side before the cutover).",
    "Steps 1 and 2 are TMG console work: follow the checklist, press d, then v checks them read-only.",
    "Lettered steps run by themselves: p shows the plan, r asks and applies, then verifies.",
    "A step that depends on another stays dim until that one is settled; a step that does not apply says why.",
    "The last item of a change is the device proof (P); complete means done, verified and no open check fault.",
    "Everything you do is journaled with your name; the CLI (runbook status, journal) sees the same session.",
]


def help_content() -> Content:
    parts: list[str | tuple[str, str]] = [("Keys", "bold $text-primary"), "\n"]
    for key, text in KEYS:
        parts += [(f"{key:>8}", "bold $accent"), f"  {text}\n"]
    parts += ["\n", ("States", "bold $text-primary"), "\n"]
    for glyph, text in LEGEND:
        parts += [(f"{glyph:>8}", "bold"), f"  {text}\n"]
    parts += ["\n", ("Order of work", "bold $text-primary"), "\n"]
    parts += [f"  {line}\n" for line in ORDER]
    return Content.assemble(*parts)

"""Which of the shipped function files (runbook/hosts/ps/*.ps1) one call needs loaded on the host.

A new pool used to get every file ahead of its first call; a verify-all opens a pool per host, and sending and
parsing ≈37 KB of script per host was about half of each simulated host's CPU. A call now carries only the files
that define its function and, transitively, the functions that function calls; a later call on the same pool
adds only what it still lacks.

What a function calls is read from the files themselves (a function is `function Name {` at the start of a line,
up to the next one; it calls every shipped function whose name appears in its body outside comment lines and
comment blocks). One refinement, for the
function that is asked: a call that appears only in a block that runs for a parameter (`foreach (... in $Param)
{...}` or `if ($Param) {...}`), when that parameter is not passed, a parameter with no default that the body never
assigns, is not needed (Get-CertAuthState asks only the single-value functions of the lists it is given). Whatever
this reading cannot place is loaded: a function no file defines (all files), a block whose braces do not balance
(treated as unguarded).
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

_FUNCTION = re.compile(r"^function\s+([A-Za-z][\w-]*)\s*\{", re.MULTILINE)
_BLOCK_COMMENT = re.compile(r"<#.*?#>", re.DOTALL)
_LINE_COMMENT = re.compile(r"^[ \t]*#.*$", re.MULTILINE)  # whole-line only: a '#' later on a line may be in a string
_WORD = re.compile(r"[\w-]+")  # a function name is a whole word of these (Get-CertAuthState, not Get-CertAuthStates)
_GUARD = re.compile(r"\b(?:foreach\s*\(\s*\$\w+\s+in\s+\$(\w+)\s*\)|if\s*\(\s*\$(\w+)\s*\))\s*\{", re.IGNORECASE)


class FunctionFiles:
    """The shipped files (name, text), in the order they are sent, and what each function needs."""

    def __init__(self, scripts: Sequence[tuple[str, str]]):
        self.names = [name for name, _ in scripts]
        self._file: dict[str, str] = {}  # function (lower case) -> file name
        self._body: dict[str, str] = {}
        for name, text in scripts:
            starts = list(_FUNCTION.finditer(text))
            for here, after in zip(starts, [*starts[1:], None], strict=True):
                function = here.group(1).lower()
                self._file[function] = name
                self._body[function] = _code(text[here.end():after.start() if after else len(text)])
        self._calls = {function: self._called(body, function) for function, body in self._body.items()}
        self._closure: dict[str, frozenset[str]] = {}
        self._needed: dict[tuple[str, frozenset[str]], list[str]] = {}  # every host asks the same few calls

    def needed(self, function: str, parameters: Mapping[str, Any]) -> list[str]:
        """The files a call of `function` with these parameters needs, in sending order."""
        root = function.lower()
        if root not in self._body:
            return list(self.names)
        passed = frozenset(name.lower() for name in parameters)
        found = self._needed.get((root, passed))
        if found is None:
            functions = {root}
            for called in self._called(self._body[root], root, unguarded_only=passed):
                functions |= self._transitive(called)
            files = {self._file[name] for name in functions}
            found = self._needed[(root, passed)] = [name for name in self.names if name in files]
        return list(found)

    def _transitive(self, function: str) -> frozenset[str]:
        found = self._closure.get(function)
        if found is None:
            seen, todo = {function}, [function]
            while todo:
                for called in self._calls[todo.pop()]:
                    if called not in seen:
                        seen.add(called)
                        todo.append(called)
            found = self._closure[function] = frozenset(seen)
        return found

    def _called(self, body: str, itself: str, unguarded_only: frozenset[str] | None = None) -> set[str]:
        """Shipped functions named in `body`; with `unguarded_only` (the parameters passed), leaving out those
        named only inside blocks guarded by a parameter that is not passed."""
        if unguarded_only is not None:
            body = _without_skipped_blocks(body, unguarded_only)
        words = set(_WORD.findall(body.lower()))
        return {name for name in self._body if name != itself and name in words}


def _code(body: str) -> str:
    """The body without its comments (help blocks name other functions; a name in a comment is no call)."""
    return _LINE_COMMENT.sub("", _BLOCK_COMMENT.sub("", body))


def _without_skipped_blocks(body: str, passed: frozenset[str]) -> str:
    """The body with the blocks that cannot run cut out: those guarded by a parameter not passed, when that
    parameter has no default and is never assigned in the body."""
    kept: list[str] = []
    position = 0
    for guard in _GUARD.finditer(body):
        if guard.start() < position:
            continue  # inside a block already cut
        parameter = (guard.group(1) or guard.group(2)).lower()
        if parameter in passed or not _plain_parameter(body, parameter):
            continue
        end = _closing_brace(body, guard.end() - 1)
        if end is None:
            continue
        kept.append(body[position:guard.start()])
        position = end + 1
    kept.append(body[position:])
    return "".join(kept)


def _plain_parameter(body: str, parameter: str) -> bool:
    """A parameter declared without a default and not assigned anywhere in the body."""
    name = re.escape(parameter)
    declared = re.search(rf"\]\s*\${name}\b(?!\s*=)", body, re.IGNORECASE)
    assigned = re.search(rf"\${name}\s*(?:=(?!=)|\+=|\[)", body, re.IGNORECASE)
    return declared is not None and assigned is None


def _closing_brace(text: str, opening: int) -> int | None:
    depth = 0
    for index in range(opening, len(text)):
        if text[index] == "{":
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return index
    return None

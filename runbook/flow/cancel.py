"""Stopping a running step cooperatively: the operator's stop is a flag the step's own calls check.

Every remote call a step makes goes through its context's ports, which check the token first;
so a stop lands only between two calls (never inside a journal append, a session save or a
pypsrp exchange) and the step comes back `interrupted`, exactly like Ctrl+C in the CLI.
"""
from __future__ import annotations

import threading
from typing import Any


class Stopped(KeyboardInterrupt):
    """The operator asked to stop; raised at the next safe point (before a remote call)."""


class CancelToken:
    def __init__(self) -> None:
        self._stop = threading.Event()

    def cancel(self) -> None:
        self._stop.set()

    def reset(self) -> None:
        self._stop.clear()

    @property
    def cancelled(self) -> bool:
        return self._stop.is_set()

    def check(self) -> None:
        if self._stop.is_set():
            raise Stopped("stopped by the operator before the next remote call")


class Checked:
    """A port (directory, hosts, a host's shell) whose every call checks the token first."""

    def __init__(self, port: Any, token: CancelToken):
        self._port, self._token = port, token

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._port, name)
        if not callable(attribute) or name == "close":
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            self._token.check()
            result = attribute(*args, **kwargs)
            # A host's shell is handed out by the hosts port: its calls are remote calls too.
            return Checked(result, self._token) if name == "shell" else result
        return call

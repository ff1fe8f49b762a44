"""Asking the operator from a worker thread: push a modal on the UI thread, block the worker until it closes.

The engine takes plain callables (`confirm`, the backends' password prompt) and
calls them from inside a worker; this turns each call into a typed modal. When
the app closes, every pending question is answered None (no) so no worker
thread is left waiting for a screen that will never come.
"""
from __future__ import annotations

import threading
from concurrent.futures import Future
from typing import Any

from textual.app import App
from textual.screen import ModalScreen


class Asker:
    def __init__(self, app: App) -> None:
        self.app = app
        self._pending: set[Future] = set()
        self._closed = False
        self._guard = threading.Lock()

    def ask(self, modal: ModalScreen[Any]) -> Any:
        """Called from a worker thread only; returns the modal's result (None when the app is closing)."""
        if threading.current_thread() is threading.main_thread():
            raise RuntimeError("Asker.ask blocks: call it from a thread worker, not the UI thread")
        future: Future = Future()
        with self._guard:
            if self._closed:
                return None
            self._pending.add(future)

        def answer(result: Any) -> None:
            if not future.done():
                future.set_result(result)

        try:
            self.app.call_from_thread(self.app.push_screen, modal, answer)
            return future.result()
        except RuntimeError:  # the app stopped running between our check and the push
            return None
        finally:
            with self._guard:
                self._pending.discard(future)

    def cancel_pending(self) -> None:
        """Answer every open question None: its screen is going away."""
        with self._guard:
            pending = list(self._pending)
        for future in pending:
            if not future.done():
                future.set_result(None)

    def close(self) -> None:
        with self._guard:
            self._closed = True
        self.cancel_pending()

    def password(self, prompt: str) -> str | None:
        """The backends' `Options.prompt`: a no-echo modal; the value lives only in the caller's frame."""
        from screens.modals import PasswordModal

        return self.ask(PasswordModal(prompt))

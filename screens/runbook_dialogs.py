"""What the runbook screen asks the operator, each question a typed modal.

Before an operation (a note, a reason, a checklist left unticked, stopping the running step, taking the wheel)
the modal is pushed on the UI thread and its answer becomes one call on the session controller. While an
operation runs, its worker asks through the app's Asker and waits for the answer (the exact change to confirm,
the reason to record a step done although its verification disagrees).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from screens.modals import ConfirmModal, OverrideModal, PointOfNoReturnModal, TextModal

if TYPE_CHECKING:
    from screens.runbook_screen import RunbookScreen
    from screens.session_controller import SessionController


class SessionDialogs:
    def __init__(self, screen: RunbookScreen) -> None:
        self.screen = screen

    @property
    def session(self) -> SessionController:
        return self.screen.session

    # -- from an operation's worker (each blocks that worker until answered) ---------------------------------
    def confirm_change(self, question: str, lines: list[str], restart_host: str | None) -> bool:
        """The exact lines the engine will apply; a restart's host is typed to consent to it."""
        modal = PointOfNoReturnModal(question, lines, restart_host) if restart_host else ConfirmModal(question, lines)
        return bool(self.screen.runbook_app.asker.ask(modal))

    def reason_to_override(self, question: str, mismatches: list[str]) -> str | None:
        reason = self.screen.runbook_app.asker.ask(OverrideModal(question, mismatches))
        return str(reason) if reason else None

    # -- before an operation (on the UI thread) -----------------------------------------------------------------

    def done(self, key: str) -> None:
        unticked, total = self.session.unticked(key)
        if unticked:  # a checklist half ticked is often a checklist half done: ask before recording it
            self.screen.app.push_screen(ConfirmModal(f"{len(unticked)} of {total} checklist items of {key} are not "
                                                     "ticked. Record it done anyway?", unticked, yes="Record done",
                                                     no="Back to the checklist", title="Unticked items"),
                                        lambda yes: self._done_note(key) if yes else None)
        else:
            self._done_note(key)

    def _done_note(self, key: str) -> None:
        self._ask_text(f"Record {key} as done by hand", "Optional note (what you did, a ticket number); enter "
                       "verifies it read-only, then records it",
                       lambda note: self.session.mark(key, "done", note or None))

    def skip(self, key: str) -> None:
        self._ask_text(f"Skip {key}", "Why is it skipped? (journaled with your name)",
                       lambda note: self.session.mark(key, "skip", note), allow_empty=False)

    def reopen(self, key: str) -> None:
        self._ask_text(f"Reopen {key}", "Back to pending. Why? (journaled)",
                       lambda note: self.session.mark(key, "reopen", note or None))

    def note(self, key: str | None) -> None:
        self._ask_text(f"Note on {key}" if key else "Note", "A note for the journal (and the step)",
                       lambda text: self.session.add_note(key, text) if text else None, allow_empty=False)

    def hand_over(self) -> None:
        self._ask_text("Hand over", "A note for the next driver: what is done, what is open, why (journaled). "
                       "This view then only follows.", self._hand_over, allow_empty=False)

    def _hand_over(self, note: str) -> None:
        if note.strip() and not self.session.why_not("handover", None):  # still driving, nothing running
            self.session.hand_over(note)

    def stop(self) -> None:
        doing = self.session.busy
        if not doing:
            return
        self.screen.app.push_screen(ConfirmModal(f"Stop {doing}?", [
            "It stops after the remote call in flight returns (each has a timeout).",
            "What it already changed stays recorded; the step shows as interrupted, and",
            "v verifies it before anything else may run.",
        ], yes="Stop", no="Let it finish", title="Stop"), lambda yes: self._stop(doing) if yes else None)

    def _stop(self, doing: str) -> None:
        if self.session.busy == doing and not self.session.stop():
            self.screen.notify("it had already finished", title="stop")

    def drive(self) -> None:
        self.screen.app.push_screen(ConfirmModal("Drive this session from here?", self.session.takeover_lines(),
                                                 yes="Drive", title="Take the wheel"), self._drive_answer)

    def _drive_answer(self, yes: bool | None) -> None:
        if yes:
            self.session.open(drive=True, takeover=True, reloaded=True)

    def _ask_text(self, title: str, prompt: str, then: Callable[[str], None], *, allow_empty: bool = True) -> None:
        self.screen.app.push_screen(TextModal(title, prompt, allow_empty=allow_empty),
                                    lambda text: then(text) if text is not None else None)

"""Loading a session as its journal says: the snapshot file plus the entries written after it.

The snapshot names the journal position it reflects ({seq, hash, offset}); the entries after
that offset are applied (runbook.record.replay) when they chain on from it. A missing or cut-off
snapshot is rebuilt from the whole journal; a snapshot whose position the journal does not
hold is used as it is (the journal check then says what is wrong with the journal).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from runbook.errors import BadInput, SessionFileError
from runbook.record import parsed, replay, store
from runbook.record.journal import GENESIS, Journal
from runbook.record.session import Session


def position(entry: dict[str, Any] | None, offset: int) -> dict[str, Any]:
    if entry is None:
        return {"seq": 0, "hash": GENESIS, "offset": 0}
    return {"seq": entry["seq"], "hash": entry["hash"], "offset": offset}


def load(path: Path) -> Session:
    data = parsed.read(path)  # what the last snapshot write parsed to, while the file is still that file
    if data is None:
        data, damaged = store.read_snapshot(path)
        if damaged:
            return _rebuild(path, Journal(store.journal_path(path)), damaged)
    session = Session.from_dict(data, str(path))
    journal = Journal(store.journal_path(path))
    if session.journal is None:  # written before the journal was the record (schema 1): the file is the truth
        return session
    _catch_up(session, journal)
    return session


def _rebuild(path: Path, journal: Journal, damaged: str) -> Session:
    first = next(journal.entries(), None)
    if not replay.rebuildable(first):
        if damaged == "the session file is missing":
            raise BadInput(f"SESSION: {path} does not exist (create it with `runbook new {path.stem} --params "
                           "FILE`)")
        raise SessionFileError(f"{path}: {damaged}, and its journal cannot rebuild it (no journal, or one written "
                               "before the journal held the whole record); left untouched")
    session: Session | None = None
    last: dict[str, Any] | None = None
    offset = 0
    for end, entry in journal.entries_with_offsets():
        if last is not None and entry.get("prev") != last.get("hash"):
            break  # a broken chain: what follows is not part of this record
        session = replay.apply(session, entry, str(journal.path))
        last, offset = entry, end
    assert session is not None
    session.journal = position(last, offset)
    session.recovered = f"rebuilt from its journal ({damaged}; {last['seq'] if last else 0} entries applied)"
    return session


def _catch_up(session: Session, journal: Journal) -> None:
    """Apply the entries after the snapshot's position, found at its offset or, failing that, by a scan."""
    assert session.journal is not None
    seq, digest, offset = (session.journal.get(key) for key in ("seq", "hash", "offset"))
    if not isinstance(seq, int) or not isinstance(digest, str):
        return
    size = journal.size()
    if not isinstance(offset, int) or offset > size:
        offset = None
    if offset == size:
        return
    tail = list(journal.entries_with_offsets(start=offset)) if offset is not None else []
    if not tail or tail[0][1].get("seq") != seq + 1 or tail[0][1].get("prev") != digest:
        tail = _after(journal, seq, digest)
    previous = digest
    for end, entry in tail:
        if entry.get("prev") != previous:
            break
        replay.apply(session, entry, str(journal.path))
        session.journal = position(entry, end)
        previous = entry["hash"]


def _after(journal: Journal, seq: int, digest: str) -> list[tuple[int, dict[str, Any]]]:
    found = seq == 0 and digest == GENESIS
    tail: list[tuple[int, dict[str, Any]]] = []
    for end, entry in journal.entries_with_offsets():
        if found:
            tail.append((end, entry))
        elif entry.get("seq") == seq and entry.get("hash") == digest:
            found = True
    return tail

"""The session file's parsed twin: `<name>.parsed.json`, what parsing the YAML snapshot gave, as JSON.

The YAML file stays the snapshot an operator reads and the tool writes. Importing PyYAML and parsing with it were
most of what `runbook status` cost, for a file that changes only at a snapshot (runbook.record.recorder says when),
so the writer of each snapshot keeps the same data here as JSON, and readers use it while the session file is
still the very file it was written as: same device, inode, size, modification and change time. Every write of
the session is a new file (write_atomic renames a new one into place) and any edit changes its times, so a
rewritten or edited file never matches an old twin. A twin that is missing, stale, damaged or a symlink is
simply not used; it is never the record. Only the driver writes it (with the snapshot): readers write nothing.
It holds exactly the session file's data (data JSON would not give back the same is not kept), 0600 like it.
"""
from __future__ import annotations

import json
import os
import stat
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

FORMAT = 1
NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def twin_path(session: Path) -> Path:
    return session.with_name(session.stem + ".parsed.json")


def read(session: Path) -> dict[str, Any] | None:
    """The data parsed from the session file as it is now, or None (parse it)."""
    try:
        info = os.lstat(session)
        if not stat.S_ISREG(info.st_mode):
            return None  # a symlink or anything else planted there: the full read refuses it, with why
        fd = os.open(twin_path(session), os.O_RDONLY | NOFOLLOW)
        with os.fdopen(fd, "rb") as handle:
            twin = json.loads(handle.read())
    except (OSError, ValueError):
        return None
    if not isinstance(twin, dict) or twin.get("format") != FORMAT or twin.get("of") != _identity(info):
        return None
    data = twin.get("data")
    return data if isinstance(data, dict) else None


def keep(session: Path, data: dict[str, Any]) -> None:
    """After the snapshot `data` was written to `session` (by the lock holder: nobody else writes it), keep its
    twin. Best effort: a value JSON would not give back the same (a non-text key, a tuple) or a folder that
    refuses the write only means readers parse the YAML."""
    from runbook.record.store import write_atomic

    try:
        info = os.lstat(session)
        text = json.dumps({"format": FORMAT, "of": _identity(info), "data": data}, ensure_ascii=False)
        if json.loads(text)["data"] != data:
            return
        write_atomic(twin_path(session), text, mode=0o600, sync=False)
    except (OSError, TypeError, ValueError):
        pass


def _identity(info: os.stat_result) -> list[int]:
    return [info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns]

"""Where sessions live and how they are written: readable YAML, atomically, never over a file we cannot read."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from runbook import clock
from runbook.errors import BadInput, SessionFileError, StorageError
from runbook.inputs import safe_text
from runbook.record import crashpoints
from runbook.record.session import Session


def load_yaml(text: str) -> Any:
    """Plain YAML with the loader sessions are read with (the lab's state file shares its speed)."""
    from runbook.inputs import yaml_codec

    return yaml_codec.load(text)


def sessions_dir() -> Path:
    return Path(os.environ.get("RUNBOOK_SESSIONS_DIR") or "sessions")


def session_path(spec: str) -> Path:
    """A path stays a path; a bare name means <sessions dir>/<name>.yaml."""
    if os.sep in spec or spec.endswith((".yaml", ".yml")) or (os.altsep and os.altsep in spec):
        return Path(spec)
    if not spec or spec.startswith("."):
        raise BadInput(f"SESSION: {spec!r} is not a session name or path")
    return sessions_dir() / f"{spec}.yaml"


def journal_path(path: Path) -> Path:
    return path.with_name(path.stem + ".journal.jsonl")


def lock_path(path: Path) -> Path:
    return path.with_name(path.stem + ".lock")


def dump_yaml(data: Any) -> str:
    from runbook.inputs import yaml_codec

    return yaml_codec.dump(data)


def write_atomic(path: Path, text: str, mode: int | None = None, sync: bool = True) -> None:
    """Write to a temp file in the same folder, fsync, then rename over: a crash leaves the old file intact.

    `mode` is set before the rename, so no reader ever sees the file with other permissions.
    """
    import tempfile  # only writers pay for it (tempfile pulls in random and shutil): `status` never writes

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        if mode is not None:
            os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            if sync:  # without it a killed process still leaves the whole file; only a power cut could not
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    if not sync:
        return
    try:  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass


END = "end_of_snapshot"  # the last key written: a file cut anywhere before its last line lacks it
HEADER = "# certauth-runbook session — a snapshot of its journal, written by the tool; edit only with care\n"
DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(folder: Path) -> None:
    """The sessions folder holds plans, DNs and notes: 0700 whatever the umask (only when we create it)."""
    if not folder.exists():
        folder.mkdir(parents=True, mode=DIR_MODE, exist_ok=True)
        try:
            os.chmod(folder, DIR_MODE)
        except OSError:
            pass


def save(session: Session, path: Path) -> None:
    """Write the snapshot (atomically, 0600). A file that was found damaged is moved aside first, never
    overwritten: `<name>.yaml.damaged-<time>` keeps it for whoever wants to see what happened."""
    private_dir(path.parent)
    if session.recovered and path.exists() and not path.is_symlink():
        stamp = clock.now_iso().replace(":", "")
        aside = path.with_name(f"{path.name}.damaged-{stamp}")
        number = 1
        while aside.exists():
            aside, number = aside.with_name(f"{path.name}.damaged-{stamp}-{number}"), number + 1
        os.replace(path, aside)
        session.kept_aside = aside.name
    crashpoints.reached("snapshot.write")
    data = session.to_dict()
    try:
        write_atomic(path, HEADER + dump_yaml({**data, END: True}), mode=FILE_MODE)
    except OSError as exc:
        raise StorageError.from_os(exc, path, kept="the journal holds every step record; the session file is "
                                                   "rebuilt from it") from None
    from runbook.record import parsed

    parsed.keep(path, data)
    session.recovered = None  # written whole again: nothing more to move aside


def load(path: Path) -> Session:
    """The session as its journal says: the snapshot, plus the journal entries written after it; rebuilt from
    the journal alone when the file is missing or cut off. A file edited into something unreadable is left
    untouched (exit 2)."""
    from runbook.record import snapshot

    return snapshot.load(path)


def read_snapshot(path: Path) -> tuple[Any, str | None]:
    """(the parsed file, None) or (None, why it is damaged: missing / cut off); SessionFileError for a whole
    file that is not a session (edited by hand: never overwritten, never silently replaced)."""
    try:
        text = safe_text.read_text(path, follow_links=False)
    except safe_text.UnsafeFile as exc:
        raise SessionFileError(f"{path}: {exc}; left untouched") from None
    except FileNotFoundError:
        return None, "the session file is missing"
    except OSError as exc:
        raise SessionFileError(f"{path}: cannot read ({exc.strerror})") from exc
    from runbook.inputs import yaml_codec

    whole = f"\n{END}: true" in text
    try:
        safe_text.refuse_aliases(text)
        data = yaml_codec.load(text)
    except safe_text.UnsafeFile as exc:
        raise SessionFileError(f"{path}: {exc}; left untouched") from None
    except yaml_codec.YAMLError as exc:
        if whole or "schema: 2" not in text[:300] and text.strip():
            raise SessionFileError(f"{path}: not valid YAML, left untouched ({exc})") from exc
        return None, "the session file is cut off (not valid YAML)"
    if not text.strip():
        return None, "the session file is empty"
    if not isinstance(data, dict) and not whole:
        return None, "the session file is cut off (no settings left in it)"
    if isinstance(data, dict) and data.get("schema") == 2 and data.pop(END, None) is not True:
        return None, "the session file is cut off (its last line is missing)"
    return data, None

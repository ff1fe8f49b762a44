"""Where sessions live and how they are written: readable YAML, atomically, never over a file we cannot read."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

from runbook import safe_text
from runbook.errors import BadInput, SessionFileError
from runbook.session import Session

try:  # the C loader keeps `runbook status` fast on big sessions
    from yaml import CSafeDumper as _Dumper
    from yaml import CSafeLoader as Loader
except ImportError:  # pragma: no cover - pyyaml without libyaml
    from yaml import SafeDumper as _Dumper  # type: ignore[assignment]
    from yaml import SafeLoader as Loader  # type: ignore[assignment]


class Dumper(_Dumper):  # type: ignore[misc,valid-type]
    """Writes a value that appears twice out twice: the files we write never hold an alias (loading refuses them)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


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
    return yaml.dump(data, Dumper=Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False, width=110)


def write_atomic(path: Path, text: str, mode: int | None = None) -> None:
    """Write to a temp file in the same folder, fsync, then rename over: a crash leaves the old file intact.

    `mode` is set before the rename, so no reader ever sees the file with other permissions.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        if mode is not None:
            os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass


def save(session: Session, path: Path) -> None:
    write_atomic(path, "# certauth-runbook session — written by the tool; edit only with care\n" +
                 dump_yaml(session.to_dict()))


def load(path: Path) -> Session:
    try:
        text = safe_text.read_text(path, follow_links=False)
        safe_text.refuse_aliases(text)
    except safe_text.UnsafeFile as exc:
        raise SessionFileError(f"{path}: {exc}; left untouched") from None
    except yaml.YAMLError as exc:
        raise SessionFileError(f"{path}: not valid YAML, left untouched ({exc})") from exc
    except FileNotFoundError:
        raise BadInput(f"SESSION: {path} does not exist (create it with `runbook new {path.stem} --params FILE`)") \
            from None
    except OSError as exc:
        raise SessionFileError(f"{path}: cannot read ({exc.strerror})") from exc
    try:
        data = yaml.load(text, Loader=Loader)
    except yaml.YAMLError as exc:
        raise SessionFileError(f"{path}: not valid YAML, left untouched ({exc})") from exc
    return Session.from_dict(data, str(path))

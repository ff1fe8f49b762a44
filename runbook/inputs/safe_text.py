"""Reading an operator-supplied YAML file without letting it hang, flood or trick the tool.

A FIFO or device at the path would block every command; a non-UTF-8 file would end in a
traceback; YAML aliases let 1 KB expand into gigabytes (the "billion laughs"). None of
these has a place in a params or session file, so each is refused with the path and why.
"""
from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

MAX_BYTES = 4 * 1024 * 1024  # far above any real params or session file


class UnsafeFile(ValueError):
    """The file cannot be read as plain YAML text; the message says why (without the path)."""


def read_text(path: Path, *, follow_links: bool = True) -> str:
    """The file's text, or UnsafeFile / OSError (FileNotFoundError stays itself). Session files are read with
    follow_links=False: a symlink planted at a session path must not redirect the record."""
    flags = os.O_RDONLY | os.O_NONBLOCK | (0 if follow_links else getattr(os, "O_NOFOLLOW", 0))
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if not follow_links and exc.errno == errno.ELOOP:
            raise UnsafeFile("is a symbolic link; session files are opened only as themselves") from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnsafeFile("not a regular file (a FIFO, device or directory); expected a YAML file")
        if info.st_size > MAX_BYTES:
            raise UnsafeFile(f"{info.st_size} bytes is too large (at most {MAX_BYTES}); expected a YAML file")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(MAX_BYTES + 1)
    finally:
        os.close(fd)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnsafeFile(f"not UTF-8 text (byte {exc.start}); expected a YAML file saved as UTF-8") from None


def refuse_aliases(text: str) -> None:
    """YAML aliases (*name) can expand a tiny file into an enormous tree: a params/session file never needs one."""
    if "*" not in text:  # an alias is written *name: without a star there is none to find
        return
    import yaml

    from runbook.inputs import yaml_codec  # libyaml's loader: a big session file in a fraction of the time

    for event in yaml.parse(text, Loader=yaml_codec.Loader):
        if isinstance(event, yaml.AliasEvent):
            # The parser always marks an event; the stubs allow a hand-made event without one.
            where = f"line {event.start_mark.line + 1}: " if event.start_mark else ""
            raise UnsafeFile(f"{where}YAML aliases (*{event.anchor}) are not accepted; write the value out")

"""Crash-safe small-file writes, shared by the runtime, the desktop app and the provider tools.

One implementation of "temp file in the same directory, permissions set before the first byte,
fsync, atomic rename", so a reader sees the old file or the new one, never a torn one, and a
secret-bearing file is never readable by others, not even for a moment.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def atomic_write(
    path: Path,
    data: str | bytes,
    mode: int = 0o600,
    *,
    gid: int | None = None,
    fsync: bool = True,
    parents: bool = True,
) -> None:
    """Replace `path` with `data` (str is written as UTF-8) atomically, as a file of `mode`.

    `gid` sets the file's group (e.g. so a system nginx's workers may read a 0640 file).
    `fsync` flushes the file and then its directory to disk before returning (off for files
    that are cheap to regenerate). `parents` creates missing parent directories; without it a
    missing directory is an error (for callers that create and track directories themselves).
    """
    path = Path(path)
    if parents:
        path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        if gid is not None:
            os.fchown(fd, -1, gid)
        raw = data.encode("utf-8") if isinstance(data, str) else data
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            if fsync:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if fsync:
        _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    """Flush `directory`'s entries (so the rename survives a crash); best effort."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    with contextlib.suppress(OSError):
        dfd = os.open(directory, os.O_DIRECTORY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)

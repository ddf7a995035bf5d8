"""Files shared by the runtime, the desktop app and the provider tools: writes, locks, log tails.

- `atomic_write`: "temp file in the same directory, permissions set before the first byte,
  fsync, atomic rename", so a reader sees the old file or the new one, never a torn one, and a
  secret-bearing file is never readable by others, not even for a moment.
- Inter-process locks on lock files (flock on POSIX, msvcrt on Windows): `try_lock`/`unlock` on
  a descriptor, `try_lock_file` (held until the descriptor is closed), `locked` (a `with`
  block), `lock_held` (a probe). A crashed holder's lock vanishes with it.
- `tail_lines`/`tail_text`: the last lines of a log, read backwards so a huge log costs little.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

TAIL_MAX_BYTES = 8 * 1024 * 1024
"""How far back `tail_lines` reads at most."""


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


if sys.platform == "win32":  # pragma: no cover - the desktop app on Windows
    import msvcrt

    def try_lock(fd: int) -> bool:
        """Lock `fd` exclusively without waiting; False when another process holds it."""
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def unlock(fd: int) -> None:
        """Release `try_lock`'s lock (closing the descriptor also does)."""
        with contextlib.suppress(OSError):
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def try_lock(fd: int) -> bool:
        """Lock `fd` exclusively without waiting; False when another process holds it."""
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return False
            raise
        return True

    def unlock(fd: int) -> None:
        """Release `try_lock`'s lock (closing the descriptor also does)."""
        fcntl.flock(fd, fcntl.LOCK_UN)


def open_lock_file(path: Path) -> int:
    """`path` opened for locking: created 0600, not inherited by child processes."""
    return os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)


def try_lock_file(path: Path) -> int | None:
    """Open and lock `path` without waiting: its descriptor (close it to unlock), or None when
    another process holds the lock."""
    fd = open_lock_file(path)
    try:
        if try_lock(fd):
            return fd
    except BaseException:
        os.close(fd)
        raise
    os.close(fd)
    return None


@contextlib.contextmanager
def locked(
    path: Path, timeout: float | None = None, busy: Callable[[], Exception] | None = None
) -> Iterator[None]:
    """Hold an exclusive inter-process lock on `path` (created 0600) for the `with` block.

    Polls (no blocking call has a timeout on every platform); with a `timeout`, after that many
    seconds raises `busy()` (default: TimeoutError naming the lock file).
    """
    fd = open_lock_file(path)
    try:
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.001
        while not try_lock(fd):
            if deadline is not None and time.monotonic() >= deadline:
                if busy is not None:
                    raise busy()
                raise TimeoutError(f"{path} has been locked by another process for {timeout} s")
            time.sleep(delay)
            delay = min(delay * 2, 0.02)
        try:
            yield
        finally:
            unlock(fd)
    finally:
        os.close(fd)


def lock_held(path: Path) -> bool:
    """True when some process holds a lock on `path` (False when it does not exist)."""
    try:
        fd = os.open(path, os.O_RDWR | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return False
    try:
        return not try_lock(fd)
    finally:
        os.close(fd)  # closing drops the lock we may just have taken


def tail_lines(path: Path, n: int, *, max_bytes: int = TAIL_MAX_BYTES) -> list[str]:
    """The last `n` lines of a text file (UTF-8, bad bytes replaced); raises OSError.

    Reads backwards in 64 KiB blocks until it has `n` lines or has read `max_bytes`.
    """
    if n <= 0:
        return []
    with open(path, "rb") as fh:
        size = fh.seek(0, os.SEEK_END)
        pos = size
        data = b""
        while pos > 0 and data.count(b"\n") <= n and size - pos < max_bytes:
            step = min(64 * 1024, pos, max_bytes - (size - pos))
            pos -= step
            fh.seek(pos)
            data = fh.read(step) + data
    return data.decode("utf-8", "replace").splitlines()[-n:]


def tail_text(path: Path, n: int, *, max_bytes: int = TAIL_MAX_BYTES) -> str:
    """`tail_lines` as text, each line ending in a newline; "" when the file cannot be read."""
    try:
        lines = tail_lines(path, n, max_bytes=max_bytes)
    except OSError:
        return ""
    return "\n".join(lines) + ("\n" if lines else "")

"""Find processes a test left behind: anything still running that belongs to its ERIGOLEM_HOME.

A process belongs to a test when its command line names the test's home directory or its
environment carries ``ERIGOLEM_HOME=<home>`` (runtimes, anvil and detached `erigolem` processes
inherit it). nginx overwrites both with its title, so an nginx process (a worker left by a
killed master, say) belongs to the test when one of its open files is under the home.
Linux only (/proc); elsewhere nothing is found.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def _opens_under(entry: Path, home: str) -> bool:
    """Whether the process has a file open below `home` (its log files, for nginx)."""
    try:
        fds = list((entry / "fd").iterdir())
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(fd).startswith(home + "/"):
                return True
        except OSError:
            continue
    return False


def processes_of(home: Path) -> dict[int, str]:
    """pid -> command line of live processes tied to ``home`` (never this process)."""
    needle = str(home).encode()
    env_marker = b"ERIGOLEM_HOME=" + needle
    found: dict[int, str] = {}
    proc = Path("/proc")
    if not proc.is_dir():
        return found
    me = os.getpid()
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        stat = _read(entry / "stat")
        if b") Z" in stat:  # a zombie holds nothing; its parent will reap it
            continue
        cmdline = _read(entry / "cmdline")
        environ = _read(entry / "environ")
        if (
            needle in cmdline
            or any(
                item == env_marker or item.startswith(env_marker + b"/")
                for item in environ.split(b"\0")
            )
            or (cmdline.startswith(b"nginx: ") and _opens_under(entry, str(home)))
        ):
            found[int(entry.name)] = cmdline.replace(b"\0", b" ").decode(errors="replace").strip()
    return found


def reap_leftovers(home: Path, grace: float = 5.0) -> dict[int, str]:
    """Wait up to ``grace`` s for the home's processes to end; kill and return those that don't."""
    deadline = time.monotonic() + grace
    left = processes_of(home)
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = processes_of(home)
    for pid in left:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    return left

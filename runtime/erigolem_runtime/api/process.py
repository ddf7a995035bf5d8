"""Processes: /proc parsing, start-time tokens and process-group signalling, written once.

Used by the runtime (its client processes, the private nginx master) and by the desktop (a
runtime left behind by a crashed app). The rule they serve (DESIGN.md): signal only processes
you can prove you started, so a pid is always checked together with its start time.

Linux reads /proc; elsewhere `kill(pid, 0)` is all there is and start times are unknown.
Extending: add a reader here (e.g. a process's environment marker) rather than opening
/proc/<pid>/... in another module.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

_PROC = Path("/proc")


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (field 3 on); None if absent."""
    try:
        text = (_PROC / str(pid) / "stat").read_text()
        return text.rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def have_procfs() -> bool:
    return (_PROC / "self").exists()


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks (Linux), to tell a reused pid from the owner."""
    fields = _stat_fields(pid) if pid > 0 else None
    if fields is None or len(fields) < 20:
        return None
    try:
        return int(fields[19])  # field 22 of stat: starttime
    except ValueError:
        return None


def process_token(pid: int) -> str | None:
    """Something that identifies the process `pid` across pid reuse (Linux: its start time).

    None if the process does not exist (or is a zombie); "" where the platform cannot tell
    more than that it exists.
    """
    if pid <= 0:
        return None
    if have_procfs():
        fields = _stat_fields(pid)
        if fields is None or len(fields) < 20 or fields[0] in ("Z", "X"):
            return None
        return fields[19]
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return ""
    return ""


def pid_alive(pid: int, start: int | None = None) -> bool:
    """True if `pid` runs (not a zombie) and, when given, started at `start` (clock ticks)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except FileNotFoundError:
        return not have_procfs()  # no procfs (macOS): kill(0) is all we have
    except OSError:
        return True
    fields = text.rsplit(")", 1)[1].split()
    if fields[0] in ("Z", "X"):
        return False
    return start is None or int(fields[19]) == start


def cmdline(pid: int) -> bytes | None:
    """The raw NUL-separated command line; None when unreadable (gone, or no procfs)."""
    try:
        return (_PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return None


def children(pid: int) -> list[int]:
    """Child pids of `pid` (Linux procfs; empty elsewhere)."""
    try:
        text = (_PROC / str(pid) / "task" / str(pid) / "children").read_text()
        return [int(x) for x in text.split()]
    except OSError:
        pass
    kids = []
    with contextlib.suppress(OSError):
        for entry in _PROC.iterdir():
            if entry.name.isdigit():
                fields = _stat_fields(int(entry.name))
                with contextlib.suppress(IndexError, ValueError, TypeError):
                    if fields is not None and int(fields[1]) == pid:
                        kids.append(int(entry.name))
    return kids


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (children, their children, ...), breadth first."""
    found: list[int] = []
    queue = children(pid)
    while queue:
        kid = queue.pop(0)
        if kid not in found:
            found.append(kid)
            queue.extend(children(kid))
    return found


def cpu_seconds(pid: int) -> float | None:
    """CPU time `pid` has used so far, user plus system, in seconds (Linux); None if gone."""
    fields = _stat_fields(pid) if pid > 0 else None
    if fields is None or len(fields) < 13:
        return None
    try:
        ticks = int(fields[11]) + int(fields[12])  # fields 14 and 15 of stat: utime, stime
    except ValueError:
        return None
    return ticks / os.sysconf("SC_CLK_TCK")


def rss_bytes(pid: int) -> int | None:
    """The resident memory of `pid` in bytes (Linux /proc/<pid>/statm); None if gone."""
    try:
        pages = int((_PROC / str(pid) / "statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


def signal_group(pgid: int, sig: signal.Signals, *, leader: bool = False) -> None:
    """Send `sig` to process group `pgid` (and, with `leader`, to the pid itself as well).

    Gone processes and foreign ones are ignored: callers have proven the group is theirs.
    The leader is signalled separately for a leader that left its group (setsid again).
    """
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
    if leader:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pgid, sig)


def terminate_group(pgid: int, grace: float = 3.0) -> None:
    """TERM the group led by `pgid`, then KILL it if its leader outlives `grace` seconds.

    Blocking (sleeps while it waits): call it from a thread in async code.
    """
    for sig in (signal.SIGTERM, signal.SIGKILL):
        signal_group(pgid, sig, leader=True)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and process_token(pgid) is not None:
            time.sleep(0.05)
        if process_token(pgid) is None:
            return

"""Processes: /proc parsing, start-time tokens and process-group signalling, written once.

Used by the runtime (its client processes, the private nginx master) and by the desktop (a
runtime left behind by a crashed app). The rule they serve (DESIGN.md): signal only processes
you can prove you started, so a pid is always checked together with its start time.

Linux reads /proc; elsewhere `kill(pid, 0)` is all there is and start times are unknown.
Extending: add a reader here rather than opening /proc/<pid>/... in another module.

Proof of identity (`identify` at spawn, `unproven` before a signal): the start-time token, the
executable and the project's marker, a random value in `MARKER_ENV` that the project puts in the
environment of every process it spawns and records next to the pid. A pid whose identity
cannot be read (no procfs, another user's process) is never proven: callers fail closed.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import secrets
import signal
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

_PROC = Path("/proc")

#: Environment variable with a per-spawn random value: the project's mark on its children.
MARKER_ENV = "ERIGOLEM_SPAWN_MARK"

#: Never passed to a child, whatever it keeps: the wallet's secrets.
SECRET_ENV = frozenset({"ERIGOLEM_PASSPHRASE", "ERIGOLEM_KEYSTORE_PASSWORD"})
#: Names that look like secrets are dropped unless a caller names them in `keep`.
_SECRET_WORDS = ("PASSPHRASE", "PASSWORD", "SECRET", "PRIVATE", "APPKEY", "TOKEN", "CREDENTIAL")
#: What any program needs to run, find its files and print text (POSIX and Windows); a child
#: gets these, the caller's `keep`, and nothing else. ERIGOLEM_HOME is a path, not a secret.
BASE_ENV = frozenset(
    {
        "PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TEMP", "TMP",
        "SYSTEMROOT", "SYSTEMDRIVE", "WINDIR", "COMSPEC", "PATHEXT", "USERPROFILE", "APPDATA",
        "LOCALAPPDATA", "ERIGOLEM_HOME",
    }
)  # fmt: skip
BASE_PREFIXES = ("LC_", "XDG_")
#: What a Python child of this installation needs besides BASE_ENV (venv, coverage, keyring).
PYTHON_PREFIXES = ("PYTHON", "VIRTUAL_ENV", "COVERAGE_")


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
    Group 0 (the caller's own) and 1 (init's) are refused: no record may name them.
    """
    if pgid <= 1:
        raise ValueError(f"refusing to signal process group {pgid}")
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
    if leader:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pgid, sig)


def terminate_group(
    pgid: int, grace: float = 3.0, *, token: str | None = None, group: bool = True
) -> None:
    """TERM the group led by `pgid`, then KILL it if its leader outlives `grace` seconds.

    With `token` (the leader's proven start token), nothing more is sent once the pid no longer
    has that token; without `group`, only the pid itself is signalled (it leads no group that
    is provably ours). Blocking (sleeps while it waits): call it from a thread in async code.
    """
    if pgid <= 1:
        raise ValueError(f"refusing to signal process group {pgid}")
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if token is not None and process_token(pgid) != token:
            return
        if group:
            signal_group(pgid, sig, leader=True)
        else:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pgid, sig)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and process_token(pgid) is not None:
            time.sleep(0.05)
        if process_token(pgid) is None:
            return


def process_group(pid: int) -> int | None:
    """The process group id of `pid` (Linux procfs); None when unknown."""
    fields = _stat_fields(pid) if pid > 0 else None
    try:
        return int(fields[2]) if fields is not None else None
    except (IndexError, ValueError):
        return None


def session_id(pid: int) -> int | None:
    """The session id of `pid` (Linux procfs); None when unknown."""
    fields = _stat_fields(pid) if pid > 0 else None
    try:
        return int(fields[3]) if fields is not None else None
    except (IndexError, ValueError):
        return None


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) pids whose process group is `pgid` (Linux procfs; empty elsewhere)."""
    found = []
    with contextlib.suppress(OSError):
        for entry in _PROC.iterdir():
            if entry.name.isdigit():
                fields = _stat_fields(int(entry.name))
                with contextlib.suppress(IndexError, ValueError):
                    if (
                        fields is not None
                        and fields[0] not in ("Z", "X")
                        and int(fields[2]) == pgid
                    ):
                        found.append(int(entry.name))
    return found


def executable(pid: int) -> str | None:
    """The path of the program `pid` runs (/proc/<pid>/exe); None when unreadable."""
    try:
        return os.readlink(_PROC / str(pid) / "exe")
    except OSError:
        return None


def environ_value(pid: int, name: str) -> str | None:
    """The value of `name` in the environment `pid` started with; None if absent/unreadable."""
    try:
        data = (_PROC / str(pid) / "environ").read_bytes()
    except OSError:
        return None
    prefix = name.encode() + b"="
    for item in data.split(b"\0"):
        if item.startswith(prefix):
            return item[len(prefix) :].decode("utf-8", "replace")
    return None


def child_environment(
    *,
    keep: tuple[str, ...] = (),
    keep_prefixes: tuple[str, ...] = (),
    extra: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment for a child: BASE_ENV, what the caller says it needs, never a secret.

    `keep` names variables the child needs even if they look secret (a Golem owner needs
    YAGNA_APPKEY); `keep_prefixes` whole families (minus secret-looking names). SECRET_ENV is
    never passed. `extra` is added last (the config path, the spawn marker).
    """
    src = os.environ if env is None else env
    prefixes = BASE_PREFIXES + keep_prefixes
    out: dict[str, str] = {}
    for name, value in src.items():
        if name in SECRET_ENV:
            continue
        if name in keep or (
            (name in BASE_ENV or name.startswith(prefixes))
            and not any(word in name.upper() for word in _SECRET_WORDS)
        ):
            out[name] = value
    out.update(extra or {})
    return out


def new_marker() -> str:
    """A fresh marker value for `MARKER_ENV` (one per spawned process)."""
    return secrets.token_hex(16)


def identify(pid: int) -> dict[str, str] | None:
    """What proves `pid` later: start token, executable, command-line digest, marker ("" if none).

    Record it right after spawning (the exec has happened when the spawn call returns).
    None when the process is gone or its identity cannot be read (no procfs, not ours).
    """
    token = process_token(pid)
    exe = executable(pid)
    line = cmdline(pid)
    if not token or exe is None or not line:
        return None  # gone, unreadable, a kernel thread, or still inside execve
    return {
        "token": token,
        "exe": exe,
        "cmdline": hashlib.sha256(line).hexdigest(),
        "marker": environ_value(pid, MARKER_ENV) or "",
    }


def unproven(pid: object, recorded: object, *, need_marker: bool = True) -> str | None:
    """Why `pid` is not provably the process `recorded` (from `identify`); None when it is.

    Proof needs pid > 1 and not this process, and the live process's start token, executable,
    command line and (with `need_marker`) non-empty marker all equal to the recorded ones.
    """
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 1:
        return f"pid {pid!r} is never signalled"
    if pid == os.getpid():
        return "it is this process"
    if not isinstance(recorded, Mapping) or not all(
        isinstance(recorded.get(k), str) and recorded.get(k) for k in ("token", "exe", "cmdline")
    ):
        return "the record holds no start time, executable and command line to check it against"
    rec: Mapping[str, Any] = recorded
    if need_marker and not rec.get("marker"):
        return "the record holds no marker of the project"
    live = identify(pid)
    if live is None:
        return "its identity cannot be read (gone, or not this user's process)"
    if live["token"] != rec["token"]:
        return "its start time differs from the recorded one (the pid was reused)"
    if live["exe"] != rec["exe"]:
        return f"it runs {live['exe']}, not {rec['exe']}"
    if live["cmdline"] != rec["cmdline"]:
        return "its command line differs from the recorded one"
    if need_marker and live["marker"] != rec["marker"]:
        return f"it does not carry the project's marker ({MARKER_ENV})"
    return None


_PR_SET_DUMPABLE = 4
_PR_GET_DUMPABLE = 3


def _prctl(option: int, arg: int = 0) -> int | None:
    """prctl(2) through libc (Linux); None where it cannot be called."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        result: int = libc.prctl(option, ctypes.c_ulong(arg), 0, 0, 0)
    except (OSError, AttributeError):
        return None
    return result


def forbid_core_dumps() -> list[str]:
    """Keep this process (it holds keys or a passphrase) out of core dumps; what was applied.

    RLIMIT_CORE 0 (inherited by children) and, on Linux, PR_SET_DUMPABLE 0, which also stops
    other processes of the same user from reading its memory through /proc or ptrace; a child
    is dumpable again after exec. Idempotent; a platform without either is left as it is.
    """
    done = []
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        done.append("RLIMIT_CORE=0")
    except (ImportError, ValueError, OSError):
        pass
    if _prctl(_PR_SET_DUMPABLE, 0) == 0:
        done.append("PR_SET_DUMPABLE=0")
    return done


def dumpable() -> bool | None:
    """Whether this process may dump core (PR_GET_DUMPABLE); None where unknown."""
    value = _prctl(_PR_GET_DUMPABLE)
    return None if value is None or value < 0 else bool(value)

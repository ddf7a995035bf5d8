"""nginx process control: running its commands, finding and stopping a private master.

Processes are read and signalled through `erigolem_runtime.api.process` only. The private
master is ours when its pid file names a live nginx master whose title carries our prefix
(`-p <prefix>/`, the project's mark: nginx overwrites its environment with the title) and
whose start time matches `logs/master.json`, written when the runtime started it. When that
master dies (SIGKILL), its workers keep serving the old config on the listen port: they are
still in its process group and session, so `reap_orphan_workers` finds and ends them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import time
from pathlib import Path
from typing import Any

from erigolem_runtime.api.files import atomic_write, tail_lines
from erigolem_runtime.api.process import (
    children,
    cmdline,
    executable,
    group_members,
    have_procfs,
    pid_alive,
    process_token,
    session_id,
    signal_group,
    start_time,
)
from erigolem_runtime.nginx.errors import NginxError

COMMAND_TIMEOUT_SEC = 30.0
SETTLE_TIMEOUT_SEC = 5.0
STOP_TIMEOUT_SEC = 5.0


def pid_from(pid_file: Path) -> int | None:
    """The pid in an nginx pid file; None when missing or garbage."""
    try:
        return int(pid_file.read_text().strip() or 0) or None
    except (OSError, ValueError):
        return None


def master_pid_file(prefix: Path) -> Path:
    return prefix / "logs" / "nginx.pid"


def master_record_file(prefix: Path) -> Path:
    """Where the runtime records the identity of the private master it started."""
    return prefix / "logs" / "master.json"


def _title_mark(prefix: Path) -> bytes:
    return f" -p {prefix}/ ".encode()


def master_candidate(prefix: Path) -> int | None:
    """The pid-file master if it is a live nginx master titled with our prefix (unrecorded)."""
    pid = pid_from(master_pid_file(prefix))
    if pid is None or pid <= 1 or not pid_alive(pid):
        return None
    line = cmdline(pid)
    if line is None:
        return pid if not have_procfs() else None  # macOS: the pid file in our prefix is all
    return pid if line.startswith(b"nginx: master") and _title_mark(prefix) in line else None


def record_master(prefix: Path, pid: int) -> None:
    """Record the identity of the master just started (pid, start token, executable)."""
    data = {"pid": pid, "token": process_token(pid), "exe": executable(pid)}
    atomic_write(master_record_file(prefix), json.dumps(data), mode=0o600, fsync=False)


def _master_record(prefix: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(master_record_file(prefix).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("pid"), int):
        return None
    return data


def running_master_pid(prefix: Path) -> int | None:
    """The pid of the nginx master running in `prefix`, if one runs and is provably ours."""
    pid = master_candidate(prefix)
    if pid is None or not have_procfs():
        return pid
    rec = _master_record(prefix)
    if rec is None or rec["pid"] != pid or not rec.get("token"):
        return None
    return pid if process_token(pid) == rec["token"] else None


def orphan_workers(prefix: Path) -> list[int]:
    """Workers left serving by our recorded private master after it died (e.g. SIGKILL).

    Proof: the recorded master is gone, and each one is in its process group and session (the
    kernel reuses no pid while a group of that id exists), runs the recorded executable, started
    after it, and is titled `nginx: ...`.
    """
    rec = _master_record(prefix)
    if rec is None:
        return []
    pid = rec["pid"]
    token = rec.get("token")
    if pid <= 1 or not isinstance(token, str) or not token.isdigit():
        return []
    if process_token(pid) is not None:
        return []  # the master lives (or the pid leads someone else's group): no orphans
    found = []
    for worker in group_members(pid):
        started = start_time(worker)
        line = cmdline(worker) or b""
        if (
            session_id(worker) == pid
            and executable(worker) == rec.get("exe")
            and started is not None
            and started >= int(token)
            and line.startswith(b"nginx: ")
        ):
            found.append(worker)
    return found


def reap_orphan_workers(prefix: Path, wait: float = STOP_TIMEOUT_SEC) -> list[int]:
    """SIGKILL the workers of our dead private master and wait until they are gone.

    Their listen socket is free again afterwards, so a new master can take the same port (node
    URLs stay the same). The master record is dropped once its master and workers are gone.
    Blocking (short waits): call it from a thread in async code. Returns the pids ended.
    """
    workers = orphan_workers(prefix)
    tokens = {w: process_token(w) for w in workers}
    for worker, token in tokens.items():
        if token is not None and process_token(worker) == token:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(worker, signal.SIGKILL)
    deadline = time.monotonic() + wait
    while any(process_token(w) == t for w, t in tokens.items() if t is not None):
        if time.monotonic() > deadline:
            break
        time.sleep(0.01)
    rec = _master_record(prefix)
    if rec is not None and process_token(rec["pid"]) is None and not orphan_workers(prefix):
        master_record_file(prefix).unlink(missing_ok=True)
    return workers


def accepting_worker(pid: int) -> bool:
    """True while an nginx worker runs and has not begun its graceful shutdown.

    A worker retitles itself "worker process is shutting down" right before it closes its
    listening sockets, in the same step, so after that it accepts no new connection.
    """
    if not pid_alive(pid):
        return False
    line = cmdline(pid)
    return line is not None and b"shutting down" not in line


def workers_of(pid: int | None) -> list[int]:
    """The master's current workers (to wait until they stop accepting after a reload)."""
    return children(pid) if pid else []


async def wait_workers_retired(old: list[int], what_failed: str) -> None:
    """Wait until none of `old` accepts connections (a reload took effect), bounded."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_SEC
    while any(accepting_worker(w) for w in old):
        if time.monotonic() > deadline:
            raise NginxError(
                f"nginx did not reload within {SETTLE_TIMEOUT_SEC:.0f} s; {what_failed}"
            )
        await asyncio.sleep(0.005)


def stop_private_nginx(prefix: Path, timeout: float = STOP_TIMEOUT_SEC) -> bool:
    """Stop the private master in `prefix` (TERM, then KILL) and any orphaned workers.

    True if a master was running. For fixtures and cleanup code; the runtime itself stops the
    master when its last instance goes away.
    """
    prefix = Path(prefix)
    pid = running_master_pid(prefix)
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        if pid_alive(pid):
            signal_group(pid, signal.SIGKILL, leader=True)
    reap_orphan_workers(prefix)
    return pid is not None


async def stop_master(prefix: Path) -> None:
    """Stop the private master (async twin of `stop_private_nginx`): TERM, then KILL."""
    pid = running_master_pid(prefix)
    if pid is not None:
        os.kill(pid, signal.SIGTERM)  # no instances are left, so nothing is cut off
        deadline = time.monotonic() + STOP_TIMEOUT_SEC
        while pid_alive(pid):
            if time.monotonic() > deadline:
                signal_group(pid, signal.SIGKILL, leader=True)
                break
            await asyncio.sleep(0.01)
    if orphan_workers(prefix) or master_record_file(prefix).exists():
        await asyncio.to_thread(reap_orphan_workers, prefix)


def resolve_binary(binary: str) -> str:
    """The nginx executable to run, or NginxError saying how to install/configure it."""
    if "/" in binary:
        if not os.access(binary, os.X_OK):
            raise NginxError(
                f"nginx.binary {binary} is not an executable file: install nginx "
                "(apt-get install nginx-light) or fix nginx.binary in the runtime config"
            )
        return binary
    path = shutil.which(binary) or shutil.which(binary, path="/usr/sbin:/usr/local/sbin:/sbin")
    if path is None:
        raise NginxError(
            f"nginx.binary {binary!r} is not on PATH (nor in /usr/sbin): install nginx "
            "(apt-get install nginx-light) or set nginx.binary to its full path"
        )
    return path


async def run_command(argv: list[str]) -> tuple[int, str]:
    """Run a command (never through a shell); its exit code and combined output."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )  # the runtime's own environment (already without secrets): a provider's configured
        # test/reload command may rely on it (sudo, systemctl)
    except OSError as exc:
        return 127, f"cannot run {argv[0]}: {exc.strerror}"
    try:
        async with asyncio.timeout(COMMAND_TIMEOUT_SEC):
            out, _ = await proc.communicate()
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return 124, f"{argv[0]} did not finish within {COMMAND_TIMEOUT_SEC:.0f} s"
    return proc.returncode or 0, out.decode(errors="replace").strip()


async def http_status(host: str, port: int, path: str, host_header: str) -> int | None:
    """Status code of a plain GET (no credentials), or None if nothing answers."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 2)
    except (OSError, TimeoutError):
        return None
    try:
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: {host_header}\r\nConnection: close\r\n\r\n".encode()
        )
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), 2)
        parts = line.split()
        return int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else None
    except (OSError, TimeoutError, ValueError):
        return None
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


def log_tail(path: Path, n: int) -> str:
    """The last `n` lines of an nginx log joined on one line (for error messages)."""
    try:
        lines = [line for line in tail_lines(path, n) if line.strip()]
    except OSError:
        return "(no log)"
    return " | ".join(lines) or "(empty log)"

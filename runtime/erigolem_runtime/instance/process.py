"""The client process: spawn it in its own group with its log, stop it, read its log."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import sys

from erigolem_runtime.api import ErrorKind, ServiceError
from erigolem_runtime.api.files import tail_text
from erigolem_runtime.api.process import MARKER_ENV, child_environment, new_marker, signal_group
from erigolem_runtime.instance.base import InstanceBase

log = logging.getLogger(__name__)

STOP_GRACE = 1.0
"""SIGTERM -> SIGKILL for a client on a fresh datadir: its data is deleted anyway."""
KEPT_STOP_GRACE = 3.0
"""How long shutdown waits for a client on a provider-kept datadir to stop cleanly (SIGINT).

exe-unit allows 5 s for the whole stop and then SIGKILLs the runtime (nginx removal takes up
to 1 s of that). Erigon usually commits and closes its database within seconds, but can take
minutes mid-execution; SIGKILLed mid-write, a kept datadir can need a long recovery. So a
kept-datadir client is never SIGKILLed at shutdown: if it has not exited in time it finishes
its clean stop on its own (it runs in its own session, which exe-unit does not kill, and gets
SIGINT, not SIGKILL, when the runtime dies), holding the datadir's lock until it exits, so the
next rental of that chain waits rather than opening a database still being closed."""

_PR_SET_PDEATHSIG = 1


def _die_with_parent(sig: signal.Signals = signal.SIGKILL) -> None:  # pragma: no cover
    """preexec_fn (runs in the forked child): the kernel sends ``sig`` to the client when the
    runtime (its parent) dies; SIGKILL for fresh datadirs, SIGINT (a clean stop) for kept."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
        except (OSError, AttributeError):
            pass


class ClientProcess(InstanceBase):
    """Spawns, stops and reads the log of the instance's Ethereum client."""

    def _open_log(self) -> int:
        """The client log, opened for appending (the child writes to it directly)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        os.write(fd, f"--- erigolem-runtime: starting {self._argv[0]} ---\n".encode())
        return fd

    async def _spawn(self) -> None:
        logfd = self._open_log()
        kept_fd = self._datadir_lock.fd if self._datadir_lock is not None else None
        death = signal.SIGKILL if kept_fd is None else signal.SIGINT
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *self._argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=logfd,
                stderr=asyncio.subprocess.STDOUT,
                cwd=str(self._datadir),
                env=child_environment(extra={MARKER_ENV: new_marker()}),  # no secrets
                start_new_session=True,
                pass_fds=() if kept_fd is None else (kept_fd,),
                preexec_fn=lambda: _die_with_parent(death),  # only prctl: async-signal-safe
            )
        except OSError as exc:
            raise ServiceError(
                f"cannot run {self._argv[0]}: {exc.strerror}; check "
                f"{self._profile.binary_key if self._profile else 'the client binary'} "
                "in the runtime config",
                kind=ErrorKind.MISSING_BINARY,
                context={
                    "client": self._profile.name if self._profile else "",
                    "config_key": self._profile.binary_key if self._profile else "",
                },
            ) from None
        finally:
            os.close(logfd)

    def _alive(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    async def _kill_client(self) -> None:
        """SIGTERM the client's process group, SIGKILL after the grace period; reap it."""
        proc = self._proc
        if proc is None:
            return
        pgid = proc.pid  # start_new_session: the client leads its own group
        signal_group(pgid, signal.SIGTERM)
        signal_group(pgid, signal.SIGCONT)  # a stopped (frozen) client must run to see SIGTERM
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), STOP_GRACE)
        signal_group(pgid, signal.SIGKILL)  # also any helper left in the group
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), 1.0)

    async def _stop_kept_client(self) -> None:
        """SIGINT (Erigon's clean stop) and wait up to KEPT_STOP_GRACE; never SIGKILL."""
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        signal_group(proc.pid, signal.SIGCONT)  # a stopped client must run to stop cleanly
        signal_group(proc.pid, signal.SIGINT)
        try:
            await asyncio.wait_for(proc.wait(), KEPT_STOP_GRACE)
        except TimeoutError:
            log.warning(
                "%s (pid %d) is still closing its kept datadir after %.1f s: leaving it to "
                "finish; the datadir stays locked until it exits",
                self.client,
                proc.pid,
                KEPT_STOP_GRACE,
            )
            # reap it when it exits (if this process is still there then)
            self._closing_client = asyncio.ensure_future(proc.wait())

    def _tail(self, n: int) -> str:
        """The last ``n`` lines of the client log ("" when there is none yet)."""
        return tail_text(self.log_path, n)

    @property
    def client_pid(self) -> int | None:
        """The client's pid (= its process group id), for tests and diagnostics."""
        return self._proc.pid if self._proc is not None else None

"""Port leases for Ethereum clients, safe across all runtime processes on one host.

Each port of the configured range has a lock file `state_dir/ports/<port>.lock`. A lease holds
an exclusive `flock` on the files of its ports for as long as it lives, so two runtimes sharing a
`state_dir` never get the same port, and a lease of a dead process disappears with it (the kernel
drops the lock). Before a port is taken it is bound once on the host (TCP and UDP) to skip ports
that other programs use. Lock files are never deleted: deleting a lock file another process is
about to lock would let two processes "hold" it.
"""

from __future__ import annotations

import contextlib
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from .api.files import try_lock_file, unlock
from .config import RuntimeConfig


class PortRangeExhausted(Exception):
    """Not enough free ports in `ports.first..ports.last`; the message says how many are used."""


def port_is_free(port: int) -> bool:
    """True if `port` can be bound right now for TCP (all addresses) and UDP (loopback)."""
    probes = (
        (socket.SOCK_STREAM, ""),
        (socket.SOCK_STREAM, "127.0.0.1"),
        (socket.SOCK_DGRAM, "127.0.0.1"),
    )
    for kind, host in probes:
        with socket.socket(socket.AF_INET, kind) as sock:
            if kind == socket.SOCK_STREAM:
                # Like the clients do: a port only in TIME_WAIT is usable.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, port))
            except OSError:
                return False
    return True


@dataclass
class PortLease:
    """Ports held for one owner until `release()` (or until the owning process exits)."""

    ports: list[int]
    owner: str
    _fds: list[int] = field(default_factory=list, repr=False)

    def release(self) -> None:
        """Give the ports back (idempotent)."""
        fds, self._fds = self._fds, []
        for fd in fds:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            with contextlib.suppress(OSError):
                unlock(fd)
            with contextlib.suppress(OSError):
                os.close(fd)

    @property
    def held(self) -> bool:
        return bool(self._fds)

    def __enter__(self) -> PortLease:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def ports_dir(config: RuntimeConfig) -> Path:
    return config.state_dir / "ports"


def allocate_ports(config: RuntimeConfig, n: int, owner: str) -> PortLease:
    """Lease `n` distinct free ports from the configured range for `owner` (e.g. instance id).

    Raises PortRangeExhausted (nothing held) when the range has fewer than `n` free ports.
    """
    if n < 1:
        raise ValueError(f"need at least one port, asked for {n}")
    directory = ports_dir(config)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    lease = PortLease(ports=[], owner=owner)
    leased_elsewhere = 0
    busy = 0
    try:
        for port in config.ports:
            fd = try_lock_file(directory / f"{port}.lock")
            if fd is None:
                leased_elsewhere += 1
                continue
            if not port_is_free(port):
                busy += 1
                os.close(fd)  # closing drops the flock
                continue
            record = f"{os.getpid()} {owner}\n".encode()
            os.ftruncate(fd, 0)
            os.pwrite(fd, record, 0)
            lease._fds.append(fd)
            lease.ports.append(port)
            if len(lease.ports) == n:
                return lease
    except BaseException:
        lease.release()
        raise
    got = len(lease.ports)
    lease.release()
    raise PortRangeExhausted(
        f"not enough free ports for {owner}: needed {n}, found {got} in ports.first.."
        f"ports.last = {config.ports.first}..{config.ports.last} ({len(config.ports)} ports; "
        f"{leased_elsewhere} leased by running instances, {busy} in use by other programs). "
        f"Widen ports.first/ports.last in {config.source or 'the runtime config'}, or stop "
        "some instances."
    )

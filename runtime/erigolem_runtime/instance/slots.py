"""Host-wide instance slots (``max_instances``) and the lock on a provider-kept datadir."""

from __future__ import annotations

import os
from pathlib import Path

from erigolem_runtime.api import ErrorKind, ServiceError
from erigolem_runtime.api.files import lock_held, locked, try_lock_file


class InstanceSlots:
    """Host-wide count of live instances (``max_instances``), shared by all runtimes of a host.

    Each live instance holds an flock on ``state_dir/instances/<id>.lock``; a dead runtime's lock
    vanishes with it, and its file is removed by the next count.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._fd: int | None = None
        self._path: Path | None = None

    def acquire(self, instance_id: str, limit: int) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        with locked(self.directory / ".guard"):
            live = 0
            for path in self.directory.glob("*.lock"):
                if lock_held(path):
                    live += 1
                else:
                    path.unlink(missing_ok=True)  # stale: its runtime is gone
            if live >= limit:
                raise ServiceError(
                    f"this provider already runs {live} instance(s), its limit (max_instances = "
                    f"{limit}): stop an instance or raise max_instances in the runtime config",
                    kind=ErrorKind.CAPACITY,
                )
            path = self.directory / f"{instance_id}.lock"
            fd = try_lock_file(path)
            if fd is None:  # ids are random: a second runtime with the same one is a bug
                raise RuntimeError(f"the slot lock {path} is held by another runtime")
            os.write(fd, f"{os.getpid()}\n".encode())
            self._fd, self._path = fd, path

    def release(self) -> None:
        fd, path, self._fd, self._path = self._fd, self._path, None, None
        if path is not None:
            path.unlink(missing_ok=True)
        if fd is not None:
            os.close(fd)


class DatadirLock:
    """Exclusive use of a kept (provider-synced) datadir by one instance at a time."""

    def __init__(self, datadir: Path) -> None:
        self.path = datadir / ".erigolem-in-use.lock"
        self._fd: int | None = None

    def acquire(self, chain: str) -> None:
        fd = try_lock_file(self.path)
        if fd is None:
            raise ServiceError(
                f"the kept datadir for {chain} ({self.path.parent}) is in use by another "
                "instance (or by a client still closing it cleanly after its rental): try "
                "again when it stops, or remove keep_datadirs."
                f"{chain} from the runtime config so new instances get a fresh datadir",
                kind=ErrorKind.DATADIR,
            ) from None
        self._fd = fd

    @property
    def fd(self) -> int | None:
        """The locked descriptor: the client inherits it, so the lock lives as long as it does."""
        return self._fd

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

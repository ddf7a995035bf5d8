"""CPU, memory and disk of a node that runs on this computer (what NiceNode shows).

Read from /proc through the runtime API's process readers (no psutil): the node's runtime and
every process below it except the shared nginx, and the size of the instance's data directory
with the free space left on its disk. A sample walks the data directory, which for Erigon is
hundreds of GB in many files: call `sample()` off the GUI thread (Op.cpu).
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from erigolem_runtime.api.process import (
    cmdline,
    cpu_seconds,
    descendants,
    process_token,
    rss_bytes,
)

DISK_EVERY_S = 30.0  # the data directory is walked at most this often (it can be huge)


@dataclass(frozen=True)
class Usage:
    """One sample. `cpu_percent` is of one core (200 = two cores busy); None on the first."""

    cpu_percent: float | None
    memory: int  # resident bytes, all the node's processes
    processes: int
    disk: int | None  # bytes in the node's data directory (and its work directory)
    disk_free: int | None  # bytes left on that file system
    growth_per_hour: float | None  # disk bytes per hour since the first sample


def tree_size(path: Path) -> int:
    """Bytes of the regular files under `path` (symlinks not followed; unreadable parts skipped)."""
    total = 0
    stack = [path]
    while stack:
        try:
            with os.scandir(stack.pop()) as entries:
                for entry in entries:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(Path(entry.path))
                        elif entry.is_file(follow_symlinks=False):
                            total += entry.stat(follow_symlinks=False).st_blocks * 512
                    except OSError:
                        continue
        except OSError:
            continue
    return total


class ResourceSampler:
    """Samples the processes under `root_pid` (proved by its start-time token) and `paths`."""

    def __init__(self, root_pid: int, token: str | None, paths: list[Path]) -> None:
        self.root_pid = root_pid
        self.token = token
        self.paths = paths
        self._lock = threading.Lock()  # samples run in the executor; one at a time
        self._last_cpu: tuple[float, float] | None = None  # (wall, cpu seconds)
        self._disk: tuple[float, int | None, int | None] | None = None  # (when, size, free)
        self._first_disk: tuple[float, int] | None = None

    def pids(self) -> list[int]:
        """The root and its descendants, without nginx (shared by every local node)."""
        found = [self.root_pid, *descendants(self.root_pid)]
        return [p for p in found if b"nginx" not in (cmdline(p) or b"").split(b"\0", 1)[0]]

    def sample(self) -> Usage | None:
        """A sample now; None when the node's runtime is gone (or the pid is someone else's)."""
        with self._lock:
            if self.token is not None and process_token(self.root_pid) != self.token:
                return None
            pids = self.pids()
            cpu = sum(c for c in (cpu_seconds(p) for p in pids) if c is not None)
            memory = sum(m for m in (rss_bytes(p) for p in pids) if m is not None)
            now = time.monotonic()
            percent = None
            if self._last_cpu is not None and now > self._last_cpu[0]:
                percent = max(0.0, (cpu - self._last_cpu[1]) / (now - self._last_cpu[0]) * 100)
            self._last_cpu = (now, cpu)
            disk, free = self._disk_usage(now)
            growth = None
            if disk is not None:
                if self._first_disk is None:
                    self._first_disk = (now, disk)
                elif now - self._first_disk[0] >= DISK_EVERY_S:
                    growth = (disk - self._first_disk[1]) / (now - self._first_disk[0]) * 3600
            return Usage(percent, memory, len(pids), disk, free, growth)

    def _disk_usage(self, now: float) -> tuple[int | None, int | None]:
        if self._disk is not None and now - self._disk[0] < DISK_EVERY_S:
            return self._disk[1], self._disk[2]
        existing = [p for p in self.paths if p.exists()]
        size = sum(tree_size(p) for p in existing) if existing else None
        free = None
        if existing:
            try:
                free = shutil.disk_usage(existing[0]).free
            except OSError:
                free = None
        self._disk = (now, size, free)
        return size, free


def sampler_for(backend: str, runtime: dict[str, Any]) -> ResourceSampler | None:
    """A sampler for a node record's `runtime` info; None unless it runs on this computer."""
    if backend != "local":
        return None
    pid = runtime.get("runtime_pid")
    if not isinstance(pid, int) or pid <= 0:
        return None
    token = runtime.get("runtime_token")
    paths = [Path(str(runtime["workdir"]))] if runtime.get("workdir") else []
    datadir = _datadir(runtime)
    if datadir is not None:
        paths.append(datadir)
    return ResourceSampler(pid, str(token) if token else None, paths)


def _datadir(runtime: dict[str, Any]) -> Path | None:
    """The instance's data directory: the runtime config's data_dir / the instance id."""
    config, instance = runtime.get("config"), runtime.get("instance")
    if not config or not instance:
        return None
    from erigolem_runtime.host import instance_datadir

    return instance_datadir(Path(str(config)), str(instance))

"""Fresh instance datadirs: find the ones dead runtimes left behind, remove them, measure them.

exe-unit SIGKILLs the runtime after the Shutdown reply (and on any timeout), so a runtime cannot
be relied on to remove its own datadir; with Erigon each can hold hundreds of GB. A fresh
datadir is ``data_dir/<instance id>`` (16 hex digits, made by ``new_instance_id``), and its
instance holds an flock on ``state_dir/instances/<id>.lock`` (``InstanceSlots``) from before the
datadir is created until after it is removed. So a datadir with that name and no held lock
belongs to a dead instance. Provider-kept datadirs (``keep_datadirs``) are never touched, even
when they sit inside ``data_dir``.

Reaping is two steps so a deploy stays fast: the dead datadir is renamed into
``data_dir/.reaping/`` (one rename), then removed; whatever a killed runtime did not finish
removing is removed by the next reap.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from erigolem_runtime.api.files import lock_held
from erigolem_runtime.config import RuntimeConfig

log = logging.getLogger(__name__)

FRESH_NAME = re.compile(r"[0-9a-f]{16}")
"""Names of fresh datadirs (``credentials.new_instance_id``); nothing else is ever reaped."""
REAPING = ".reaping"


def slots_dir(config: RuntimeConfig) -> Path:
    """Where live instances hold their slot locks (``InstanceSlots``)."""
    return config.state_dir / "instances"


def _kept(config: RuntimeConfig) -> list[Path]:
    """Datadirs never reaped: the kept ones and the warm Erigons' (the provider's own)."""
    warm = [w.datadir for w in config.warm.chains.values()]
    return [p.resolve() for p in [*config.keep_datadirs.values(), *warm]]


def _protected(path: Path, kept: list[Path]) -> bool:
    """``path`` is, holds or lies inside a provider-kept datadir."""
    real = path.resolve()
    return any(real == k or k.is_relative_to(real) or real.is_relative_to(k) for k in kept)


def dead_datadirs(config: RuntimeConfig) -> list[Path]:
    """Fresh datadirs under ``data_dir`` whose instance is gone (no slot lock held)."""
    root = config.data_dir
    if not root.is_dir():
        return []
    kept = _kept(config)
    out = []
    for entry in root.iterdir():
        if not FRESH_NAME.fullmatch(entry.name) or entry.is_symlink() or not entry.is_dir():
            continue
        if _protected(entry, kept):
            continue
        if lock_held(slots_dir(config) / f"{entry.name}.lock"):
            continue
        out.append(entry)
    return sorted(out)


def park_dead_datadirs(config: RuntimeConfig) -> list[str]:
    """Move dead instances' datadirs into ``data_dir/.reaping`` (fast); their ids."""
    dead = dead_datadirs(config)
    if not dead:
        return []
    trash = config.data_dir / REAPING
    trash.mkdir(mode=0o700, exist_ok=True)
    parked = []
    for path in dead:
        try:
            path.rename(trash / path.name)
        except FileNotFoundError:
            continue  # another runtime reaped it first
        except OSError as exc:
            log.warning("cannot move the dead instance datadir %s away: %s", path, exc)
            continue
        parked.append(path.name)
    if parked:
        log.info("reaping the datadirs of dead instances: %s", ", ".join(parked))
    return parked


def empty_reaping(config: RuntimeConfig) -> int:
    """Remove everything parked in ``data_dir/.reaping``; how many datadirs were removed."""
    trash = config.data_dir / REAPING
    if not trash.is_dir() or _protected(trash, _kept(config)):
        return 0
    removed = 0
    for entry in trash.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                entry.unlink()
        removed += 0 if entry.exists() else 1
    return removed


def reap_dead_datadirs(config: RuntimeConfig, *, remove: bool = True) -> list[str]:
    """Park (and with ``remove``, remove) what dead instances left; never raises (logs)."""
    try:
        parked = park_dead_datadirs(config)
        if remove:
            empty_reaping(config)
    except OSError as exc:
        log.warning("reaping dead instance datadirs failed: %s", exc)
        return []
    return parked


def tree_size(path: Path) -> int:
    """Bytes allocated on disk by the files under ``path`` (symlinks not followed)."""
    total = 0
    stack = [path]
    while stack:
        current = stack.pop()
        try:
            with os.scandir(current) as it:
                for entry in it:
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    total += st.st_blocks * 512
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(Path(entry.path))
        except OSError:
            continue
    return total


@dataclass(frozen=True)
class DiskUse:
    """What instance datadirs hold under ``data_dir``, and how much room is left."""

    live: int
    live_bytes: int
    dead: int
    dead_bytes: int
    kept_bytes: dict[str, int]
    free_bytes: int | None


def disk_use(config: RuntimeConfig) -> DiskUse:
    """Measure live and dead fresh datadirs, kept datadirs and the free space (for ``check``)."""
    root = config.data_dir
    dead = dead_datadirs(config)
    trash = root / REAPING
    parked = [p for p in trash.iterdir() if p.is_dir()] if trash.is_dir() else []
    kept = _kept(config)
    live = [
        p
        for p in (root.iterdir() if root.is_dir() else [])
        if FRESH_NAME.fullmatch(p.name)
        and p.is_dir()
        and not p.is_symlink()
        and p not in dead
        and not _protected(p, kept)
    ]
    try:
        free: int | None = shutil.disk_usage(root if root.is_dir() else root.parent).free
    except OSError:
        free = None
    return DiskUse(
        live=len(live),
        live_bytes=sum(tree_size(p) for p in live),
        dead=len(dead) + len(parked),
        dead_bytes=sum(tree_size(p) for p in [*dead, *parked]),
        kept_bytes={chain: tree_size(p) for chain, p in config.keep_datadirs.items() if p.is_dir()},
        free_bytes=free,
    )

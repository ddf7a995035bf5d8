"""Which fresh datadirs count as dead (no slot lock held), what is never touched, and the
disk use `erigolem-provider check` reports."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from erigolem_provider.checks import _disk_finding
from erigolem_runtime.config import RuntimeConfig, parse_config
from erigolem_runtime.datadirs import (
    dead_datadirs,
    disk_use,
    empty_reaping,
    park_dead_datadirs,
    slots_dir,
)


def config(tmp_path: Path, kept: Path | None = None) -> RuntimeConfig:
    return parse_config(
        {
            "public_url": "http://127.0.0.1:18080",
            "nginx": {"mode": "private", "prefix": "nginx", "listen": "127.0.0.1:18080"},
            "ports": {"first": 30000, "last": 30099},
            "state_dir": "state",
            "data_dir": "data",
            "keep_datadirs": {"sepolia": str(kept)} if kept else {},
        },
        base=tmp_path,
    )


def datadir(cfg: RuntimeConfig, name: str, size: int = 4096) -> Path:
    path = cfg.data_dir / name
    path.mkdir(parents=True)
    (path / "blob").write_bytes(os.urandom(size))
    return path


def test_only_unlocked_instance_named_dirs_are_dead(tmp_path: Path) -> None:
    kept = tmp_path / "data" / "feedfacefeedface"
    cfg = config(tmp_path, kept)
    datadir(cfg, "feedfacefeedface")  # the provider's kept datadir, instance-like name
    dead = datadir(cfg, "0000000000000001", 1 << 20)
    live = datadir(cfg, "0000000000000002")
    datadir(cfg, "not-an-instance")
    (cfg.data_dir / "1111111111111111").symlink_to(tmp_path)  # never followed or removed
    slots = slots_dir(cfg)
    slots.mkdir(parents=True)
    fd = os.open(slots / f"{live.name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)  # this process stands for the live instance's runtime
    stale = slots / f"{dead.name}.lock"
    stale.write_text("4242\n")  # a lock file nobody holds: its runtime was SIGKILLed
    try:
        assert dead_datadirs(cfg) == [dead]
        use = disk_use(cfg)
        assert (use.live, use.dead) == (1, 1)
        assert use.dead_bytes >= 1 << 20
        assert set(use.kept_bytes) == {"sepolia"}
        finding = _disk_finding(cfg)
        assert finding.level == "warning"
        assert "1 datadir(s) left by killed runtimes hold 0.0 GB" in finding.message
        assert "1 running node datadir(s)" in finding.message
        assert park_dead_datadirs(cfg) == [dead.name]
        assert not dead.exists()
        assert disk_use(cfg).dead == 1  # parked, not yet removed: still counted
        assert empty_reaping(cfg) == 1
        assert _disk_finding(cfg).level == "ok"
        assert sorted(p.name for p in cfg.data_dir.iterdir()) == [
            ".reaping",
            "0000000000000002",
            "1111111111111111",
            "feedfacefeedface",
            "not-an-instance",
        ]
        assert tmp_path.is_dir()
    finally:
        os.close(fd)
    assert dead_datadirs(cfg) == [live]  # its runtime is gone now


def test_kept_data_dir_itself_is_never_reaped(tmp_path: Path) -> None:
    """keep_datadirs pointing at data_dir itself protects everything in it."""
    cfg = config(tmp_path, tmp_path / "data")
    datadir(cfg, "0000000000000003")
    assert dead_datadirs(cfg) == []

"""Locate the real binaries the tests run (anvil from npm, nginx from Debian, yagna from PyPI)."""

from __future__ import annotations

import shutil
import socket
import sys
from pathlib import Path

from erigolem_runtime.localconfig import find_anvil

REPO = Path(__file__).resolve().parents[2]


def anvil_path() -> Path | None:
    """The anvil the runtime itself would pick (`find_anvil`: the npm binary from this repo's
    node_modules, the platform package's or the postinstall copy, else PATH); None if none."""
    found = find_anvil()
    return Path(found) if found else None


def nginx_path() -> Path | None:
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    return Path(found) if found else None


def yagna_path() -> Path | None:
    venv = REPO / ".venv/bin/yagna"
    if venv.exists():
        return venv
    found = shutil.which("yagna")
    return Path(found) if found else None


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (bound then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


FAKE_ERIGON = REPO / "tests" / "support" / "fake_erigon.py"


def fake_erigon_binary(
    directory: Path,
    version: str | None = None,
    *,
    stop_seconds: float | None = None,
    version_seconds: float | None = None,
) -> Path:
    """An executable ``erigon`` wrapper running the Erigon stand-in with this interpreter.

    ``version`` sets what ``erigon --version`` prints (``FAKE_ERIGON_VERSION``);
    ``stop_seconds`` how long it takes to stop cleanly (``FAKE_ERIGON_STOP_SECONDS``);
    ``version_seconds`` how long ``--version`` takes (``FAKE_ERIGON_VERSION_SECONDS``).
    """
    wrapper = directory / "bin" / "erigon"
    wrapper.parent.mkdir(parents=True, exist_ok=True)
    env = f"FAKE_ERIGON_VERSION={version} " if version else ""
    env += f"FAKE_ERIGON_STOP_SECONDS={stop_seconds} " if stop_seconds is not None else ""
    env += f"FAKE_ERIGON_VERSION_SECONDS={version_seconds} " if version_seconds is not None else ""
    wrapper.write_text(f'#!/bin/sh\n{env}exec "{sys.executable}" "{FAKE_ERIGON}" "$@"\n')
    wrapper.chmod(0o755)
    return wrapper


FAKE_RPCDAEMON = REPO / "tests" / "support" / "fake_rpcdaemon.py"


def fake_rpcdaemon_binary(directory: Path) -> Path:
    """An executable ``rpcdaemon`` wrapper running the rpcdaemon stand-in with this interpreter."""
    wrapper = directory / "bin" / "rpcdaemon"
    wrapper.parent.mkdir(parents=True, exist_ok=True)
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE_RPCDAEMON}" "$@"\n')
    wrapper.chmod(0o755)
    return wrapper

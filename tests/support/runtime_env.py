"""A complete local runtime config in a tmp dir, for tests that run `erigolem-runtime`.

Usage: request the fixture `runtime_config_path` (the file's path; also exported as
ERIGOLEM_RUNTIME_CONFIG for child processes) or `runtime_config` (the loaded RuntimeConfig).
At teardown the private nginx master started under that config (if any) is stopped, so no
test leaves an nginx behind. Without fixtures: `make_local_config(dir)` and
`stop_runtime_nginx(path)` (call it in a `finally`). Registered in tests/conftest.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from erigolem_runtime.api.paths import CONFIG_ENV
from erigolem_runtime.config import RuntimeConfig, load_config
from erigolem_runtime.localconfig import write_local_config
from erigolem_runtime.nginx import stop_private_nginx


def make_local_config(directory: Path) -> Path:
    """Write a complete local config under `directory` (private nginx, free ports, anvil)."""
    return write_local_config(directory)


def stop_runtime_nginx(config_path: Path) -> bool:
    """Stop the private nginx master of that config if one runs; True if one was stopped."""
    config = load_config(config_path)
    if config.nginx.mode != "private" or config.nginx.prefix is None:
        return False
    return stop_private_nginx(config.nginx.prefix)


@pytest.fixture
def runtime_config_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Path of a fresh local config under tmp_path/runtime; its nginx is stopped afterwards."""
    path = make_local_config(tmp_path / "runtime")
    monkeypatch.setenv(CONFIG_ENV, str(path))
    try:
        yield path
    finally:
        stop_runtime_nginx(path)


@pytest.fixture
def runtime_config(runtime_config_path: Path) -> RuntimeConfig:
    """The loaded local config of `runtime_config_path`."""
    return load_config(runtime_config_path)

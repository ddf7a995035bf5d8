"""Shared test setup: offscreen Qt, an isolated ERIGOLEM_HOME, an explicit keyring backend."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import keyring
import pytest
from hypothesis import settings

from tests.support.binaries import anvil_path, nginx_path
from tests.support.leaks import reap_leftovers
from tests.support.manifest_server import serve  # noqa: F401  (a fixture: the update-manifest server)
from tests.support.memkeyring import MemoryKeyring

# Property tests check behaviour, not speed: no per-example deadline (a loaded 2-core CI box
# would turn timing into flakes), and print the blob needed to reproduce a failure.
settings.register_profile("erigolem", deadline=None, print_blob=True)
settings.load_profile("erigolem")

# Fixtures other test modules share: runtime_config_path / runtime_config (local runtime config).
pytest_plugins = ["tests.support.runtime_env"]


@pytest.fixture(autouse=True)
def _isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """Every test gets its own ERIGOLEM_HOME so nothing touches the user's real data."""
    home = tmp_path_factory.mktemp("erigolem-home")
    monkeypatch.setenv("ERIGOLEM_HOME", str(home))
    yield home
    # No orphaned anvil, runtime or nginx, ever: whatever a test started under its home must be
    # gone when it ends. Leftovers are killed, and the test errors so the leak gets fixed.
    leftovers = reap_leftovers(home)
    if leftovers:
        pytest.fail(
            "processes left running after the test (killed now): "
            + "; ".join(f"{pid}: {cmd[:160]}" for pid, cmd in sorted(leftovers.items())),
            pytrace=False,
        )


@pytest.fixture
def erigolem_home(_isolated_home: Path) -> Path:
    return _isolated_home


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    """The real keyring API with an in-memory backend chosen explicitly (never prompts)."""
    previous = keyring.get_keyring()
    kr = MemoryKeyring()
    keyring.set_keyring(kr)
    try:
        yield kr
    finally:
        keyring.set_keyring(previous)


@pytest.fixture(scope="session")
def anvil_bin() -> Path:
    path = anvil_path()
    if path is None:
        pytest.fail("anvil not found: run scripts/bootstrap (npm ci installs @foundry-rs/anvil)")
    return path


@pytest.fixture(scope="session")
def nginx_bin() -> Path:
    path = nginx_path()
    if path is None:
        pytest.fail("nginx not found: run scripts/bootstrap (apt-get install nginx-light)")
    return path

"""The runtime's in-process entry points for a host that runs it on this computer.

The desktop's Local backend runs `erigolem-runtime` as a child process (through
`erigolem_runtime.api.client`), and before that prepares its config, asks which chains it can
serve and, after a crash, cleans what dead runtimes left in nginx. Those calls live here, next
to the CLI entry point (`erigolem_runtime.cli`), above the runtime's own modules: `api` stays
the low, typed seam the runtime itself builds on, and this module is the one other door.
"""

from __future__ import annotations

from pathlib import Path

from erigolem_runtime.config import ConfigError, load_config
from erigolem_runtime.credentials import validate_origins

__all__ = [
    "ConfigError",
    "client_chains",
    "instance_datadir",
    "reap_stale_nginx",
    "served_chains",
    "validate_origins",
    "write_local_config",
]


def client_chains() -> dict[str, tuple[str, ...]]:
    """The chains each client profile knows (by client name), offered or not."""
    from erigolem_runtime.profiles import PROFILES

    return {name: tuple(profile.chains) for name, profile in PROFILES.items()}


def write_local_config(runtime_dir: Path) -> Path:
    """Write (or keep, when still valid) the config of a runtime for local use; its path.

    Raises OSError or ConfigError.
    """
    from erigolem_runtime.localconfig import write_local_config as write

    return write(runtime_dir)


def served_chains(config_path: Path) -> list[str]:
    """The chains the runtime with this config can run now. Raises OSError or ConfigError."""
    from erigolem_runtime.offer import served_chains as served

    return served(load_config(config_path))


async def reap_stale_nginx(config_path: Path) -> list[str]:
    """Drop nginx locations of dead runtimes (the private master stops when none is left).

    Returns the instance ids removed; raises what reading the config or nginx raises.
    """
    from erigolem_runtime.nginx import NginxFront

    return await NginxFront(load_config(config_path)).reap_stale()


def instance_datadir(config_path: Path, instance: str) -> Path | None:
    """An instance's data directory under the runtime config's data_dir, or None if unreadable."""
    try:
        return load_config(config_path).data_dir / instance
    except (OSError, ConfigError):
        return None

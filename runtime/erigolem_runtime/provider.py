"""What provider setup (`erigolem-provider`) uses of the runtime: its typed config and checks.

A facade over the runtime's own modules, so the provider tools import only `erigolem_runtime.api`
and this door: the typed `RuntimeConfig` setup builds and writes (`save_config`), the checks the runtime's
`test` runs on it (`check_config`), the plugin descriptor, the Erigon choices a provider makes
(chains, prune modes, ports per node), disk use of the data dir and the atomic file writer, and the
warm section (`WarmConfig`, `WarmChain`, `parse_warm`).
It sits above those modules, next to `host` (the desktop's door) and the CLI entry point: the
low api package never imports it, so the api stays cycle-free.
"""

from __future__ import annotations

from erigolem_runtime.api.files import atomic_write
from erigolem_runtime.config import (
    AnvilConfig,
    ClientsConfig,
    ConfigError,
    ErigonConfig,
    NginxConfig,
    PortRange,
    RestartPolicy,
    RuntimeConfig,
    config_text,
    load_config,
    parse_config,
    parse_warm,
    save_config,
)
from erigolem_runtime.datadirs import DiskUse, disk_use
from erigolem_runtime.offer import DESCRIPTOR_FILE, ConfigReport, check_config, plugin_descriptor
from erigolem_runtime.profiles import (
    DEFAULT_PRUNE_MODE,
    ERIGON_CHAINS,
    ERIGON_PORTS,
    PRUNE_MODES,
    nat_problem,
)
from erigolem_runtime.version import runtime_version
from erigolem_runtime.warm import WarmChain, WarmConfig

__all__ = [
    "DEFAULT_PRUNE_MODE",
    "DESCRIPTOR_FILE",
    "ERIGON_CHAINS",
    "ERIGON_PORTS",
    "PRUNE_MODES",
    "AnvilConfig",
    "ClientsConfig",
    "ConfigError",
    "ConfigReport",
    "DiskUse",
    "ErigonConfig",
    "NginxConfig",
    "PortRange",
    "RestartPolicy",
    "RuntimeConfig",
    "WarmChain",
    "WarmConfig",
    "atomic_write",
    "check_config",
    "config_text",
    "disk_use",
    "load_config",
    "nat_problem",
    "parse_config",
    "parse_warm",
    "plugin_descriptor",
    "runtime_version",
    "save_config",
    "validated",
]


def validated(config: RuntimeConfig, where: str) -> RuntimeConfig:
    """`config` put through the runtime's own validator (the checks `load_config` runs on the file).

    A config built in code skips `parse_config`; round-tripping its JSON form catches what the
    runtime would refuse on reading it (unsafe path characters, a non-loopback listen, ...).
    """
    return parse_config(config.to_json(), where=where)

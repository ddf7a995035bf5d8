"""`erigolem-runtime local-config DIR`: a complete config for running nodes on this computer.

Private nginx master under DIR/nginx on 127.0.0.1, a block of ports that is free right now
(outside the kernel's ephemeral range, so outgoing connections do not take them), state and data
under DIR, anvil and erigon found on this machine. Running it again keeps the existing file (and
so the nodes' URLs) as long as it is still valid; only what went stale is refreshed.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import random
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .api.files import locked
from .api.paths import CONFIG_FILE_NAME
from .config import (
    ConfigError,
    RuntimeConfig,
    load_config,
    parse_config,
    save_config,
)
from .nginx import running_master_pid
from .nginx.control import reap_orphan_workers
from .ports import port_is_free

#: Chains the erigon profile serves (besides dev); offered only when erigon is installed.
ERIGON_CHAINS = ("mainnet", "sepolia", "holesky", "hoodi", "gnosis", "chiado")
PORT_BLOCK = 200  # client ports; the nginx listen port is the one just below the block
SEARCH_LOW, SEARCH_HIGH = 20000, 60000


def _platform_tag() -> str:
    system = platform.system().lower()
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        machine, machine
    )
    return f"{system}-{arch}"


def _search_roots() -> Iterator[Path]:
    seen: set[Path] = set()
    for start in (Path.cwd(), Path(__file__).resolve().parent):
        for d in (start, *start.parents):
            if d not in seen:
                seen.add(d)
                yield d


def find_anvil() -> str | None:
    """anvil: the npm binary in a node_modules above cwd or this package, else PATH, else the
    npm wrapper `node_modules/.bin/anvil` (slower to start). The binary is the platform
    package's, or (Node < 20: npm skips that package, `engines: node>=20`) the copy the
    wrapper's postinstall leaves at `@foundry-rs/anvil/anvil`; scripts/bootstrap checks both."""
    wanted = f"anvil-{_platform_tag()}"
    roots = list(_search_roots())
    for root in roots:
        scope = root / "node_modules" / "@foundry-rs"
        for cand in (scope / wanted / "bin" / "anvil", scope / "anvil" / "anvil"):
            if os.access(cand, os.X_OK):
                return str(cand)
    on_path = shutil.which("anvil")
    if on_path:
        return on_path
    for root in roots:
        cand = root / "node_modules" / ".bin" / "anvil"
        if os.access(cand, os.X_OK):
            return str(cand)
    return None


def find_erigon() -> str | None:
    """erigon on PATH (it cannot come from npm); None if absent."""
    return shutil.which("erigon")


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 49152, 65535  # the IANA dynamic range (macOS, BSD)


def pick_port_block(size: int, attempts: int = 200) -> int:
    """First port of `size` consecutive ports, free now and outside the ephemeral range."""
    eph_low, eph_high = _ephemeral_range()
    candidates = [
        (lo, hi)
        for lo, hi in ((SEARCH_LOW, eph_low - 1), (eph_high + 1, SEARCH_HIGH))
        if hi - lo + 1 >= size
    ] or [(SEARCH_LOW, SEARCH_HIGH)]
    rng = random.SystemRandom()
    for _ in range(attempts):
        lo, hi = rng.choice(candidates)
        first = rng.randint(lo, hi - size + 1)
        if all(port_is_free(p) for p in range(first, first + size)):
            return first
    raise ConfigError(
        f"found no {size} consecutive free ports between {SEARCH_LOW} and {SEARCH_HIGH}: "
        "free some ports or write ports.first/ports.last by hand"
    )


def _fresh(directory: Path, anvil: str | None, erigon: str | None) -> dict[str, Any]:
    first = pick_port_block(PORT_BLOCK + 1)
    listen = first
    return {
        "public_url": f"http://127.0.0.1:{listen}",
        "nginx": {
            "mode": "private",
            "binary": shutil.which("nginx") or "/usr/sbin/nginx",
            "prefix": str(directory / "nginx"),
            "listen": f"127.0.0.1:{listen}",
        },
        "ports": {"first": first + 1, "last": first + PORT_BLOCK},
        "state_dir": str(directory / "state"),
        "data_dir": str(directory / "data"),
        "clients": {"anvil": {"binary": anvil}, "erigon": {"binary": erigon}},
        "chains": ["dev", *(ERIGON_CHAINS if erigon else ())],
        "max_instances": 8,
    }


def _refreshed(
    cfg: RuntimeConfig, directory: Path, anvil: str | None, erigon: str | None
) -> RuntimeConfig | None:
    """The existing config with stale parts refreshed, or None if it cannot be kept."""
    n = cfg.nginx
    if n.mode != "private" or n.prefix != directory / "nginx" or n.listen is None:
        return None
    if running_master_pid(n.prefix) is None:
        reap_orphan_workers(n.prefix)  # a killed master's workers still hold our port
        if not port_is_free(n.listen_port):
            return None  # someone else took our listen port: start afresh
    keep_anvil = cfg.clients.anvil.binary
    if not keep_anvil or not os.access(keep_anvil, os.X_OK):
        keep_anvil = anvil
    keep_erigon = cfg.clients.erigon.binary
    if not keep_erigon or not (shutil.which(keep_erigon) or os.access(keep_erigon, os.X_OK)):
        keep_erigon = erigon
    clients = dataclasses.replace(
        cfg.clients,
        anvil=dataclasses.replace(cfg.clients.anvil, binary=keep_anvil),
        erigon=dataclasses.replace(cfg.clients.erigon, binary=keep_erigon),
    )
    chains = ("dev", *(ERIGON_CHAINS if keep_erigon else ()))
    return dataclasses.replace(cfg, clients=clients, chains=chains)


def write_local_config(directory: Path) -> Path:
    """Write (or keep) DIR/erigolem-runtime.json for local use; returns its path."""
    directory = Path(directory).expanduser().resolve()
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / CONFIG_FILE_NAME
    anvil, erigon = find_anvil(), find_erigon()
    with locked(directory / ".local-config.lock"):
        existing: RuntimeConfig | None = None
        if path.exists():
            try:
                existing = load_config(path)
            except ConfigError:
                path.replace(path.with_name(path.name + ".invalid"))  # kept for the user
        if existing is not None:
            kept = _refreshed(existing, directory, anvil, erigon)
            if kept is not None:
                if kept != existing:
                    save_config(kept, path)
                return path
        config = parse_config(_fresh(directory, anvil, erigon), where=str(path), base=directory)
        save_config(config, path)
    return path

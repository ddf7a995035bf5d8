"""Prerequisite probes: binaries and versions, free disk per chain, free ports, reachability.

Each probe returns :class:`Finding` objects (ok / warning / error, with the way out). The wizard
steps call these; nothing here writes anything.
"""

from __future__ import annotations

import ipaddress
import shutil
import socket
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Level = Literal["ok", "info", "warning", "error"]

GOLEM_INSTALL_HINT = (
    "install the Golem provider with `curl -sSf https://join.golem.network/as-provider | bash` "
    "(it brings golemsp, ya-provider and exe-unit), then run setup again"
)

#: Approximate disk needed per chain and Erigon 3 prune mode, in GB (Erigon docs, 2025; growing).
CHAIN_DISK_GB: Mapping[str, Mapping[str, int]] = {
    "mainnet": {"archive": 3500, "full": 1100, "minimal": 400, "blocks": 1500},
    "sepolia": {"archive": 1000, "full": 300, "minimal": 120, "blocks": 450},
    "holesky": {"archive": 600, "full": 200, "minimal": 80, "blocks": 300},
    "hoodi": {"archive": 200, "full": 60, "minimal": 30, "blocks": 90},
    "gnosis": {"archive": 1200, "full": 500, "minimal": 250, "blocks": 650},
    "chiado": {"archive": 150, "full": 50, "minimal": 20, "blocks": 70},
    "dev": {"archive": 1, "full": 1, "minimal": 1, "blocks": 1},
}


@dataclass(frozen=True)
class Finding:
    """One line of a check: what was found and, when not ok, what to do."""

    level: Level
    subject: str
    message: str
    field: str | None = None

    def line(self) -> str:
        tag = {"ok": "ok", "info": "info", "warning": "WARN", "error": "ERROR"}[self.level]
        return f"[{tag:5}] {self.subject}: {self.message}"


def which(name: str, explicit: str | None = None) -> str | None:
    """Path of an executable: the explicit one if given and executable, else from PATH."""
    if explicit:
        p = Path(explicit)
        return str(p) if p.is_file() and shutil.which(str(p)) else None
    return shutil.which(name)


def version_of(binary: str, args: Sequence[str] = ("--version",)) -> str | None:
    """First line of ``binary --version`` (stdout or stderr), or None when it does not run."""
    try:
        proc = subprocess.run(
            [binary, *args], capture_output=True, text=True, timeout=15, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (proc.stdout or proc.stderr).strip()
    return text.splitlines()[0].strip() if text else None


def check_binaries(
    *,
    yagna: str | None,
    ya_provider: str | None,
    golemsp: str | None,
    nginx: str | None,
    erigon: str | None,
    runtime: str | None,
) -> list[Finding]:
    """Findings for every binary the provider needs (explicit paths or PATH lookups)."""
    out: list[Finding] = []

    def probe(
        name: str,
        explicit: str | None,
        missing: Finding,
        args: Sequence[str] | None = ("--version",),
    ) -> None:
        path = which(name, explicit)
        if path is None:
            if explicit:
                out.append(
                    Finding(
                        "error",
                        name,
                        f"{explicit} does not exist or is not executable: fix the path",
                        missing.field,
                    )
                )
            else:
                out.append(missing)
            return
        if args is None:
            out.append(Finding("ok", name, path))
            return
        ver = version_of(path, args)
        out.append(Finding("ok", name, f"{path} ({ver or 'version unknown'})"))

    probe(
        "yagna", yagna, Finding("warning", "yagna", f"not found: {GOLEM_INSTALL_HINT}", "yagna_bin")
    )
    probe(
        "ya-provider",
        ya_provider,
        Finding(
            "warning",
            "ya-provider",
            "not found (part of the Golem provider, see yagna): the pricing preset is written "
            "to presets.json directly",
            "ya_provider_bin",
        ),
    )
    probe(
        "golemsp",
        golemsp,
        Finding("warning", "golemsp", "not found (part of the Golem provider, see yagna)"),
    )
    probe(
        "nginx",
        nginx,
        Finding(
            "error",
            "nginx",
            "not found: install it (`sudo apt-get install nginx-light`) or pass --nginx-bin PATH",
            "nginx_bin",
        ),
        ("-v",),
    )
    probe(
        "erigon",
        erigon,
        Finding(
            "warning",
            "erigon",
            "not found: install Erigon 3 (https://github.com/erigontech/erigon/releases) and "
            "pass --erigon-bin PATH; until then only the dev chain (anvil) can be served",
            "erigon_bin",
        ),
    )
    probe(
        "erigolem-runtime",
        runtime,
        Finding(
            "error",
            "erigolem-runtime",
            "not found: install it (`pip install erigolem-runtime`) or pass --runtime-path PATH",
            "runtime_path",
        ),
        None,
    )
    return out


def free_disk_gb(path: Path) -> float:
    """Free space (GB) of the file system that holds ``path`` (or its nearest existing parent)."""
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    return shutil.disk_usage(p).free / 1e9


def check_disk(data_dir: Path, chains: Sequence[str], prune_mode: str) -> list[Finding]:
    """One finding per chain: enough free disk for one node of it, or a warning with the size."""
    free = free_disk_gb(data_dir)
    out: list[Finding] = []
    for chain in chains:
        need = CHAIN_DISK_GB.get(chain, {}).get(prune_mode)
        if need is None:
            continue
        if free < need:
            out.append(
                Finding(
                    "warning",
                    f"disk for {chain}",
                    f"{chain} ({prune_mode}) needs about {need} GB per node, {free:.0f} GB free "
                    f"at {data_dir}: choose a bigger data directory, a smaller prune mode or "
                    "drop this chain",
                    "chains",
                )
            )
        else:
            out.append(
                Finding("ok", f"disk for {chain}", f"about {need} GB needed, {free:.0f} GB free")
            )
    return out


def port_free(address: str, port: int) -> bool:
    """True when a TCP listener could bind ``address:port`` right now."""
    host = address or "0.0.0.0"  # noqa: S104 - probing the same interfaces nginx would bind
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def reachability_hint(host: str, port: int, tls: bool) -> Finding:
    """Advice on whether requestors can reach the public address (no outside probe is made)."""
    try:
        addrs = {str(ai[4][0]) for ai in socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)}
    except OSError:
        return Finding(
            "warning",
            "public address",
            f"{host} does not resolve here: create a DNS record pointing to this machine",
            "host",
        )
    private = [a for a in addrs if _is_private(a)]
    scheme = "https" if tls else "http"
    if private and len(private) == len(addrs):
        return Finding(
            "warning",
            "public address",
            f"{host} resolves to private address(es) {', '.join(sorted(private))}: requestors on "
            f"the internet cannot reach {scheme}://{host}:{port}; forward TCP port {port} on "
            "your router / open it in the firewall (e.g. `sudo ufw allow "
            f"{port}/tcp`) and use a public name",
        )
    return Finding(
        "info",
        "public address",
        f"check from another network that {scheme}://{host}:{port}/ answers (open TCP port "
        f"{port} in the firewall, e.g. `sudo ufw allow {port}/tcp`)",
    )


def _is_private(addr: str) -> bool:
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return False
    return ip.is_private or ip.is_loopback or ip.is_link_local

"""Ethereum client profiles: which chains each client serves and the exact command line to run it.

Two clients:
- ``erigon``: Erigon 3 (the provider's real workload). Erigon cannot be installed on the build
  machines, so every flag emitted here is taken from Erigon 3's documented ``--help`` listing
  (docs.erigon.tech "Options" and "Default ports"); the unit tests check the argv against that table.
- ``anvil``: Foundry's anvil, a real Ethereum JSON-RPC node used as the ``dev`` chain for local
  use and for the tests.

Every port an instance listens on comes from its own lease (see ``ports.allocate_ports``), so two
instances on one host never collide. JSON-RPC, the Engine API, the private API and metrics bind to
127.0.0.1 (nginx is the only door to the RPC); Erigon's peer-to-peer listeners (devp2p ``--port``,
the torrent client, Caplin's discovery and sentinel) listen on all interfaces, as a node that
syncs from the network must. ``clients.erigon.nat`` (``--nat``) tells Erigon the address peers
reach it at when the provider sits behind NAT.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from erigolem_runtime.api import ErrorKind, ServiceError

CLIENTS: tuple[str, ...] = ("erigon", "anvil")
DEFAULT_CLIENT = "erigon"

ERIGON_CHAINS: tuple[str, ...] = (
    "mainnet",
    "sepolia",
    "holesky",
    "hoodi",
    "gnosis",
    "chiado",
    "dev",
)
ANVIL_CHAINS: tuple[str, ...] = ("dev",)
ALL_CHAINS: tuple[str, ...] = ERIGON_CHAINS

#: Erigon 3 ``--prune.mode`` presets ("blocks" exists since 3.1).
PRUNE_MODES: tuple[str, ...] = ("archive", "full", "minimal", "blocks")
DEFAULT_PRUNE_MODE = "full"
#: The first Erigon release that knows ``--prune.mode=blocks``; 3.0 accepts the word and runs an
#: archive node (terabytes more disk), so the runtime refuses it on an older binary.
BLOCKS_PRUNE_SINCE = (3, 1)

#: Erigon's dev chain (``--chain=dev``, Clique): Erigon exits at start without
#: ``--miner.etherbase`` and seals blocks only with ``--mine``, signing with its built-in
#: devnet key for this address (Erigon's ``core.DevnetEtherbase``; the key is public, as the
#: dev chain's is). With ``--dev.period`` unset (0) a block is sealed when a transaction waits.
ERIGON_DEV_ETHERBASE = "0x67b1d87101671b127f5f8714789c7192f7ad340e"

#: ``--nat`` values Erigon accepts (besides ``extip:<IP>`` and ``pmp:<gateway IP>``).
NAT_MODES: tuple[str, ...] = ("none", "any", "upnp", "pmp", "stun")

#: EIP-155 chain ids, reported in the offer and used to check a node answers for the right chain.
CHAIN_IDS: Mapping[str, int] = {
    "mainnet": 1,
    "sepolia": 11155111,
    "holesky": 17000,
    "hoodi": 560048,
    "gnosis": 100,
    "chiado": 10200,
    "dev": 1337,  # Erigon's --chain=dev; anvil's default is 31337 unless --chain-id is given
}

#: JSON-RPC namespaces served over HTTP (the requestor's console completes from these).
ERIGON_HTTP_APIS: tuple[str, ...] = ("eth", "erigon", "web3", "net", "debug", "trace", "txpool")

#: Names of the ports an Erigon instance needs, in lease order (the first is the JSON-RPC port).
ERIGON_PORTS: tuple[str, ...] = (
    "http",  # --http.port (JSON-RPC behind nginx)
    "private_api",  # --private.api.addr (internal gRPC)
    "authrpc",  # --authrpc.port (Engine API)
    "torrent",  # --torrent.port (snapshot download)
    "p2p",  # --port (devp2p, first protocol)
    "p2p_alt",  # second entry of --p2p.allowed-ports (eth/68 and eth/69 each need one)
    "caplin_discovery",  # --caplin.discovery.port (UDP)
    "caplin_discovery_tcp",  # --caplin.discovery.tcpport
    "sentinel",  # --sentinel.port
    "beacon_api",  # --beacon.api.port (only bound when the beacon API is enabled)
    "metrics",  # --metrics.port
)
ANVIL_PORTS: tuple[str, ...] = ("http",)

_CHAIN_RE = re.compile(r"^[a-z][a-z0-9-]{0,31}$")


class UnknownChain(ServiceError):
    """The start argument names a chain this client (or this provider) does not serve.

    Kind UNKNOWN_CHAIN, or CHAIN_NOT_OFFERED when the client could serve it but the provider's
    `chains` list leaves it out.
    """

    default_kind = ErrorKind.UNKNOWN_CHAIN


class UnknownClient(ServiceError):
    """The start argument names a client this runtime has no profile for."""

    default_kind = ErrorKind.UNKNOWN_CLIENT


class MissingBinary(ServiceError):
    """The client's executable is not configured or not found (context: client, config_key)."""

    default_kind = ErrorKind.MISSING_BINARY


@dataclass(frozen=True)
class ClientProfile:
    """What the runtime needs to know to run one kind of Ethereum client."""

    name: str
    chains: tuple[str, ...]
    port_names: tuple[str, ...]
    binary_key: str  # config key that names the executable, quoted in error messages
    syncs: bool  # True when the client syncs from the network (stages, peers)

    @property
    def rpc_port_index(self) -> int:
        return self.port_names.index("http")


PROFILES: Mapping[str, ClientProfile] = {
    "erigon": ClientProfile(
        name="erigon",
        chains=ERIGON_CHAINS,
        port_names=ERIGON_PORTS,
        binary_key="clients.erigon.binary",
        syncs=True,
    ),
    "anvil": ClientProfile(
        name="anvil",
        chains=ANVIL_CHAINS,
        port_names=ANVIL_PORTS,
        binary_key="clients.anvil.binary",
        syncs=False,
    ),
}


def get_profile(client: object) -> ClientProfile:
    """The profile for ``client``, or ``UnknownClient`` listing the valid choices."""
    if isinstance(client, str) and client in PROFILES:
        return PROFILES[client]
    shown = repr(client) if not isinstance(client, str) else repr(client[:40])
    raise UnknownClient(
        f"unknown client {shown}: choose one of {', '.join(CLIENTS)} "
        f'(e.g. {{"chain": "sepolia", "client": "erigon"}})'
    )


def validate_chain(
    profile: ClientProfile, chain: object, offered: Sequence[str] | None = None
) -> str:
    """Check ``chain`` is served by the client and offered by this provider; return it.

    ``offered`` is the provider's configured chain list (None = everything the client supports).
    """
    valid = [c for c in profile.chains if offered is None or c in offered]
    if not isinstance(chain, str) or not _CHAIN_RE.match(chain):
        shown = repr(chain)[:40]
        raise UnknownChain(f"invalid chain {shown}: choose one of {', '.join(valid) or '(none)'}")
    if chain not in profile.chains:
        hint = ""
        if chain in ALL_CHAINS:
            others = [p.name for p in PROFILES.values() if chain in p.chains]
            hint = f" ({chain} is served by client {', '.join(others)})"
        raise UnknownChain(
            f"client {profile.name} does not serve chain {chain!r}{hint}: "
            f"choose one of {', '.join(valid) or '(none)'}"
        )
    if offered is not None and chain not in offered:
        raise UnknownChain(
            f"this provider does not offer chain {chain!r}: it offers "
            f"{', '.join(valid) or '(no chain for this client)'}",
            kind=ErrorKind.CHAIN_NOT_OFFERED,
            context={"client": profile.name, "chain": chain, "offered": ", ".join(valid)},
        )
    return chain


def resolve_binary(profile: ClientProfile, binary: str | Path | None) -> Path:
    """The executable to run, or ``MissingBinary`` naming the config key to set."""
    import shutil

    if not binary:
        raise MissingBinary(
            f"no {profile.name} binary configured: set {profile.binary_key} in the runtime "
            f"config to the path of the {profile.name} executable",
            context={"client": profile.name, "config_key": profile.binary_key},
        )
    path = Path(binary)
    if path.is_absolute() or "/" in str(binary):
        if path.is_file() and _is_executable(path):
            return path
    else:
        found = shutil.which(str(binary))
        if found:
            return Path(found)
    raise MissingBinary(
        f"{profile.name} binary {str(binary)!r} not found or not executable: install "
        f"{profile.name} or set {profile.binary_key} in the runtime config to its path",
        context={"client": profile.name, "config_key": profile.binary_key},
    )


def _is_executable(path: Path) -> bool:
    import os

    return os.access(path, os.X_OK)


def erigon_argv(
    binary: str | Path,
    chain: str,
    datadir: Path,
    ports: Sequence[int],
    *,
    prune_mode: str = DEFAULT_PRUNE_MODE,
    extra_args: Sequence[str] = (),
    nat: str | None = None,
) -> list[str]:
    """Erigon 3's command line for one instance: own datadir, own ports (see the module docstring
    for which listen where); ``nat`` is ``clients.erigon.nat`` (``--nat``), checked by
    ``nat_problem``.

    WebSocket is on (``--ws``) and served on the HTTP RPC port: Erigon's RPC handler upgrades
    WebSocket requests on that port, and opens a second listener only when ``--ws.port``
    differs from ``--http.port`` (its default is 8546, which would clash between instances),
    so ``--ws.port`` is set to the RPC port. nginx proxies both on the instance's URL.
    """
    if chain not in ERIGON_CHAINS:
        raise UnknownChain(
            f"erigon does not serve chain {chain!r}: choose one of {', '.join(ERIGON_CHAINS)}"
        )
    if prune_mode not in PRUNE_MODES:
        raise ServiceError(
            f"invalid prune mode {prune_mode!r}: set clients.erigon.prune_mode to one of "
            f"{', '.join(PRUNE_MODES)}",
            kind=ErrorKind.CONFIG,
        )
    p = _named_ports(ERIGON_PORTS, ports)
    return [
        str(binary),
        f"--chain={chain}",
        f"--datadir={datadir}",
        f"--prune.mode={prune_mode}",
        "--http",
        "--http.addr=127.0.0.1",
        f"--http.port={p['http']}",
        f"--http.api={','.join(ERIGON_HTTP_APIS)}",
        "--http.vhosts=localhost",
        "--ws",
        f"--ws.port={p['http']}",
        f"--private.api.addr=127.0.0.1:{p['private_api']}",
        "--authrpc.addr=127.0.0.1",
        f"--authrpc.port={p['authrpc']}",
        f"--torrent.port={p['torrent']}",
        f"--port={p['p2p']}",
        f"--p2p.allowed-ports={p['p2p']},{p['p2p_alt']}",
        f"--caplin.discovery.port={p['caplin_discovery']}",
        f"--caplin.discovery.tcpport={p['caplin_discovery_tcp']}",
        f"--sentinel.port={p['sentinel']}",
        f"--beacon.api.port={p['beacon_api']}",
        "--metrics",
        "--metrics.addr=127.0.0.1",
        f"--metrics.port={p['metrics']}",
        "--diagnostics.disabled",
        *_chain_args(chain),
        *([f"--nat={nat}"] if nat else []),
        *extra_args,
    ]


def _chain_args(chain: str) -> list[str]:
    """Flags a chain needs beyond ``--chain``: the dev chain's sealer (see ERIGON_DEV_ETHERBASE)."""
    if chain == "dev":
        return ["--mine", f"--miner.etherbase={ERIGON_DEV_ETHERBASE}"]
    return []


def nat_problem(value: str) -> str | None:
    """Why ``value`` is not an Erigon ``--nat`` setting, or None when it is."""
    import ipaddress

    if value in NAT_MODES:
        return None
    kind, sep, addr = value.partition(":")
    if sep and kind in ("extip", "pmp"):
        try:
            ipaddress.ip_address(addr)
        except ValueError:
            return f"{addr!r} is not an IP address"
        return None
    return f"use one of {', '.join(NAT_MODES)}, extip:<public IP> or pmp:<gateway IP>"


_VERSION_RE = re.compile(r"(\d+)\.(\d+)\.(\d+)")
_version_cache: dict[tuple[str, int, int], tuple[int, int, int] | None] = {}


def parse_erigon_version(text: str) -> tuple[int, int, int] | None:
    """(major, minor, patch) from ``erigon --version`` output (``erigon version 3.1.0-...``)."""
    m = _VERSION_RE.search(text)
    return (int(m.group(1)), int(m.group(2)), int(m.group(3))) if m else None


def erigon_version(binary: str | Path) -> tuple[int, int, int] | None:
    """The version ``binary --version`` reports (None when it does not say), cached per file."""
    path = Path(binary)
    try:
        st = path.stat()
    except OSError:
        return None
    key = (str(path), st.st_mtime_ns, st.st_size)
    if key not in _version_cache:
        try:
            proc = subprocess.run(
                [str(path), "--version"], capture_output=True, text=True, timeout=15, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        _version_cache[key] = parse_erigon_version(proc.stdout + proc.stderr)
    return _version_cache[key]


def check_erigon_binary(binary: str | Path, prune_mode: str) -> None:
    """Refuse (CONFIG error) a prune mode this Erigon binary does not know, before a start.

    Runs ``binary --version`` once per binary file (cached), and only for ``blocks``; blocking:
    call it off the event loop.
    """
    if prune_mode != "blocks":
        return
    problem = prune_mode_problem(prune_mode, erigon_version(binary))
    if problem is not None:
        raise ServiceError(problem, kind=ErrorKind.CONFIG)


def prune_mode_problem(prune_mode: str, version: tuple[int, int, int] | None) -> str | None:
    """Why ``prune_mode`` does not work with this Erigon version, or None when it does."""
    if prune_mode != "blocks" or version is None or version[:2] >= BLOCKS_PRUNE_SINCE:
        return None
    shown = ".".join(map(str, version))
    since = ".".join(map(str, BLOCKS_PRUNE_SINCE))
    return (
        f"Erigon {shown} does not know --prune.mode=blocks (it exists from Erigon {since}; "
        f"{shown} would silently run an archive node, terabytes larger): upgrade Erigon to "
        f"{since} or later, or set clients.erigon.prune_mode to full, minimal or archive"
    )


def anvil_argv(
    binary: str | Path,
    chain: str,
    ports: Sequence[int],
    *,
    chain_id: int | None = None,
    extra_args: Sequence[str] = (),
) -> list[str]:
    """anvil's command line: the dev chain on 127.0.0.1 at the leased port."""
    if chain not in ANVIL_CHAINS:
        raise UnknownChain(
            f"anvil does not serve chain {chain!r}: choose one of {', '.join(ANVIL_CHAINS)}"
        )
    p = _named_ports(ANVIL_PORTS, ports)
    argv = [str(binary), "--host", "127.0.0.1", "--port", str(p["http"])]
    if chain_id is not None:
        argv += ["--chain-id", str(int(chain_id))]
    return [*argv, *extra_args]


def client_argv(
    profile: ClientProfile,
    binary: str | Path,
    chain: str,
    datadir: Path,
    ports: Sequence[int],
    *,
    prune_mode: str = DEFAULT_PRUNE_MODE,
    chain_id: int | None = None,
    extra_args: Sequence[str] = (),
    nat: str | None = None,
) -> list[str]:
    """The command line of ``profile`` for one instance (pure; see ``check_erigon_binary``)."""
    if profile.name == "erigon":
        return erigon_argv(
            binary, chain, datadir, ports, prune_mode=prune_mode, extra_args=extra_args, nat=nat
        )
    if profile.name == "anvil":
        return anvil_argv(binary, chain, ports, chain_id=chain_id, extra_args=extra_args)
    raise UnknownClient(f"unknown client {profile.name!r}: choose one of {', '.join(CLIENTS)}")


def _named_ports(names: Sequence[str], ports: Sequence[int]) -> dict[str, int]:
    if len(ports) < len(names):
        raise ServiceError(
            f"internal error: {len(names)} ports needed, {len(ports)} leased",
            kind=ErrorKind.INTERNAL,
        )
    if len(set(ports[: len(names)])) != len(names):
        raise ServiceError(
            "internal error: the port lease holds duplicate ports", kind=ErrorKind.INTERNAL
        )
    for port in ports:
        if not 1024 <= int(port) <= 65535:
            raise ServiceError(
                f"internal error: port {port} outside 1024..65535", kind=ErrorKind.INTERNAL
            )
    return {name: int(port) for name, port in zip(names, ports, strict=False)}

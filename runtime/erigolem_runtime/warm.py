"""Warm mode: a rental gets its own Erigon ``rpcdaemon`` against the provider's synced Erigon.

A private Erigon on a fresh datadir needs days to sync mainnet. In warm mode (start argument
``{"chain": "mainnet", "mode": "warm"}``) the runtime does not start Erigon: it starts one
``rpcdaemon`` per rental that reads the chain data of an Erigon the *provider* runs and keeps
synced (config section ``warm``). Each rental still gets its own process, port, nginx location,
credentials and restart budget; the chain data is shared, opened read-only.

Why the provider runs the warm Erigon (and the runtime never starts or stops it): a runtime
process lives exactly as long as one activity and is SIGKILLed by exe-unit at the end; a shared
Erigon must outlive every rental, must not be signalled by a process that cannot prove it owns
it, and must be synced *before* the chain is offered as warm. So it is a provider service
(systemd unit) the runtime only checks (datadir present, private API answering) before each
warm start.

The rpcdaemon command line uses only flags rpcdaemon defines (``cmd/rpcdaemon/cli/config.go``
and the shared logging/metrics flags of Erigon 3): ``--datadir`` (local read-only DB access,
faster than remote), ``--private.api.addr`` (the warm Erigon's internal gRPC API: state change
stream, ``eth_syncing``, peers) which also serves as ``--txpool.api.addr`` (so
``eth_sendRawTransaction`` is forwarded to the warm node's txpool), ``--http.addr``/
``--http.port``/``--http.api``/``--http.vhosts``, ``--ws`` (same port as HTTP) and the limits.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from erigolem_runtime.api import ErrorKind, ServiceError
from erigolem_runtime.profiles import ERIGON_CHAINS, ClientProfile, MissingBinary, resolve_binary

MODES: tuple[str, ...] = ("private", "warm")
DEFAULT_MODE = "private"

#: Namespaces a warm renter gets: read-only ones only. Left out on purpose: ``admin`` (would
#: add/remove peers of the shared Erigon), ``engine`` (consensus control), ``db``/``internal``
#: (raw database access). In rpcdaemon, ``debug`` only traces and reads (traceTransaction,
#: storageRangeAt, accountRange, getModifiedAccounts…) and ``txpool`` only reads
#: (content/status); the one mutation a renter can make is ``eth_sendRawTransaction``, which
#: rpcdaemon forwards to the warm node's txpool like any node would to its peers.
WARM_HTTP_APIS: tuple[str, ...] = ("eth", "erigon", "web3", "net", "debug", "trace", "txpool")

#: Per-rental limits (rpcdaemon flags): one renter cannot starve the shared node's reads.
RPC_BATCH_LIMIT = 100  # --rpc.batch.limit: requests in one batch
RPC_BATCH_CONCURRENCY = 2  # --rpc.batch.concurrency: batch items run in parallel
DB_READ_CONCURRENCY = 16  # --db.read.concurrency: parallel DB reads of this rpcdaemon
RPC_GASCAP = 50_000_000  # --rpc.gascap: gas of one eth_call / estimateGas
TRACE_MAXTRACES = 200  # --trace.maxtraces: traces one trace_filter returns

#: The warm instance's only port: rpcdaemon's HTTP (and WebSocket) JSON-RPC, behind nginx.
RPCDAEMON_PORTS: tuple[str, ...] = ("http",)
RPCDAEMON_KEY = "warm.rpcdaemon"

#: The "client" a warm instance runs (messages name warm.rpcdaemon when it is missing).
RPCDAEMON_PROFILE = ClientProfile(
    name="rpcdaemon",
    chains=ERIGON_CHAINS,
    port_names=RPCDAEMON_PORTS,
    binary_key=RPCDAEMON_KEY,
    syncs=True,
)

WARM_ADDR_RE = re.compile(r"127\.0\.0\.1:(\d{1,5})")
REACH_TIMEOUT = 2.0


@dataclass(frozen=True)
class WarmChain:
    """One provider-run, synced Erigon: its private API (loopback) and its datadir."""

    private_api: str  # "127.0.0.1:PORT" (Erigon's --private.api.addr)
    datadir: Path  # the datadir that Erigon runs on (rpcdaemon reads it, never writes)

    @property
    def private_api_port(self) -> int:
        return int(self.private_api.rsplit(":", 1)[1])


@dataclass(frozen=True)
class WarmConfig:
    """The config section ``warm``: the rpcdaemon binary and the warm Erigon per chain."""

    rpcdaemon: str | None = None
    chains: Mapping[str, WarmChain] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        """The JSON form the runtime config's ``warm`` section reads back (config.py parses it)."""
        return {
            "rpcdaemon": self.rpcdaemon,
            "chains": {
                c: {"private_api": w.private_api, "datadir": str(w.datadir)}
                for c, w in self.chains.items()
            },
        }


def parse_mode(value: object, client: str) -> str:
    """The start argument's ``mode`` (default private); warm only with Erigon."""
    if value is None:
        return DEFAULT_MODE
    if not isinstance(value, str) or value not in MODES:
        raise ServiceError(
            f"invalid mode {repr(value)[:40]}: use one of {', '.join(MODES)} "
            '(e.g. {"chain": "mainnet", "mode": "warm"})',
            kind=ErrorKind.BAD_ARGUMENT,
        )
    if value == "warm" and client != "erigon":
        raise ServiceError(
            f'mode "warm" needs client erigon (a shared synced Erigon), not {client}: drop '
            '"mode" or use "client": "erigon"',
            kind=ErrorKind.BAD_ARGUMENT,
        )
    return value


def warm_chains(config: WarmConfig, offered: Sequence[str]) -> list[str]:
    """Offered chains with a configured warm Erigon (advertised as ``warm-chains``)."""
    if not config.rpcdaemon:
        return []
    return [c for c in offered if c in config.chains]


def warm_chain_for(config: WarmConfig, chain: str) -> WarmChain:
    """The warm Erigon for ``chain``, or an error saying that this provider has none."""
    warm = config.chains.get(chain)
    if warm is None or not config.rpcdaemon:
        have = ", ".join(sorted(config.chains)) if config.rpcdaemon else ""
        raise ServiceError(
            f"this provider runs no warm Erigon for {chain}"
            + (f" (warm chains: {have})" if have else " (no warm chains)")
            + ': start without "mode": "warm" for a private node, or pick a provider whose '
            f"offer lists {chain} in golem.runtime.erigon.warm-chains",
            kind=ErrorKind.CHAIN_NOT_OFFERED,
            context={"chain": chain, "mode": "warm"},
        )
    return warm


async def check_warm_node(chain: str, warm: WarmChain) -> None:
    """Refuse a warm start when the warm Erigon's datadir is gone or its private API is down."""
    if not (warm.datadir / "chaindata").is_dir():
        raise ServiceError(
            f"the warm Erigon datadir for {chain} ({warm.datadir}) has no chaindata: fix "
            f"warm.chains.{chain}.datadir in the runtime config to the datadir that Erigon "
            "runs on",
            kind=ErrorKind.DATADIR,
            context={"chain": chain, "mode": "warm"},
        )
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", warm.private_api_port), REACH_TIMEOUT
        )
    except (OSError, TimeoutError) as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else exc.strerror or str(exc)
        raise ServiceError(
            f"the warm Erigon for {chain} does not answer on its private API "
            f"{warm.private_api} ({reason}): the provider must start it (with "
            f"--private.api.addr={warm.private_api}) or fix warm.chains.{chain}.private_api",
            kind=ErrorKind.CLIENT_NOT_READY,
            context={"chain": chain, "mode": "warm"},
        ) from None
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


def warm_problems(config: WarmConfig, offered: Sequence[str]) -> list[str]:
    """What would make warm starts of the offered warm chains fail (for ``test``/``check``)."""
    out: list[str] = []
    chains = warm_chains(config, offered)
    if config.chains and not chains:
        out.append(
            f"warm.chains lists {', '.join(sorted(config.chains))}, none of them served here "
            "(add it to chains and configure clients.erigon.binary): warm mode is not offered"
        )
    if chains:
        try:
            resolve_binary(RPCDAEMON_PROFILE, config.rpcdaemon)
        except MissingBinary as exc:
            out.append(f"{exc}; until then warm starts fail")
    for chain in chains:
        node = config.chains[chain]
        if not (node.datadir / "chaindata").is_dir():
            out.append(
                f"warm.chains.{chain}.datadir = {node.datadir} has no chaindata: point it at the "
                "datadir the warm Erigon runs on"
            )
        try:
            socket.create_connection(("127.0.0.1", node.private_api_port), REACH_TIMEOUT).close()
        except OSError as exc:
            out.append(
                f"the warm Erigon for {chain} does not answer on {node.private_api} "
                f"({exc.strerror or exc}): start it with --private.api.addr={node.private_api}; "
                "until then warm starts of this chain fail"
            )
    return out


def rpcdaemon_argv(
    binary: str | Path, warm: WarmChain, ports: Sequence[int], *, extra_args: Sequence[str] = ()
) -> list[str]:
    """rpcdaemon's command line for one warm rental: own port, read-only APIs, own limits."""
    if not ports or not 1024 <= int(ports[0]) <= 65535:
        raise ServiceError(
            "internal error: a warm instance needs one leased port", kind=ErrorKind.INTERNAL
        )
    return [
        str(binary),
        f"--datadir={warm.datadir}",
        f"--private.api.addr={warm.private_api}",
        f"--txpool.api.addr={warm.private_api}",
        "--http.addr=127.0.0.1",
        f"--http.port={int(ports[0])}",
        f"--http.api={','.join(WARM_HTTP_APIS)}",
        "--http.vhosts=localhost",
        "--ws",
        f"--rpc.batch.limit={RPC_BATCH_LIMIT}",
        f"--rpc.batch.concurrency={RPC_BATCH_CONCURRENCY}",
        f"--db.read.concurrency={DB_READ_CONCURRENCY}",
        f"--rpc.gascap={RPC_GASCAP}",
        f"--trace.maxtraces={TRACE_MAXTRACES}",
        "--log.dir.disable",  # else it logs into the shared datadir; stdout goes to our log
        *extra_args,
    ]

"""Which nodes back which chain: the user's running nodes, read through the NodeManager, and the
gateway's run file (so `erigolem gateway status` and `node list` find a running gateway)."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from erigolem_runtime.api.files import atomic_write

from erigolem_desktop.core.gateway.config import ChainRoute, GatewayConfigError, UpstreamSpec
from erigolem_desktop.core.manager import NodeManager
from erigolem_desktop.core.paths import data_dir
from erigolem_desktop.core.states import NodeState

RUN_FILE = "gateway.json"


def routes_from_nodes(
    mgr: NodeManager,
    node_ids: Sequence[str] = (),
    chains: Iterable[str] = (),
    *,
    allow_empty: bool = False,
    states: frozenset[NodeState] = frozenset({NodeState.READY}),
) -> list[ChainRoute]:
    """One route per chain over the ready nodes (all of them, or `node_ids`), in start order;
    GatewayConfigError when there is none, unless `allow_empty` (the app waits for nodes).
    `states`: which nodes count (the app keeps a restarting, i.e. syncing, node in its route:
    health rounds take it out and bring it back)."""
    wanted_chains = set(chains)
    if node_ids:
        records = [mgr.resolve(n) for n in node_ids]
    else:
        records = sorted(mgr.list(active_only=True), key=lambda r: r.created_at)
    by_chain: dict[str, list[UpstreamSpec]] = {}
    for rec in records:
        if wanted_chains and rec.chain not in wanted_chains:
            continue
        if rec.state not in states or rec.url is None:
            if node_ids:
                raise GatewayConfigError(
                    f"node {rec.id} ({rec.name}) is {rec.state.value}, not ready.",
                    "Wait until it is ready (erigolem node list) or leave it out.",
                )
            continue
        by_chain.setdefault(rec.chain, []).append(
            UpstreamSpec(
                name=rec.name if rec.name else rec.id,
                url=rec.url,
                user=rec.user,
                password=mgr.password(rec.id),
                node_id=rec.id,
            )
        )
    for specs in by_chain.values():  # names must be unique per chain: fall back to ids
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            specs[:] = [
                UpstreamSpec(f"{s.name} ({s.node_id})", s.url, s.user, s.password, s.node_id)
                for s in specs
            ]
    if not by_chain and not allow_empty:
        raise GatewayConfigError(
            "no ready node to put behind the gateway.",
            "Start one first: erigolem node start --chain dev (or pass --url).",
        )
    return [ChainRoute(chain, tuple(specs)) for chain, specs in sorted(by_chain.items())]


def run_file(home: Path | None = None) -> Path:
    return (home or data_dir()) / RUN_FILE


def write_run_file(port: int, chains: dict[str, list[str]], token: bool) -> Path:
    """Record the running gateway (port, pid, chains and node ids; no secrets) owner-only."""
    path = run_file()
    data = {"pid": os.getpid(), "port": port, "chains": chains, "token": token}
    atomic_write(path, json.dumps(data, indent=2) + "\n", 0o600)
    return path


def read_run_file() -> dict[str, Any] | None:
    """The running gateway's record, or None when none was written."""
    try:
        data = json.loads(run_file().read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("port"), int) else None


def running_gateway(timeout: float = 0.3) -> dict[str, Any] | None:
    """The run file's record when a gateway is listening on its port (a loopback connect),
    else None (none was started, or it ended without removing its file)."""
    data = read_run_file()
    if data is None:
        return None
    try:
        with socket.create_connection(("127.0.0.1", int(data["port"])), timeout=timeout):
            pass
    except OSError:
        return None
    return data


def gateway_summary(data: dict[str, Any]) -> str:
    """One line for `erigolem node list`: the gateway's URL per chain."""
    port = data["port"]
    chains = data.get("chains") or {}
    urls = ", ".join(f"{c}: http://127.0.0.1:{port}/{c}" for c in sorted(chains)) or "no chain yet"
    token = " (+ /<token>: see 'erigolem gateway status')" if data.get("token") else ""
    return f"Gateway on 127.0.0.1:{port}: {urls}{token}"


def remove_run_file(port: int) -> None:
    """Remove the run file if it is still this gateway's."""
    data = read_run_file()
    if data is not None and data.get("port") == port and data.get("pid") == os.getpid():
        run_file().unlink(missing_ok=True)


def wallet_hint(chain: str, chain_id: int | None, url: str) -> str:
    """What to type into MetaMask's "Add a network manually" for this endpoint."""
    cid = "ask the node (eth_chainId)" if chain_id is None else str(chain_id)
    return (
        f"Add to MetaMask: Settings → Networks → Add a network manually: "
        f"Network name 'Erigolem {chain}', RPC URL {url}, Chain ID {cid}, Currency symbol ETH"
    )


async def fetch_status(port: int, token: str | None = None, timeout: float = 2.0) -> dict[str, Any]:  # noqa: ASYNC109
    """GET /status of the gateway on 127.0.0.1:port (OSError/ValueError when none answers)."""
    import aiohttp

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            f"http://127.0.0.1:{port}/status",
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=timeout),
        ) as resp,
    ):
        body = await resp.json(content_type=None)
        if resp.status == 401:
            raise PermissionError("the gateway needs its token: pass --token-file")
        if not isinstance(body, dict):
            raise ValueError("the gateway's status is not a JSON object")
        return body

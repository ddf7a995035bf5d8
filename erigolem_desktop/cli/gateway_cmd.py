"""`erigolem gateway serve|status`: one stable loopback JSON-RPC endpoint per chain over the user's
nodes, with failover and checked answers (see erigolem_desktop.core.gateway)."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

import aiohttp

from erigolem_desktop.cli import common

DEFAULT_PORT = 8545  # what wallets and tools try first for a local node


def _policy(args: argparse.Namespace) -> Any:
    from erigolem_desktop.core.gateway import Checkpoint, GatewayPolicy, VerifyMode, WriteMode

    token = common.read_secret_file(args.token_file, "gateway token") if args.token_file else None
    return GatewayPolicy(
        verify=VerifyMode(args.verify),
        writes=WriteMode(args.writes),
        max_lag=args.max_lag,
        health_interval=args.health_interval,
        checkpoint=Checkpoint.parse(args.checkpoint) if args.checkpoint else None,
        token=token,
    )


def _token(args: argparse.Namespace) -> str | None:
    return common.read_secret_file(args.token_file, "gateway token") if args.token_file else None


def _cmd_serve(args: argparse.Namespace) -> int:
    return asyncio.run(_serve(args))


async def _serve(args: argparse.Namespace) -> int:
    from erigolem_desktop.core.app_context import open_manager
    from erigolem_desktop.core.gateway import GatewayService
    from erigolem_desktop.core.gateway.nodes import (
        remove_run_file,
        routes_from_nodes,
        wallet_hint,
        write_run_file,
    )

    policy = _policy(args)
    mgr = open_manager()
    try:
        routes = routes_from_nodes(mgr, args.node or (), args.chain or ())
    finally:
        await mgr.close()
    service = GatewayService(routes, policy, port=args.port)
    try:
        port = await service.start()
    except OSError as exc:
        raise common.CliError(
            f"cannot listen on 127.0.0.1:{args.port} ({exc.strerror or exc}).",
            "Another program uses that port: pick another with --port (0 = any free port).",
        ) from None
    stop = asyncio.Event()
    try:
        chains = {r.chain: [u.node_id or u.name for u in r.upstreams] for r in routes}
        write_run_file(port, chains, policy.token is not None)
        status = service.status()
        if common.json_mode(args):
            common.emit(args, {**status, "urls": {c: service.url(c) for c in service.chains}})
        else:
            lines = [
                f"Gateway on 127.0.0.1:{port} (verify: {policy.verify.value}, writes: {policy.writes.value})"
            ]
            for chain in status["chains"]:
                url = service.url(chain["chain"])
                inside = sum(1 for n in chain["nodes"] if n["in"])
                lines.append(
                    f"  {chain['chain']}: {url}  ({inside}/{len(chain['nodes'])} nodes in)"
                )
                lines.append(f"    WebSocket: {service.ws_url(chain['chain'])}")
                lines.append("    " + wallet_hint(chain["chain"], chain["chain_id"], url))
            common.emit(args, None, text="\n".join(lines))
            common.note("Serving. Press Ctrl+C to stop. 'erigolem gateway status' shows who is in.")
        service.add_listener(
            lambda n: common.note(f"gateway: {n.chain}/{n.node} {n.kind}: {n.message}")
        )
        with common.signal_handlers(dict.fromkeys(common.STOP_SIGNALS, stop.set)):
            await stop.wait()
    finally:
        await service.close()
        if service.port is not None:
            remove_run_file(service.port)
    return common.EXIT_OK


def _cmd_status(args: argparse.Namespace) -> int:
    from erigolem_desktop.core.gateway.nodes import fetch_status, read_run_file

    port = args.port
    if port is None:
        run = read_run_file()
        if run is None:
            raise common.CliError(
                "no gateway is running for this data directory.",
                "Start one: erigolem gateway serve (or pass --port of a running one).",
            )
        port = int(run["port"])
    try:
        status = asyncio.run(fetch_status(port, _token(args)))
    except PermissionError as exc:
        raise common.UsageError(
            str(exc), "Give the token file the gateway was started with."
        ) from None
    except (OSError, ValueError, aiohttp.ClientError, TimeoutError) as exc:
        raise common.CliError(
            f"no gateway answers on 127.0.0.1:{port} ({exc or type(exc).__name__}).",
            "It may have stopped: start it with 'erigolem gateway serve'.",
        ) from None
    if common.json_mode(args):
        common.emit(args, status)
        return common.EXIT_OK
    common.emit(args, None, text=format_status(status))
    return common.EXIT_OK


def format_status(status: dict[str, Any]) -> str:
    """The status as text: per chain its URL, each node in or out and why, then stats."""
    pol = status.get("policy", {})
    lines = [
        f"Gateway on 127.0.0.1:{status.get('port')} (verify: {pol.get('verify')}, writes: {pol.get('writes')})"
    ]
    for chain in status.get("chains", []):
        lines.append(
            f"{chain['chain']} (chain id {chain.get('chain_id')}): {chain.get('url')}  head {chain.get('best_head')}"
        )
        if chain.get("disagreement"):
            lines.append(f"  ! {chain['disagreement']}")
        for node in chain.get("nodes", []):
            mark = "in " if node["in"] else "OUT"
            lied = "  [caught lying]" if node.get("lied") else ""
            lines.append(
                f"  {mark} {node['name']}: {node['reason']} (head {node.get('head')}){lied}"
            )
    methods = status.get("stats", {}).get("methods", {})
    if methods:
        lines.append("METHOD  CALLS  ERRORS  RETRIES  VERIFIED  P50 ms  P95 ms")
        for name, m in methods.items():
            lines.append(
                f"{name}  {m['calls']}  {m['errors']}  {m['retries']}  {m['verified']}/{m['verified'] + m['unverified']}  {m['p50_ms']}  {m['p95_ms']}"
            )
    return "\n".join(lines)


def register(subparsers: Any) -> None:
    gw = subparsers.add_parser(
        "gateway",
        help="one local JSON-RPC endpoint per chain over your nodes (failover, checked answers)",
    )
    verbs = gw.add_subparsers(dest="verb", metavar="VERB", required=True)
    p = verbs.add_parser("serve", help="serve http://127.0.0.1:PORT/<chain> until Ctrl+C")
    common.add_json_option(p)
    p.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"port on 127.0.0.1 (default {DEFAULT_PORT}; 0 = any free)",
    )
    p.add_argument(
        "--node",
        action="append",
        metavar="ID",
        help="a node to put behind it (repeat; default: every ready node)",
    )
    p.add_argument(
        "--chain", action="append", metavar="CHAIN", help="serve only this chain (repeat)"
    )
    p.add_argument(
        "--verify",
        choices=("off", "mark", "refuse"),
        default="mark",
        help="state reads: check proofs and mark (default) or refuse unverifiable answers, or off",
    )
    p.add_argument(
        "--writes",
        choices=("once", "broadcast"),
        default="once",
        help="eth_sendRawTransaction to one node (default) or to all",
    )
    p.add_argument(
        "--max-lag",
        type=int,
        default=8,
        metavar="N",
        help="take a node out when N+ blocks behind (default 8)",
    )
    p.add_argument(
        "--health-interval",
        type=float,
        default=1.0,
        metavar="S",
        help="seconds between health rounds (default 1)",
    )
    p.add_argument(
        "--checkpoint", metavar="NUMBER:0xHASH", help="a block you trust, for a chain with one node"
    )
    p.add_argument(
        "--token-file",
        metavar="PATH",
        help="require this local token (file; '-' = stdin) in the URL path",
    )
    p.set_defaults(func=common.handle_errors(_cmd_serve))
    p = verbs.add_parser("status", help="which nodes are in, out and why; per-method stats")
    common.add_json_option(p)
    p.add_argument("--port", type=int, help="the gateway's port (default: the running one)")
    p.add_argument("--token-file", metavar="PATH", help="the gateway's token, if it has one")
    p.set_defaults(func=common.handle_errors(_cmd_status))

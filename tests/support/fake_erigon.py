#!/usr/bin/env python3
"""Stand-in for the Erigon 3 binary (Erigon cannot be installed on the build machines).

What it stands for: ``erigon`` started by the runtime with Erigon 3's command line. It
- accepts Erigon's command line and rejects, like Erigon's flag parser does, any flag that is
  not in Erigon 3's documented ``--help`` listing (``DOCUMENTED_FLAGS`` below, taken from
  docs.erigon.tech "Options" / "Default ports"), and values outside the documented choices;
- exits like Erigon's ``SetEthConfig`` when ``--chain=dev`` comes without ``--miner.etherbase``;
- reports stage ``CustomTrace`` at block 0 throughout, as Erigon 3 does when custom traces are
  not configured (that stage never advances);
- serves JSON-RPC on ``--http.addr``/``--http.port`` answering ``web3_clientVersion``,
  ``eth_chainId``, ``eth_syncing`` (Erigon's shape: ``{currentBlock, highestBlock,
  stages: [{stage_name, block_number}]}``, or ``false`` once synced), ``net_peerCount`` and
  ``eth_blockNumber``; every other method gets JSON-RPC error -32601;
- with ``--private.api.addr``, serves a stand-in of Erigon's internal API there (one JSON-RPC
  request per line instead of gRPC) for the rpcdaemon stand-in (``fake_rpcdaemon.py``);
- writes a few Erigon-like log lines and exits on SIGTERM.

It does no networking beyond loopback and holds no chain data. Environment knobs for tests:
``FAKE_ERIGON_SYNC_SECONDS`` (time until ``eth_syncing`` turns false, default 3600),
``FAKE_ERIGON_START_DELAY`` (seconds before the RPC port opens, default 0),
``FAKE_ERIGON_EXIT_AFTER`` (exit with code 1 after this many seconds: a crash),
``FAKE_ERIGON_STOP_SECONDS`` (seconds from SIGTERM/SIGINT to a clean exit, default 0: what a
real Erigon spends closing its database), ``FAKE_ERIGON_VERSION`` (what ``--version`` prints after ``erigon version``, default
``3.0.0-fake``), ``FAKE_ERIGON_VERSION_SECONDS`` (seconds ``--version`` takes: a cold start
from a slow disk, default 0).
"""

from __future__ import annotations

import json
import os
import signal
import socketserver
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

#: Erigon 3 global options (subset relevant to a node operator), flag -> kind.
#: kind: "bool" (no value or =true/false), "value" (any value), "port", "addrport", "choice:<a|b>".
DOCUMENTED_FLAGS: dict[str, str] = {
    "--datadir": "value",
    "--chain": "choice:mainnet|sepolia|holesky|hoodi|gnosis|chiado|dev|amoy|bor-mainnet",
    "--networkid": "value",
    "--prune.mode": "choice:archive|full|minimal|blocks",
    "--prune.distance": "value",
    "--prune.distance.blocks": "value",
    "--externalcl": "bool",
    "--batchSize": "value",
    "--private.api.addr": "addrport",
    "--private.api.ratelimit": "value",
    "--txpool.api.addr": "addrport",
    "--http": "bool",
    "--http.enabled": "bool",
    "--http.addr": "value",
    "--http.port": "port",
    "--http.api": "value",
    "--http.vhosts": "value",
    "--http.corsdomain": "value",
    "--http.compression": "bool",
    "--http.trace": "bool",
    "--http.timeouts.read": "value",
    "--http.timeouts.write": "value",
    "--http.timeouts.idle": "value",
    "--ws": "bool",
    "--ws.port": "port",
    "--ws.compression": "bool",
    "--graphql": "bool",
    "--authrpc.addr": "value",
    "--authrpc.port": "port",
    "--authrpc.jwtsecret": "value",
    "--authrpc.vhosts": "value",
    "--rpc.gascap": "value",
    "--rpc.batch.limit": "value",
    "--rpc.returndata.limit": "value",
    "--rpc.txfeecap": "value",
    "--db.size.limit": "value",
    "--torrent.port": "port",
    "--torrent.download.rate": "value",
    "--torrent.upload.rate": "value",
    "--torrent.download.slots": "value",
    "--port": "port",
    "--p2p.allowed-ports": "value",
    "--p2p.protocol": "value",
    "--nat": "value",
    "--nodiscover": "bool",
    "--bootnodes": "value",
    "--staticpeers": "value",
    "--trustedpeers": "value",
    "--maxpeers": "value",
    "--dev.period": "value",
    "--mine": "bool",
    "--miner.etherbase": "value",
    "--identity": "value",
    "--sentry.api.addr": "value",
    "--caplin.discovery.addr": "value",
    "--caplin.discovery.port": "port",
    "--caplin.discovery.tcpport": "port",
    "--caplin.checkpoint-sync-url": "value",
    "--sentinel.addr": "value",
    "--sentinel.port": "port",
    "--beacon.api": "value",
    "--beacon.api.addr": "value",
    "--beacon.api.port": "port",
    "--pprof": "bool",
    "--pprof.addr": "value",
    "--pprof.port": "port",
    "--metrics": "bool",
    "--metrics.addr": "value",
    "--metrics.port": "port",
    "--diagnostics.disabled": "bool",
    "--diagnostics.endpoint.addr": "value",
    "--diagnostics.endpoint.port": "port",
    "--verbosity": "value",
    "--log.console.verbosity": "value",
    "--log.dir.path": "value",
    "--log.dir.disable": "bool",
    "--config": "value",
    "--version": "bool",
    "--help": "bool",
}

#: JSON-RPC namespaces Erigon's --http.api accepts.
DOCUMENTED_APIS = {
    "eth",
    "erigon",
    "web3",
    "net",
    "debug",
    "trace",
    "txpool",
    "engine",
    "admin",
    "ots",
    "internal",
    "bor",
    "overlay",
}

CHAIN_IDS = {
    "mainnet": 1,
    "sepolia": 11155111,
    "holesky": 17000,
    "hoodi": 560048,
    "gnosis": 100,
    "chiado": 10200,
    "dev": 1337,
    "amoy": 80002,
    "bor-mainnet": 137,
}

#: Erigon 3 stage names (eth_syncing ``stages``), in order.
E3_STAGES = ["Snapshots", "Headers", "BlockHashes", "Bodies", "Senders", "Execution",
             "CustomTrace", "TxLookup", "Finish"]  # fmt: skip


class FlagError(ValueError):
    """A command line Erigon 3 would refuse."""


def parse_args(argv: list[str], documented: dict[str, str] | None = None) -> dict[str, str]:
    """Parse Erigon-style ``--flag=value`` / ``--flag value`` / bool flags; validate each one.

    ``documented`` is the flag table (default: Erigon's; the rpcdaemon stand-in passes its own).
    """
    table = DOCUMENTED_FLAGS if documented is None else documented
    out: dict[str, str] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if not arg.startswith("--"):
            raise FlagError(f"unexpected argument {arg!r} (erigon takes only flags here)")
        name, eq, value = arg.partition("=")
        kind = table.get(name)
        if kind is None:
            raise FlagError(f"flag provided but not defined: {name}")
        if kind == "bool":
            if eq and value not in ("true", "false"):
                raise FlagError(f"invalid boolean value {value!r} for flag {name}")
            out[name] = value if eq else "true"
            i += 1
            continue
        if not eq:
            if i + 1 >= len(argv):
                raise FlagError(f"flag needs an argument: {name}")
            value = argv[i + 1]
            i += 1
        i += 1
        validate_value(name, kind, value)
        if name in out:
            raise FlagError(f"flag given twice: {name}")
        out[name] = value
    return out


def validate_value(name: str, kind: str, value: str) -> None:
    if kind == "port":
        if not value.isdigit() or not 0 < int(value) < 65536:
            raise FlagError(f"invalid port {value!r} for {name}")
    elif kind == "addrport":
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise FlagError(f"invalid host:port {value!r} for {name}")
    elif kind.startswith("choice:") and value not in kind[7:].split("|"):
        raise FlagError(f"invalid value {value!r} for {name}: expected one of {kind[7:]}")
    if name == "--http.api":
        bad = [a for a in value.split(",") if a not in DOCUMENTED_APIS]
        if bad:
            raise FlagError(f"unknown API namespace(s) in --http.api: {bad}")
    if name == "--p2p.allowed-ports":
        for p in value.split(","):
            validate_value(name + "[]", "port", p.strip())


def start_refusal(flags: dict[str, str]) -> str | None:
    """What Erigon's start-up (``SetEthConfig``) exits with for these flags, or None."""
    if flags.get("--chain") == "dev" and "--miner.etherbase" not in flags:
        # the dev chain's genesis is built for the developer account
        return "Please specify developer account address using --miner.etherbase"
    return None


class _State:
    def __init__(self, chain: str, sync_seconds: float) -> None:
        self.chain = chain
        self.started = time.monotonic()
        self.sync_seconds = sync_seconds
        self.highest = 1000

    def syncing(self) -> Any:
        elapsed = time.monotonic() - self.started
        if elapsed >= self.sync_seconds:
            return False
        frac = elapsed / self.sync_seconds if self.sync_seconds > 0 else 1.0
        stages = []
        for idx, name in enumerate(E3_STAGES):
            # earlier stages run ahead of later ones; Finish (= currentBlock) lags the most
            stage_frac = max(0.0, min(1.0, frac * len(E3_STAGES) / (idx + 1)))
            if name == "CustomTrace":
                stage_frac = 0.0  # not configured: never advances
            stages.append({"stage_name": name, "block_number": hex(int(self.highest * stage_frac))})
        return {
            "currentBlock": stages[-1]["block_number"],
            "highestBlock": hex(self.highest),
            "stages": stages,
        }

    def block(self) -> int:
        s = self.syncing()
        return self.highest if s is False else int(s["currentBlock"], 16)


def answer(state: _State, req: Any) -> dict[str, Any]:
    """The JSON-RPC answer to one request (HTTP and the private API stand-in share it)."""
    rid = req.get("id") if isinstance(req, dict) else None
    method = req.get("method") if isinstance(req, dict) else None
    results: dict[str, Any] = {
        "web3_clientVersion": "erigon/3.0.0/linux-amd64/go1.23 (fake_erigon)",
        "eth_chainId": hex(CHAIN_IDS.get(state.chain, 1)),
        "net_version": str(CHAIN_IDS.get(state.chain, 1)),
        "eth_syncing": state.syncing(),
        "net_peerCount": hex(7),
        "eth_blockNumber": hex(state.block()),
    }
    if method in results:
        return {"jsonrpc": "2.0", "id": rid, "result": results[method]}
    return {
        "jsonrpc": "2.0",
        "id": rid,
        "error": {
            "code": -32601,
            "message": f"the method {method} does not exist/is not available",
        },
    }


def serve_private_api(state: _State, addr: str) -> socketserver.ThreadingTCPServer:
    """Stand-in for Erigon's internal gRPC API (``--private.api.addr``) that rpcdaemon uses.

    Real Erigon speaks gRPC (KV, ETHBACKEND, txpool services) there; the stand-in speaks one
    JSON-RPC request per line and answers one line, which is all the rpcdaemon stand-in needs
    to read chain state from this node. Loopback only, like the runtime's config requires.
    """
    host, _, port = addr.rpartition(":")

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            for line in self.rfile:
                try:
                    reply = answer(state, json.loads(line))
                except ValueError:
                    reply = {"jsonrpc": "2.0", "id": None, "error": {"code": -32700}}
                self.wfile.write(json.dumps(reply).encode() + b"\n")
                self.wfile.flush()

    server = socketserver.ThreadingTCPServer((host, int(port)), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def make_handler(state: _State) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            try:
                req = json.loads(self.rfile.read(length))
            except ValueError:
                self._send(
                    {
                        "jsonrpc": "2.0",
                        "id": None,
                        "error": {"code": -32700, "message": "parse error"},
                    }
                )
                return
            if isinstance(req, list):
                self._send([self._answer(r) for r in req])
            else:
                self._send(self._answer(req))

        def _answer(self, req: Any) -> dict[str, Any]:
            return answer(state, req)

        def _send(self, obj: Any) -> None:
            send_json(self, obj)

    return Handler


def send_json(handler: BaseHTTPRequestHandler, obj: Any) -> None:
    """Answer 200 with `obj` as JSON (the RPC stand-ins' one reply form)."""
    body = json.dumps(obj).encode()
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def main(argv: list[str]) -> int:
    if argv[:1] in (["--version"], ["-v"], ["version"]):
        time.sleep(float(os.environ.get("FAKE_ERIGON_VERSION_SECONDS", "0")))
        print(f"erigon version {os.environ.get('FAKE_ERIGON_VERSION', '3.0.0-fake')}")
        return 0
    try:
        flags = parse_args(argv)
    except FlagError as exc:
        print(f"Incorrect Usage: {exc}", file=sys.stderr)
        return 1
    fatal = start_refusal(flags)
    if fatal is not None:
        print(f"Fatal: {fatal}", file=sys.stderr)
        return 1
    chain = flags.get("--chain", "mainnet")
    addr = flags.get("--http.addr", "localhost")
    port = int(flags.get("--http.port", "8545"))
    state = _State(chain, float(os.environ.get("FAKE_ERIGON_SYNC_SECONDS", "3600")))
    print(
        f"[INFO] Starting Erigon (fake) chain={chain} datadir={flags.get('--datadir')}", flush=True
    )
    delay = float(os.environ.get("FAKE_ERIGON_START_DELAY", "0"))
    if delay:
        time.sleep(delay)
    server = ThreadingHTTPServer((addr, port), make_handler(state))
    server.daemon_threads = True
    stop = threading.Event()
    got: list[str] = []

    def on_term(signum: int, frame: Any) -> None:
        got.append(signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"[INFO] HTTP endpoint opened url={addr}:{port}", flush=True)
    private = None
    if "--private.api.addr" in flags:
        private = serve_private_api(state, flags["--private.api.addr"])
        print(f"[INFO] private API listening on {flags['--private.api.addr']}", flush=True)
    exit_after = os.environ.get("FAKE_ERIGON_EXIT_AFTER")
    crash_at = time.monotonic() + float(exit_after) if exit_after else None
    # short waits, not one untimed one: the kernel may deliver SIGTERM to a server thread, and
    # then nothing interrupts the main thread's lock wait to run the Python handler
    while not stop.wait(0.1) and (crash_at is None or time.monotonic() < crash_at):
        pass
    server.shutdown()
    if private is not None:
        private.shutdown()
        private.server_close()
    if not stop.is_set():
        print("[EROR] fake crash", flush=True)
        return 1
    print(f"[INFO] Got interrupt ({got[0]}), shutting down...", flush=True)
    closing = float(os.environ.get("FAKE_ERIGON_STOP_SECONDS", "0"))
    if closing:  # what a real Erigon spends committing and closing its database
        time.sleep(closing)
    print(f"[INFO] Databases closed cleanly after {got[0]}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

#!/usr/bin/env python3
"""Stand-in for Erigon's ``rpcdaemon`` binary (Erigon cannot be installed on the build machines).

What it stands for: the JSON-RPC daemon the runtime starts per warm rental against the
provider's running, synced Erigon. Like the real one it
- accepts only the flags rpcdaemon defines (``DOCUMENTED_FLAGS``: erigontech/erigon
  ``cmd/rpcdaemon/cli/config.go`` ``RootCommand`` plus the shared logging and metrics flags),
  and refuses others as its flag parser does;
- with ``--datadir`` reads that datadir (it must hold ``chaindata``) and never writes it;
- reads chain state from the Erigon at ``--private.api.addr`` (the stand-in of its internal
  API served by ``fake_erigon.py``) and exits 1 when that node cannot be reached at start;
- serves JSON-RPC on ``--http.addr``/``--http.port`` with only the namespaces of ``--http.api``
  (any other method: -32601, Erigon's "does not exist/is not available"); every answer,
  ``web3_clientVersion`` included (Erigon's Web3APIImpl asks the node's backend), comes from
  the warm node;
- answers -32000 while the warm node is gone (it keeps running, as rpcdaemon does);
- exits on SIGTERM/SIGINT.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

try:  # run as a script (tests/support on sys.path) or imported as tests.support.fake_rpcdaemon
    import fake_erigon  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # pragma: no cover - the import path used by the unit tests
    from tests.support import fake_erigon

#: rpcdaemon's flags (subset the runtime could use), flag -> kind (see fake_erigon.parse_args).
DOCUMENTED_FLAGS: dict[str, str] = {
    "--private.api.addr": "addrport",
    "--txpool.api.addr": "addrport",
    "--datadir": "value",
    "--graphql": "bool",
    "--rpc.gascap": "value",
    "--trace.maxtraces": "value",
    "--rpc.accessList": "value",
    "--rpc.batch.concurrency": "value",
    "--rpc.batch.limit": "value",
    "--rpc.returndata.limit": "value",
    "--rpc.streaming.disable": "bool",
    "--db.read.concurrency": "value",
    "--trace.compat": "bool",
    "--state.cache": "value",
    "--http.api": "value",
    "--http.enabled": "bool",
    "--http.addr": "value",
    "--http.port": "port",
    "--http.url": "value",
    "--http.corsdomain": "value",
    "--http.vhosts": "value",
    "--http.compression": "bool",
    "--http.timeouts.read": "value",
    "--http.timeouts.write": "value",
    "--http.timeouts.idle": "value",
    "--rpc.evmtimeout": "value",
    "--ws": "bool",
    "--ws.compression": "bool",
    "--https.enabled": "bool",
    "--socket.enabled": "bool",
    "--tls.cert": "value",
    "--tls.key": "value",
    "--tls.cacert": "value",
    "--metrics": "bool",
    "--metrics.addr": "value",
    "--metrics.port": "port",
    "--pprof": "bool",
    "--verbosity": "value",
    "--log.console.verbosity": "value",
    "--log.dir.path": "value",
    "--log.dir.disable": "bool",
    "--help": "bool",
}

#: Namespaces rpcdaemon's --http.api knows (its usage text and jsonrpc package).
DOCUMENTED_APIS = {"eth", "erigon", "web3", "net", "debug", "trace", "txpool", "db", "admin",
                   "ots", "engine", "internal", "bor", "overlay", "parity"}  # fmt: skip


def parse_args(argv: list[str]) -> dict[str, str]:
    """rpcdaemon's command line, validated like its flag parser would (FlagError otherwise)."""
    flags: dict[str, str] = fake_erigon.parse_args(argv, DOCUMENTED_FLAGS)
    bad = [a for a in flags.get("--http.api", "eth,erigon").split(",") if a not in DOCUMENTED_APIS]
    if bad:
        raise fake_erigon.FlagError(f"unknown API namespace(s) in --http.api: {bad}")
    return flags


class WarmNode:
    """The connection to the warm Erigon's private API (one line per request)."""

    def __init__(self, addr: str) -> None:
        host, _, port = addr.rpartition(":")
        self.addr = (host, int(port))
        self.lock = threading.Lock()
        self.sock: socket.socket | None = None
        self.reader: Any = None

    def connect(self) -> None:
        self.sock = socket.create_connection(self.addr, timeout=5)
        self.reader = self.sock.makefile("rb")

    def call(self, req: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            for _ in range(2):  # one reconnect: the warm node may have restarted
                try:
                    if self.sock is None:
                        self.connect()
                    assert self.sock is not None
                    self.sock.sendall(json.dumps(req).encode() + b"\n")
                    line = self.reader.readline()
                    if line:
                        reply: dict[str, Any] = json.loads(line)
                        return reply
                except OSError:
                    pass
                self.sock = None
            return {
                "jsonrpc": "2.0",
                "id": req.get("id"),
                "error": {"code": -32000, "message": "private API of the node is unavailable"},
            }


def make_handler(node: WarmNode, apis: set[str]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            try:
                req = json.loads(self.rfile.read(length))
            except ValueError:
                self._send({"jsonrpc": "2.0", "id": None, "error": {"code": -32700}})
                return
            if isinstance(req, list):
                self._send([self._answer(r) for r in req])
            else:
                self._send(self._answer(req))

        def _answer(self, req: Any) -> dict[str, Any]:
            rid = req.get("id") if isinstance(req, dict) else None
            method = str(req.get("method")) if isinstance(req, dict) else ""
            if method.split("_", 1)[0] not in apis:
                return {
                    "jsonrpc": "2.0",
                    "id": rid,
                    "error": {
                        "code": -32601,
                        "message": f"the method {method} does not exist/is not available",
                    },
                }
            return node.call(req)  # web3_clientVersion too: rpcdaemon asks the node's backend

        def _send(self, obj: Any) -> None:
            fake_erigon.send_json(self, obj)

    return Handler


def main(argv: list[str]) -> int:
    try:
        flags = parse_args(argv)
    except fake_erigon.FlagError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    datadir = flags.get("--datadir")
    if datadir is not None and not (Path(datadir) / "chaindata").is_dir():
        print(f"[EROR] could not open the database in {datadir}", flush=True)
        return 1
    node = WarmNode(flags.get("--private.api.addr", "127.0.0.1:9090"))
    try:
        node.connect()
    except OSError as exc:
        print(f"[EROR] could not connect to the private API: {exc}", flush=True)
        return 1
    apis = set(flags.get("--http.api", "eth,erigon").split(","))
    addr = flags.get("--http.addr", "localhost")
    port = int(flags.get("--http.port", "8545"))
    server = ThreadingHTTPServer((addr, port), make_handler(node, apis))
    server.daemon_threads = True
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(
        f"[INFO] HTTP endpoint opened url={addr}:{port} datadir={datadir} pid={os.getpid()}",
        flush=True,
    )
    while not stop.wait(0.1):  # short waits: SIGTERM may land on a server thread
        pass
    server.shutdown()
    print("[INFO] rpcdaemon stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

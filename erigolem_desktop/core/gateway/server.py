"""The gateway's HTTP and WebSocket server on 127.0.0.1: /<chain> per chain, /status.

POSTs are read by the raw front (front.py); WebSocket upgrades and all else by aiohttp, on the
same port.

    POST /<chain>            JSON-RPC (single or batch) for that chain's nodes
    GET  /<chain>  (Upgrade) the same over WebSocket, with eth_subscribe that survives failover
    GET  /status             which nodes are in, out and why; per-method stats
With a local token set, it goes in the path (/<chain>/<token>, which wallets can hold) or as
`Authorization: Bearer <token>`.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from collections.abc import Sequence
from typing import Any

import aiohttp
from aiohttp import web

from erigolem_desktop.core.gateway.config import ChainRoute, GatewayPolicy
from erigolem_desktop.core.gateway.dispatch import (
    BAD_TOKEN,
    INVALID_REQUEST,
    TOO_LARGE,
    ChainGateway,
    answer_body,
    error_obj,
)
from erigolem_desktop.core.gateway.front import HttpFront
from erigolem_desktop.core.gateway.pool import Notice, UpstreamPool
from erigolem_desktop.core.gateway.stats import GatewayStats
from erigolem_desktop.core.gateway.ws import WsSession

log = logging.getLogger(__name__)
HOST = "127.0.0.1"


def _json(obj: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=json.dumps(obj, separators=(",", ":")).encode(),
        status=status,
        content_type="application/json",
    )


class GatewayService:
    """The gateway for a set of chains; `await start()` binds, `await close()` stops it all."""

    def __init__(
        self,
        routes: Sequence[ChainRoute],
        policy: GatewayPolicy,
        port: int = 0,
        *,
        raw_front: bool = True,
    ) -> None:
        self.policy = policy
        self.raw_front = raw_front  # False: aiohttp serves POSTs too (the benchmark's "before")
        self.requested_port = port
        self.port: int | None = None
        self.stats = GatewayStats()
        self.routes = {r.chain: r for r in routes}
        self.started_at = time.time()
        self._session: aiohttp.ClientSession | None = None
        self.pools: dict[str, UpstreamPool] = {}
        self.chains: dict[str, ChainGateway] = {}
        self._runner: web.AppRunner | None = None
        self._ws: set[WsSession] = set()
        self._listeners: list[Any] = []
        self._server: asyncio.Server | None = None
        self.front_conns: set[HttpFront] = set()

    def url(self, chain: str, *, with_token: bool = True) -> str:
        """The endpoint a local tool (a wallet) is given for `chain`."""
        base = f"http://{HOST}:{self.port}/{chain}"
        return f"{base}/{self.policy.token}" if with_token and self.policy.token else base

    def ws_url(self, chain: str) -> str:
        return "ws" + self.url(chain)[4:]

    def add_listener(self, listener: Any) -> None:
        """Call `listener(Notice)` on every notice of every chain (the app shows them)."""
        self._listeners.append(listener)
        for pool in self.pools.values():
            pool.listeners.append(listener)

    async def start(self) -> int:
        """Bind 127.0.0.1:port (0: a free one), start health rounds; returns the port."""
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=256, limit_per_host=64, ttl_dns_cache=300)
        )
        for chain, route in self.routes.items():
            pool = UpstreamPool(route, self.policy, self._session)
            pool.listeners.extend(self._listeners)
            self.pools[chain] = pool
            self.chains[chain] = ChainGateway(pool, self.stats)
        app = web.Application(client_max_size=self.policy.max_body)
        app.router.add_get("/status", self._status)
        for path in ("/{chain}", "/{chain}/{token}"):
            app.router.add_post(path, self._http)
            app.router.add_get(path, self._get)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        fallback = self._runner.server
        assert fallback is not None
        loop = asyncio.get_running_loop()
        # POST /<chain> is read by the raw front; all else is handed to aiohttp's protocol.
        factory = (lambda: HttpFront(self, fallback)) if self.raw_front else fallback
        try:
            self._server = await loop.create_server(
                factory, HOST, self.requested_port, reuse_address=True
            )
        except OSError:
            await self.close()
            raise
        self.port = int(self._server.sockets[0].getsockname()[1])
        # A first health round before serving, so the first call already knows who is in.
        await asyncio.gather(*(p.check_once() for p in self.pools.values()))
        for pool in self.pools.values():
            pool.start()
        return self.port

    async def update_routes(self, routes: Sequence[ChainRoute]) -> None:
        """Serve these chains and nodes from now on (the app's ready nodes changed): a chain
        keeps its endpoint and its known nodes' health; a chain with no node left is dropped."""
        assert self._session is not None, "start() the gateway first"
        wanted = {r.chain: r for r in routes}
        for chain in [c for c in self.pools if c not in wanted]:
            self.chains.pop(chain, None)
            await self.pools.pop(chain).close()
        for chain, route in wanted.items():
            pool = self.pools.get(chain)
            if pool is None:
                pool = UpstreamPool(route, self.policy, self._session)
                pool.listeners.extend(self._listeners)
                self.pools[chain] = pool
                self.chains[chain] = ChainGateway(pool, self.stats)
                pool.start()
            else:
                pool.set_route(route)
        self.routes = wanted

    async def close(self) -> None:
        for ws in list(self._ws):
            await ws.close()
        for pool in self.pools.values():
            await pool.close()
        if self._server is not None:
            server, self._server = self._server, None
            server.close()
        for conn in list(self.front_conns):
            conn.close()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    def status(self) -> dict[str, Any]:
        return {
            "port": self.port,
            "started_at": round(self.started_at, 3),
            "policy": {
                "verify": self.policy.verify.value,
                "writes": self.policy.writes.value,
                "max_lag": self.policy.max_lag,
                "checkpoint": None
                if self.policy.checkpoint is None
                else f"{self.policy.checkpoint.number}:{self.policy.checkpoint.hash}",
                "token": self.policy.token is not None,
            },
            "chains": [
                {**pool.status(), "url": self.url(chain, with_token=False)}
                for chain, pool in self.pools.items()
            ],
            "stats": self.stats.to_json(),
        }

    # --- request handling ------------------------------------------------------------------

    def route(
        self, chain: str, path_token: str | None, authorization: str, path: str
    ) -> ChainGateway | tuple[int, dict[str, Any]]:
        """The chain a request is for, or the HTTP status and JSON-RPC error to answer with
        (a missing/wrong token, an unknown chain); shared by the raw front and aiohttp."""
        token = self.policy.token
        if token is None:
            if path_token is not None:
                return 404, error_obj(None, INVALID_REQUEST, f"no such path {path}: use /<chain>")
        else:
            given = path_token
            if given is None and authorization.startswith("Bearer "):
                given = authorization[7:]
            if given is None or not hmac.compare_digest(given.encode(), token.encode()):
                return 401, error_obj(
                    None,
                    BAD_TOKEN,
                    "the gateway's local token is missing or wrong",
                    {
                        "hint": "use the URL shown by 'erigolem gateway status' (it ends with the token)"
                    },
                )
        gw = self.chains.get(chain)
        if gw is None:
            known = ", ".join(f"/{c}" for c in self.chains) or "none"
            return 404, error_obj(
                None,
                INVALID_REQUEST,
                f"this gateway serves no chain {chain!r}; it serves {known}",
            )
        return gw

    def _chain(self, request: web.Request) -> ChainGateway | web.Response:
        gw = self.route(
            request.match_info["chain"],
            request.match_info.get("token"),
            request.headers.get("Authorization", ""),
            request.path,
        )
        if isinstance(gw, tuple):
            return _json(gw[1], gw[0])
        return gw

    async def _status(self, request: web.Request) -> web.Response:
        if self.policy.token is not None:
            header = request.headers.get("Authorization", "")
            if not hmac.compare_digest(header.encode(), f"Bearer {self.policy.token}".encode()):
                return _json(error_obj(None, BAD_TOKEN, "status needs the gateway token"), 401)
        return _json(self.status())

    async def _get(self, request: web.Request) -> web.StreamResponse:
        gw = self._chain(request)
        if isinstance(gw, web.Response):
            return gw
        if request.headers.get("Upgrade", "").lower() != "websocket":
            return _json(
                error_obj(
                    None, INVALID_REQUEST, "send JSON-RPC with POST, or open a WebSocket here"
                ),
                405,
            )
        ws = web.WebSocketResponse(heartbeat=30, max_msg_size=self.policy.max_body)
        await ws.prepare(request)
        assert self._session is not None
        session = WsSession(ws, gw, self._session, self.policy)
        self._ws.add(session)
        try:
            await session.run()
        finally:
            self._ws.discard(session)
        return ws

    async def _http(self, request: web.Request) -> web.Response:
        gw = self._chain(request)
        if isinstance(gw, web.Response):
            return gw
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _json(
                error_obj(
                    None,
                    TOO_LARGE,
                    f"request body over {self.policy.max_body} bytes; send less per request",
                ),
                413,
            )
        reply_bytes, reply = await answer_body(gw, raw, self.policy)
        if reply_bytes is not None:
            return web.Response(body=reply_bytes, content_type="application/json")
        if reply is None:
            return web.Response(status=204)
        return _json(reply)


def describe_notice(notice: Notice) -> str:
    return f"{notice.chain}/{notice.node}: {notice.message}"

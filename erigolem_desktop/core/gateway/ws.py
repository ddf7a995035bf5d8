"""A WebSocket client of the gateway: plain calls as over HTTP, and subscriptions that survive
a failover.

`eth_subscribe` opens a WebSocket to the first healthy node and subscribes there; the client
gets the gateway's own subscription id. When that node's socket closes or fails, the node is
marked out, the subscription is made again on the next healthy node, and the client is sent
an `erigolem_subscriptionNotice` saying so (events between the two may be missing).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from erigolem_desktop.core.gateway.config import GatewayPolicy
from erigolem_desktop.core.gateway.dispatch import (
    INVALID_PARAMS,
    NO_NODE,
    ChainGateway,
    answer_body,
    error_obj,
)
from erigolem_desktop.core.gateway.upstream import Upstream

NOTICE_METHOD = "erigolem_subscriptionNotice"


@dataclass
class _Sub:
    params: list[Any]
    upstream: Upstream | None = None
    upstream_id: str | None = None


@dataclass
class _Link:
    """One WebSocket to a node, carrying this client's subscriptions there."""

    upstream: Upstream
    ws: aiohttp.ClientWebSocketResponse
    reader: asyncio.Task[None] | None = None
    pending: dict[int, asyncio.Future[Any]] = field(default_factory=dict)
    next_id: int = 1


class WsSession:
    """Serves one client WebSocket until it closes."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        gw: ChainGateway,
        session: aiohttp.ClientSession,
        policy: GatewayPolicy,
    ) -> None:
        self.ws = ws
        self.gw = gw
        self.session = session
        self.policy = policy
        self.subs: dict[str, _Sub] = {}
        self.links: dict[str, _Link] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._send_lock = asyncio.Lock()

    async def send(self, obj: Any) -> None:
        if self.ws.closed:
            return
        async with self._send_lock:
            with contextlib.suppress(ConnectionResetError, RuntimeError):
                await self.ws.send_str(json.dumps(obj, separators=(",", ":")))

    async def run(self) -> None:
        try:
            async for msg in self.ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    continue
                raw = msg.data.encode()
                req = _maybe_json(raw)
                if isinstance(req, dict) and req.get("method") in (
                    "eth_subscribe",
                    "eth_unsubscribe",
                ):
                    task = asyncio.create_task(self._subscription_call(req))
                else:
                    task = asyncio.create_task(self._plain(raw, answer_body))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        finally:
            await self.close()

    async def _plain(self, raw: bytes, answer_body: Any) -> None:
        reply_bytes, reply = await answer_body(self.gw, raw, self.policy)
        if reply_bytes is not None:
            async with self._send_lock:
                if not self.ws.closed:
                    with contextlib.suppress(ConnectionResetError, RuntimeError):
                        await self.ws.send_str(reply_bytes.decode())
        elif reply is not None:
            await self.send(reply)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for link in list(self.links.values()):
            await self._drop_link(link)
        self.links.clear()
        if not self.ws.closed:
            await self.ws.close()

    # --- subscriptions -------------------------------------------------------------------

    async def _subscription_call(self, req: dict[str, Any]) -> None:
        rid, params = req.get("id"), req.get("params", [])
        if not isinstance(params, list) or not params:
            await self.send(error_obj(rid, INVALID_PARAMS, f"{req['method']} needs params"))
            return
        if req["method"] == "eth_unsubscribe":
            sub = self.subs.pop(str(params[0]), None)
            if sub is not None and sub.upstream is not None and sub.upstream_id is not None:
                link = self.links.get(sub.upstream.name)
                if link is not None:
                    with contextlib.suppress(Exception):
                        await self._request(link, "eth_unsubscribe", [sub.upstream_id])
            await self.send({"jsonrpc": "2.0", "id": rid, "result": sub is not None})
            return
        sub = _Sub(params=list(params))
        error = await self._place(sub, exclude=None)
        if error is not None:
            await self.send({"jsonrpc": "2.0", "id": rid, "error": error})
            return
        gw_id = "0x" + secrets.token_hex(16)
        self.subs[gw_id] = sub
        await self.send({"jsonrpc": "2.0", "id": rid, "result": gw_id})

    async def _place(self, sub: _Sub, exclude: Upstream | None) -> dict[str, Any] | None:
        """Subscribe on the first healthy node (not `exclude`); a JSON-RPC error or None."""
        last = "no healthy node"
        for up in self.gw.pool.candidates():
            if up is exclude:
                continue
            try:
                link = await self._link(up)
                answer = await self._request(link, "eth_subscribe", sub.params)
            except (aiohttp.ClientError, OSError, TimeoutError, ConnectionError) as exc:
                last = f"{up.name}: {exc or type(exc).__name__}"
                self.gw.pool.mark_out(up, f"WebSocket failed: {exc or type(exc).__name__}")
                continue
            if "error" in answer:
                return dict(answer["error"])
            sub.upstream, sub.upstream_id = up, str(answer.get("result"))
            return None
        error: dict[str, Any] = error_obj(None, NO_NODE, f"could not subscribe: {last}")["error"]
        return error

    async def _link(self, up: Upstream) -> _Link:
        link = self.links.get(up.name)
        if link is not None and not link.ws.closed:
            return link
        ws = await self.session.ws_connect(
            up.ws_url,
            headers=up.auth_headers,
            timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=2),
            heartbeat=20,
        )
        link = _Link(up, ws)
        link.reader = asyncio.create_task(self._read_link(link))
        self.links[up.name] = link
        return link

    async def _request(self, link: _Link, method: str, params: list[Any]) -> dict[str, Any]:
        rid = link.next_id
        link.next_id += 1
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        link.pending[rid] = fut
        await link.ws.send_str(
            json.dumps({"jsonrpc": "2.0", "id": rid, "method": method, "params": params})
        )
        try:
            return dict(await asyncio.wait_for(fut, self.policy.request_timeout))
        finally:
            link.pending.pop(rid, None)

    async def _read_link(self, link: _Link) -> None:
        try:
            async for msg in link.ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    continue
                body = _maybe_json(msg.data.encode())
                if not isinstance(body, dict):
                    continue
                if body.get("method") == "eth_subscription":
                    params = body.get("params") or {}
                    up_id = str(params.get("subscription"))
                    for gw_id, sub in self.subs.items():
                        if sub.upstream is link.upstream and sub.upstream_id == up_id:
                            await self.send(
                                {
                                    "jsonrpc": "2.0",
                                    "method": "eth_subscription",
                                    "params": {
                                        "subscription": gw_id,
                                        "result": params.get("result"),
                                    },
                                }
                            )
                            break
                    continue
                fut = link.pending.get(body.get("id"))  # type: ignore[arg-type]
                if fut is not None and not fut.done():
                    fut.set_result(body)
        except (aiohttp.ClientError, OSError):
            pass
        finally:
            for fut in link.pending.values():
                if not fut.done():
                    fut.set_exception(ConnectionError("the node's WebSocket closed"))
        if self.ws.closed:
            return
        # The node's socket is gone: move its subscriptions to another node.
        self.links.pop(link.upstream.name, None)
        self.gw.pool.mark_out(link.upstream, "its WebSocket closed")
        for gw_id, sub in list(self.subs.items()):
            if sub.upstream is not link.upstream:
                continue
            error = await self._place(sub, exclude=link.upstream)
            if error is None:
                assert sub.upstream is not None
                message = (
                    f"node {link.upstream.name} went away; re-subscribed on {sub.upstream.name} "
                    "(events in between may be missing)"
                )
            else:
                message = f"node {link.upstream.name} went away and no other node could take the subscription: {error['message']}"
                del self.subs[gw_id]
            self.gw.pool.notify(link.upstream, "resubscribed", message)
            await self.send(
                {
                    "jsonrpc": "2.0",
                    "method": NOTICE_METHOD,
                    "params": {
                        "subscription": gw_id,
                        "message": message,
                        "resubscribed": error is None,
                    },
                }
            )

    async def _drop_link(self, link: _Link) -> None:
        if link.reader is not None:
            link.reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await link.reader
        await link.ws.close()


def _maybe_json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None

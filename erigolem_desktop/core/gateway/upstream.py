"""One node behind the gateway: forwarding bytes to it, and what the gateway knows of its health."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from erigolem_desktop.core.gateway.config import UpstreamSpec
from erigolem_desktop.core.gateway.httpconn import HttpError, HttpPool


class UpstreamFailure(Exception):
    """The node did not give a usable answer (unreachable, timeout, 5xx, 401, not JSON)."""


class Evicted(UpstreamFailure):
    """A read's wait was ended because its node was taken out meanwhile (already marked)."""


class UpstreamRpcError(Exception):
    """The node answered with a JSON-RPC error object (a real answer, not a node failure)."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(str(error.get("message", error)))
        self.error = error


@dataclass
class Health:
    """Where the gateway has a node: in rotation or out, and why."""

    healthy: bool = False
    reason: str = "not checked yet"
    head: int | None = None
    head_hash: str | None = None
    good_rounds: int = 0
    since: float = 0.0
    lied: bool = False
    was_out: bool = False  # taken out since the gateway started (rejoining takes more rounds)
    latency_ms: float | None = None


class Upstream:
    """A node's URL with its credentials; `post` sends a JSON-RPC body and returns the reply.

    Forwarding goes over the lean keep-alive client of `httpconn` (the hot path); the aiohttp
    session is for WebSocket subscriptions only."""

    def __init__(self, spec: UpstreamSpec, session: aiohttp.ClientSession) -> None:
        self.spec = spec
        self.name = spec.name
        self._session = session
        self._headers = {"Content-Type": "application/json"}
        if spec.user is not None:
            self._headers["Authorization"] = aiohttp.encode_basic_auth(
                spec.user, spec.password or ""
            )
        self._http = HttpPool(spec.url, self._headers)
        self.health = Health(since=time.monotonic())
        self.chain_id: int | None = None  # learned on the first health round
        self._reads: set[asyncio.Task[Any]] = set()  # plain reads waiting on this node now
        self._evicted: set[asyncio.Task[Any]] = set()  # of those, cancelled by `evict`

    @property
    def ws_url(self) -> str:
        """The same endpoint over WebSocket (nginx passes the upgrade through)."""
        url = self.spec.url
        return "ws" + url[4:] if url.startswith("http") else url

    @property
    def auth_headers(self) -> dict[str, str]:
        return {k: v for k, v in self._headers.items() if k == "Authorization"}

    async def post(self, body: bytes, timeout: float) -> bytes:  # noqa: ASYNC109 - per call
        """POST `body`; the raw JSON reply, or UpstreamFailure saying what went wrong."""
        try:
            async with asyncio.timeout(timeout):
                status, raw = await self._http.post(body)
        except TimeoutError:
            raise UpstreamFailure(f"no answer within {timeout:g} s") from None
        except HttpError as exc:
            raise UpstreamFailure(f"connection failed ({exc})") from None
        except OSError as exc:
            raise UpstreamFailure(f"unreachable ({exc.strerror or exc})") from None
        if status in (401, 403):
            raise UpstreamFailure(
                f"rejected the gateway's credentials (HTTP {status}); re-copy or rotate them"
            )
        if status >= 500 or not raw or raw[:1] not in (b"{", b"["):
            raise UpstreamFailure(f"answered HTTP {status} {_what_body(raw)} instead of JSON-RPC")
        return raw

    async def read(self, body: bytes, timeout: float) -> bytes:  # noqa: ASYNC109 - per call
        """`post` for an idempotent read: when the node is taken out meanwhile (`evict`, e.g. a
        health probe found it hung), the wait ends at once with UpstreamFailure, so the caller
        retries on the next node instead of waiting out `timeout`."""
        task = asyncio.current_task()
        if task is None:
            return await self.post(body, timeout)
        self._reads.add(task)
        try:
            return await self.post(body, timeout)
        except asyncio.CancelledError:
            if task not in self._evicted:
                raise
            task.uncancel()
            raise Evicted("taken out while the call waited") from None
        finally:
            self._reads.discard(task)
            self._evicted.discard(task)

    def evict(self) -> None:
        """End the waits of the reads in flight on this node (it was just taken out)."""
        for task in self._reads - self._evicted:
            if not task.done():
                self._evicted.add(task)
                task.cancel()

    def close(self) -> None:
        """Close the kept-alive connections to this node."""
        self._http.close()

    async def call(self, method: str, params: Sequence[Any], timeout: float) -> Any:  # noqa: ASYNC109
        """One call; its result, UpstreamRpcError for an error object, UpstreamFailure else."""
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
        return _unpack(await self.post(body.encode(), timeout), method)

    async def batch(
        self,
        calls: Sequence[tuple[str, Sequence[Any]]],
        timeout: float,  # noqa: ASYNC109
    ) -> list[Any]:
        """Several calls in one request; each item is its result or an UpstreamRpcError."""
        payload = [
            {"jsonrpc": "2.0", "id": i, "method": m, "params": list(p)}
            for i, (m, p) in enumerate(calls)
        ]
        raw = await self.post(json.dumps(payload).encode(), timeout)
        try:
            items = json.loads(raw)
        except ValueError:
            raise UpstreamFailure("answered with broken JSON") from None
        if not isinstance(items, list):
            raise UpstreamFailure("answered a batch with a single object")
        by_id = {it.get("id"): it for it in items if isinstance(it, dict)}
        out: list[Any] = []
        for i, (method, _p) in enumerate(calls):
            item = by_id.get(i)
            if item is None:
                raise UpstreamFailure(f"sent no answer for {method} in a batch")
            try:
                out.append(_result_of(item, method))
            except UpstreamRpcError as exc:
                out.append(exc)
        return out


def _what_body(raw: bytes) -> str:
    """A short, printable description of a non-JSON-RPC reply (an HTML error page's title)."""
    text = raw[:2048].decode("utf-8", "replace")
    m = re.search(r"<title>([^<]{1,80})</title>", text, re.IGNORECASE)
    if m is not None:
        return f"({m.group(1).strip()} page)"
    head = " ".join(text[:60].split())
    return f"({head!r})" if head else "(empty)"


def _unpack(raw: bytes, method: str) -> Any:
    try:
        body = json.loads(raw)
    except ValueError:
        raise UpstreamFailure(f"answered {method} with broken JSON") from None
    if isinstance(body, list) and len(body) == 1:
        body = body[0]
    if not isinstance(body, dict):
        raise UpstreamFailure(f"answered {method} with something that is not JSON-RPC")
    return _result_of(body, method)


def _result_of(body: dict[str, Any], method: str) -> Any:
    error = body.get("error")
    if error is not None:
        raise UpstreamRpcError(error if isinstance(error, dict) else {"message": str(error)})
    if "result" not in body:
        raise UpstreamFailure(f"answered {method} with neither result nor error")
    return body["result"]

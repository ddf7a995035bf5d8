"""JSON-RPC over HTTP to a node (aiohttp), with basic auth, timing and errors in plain words.

A JSON-RPC *error object* from the node is not an exception: it comes back in `RpcResult.error`
exactly as the node sent it, so the console can show it. Exceptions (`RpcError` family) are for
transport failures: rejected credentials, unreachable node, timeout, a body that is not JSON-RPC.
Each carries `hint` (what to do), which the CLI prints on its own line. The wire itself (payloads,
errors, results) is `core.rpc_wire`, shared with the blocking client of `erigolem rpc`.

Results above about 1 MB are parsed in an executor so a 10 MB `debug_traceBlock` does not stall
the event loop (and with it the window).
"""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any

import aiohttp

from erigolem_desktop.core.rpc_wire import (
    LARGE_BODY_BYTES,
    Call,
    RequestIds,
    RpcAuthError,
    RpcBadResponse,
    RpcCallError,
    RpcError,
    RpcResult,
    RpcTimeout,
    RpcUnreachable,
    basic_auth,
    batch_payload,
    batch_results,
    call_payload,
    call_result,
    check_auth,
    check_body,
    not_json,
    timed_out,
    unreachable,
)

__all__ = [
    "LARGE_BODY_BYTES",
    "Call",
    "JsonRpcClient",
    "RpcAuthError",
    "RpcBadResponse",
    "RpcCallError",
    "RpcError",
    "RpcResult",
    "RpcTimeout",
    "RpcUnreachable",
]


class JsonRpcClient:
    """A keep-alive JSON-RPC client for one node URL; use as `async with` or call `close()`.

    Args:
        url: the node's endpoint (`http://127.0.0.1:PORT/<instance>/`).
        user, password: basic-auth credentials; `user=None` sends no Authorization header.
        timeout: seconds per call (the whole request, connect to last byte).
    """

    def __init__(
        self, url: str, user: str | None = None, password: str | None = None, timeout: float = 30
    ) -> None:
        self.url = url
        self.timeout = timeout
        self._headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if user is not None:
            self._headers["Authorization"] = basic_auth(user, password or "")
        self._ids = RequestIds()
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> JsonRpcClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the connection pool (idempotent)."""
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=8), headers=self._headers
            )
        return self._session

    async def call(
        self,
        method: str,
        params: Sequence[Any] | Mapping[str, Any] | None = None,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - overrides the client's timeout
    ) -> RpcResult:
        """Call `method` with `params`; a JSON-RPC error object comes back in `.error`."""
        payload = call_payload(self._ids.take(), method, params)
        body, elapsed, size = await self._post(payload, method, timeout)
        return call_result(self.url, method, body, elapsed, size)

    async def batch(
        self,
        calls: Iterable[Call],
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - overrides the client's timeout
    ) -> list[RpcResult]:
        """Several calls in one HTTP request; results in the order of `calls`."""
        items = list(calls)
        if not items:
            return []
        ids, payload = batch_payload(self._ids.take(len(items)), items)
        body, elapsed, size = await self._post(payload, f"batch of {len(items)} calls", timeout)
        return batch_results(self.url, ids, items, body, elapsed, size)

    async def _post(self, payload: Any, what: str, limit_s: float | None) -> tuple[Any, float, int]:
        limit = self.timeout if limit_s is None else limit_s
        encoded = json.dumps(payload, separators=(",", ":")).encode()
        # aiohttp wants big bodies as a stream (it warns that raw bytes may block the loop).
        data: bytes | io.BytesIO = io.BytesIO(encoded) if len(encoded) > 1_000_000 else encoded
        session = self._get_session()
        started = time.perf_counter()
        try:
            async with session.post(
                self.url, data=data, timeout=aiohttp.ClientTimeout(total=limit)
            ) as resp:
                raw = await resp.read()
                status, reason, ctype = resp.status, resp.reason or "", resp.content_type
        except TimeoutError as exc:
            raise timed_out(self.url, what, limit) from exc
        except aiohttp.ClientConnectorError as exc:
            raise unreachable(self.url, exc, connecting=True) from exc
        except aiohttp.ClientError as exc:
            raise unreachable(self.url, exc, connecting=False) from exc
        elapsed = (time.perf_counter() - started) * 1000.0
        check_auth(status)
        try:
            if len(raw) > LARGE_BODY_BYTES:
                loop = asyncio.get_running_loop()
                body = await loop.run_in_executor(None, json.loads, raw)
            else:
                body = json.loads(raw)
        except ValueError:
            raise not_json(self.url, status, reason, ctype, raw) from None
        check_body(self.url, status, reason, body)
        return body, elapsed, len(raw)

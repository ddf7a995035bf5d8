"""JSON-RPC over HTTP to a node (aiohttp), with basic auth, timing and errors in plain words.

A JSON-RPC *error object* from the node is not an exception: it comes back in `RpcResult.error`
exactly as the node sent it, so the console can show it. Exceptions (`RpcError` family) are for
transport failures: rejected credentials, unreachable node, timeout, a body that is not JSON-RPC.
Each carries `hint` (what to do), which the CLI prints on its own line.

Results above about 1 MB are parsed in an executor so a 10 MB `debug_traceBlock` does not stall
the event loop (and with it the window).
"""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import aiohttp

from erigolem_desktop.core.errors import HintedError

LARGE_BODY_BYTES = 1 << 20  # parse bodies above this off the loop
_PREVIEW_CHARS = 120


class RpcError(HintedError):
    """A call could not be made or its answer not read: `str(exc)` says what, `hint` what to do."""

    hint_in_str = True


class RpcAuthError(RpcError):
    """HTTP 401/403: the node's proxy rejected the user and password."""


class RpcUnreachable(RpcError):
    """Nothing answered at the URL (connection refused, DNS, reset)."""


class RpcTimeout(RpcError):
    """The node did not answer within the timeout."""


class RpcBadResponse(RpcError):
    """The node answered, but not with JSON-RPC (HTML error page, HTTP 5xx, truncated body)."""


class RpcCallError(RpcError):
    """Raised by `RpcResult.unwrap()` when the node returned a JSON-RPC error object."""

    def __init__(self, method: str, error: Mapping[str, Any]) -> None:
        code = error.get("code")
        msg = error.get("message", "")
        super().__init__(
            f"{method} failed: {msg} (JSON-RPC error {code}).",
            "Check the method name and parameters (the node may not serve this module).",
        )
        self.error = dict(error)


@dataclass(frozen=True)
class RpcResult:
    """One call's outcome: `result` or `error` (the node's error object as it came), plus timing.

    In a batch, `elapsed_ms` and `size_bytes` are those of the whole batch response.
    """

    method: str
    result: Any = None
    error: dict[str, Any] | None = None
    elapsed_ms: float = 0.0
    size_bytes: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None

    def unwrap(self) -> Any:
        """The result, or RpcCallError if the node returned an error object."""
        if self.error is not None:
            raise RpcCallError(self.method, self.error)
        return self.result

    def to_json(self) -> dict[str, Any]:
        """The JSON-RPC-like view used by `erigolem rpc --json`."""
        out: dict[str, Any] = {"method": self.method}
        if self.error is not None:
            out["error"] = self.error
        else:
            out["result"] = self.result
        out["elapsed_ms"] = round(self.elapsed_ms, 3)
        out["size_bytes"] = self.size_bytes
        return out


Call = tuple[str, Sequence[Any] | Mapping[str, Any] | None]


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
            self._headers["Authorization"] = aiohttp.encode_basic_auth(user, password or "")
        self._ids = itertools.count(1)
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
        request_id = next(self._ids)
        payload = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": _params(params)}
        body, elapsed, size = await self._post(payload, method, timeout)
        if isinstance(body, list) and len(body) == 1:
            body = body[0]
        if not isinstance(body, dict):
            raise _not_rpc(self.url, body)
        return _result(method, body, elapsed, size)

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
        first = next(self._ids)
        ids = [first + i for i in range(len(items))]
        self._ids = itertools.count(first + len(items))
        payload = [
            {"jsonrpc": "2.0", "id": rid, "method": m, "params": _params(p)}
            for rid, (m, p) in zip(ids, items, strict=True)
        ]
        label = f"batch of {len(items)} calls"
        body, elapsed, size = await self._post(payload, label, timeout)
        if isinstance(body, dict) and "error" in body:
            # The node refused the batch as a whole (e.g. batches disabled): same error for each.
            return [_result(m, body, elapsed, size) for m, _ in items]
        if not isinstance(body, list):
            raise _not_rpc(self.url, body)
        by_id = {item.get("id"): item for item in body if isinstance(item, dict)}
        out = []
        for rid, (method, _) in zip(ids, items, strict=True):
            item = by_id.get(rid)
            if item is None:
                missing = {"code": -32603, "message": "the node sent no answer for this call"}
                out.append(RpcResult(method, None, missing, elapsed, size))
            else:
                out.append(_result(method, item, elapsed, size))
        return out

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
            raise RpcTimeout(
                f"The node did not answer {what} within {limit:g} s ({self.url}).",
                "The node may be busy or syncing; try again, or raise the timeout for heavy calls.",
            ) from exc
        except aiohttp.ClientConnectorError as exc:
            raise RpcUnreachable(
                f"The node is unreachable at {self.url} ({_reason(exc)}).",
                "Check that the node is running (erigolem node list) and that the URL is right.",
            ) from exc
        except aiohttp.ClientError as exc:
            raise RpcUnreachable(
                f"The connection to the node at {self.url} failed ({_reason(exc)}).",
                "Check that the node is running, then try again.",
            ) from exc
        elapsed = (time.perf_counter() - started) * 1000.0
        if status in (401, 403):
            raise RpcAuthError(
                f"The node rejected the credentials (HTTP {status}).",
                "Rotate or re-copy them from the node's details.",
            )
        try:
            if len(raw) > LARGE_BODY_BYTES:
                loop = asyncio.get_running_loop()
                body = await loop.run_in_executor(None, json.loads, raw)
            else:
                body = json.loads(raw)
        except ValueError:
            preview = raw[:_PREVIEW_CHARS].decode("utf-8", "replace").strip()
            raise RpcBadResponse(
                f"The node at {self.url} answered HTTP {status} {reason} with something that is "
                f"not JSON ({ctype}: {preview!r}).",
                _status_hint(status),
            ) from None
        if status >= 400 and not _looks_rpc(body):
            raise RpcBadResponse(
                f"The node at {self.url} answered HTTP {status} {reason}.", _status_hint(status)
            )
        return body, elapsed, len(raw)


def _params(params: Sequence[Any] | Mapping[str, Any] | None) -> Any:
    if params is None:
        return []
    if isinstance(params, Mapping):
        return dict(params)
    return list(params)


def _result(method: str, body: Mapping[str, Any], elapsed: float, size: int) -> RpcResult:
    if "error" in body and body["error"] is not None:
        err = body["error"]
        error = dict(err) if isinstance(err, Mapping) else {"code": None, "message": str(err)}
        return RpcResult(method, None, error, elapsed, size)
    if "result" not in body:
        raise RpcBadResponse(
            f"The node's answer to {method} has neither a result nor an error.",
            "The endpoint may not be a JSON-RPC node; check the URL.",
        )
    return RpcResult(method, body["result"], None, elapsed, size)


def _looks_rpc(body: Any) -> bool:
    if isinstance(body, list):
        return bool(body) and all(isinstance(b, dict) and "jsonrpc" in b for b in body)
    return isinstance(body, dict) and "jsonrpc" in body


def _not_rpc(url: str, body: Any) -> RpcBadResponse:
    preview = json.dumps(body)[:_PREVIEW_CHARS]
    return RpcBadResponse(
        f"The node at {url} answered with JSON that is not a JSON-RPC response ({preview}).",
        "The endpoint may not be a JSON-RPC node; check the URL.",
    )


def _status_hint(status: int) -> str:
    if status in (502, 503, 504):
        return "The node behind the proxy is not answering; it may be starting or have stopped."
    if status == 404:
        return "The URL path is wrong or the node was stopped; re-copy the URL from the node's details."
    return "Check the URL; the endpoint may not be a JSON-RPC node."


def _reason(exc: BaseException) -> str:
    os_err = getattr(exc, "os_error", None)
    if isinstance(os_err, ConnectionRefusedError):
        return "connection refused"
    text = str(os_err or exc) or type(exc).__name__
    return text

"""The JSON-RPC wire, shared by the aiohttp client (`core.rpc`) and the blocking one.

No aiohttp or asyncio here, so `erigolem rpc` (`core.rpc_blocking`) starts fast: the payloads,
the error types, `RpcResult`, and how an HTTP answer becomes results or an error in plain words.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

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


class RequestIds:
    """Request ids of one client: 1, 2, 3, ...; a batch takes a run of them."""

    def __init__(self) -> None:
        self._next = 1

    def take(self, n: int = 1) -> int:
        """The first of `n` fresh ids."""
        first, self._next = self._next, self._next + n
        return first


def basic_auth(user: str, password: str) -> str:
    """The `Authorization` value for basic auth (latin-1, as aiohttp's BasicAuth encodes it)."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode("latin1")).decode("ascii")


def call_payload(request_id: int, method: str, params: Any) -> dict[str, Any]:
    """One JSON-RPC request object."""
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": _params(params)}


def batch_payload(first_id: int, items: Sequence[Call]) -> tuple[list[int], list[dict[str, Any]]]:
    """(ids, request objects) for a batch whose ids start at `first_id`."""
    ids = [first_id + i for i in range(len(items))]
    payload = [call_payload(rid, m, p) for rid, (m, p) in zip(ids, items, strict=True)]
    return ids, payload


def check_auth(status: int) -> None:
    """RpcAuthError for 401/403: the node's proxy rejected the credentials."""
    if status in (401, 403):
        raise RpcAuthError(
            f"The node rejected the credentials (HTTP {status}).",
            "Rotate or re-copy them from the node's details.",
        )


def timed_out(url: str, what: str, limit: float) -> RpcTimeout:
    """The error for a call that got no answer within `limit` seconds."""
    return RpcTimeout(
        f"The node did not answer {what} within {limit:g} s ({url}).",
        "The node may be busy or syncing; try again, or raise the timeout for heavy calls.",
    )


def unreachable(url: str, exc: BaseException, *, connecting: bool) -> RpcUnreachable:
    """The error for a connection that could not be made (`connecting`) or broke."""
    if connecting:
        return RpcUnreachable(
            f"The node is unreachable at {url} ({reason_of(exc)}).",
            "Check that the node is running (erigolem node list) and that the URL is right.",
        )
    return RpcUnreachable(
        f"The connection to the node at {url} failed ({reason_of(exc)}).",
        "Check that the node is running, then try again.",
    )


def not_json(url: str, status: int, reason: str, ctype: str, raw: bytes) -> RpcBadResponse:
    """The error for an answer that does not parse as JSON."""
    preview = raw[:_PREVIEW_CHARS].decode("utf-8", "replace").strip()
    return RpcBadResponse(
        f"The node at {url} answered HTTP {status} {reason} with something that is "
        f"not JSON ({ctype}: {preview!r}).",
        _status_hint(status),
    )


def check_body(url: str, status: int, reason: str, body: Any) -> None:
    """RpcBadResponse for an HTTP error whose body is not JSON-RPC (a JSON-RPC error object,
    as nginx now sends for 404/413/502, is kept: the caller shows its message)."""
    if status >= 400 and not _looks_rpc(body):
        raise RpcBadResponse(
            f"The node at {url} answered HTTP {status} {reason}.", _status_hint(status)
        )


def call_result(url: str, method: str, body: Any, elapsed: float, size: int) -> RpcResult:
    """The result of a single call from the parsed answer."""
    if isinstance(body, list) and len(body) == 1:
        body = body[0]
    if not isinstance(body, dict):
        raise _not_rpc(url, body)
    return _result(method, body, elapsed, size)


def batch_results(
    url: str, ids: Sequence[int], items: Iterable[Call], body: Any, elapsed: float, size: int
) -> list[RpcResult]:
    """The results of a batch, in the order of `items`, from the parsed answer."""
    items = list(items)
    if isinstance(body, dict) and "error" in body:
        # The node refused the batch as a whole (e.g. batches disabled): same error for each.
        return [_result(m, body, elapsed, size) for m, _ in items]
    if not isinstance(body, list):
        raise _not_rpc(url, body)
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


def reason_of(exc: BaseException) -> str:
    """A short reason for a connection failure ("connection refused", the OS error text)."""
    os_err = getattr(exc, "os_error", None)
    if isinstance(os_err, ConnectionRefusedError) or isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return str(os_err or exc) or type(exc).__name__

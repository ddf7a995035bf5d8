"""A blocking JSON-RPC client (http.client) for short-lived commands such as `erigolem rpc`.

The same wire as the aiohttp `JsonRpcClient` (`core.rpc_wire`: payloads, errors, results), but
no event loop and no aiohttp to import: a one-shot CLI call starts in a fraction of the time.
"""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from erigolem_desktop.core.rpc_wire import (
    Call,
    RequestIds,
    RpcResult,
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


class BlockingJsonRpcClient:
    """JSON-RPC to one node URL over one kept-alive connection; `with` closes it.

    Args:
        url: the node's endpoint (`http://127.0.0.1:PORT/<instance>/`, or https).
        user, password: basic-auth credentials; `user=None` sends no Authorization header.
        timeout: seconds per socket operation (connect, send, each read).
    """

    def __init__(
        self, url: str, user: str | None = None, password: str | None = None, timeout: float = 30
    ) -> None:
        self.url = url
        self.timeout = timeout
        parts = urlsplit(url)
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        self._conn = cls(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)
        self._headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if user is not None:
            self._headers["Authorization"] = basic_auth(user, password or "")
        self._ids = RequestIds()

    def __enter__(self) -> BlockingJsonRpcClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection (idempotent)."""
        self._conn.close()

    def call(
        self, method: str, params: Sequence[Any] | Mapping[str, Any] | None = None
    ) -> RpcResult:
        """Call `method` with `params`; a JSON-RPC error object comes back in `.error`."""
        body, elapsed, size = self._post(call_payload(self._ids.take(), method, params), method)
        return call_result(self.url, method, body, elapsed, size)

    def batch(self, calls: Iterable[Call]) -> list[RpcResult]:
        """Several calls in one HTTP request; results in the order of `calls`."""
        items = list(calls)
        if not items:
            return []
        ids, payload = batch_payload(self._ids.take(len(items)), items)
        body, elapsed, size = self._post(payload, f"batch of {len(items)} calls")
        return batch_results(self.url, ids, items, body, elapsed, size)

    def _post(self, payload: Any, what: str) -> tuple[Any, float, int]:
        encoded = json.dumps(payload, separators=(",", ":")).encode()
        started = time.perf_counter()
        try:
            if self._conn.sock is None:
                try:
                    self._conn.connect()
                except OSError as exc:
                    raise unreachable(self.url, exc, connecting=True) from exc
            self._conn.request("POST", self._path, encoded, self._headers)
            resp = self._conn.getresponse()
            raw = resp.read()
        except TimeoutError as exc:
            raise timed_out(self.url, what, self.timeout) from exc
        except (OSError, http.client.HTTPException) as exc:
            raise unreachable(self.url, exc, connecting=False) from exc
        elapsed = (time.perf_counter() - started) * 1000.0
        status, reason = resp.status, resp.reason or ""
        ctype = (resp.getheader("Content-Type") or "").split(";", 1)[0].strip()
        check_auth(status)
        try:
            body = json.loads(raw)
        except ValueError:
            raise not_json(self.url, status, reason, ctype, raw) from None
        check_body(self.url, status, reason, body)
        return body, elapsed, len(raw)

"""One chain's endpoint logic: a JSON-RPC request in, an answer out, whichever node serves it.

- Idempotent reads go to the first healthy node; on a node failure (not a JSON-RPC error
  answer) it is marked out and the call is retried on the next one.
- Writes (`eth_sendRawTransaction`) are sent once, or to every healthy node when the policy
  says broadcast; node-bound calls (filters, anything unknown) are sent once, never retried.
- State reads are verified (see `checked`) unless the policy says off.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import Any

from erigolem_desktop.core.gateway.checked import VERIFIED_METHODS, AllLied, BadParams, StateChecker
from erigolem_desktop.core.gateway.config import VerifyMode, WriteMode
from erigolem_desktop.core.gateway.pool import UpstreamPool
from erigolem_desktop.core.gateway.stats import GatewayStats
from erigolem_desktop.core.gateway.upstream import Evicted, UpstreamFailure, UpstreamRpcError

# JSON-RPC error codes the gateway itself answers with (the -32000..-32099 range is the server's).
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
BAD_TOKEN = -32001
NO_NODE = -32002
UNVERIFIED = -32003
ALL_LIED = -32004
TOO_LARGE = -32005

METHOD_RE = re.compile(r"[a-z][a-z0-9]*_[A-Za-z0-9]{1,64}")
WRITES = frozenset({"eth_sendRawTransaction", "eth_sendRawTransactionSync"})
# Calls whose answer depends on state kept by one node (filters): never moved between nodes.
NODE_BOUND = frozenset(
    {
        "eth_newFilter",
        "eth_newBlockFilter",
        "eth_newPendingTransactionFilter",
        "eth_getFilterChanges",
        "eth_getFilterLogs",
        "eth_uninstallFilter",
    }
)
READ_PREFIXES = (
    "eth_get",
    "eth_call",
    "eth_estimateGas",
    "eth_createAccessList",
    "eth_simulateV1",
    "eth_chainId",
    "eth_blockNumber",
    "eth_gasPrice",
    "eth_blobBaseFee",
    "eth_maxPriorityFeePerGas",
    "eth_feeHistory",
    "eth_syncing",
    "eth_protocolVersion",
    "net_",
    "web3_",
    "trace_",
    "debug_trace",
    "erigon_get",
    "erigon_block",
    "ots_",
)


def error_obj(req_id: Any, code: int, message: str, data: Any = None) -> dict[str, Any]:
    err: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        err["data"] = data
    return {"jsonrpc": "2.0", "id": req_id, "error": err}


def is_read(method: str) -> bool:
    return method not in NODE_BOUND and method.startswith(READ_PREFIXES)


class ChainGateway:
    """The request handling of one chain (shared by HTTP and WebSocket)."""

    def __init__(self, pool: UpstreamPool, stats: GatewayStats) -> None:
        self.pool = pool
        self.policy = pool.policy
        self.stats = stats
        self.checker = StateChecker(pool)

    def check_request(self, req: Any) -> dict[str, Any] | None:
        """A JSON-RPC error for a malformed request object, else None."""
        rid = req.get("id") if isinstance(req, dict) else None
        if not isinstance(req, dict) or req.get("jsonrpc") != "2.0":
            return error_obj(
                rid, INVALID_REQUEST, 'not a JSON-RPC 2.0 request: send {"jsonrpc":"2.0",...}'
            )
        method = req.get("method")
        if not isinstance(method, str):
            return error_obj(rid, INVALID_REQUEST, "the request has no method name")
        if not METHOD_RE.fullmatch(method):
            return error_obj(
                rid,
                METHOD_NOT_FOUND,
                f"unknown method {method[:80]!r}: method names look like eth_blockNumber",
            )
        params = req.get("params", [])
        if not isinstance(params, list | dict):
            return error_obj(rid, INVALID_PARAMS, "params must be an array or an object")
        return None

    async def handle_raw(self, req: dict[str, Any], raw: bytes | None) -> tuple[bytes | None, Any]:
        """Answer one valid request: (raw reply bytes to pass on, or None) and (the reply object,
        when it was built here). `raw` is the request's own bytes when it came alone, so a plain
        read can be forwarded without re-encoding."""
        method: str = req["method"]
        started = time.perf_counter()
        retries = 0
        node: str | None = None
        verified: bool | None = None
        error = False
        try:
            if method in VERIFIED_METHODS and self.policy.verify is not VerifyMode.OFF:
                reply, verified, node = await self._verified(req)
                error = "error" in reply
                return None, reply
            if method in WRITES:
                reply, node = await self._write(req)
                error = "error" in reply
                return None, reply
            body = raw if raw is not None else json.dumps(req).encode()
            candidates = self.pool.candidates()
            if not candidates:
                error = True
                return None, self._no_node(req.get("id"))
            retryable = is_read(method)
            last = ""
            for up in candidates if retryable else candidates[:1]:
                node = up.name
                try:
                    send = up.read if retryable else up.post
                    reply_bytes = await send(body, self.policy.request_timeout)
                except UpstreamFailure as exc:
                    last = f"{up.name}: {exc}"
                    if not isinstance(exc, Evicted):  # else it is out already, with the reason
                        self.pool.mark_out(up, f"failed {method}: {exc}")
                    retries += 1
                    continue
                if raw is None:
                    return None, json.loads(reply_bytes)
                return reply_bytes, None
            error = True
            what = "was not retried (it is not a read)" if not retryable else "failed on every node"
            return None, error_obj(
                req.get("id"), NO_NODE, f"{method} {what}: {last}", self._nodes_data()
            )
        finally:
            self.stats.record(
                method,
                (time.perf_counter() - started) * 1000,
                error=error,
                retries=retries,
                node=node,
                verified=verified,
            )

    def _nodes_data(self) -> dict[str, Any]:
        return {
            "chain": self.pool.chain,
            "nodes": [{"name": u.name, "reason": u.health.reason} for u in self.pool.upstreams],
        }

    def _no_node(self, rid: Any) -> dict[str, Any]:
        return error_obj(
            rid,
            NO_NODE,
            f"no node of chain {self.pool.chain} is answering now; see 'erigolem gateway status'",
            self._nodes_data(),
        )

    async def _verified(
        self, req: dict[str, Any]
    ) -> tuple[dict[str, Any], bool | None, str | None]:
        rid, method, params = req.get("id"), req["method"], req.get("params", [])
        if not self.pool.candidates():
            return self._no_node(rid), None, None
        try:
            checked = await self.checker.read(method, params if isinstance(params, list) else [])
        except BadParams as exc:
            return error_obj(rid, INVALID_PARAMS, f"{method}: {exc}"), None, None
        except UpstreamRpcError as exc:
            return {"jsonrpc": "2.0", "id": rid, "error": exc.error}, None, None
        except AllLied as exc:
            return (
                error_obj(
                    rid,
                    ALL_LIED,
                    f"{method}: every node's answer failed verification, nothing is passed on "
                    f"({exc})",
                    self._nodes_data(),
                ),
                False,
                None,
            )
        except LookupError as exc:
            return await self._unverifiable(req, str(exc))
        except UpstreamFailure as exc:
            return (
                error_obj(
                    rid, NO_NODE, f"{method} failed on every node: {exc}", self._nodes_data()
                ),
                None,
                None,
            )
        mark = {
            "verified": checked.verified,
            "node": checked.node,
            "block": checked.block,
            "reason": checked.reason,
        }
        if not checked.verified and self.policy.verify is VerifyMode.REFUSE:
            return (
                error_obj(
                    rid,
                    UNVERIFIED,
                    f"{method}: the answer could not be verified ({checked.reason})",
                    mark,
                ),
                False,
                checked.node,
            )
        reply = {"jsonrpc": "2.0", "id": rid, "result": checked.result, "erigolem": mark}
        return reply, checked.verified, checked.node

    async def _unverifiable(
        self, req: dict[str, Any], why: str
    ) -> tuple[dict[str, Any], bool, str | None]:
        """A state read that has no proof to check (e.g. 'pending'): marked or refused."""
        rid, method = req.get("id"), req["method"]
        mark = {"verified": False, "reason": why}
        if self.policy.verify is VerifyMode.REFUSE:
            return (
                error_obj(
                    rid, UNVERIFIED, f"{method}: the answer could not be verified ({why})", mark
                ),
                False,
                None,
            )
        for up in self.pool.candidates():
            try:
                result = await up.call(method, req.get("params", []), self.policy.request_timeout)
            except UpstreamRpcError as exc:
                return {"jsonrpc": "2.0", "id": rid, "error": exc.error}, False, up.name
            except UpstreamFailure as exc:
                self.pool.mark_out(up, f"failed {method}: {exc}")
                continue
            return (
                {
                    "jsonrpc": "2.0",
                    "id": rid,
                    "result": result,
                    "erigolem": {**mark, "node": up.name},
                },
                False,
                up.name,
            )
        return self._no_node(rid), False, None

    async def _write(self, req: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        rid = req.get("id")
        candidates = self.pool.candidates()
        if not candidates:
            return self._no_node(rid), None
        body = json.dumps(req).encode()
        targets = candidates if self.policy.writes is WriteMode.BROADCAST else candidates[:1]

        async def send(up: Any) -> dict[str, Any] | Exception:
            try:
                return dict(json.loads(await up.post(body, self.policy.request_timeout)))
            except UpstreamFailure as exc:
                self.pool.mark_out(up, f"failed {req['method']}: {exc}")
                return exc
            except ValueError as exc:
                return exc

        answers = await asyncio.gather(*(send(u) for u in targets))
        for up, answer in zip(targets, answers, strict=True):
            if isinstance(answer, dict) and "result" in answer:
                return answer, up.name
        for up, answer in zip(targets, answers, strict=True):
            if isinstance(answer, dict):
                return answer, up.name  # the node's own error (e.g. nonce too low)
        return (
            error_obj(
                rid,
                NO_NODE,
                f"{req['method']} could not be sent: {answers[0]}; it was not retried elsewhere",
                self._nodes_data(),
            ),
            None,
        )

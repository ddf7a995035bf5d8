"""A minimal JSON-RPC client over HTTP/1.1 on asyncio streams, for the client's loopback port.

The runtime talks only to its own Ethereum client on 127.0.0.1, so a small keep-alive HTTP/1.1
POST client is enough (no aiohttp in the runtime). On top of it: the readiness probe used while
starting, and ``sync_status()`` which reads ``eth_syncing`` (with Erigon's stages),
``net_peerCount`` and ``eth_blockNumber`` for ``run status``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from erigolem_runtime.api.status import SyncInfo, SyncStage, parse_quantity

_MAX_RESPONSE = 64 * 1024 * 1024


class ProbeError(Exception):
    """The node could not be reached or answered something that is not JSON-RPC."""


class RpcError(ProbeError):
    """The node answered with a JSON-RPC error object."""

    def __init__(self, method: str, code: int, message: str) -> None:
        super().__init__(f"{method} failed: {message} (code {code})")
        self.method = method
        self.code = code
        self.rpc_message = message


class RpcConnection:
    """One keep-alive HTTP/1.1 connection to a JSON-RPC endpoint; reconnects when dropped."""

    def __init__(
        self, port: int, *, host: str = "127.0.0.1", path: str = "/", timeout: float = 5.0
    ) -> None:
        self.host = host
        self.port = port
        self.path = path
        self.timeout = timeout
        self._ids = itertools.count(1)
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._lock = asyncio.Lock()

    async def call(self, method: str, params: list[Any] | None = None) -> Any:
        """Send one request and return its ``result``; ``RpcError`` / ``ProbeError`` otherwise."""
        payload = {
            "jsonrpc": "2.0",
            "id": next(self._ids),
            "method": method,
            "params": params or [],
        }
        body = json.dumps(payload, separators=(",", ":")).encode()
        async with self._lock:
            try:
                raw = await asyncio.wait_for(self._exchange(body), self.timeout)
            except TimeoutError:
                await self.close()
                raise ProbeError(
                    f"{method}: no answer from 127.0.0.1:{self.port} within {self.timeout:g} s"
                ) from None
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                await self.close()
                raise ProbeError(f"{method}: cannot reach 127.0.0.1:{self.port}: {exc}") from exc
        try:
            reply = json.loads(raw)
        except ValueError as exc:
            raise ProbeError(f"{method}: the node answered with invalid JSON: {exc}") from exc
        if not isinstance(reply, dict):
            raise ProbeError(f"{method}: the node answered with a non-object JSON value")
        if reply.get("error") is not None:
            err = reply["error"]
            code = int(err.get("code", 0)) if isinstance(err, dict) else 0
            msg = str(err.get("message", err)) if isinstance(err, dict) else str(err)
            raise RpcError(method, code, msg)
        if "result" not in reply:
            raise ProbeError(f"{method}: the node's answer has neither result nor error")
        return reply["result"]

    async def _exchange(self, body: bytes) -> bytes:
        for attempt in (0, 1):
            fresh = self._writer is None
            if fresh:
                self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
            assert self._reader is not None
            assert self._writer is not None
            head = (
                f"POST {self.path} HTTP/1.1\r\nHost: localhost\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                "Connection: keep-alive\r\n\r\n"
            ).encode()
            try:
                self._writer.write(head + body)
                await self._writer.drain()
                return await self._read_response(self._reader)
            except (ConnectionError, asyncio.IncompleteReadError):
                # a kept-alive connection the server closed meanwhile: retry once on a fresh one
                await self.close()
                if fresh or attempt:
                    raise
        raise ProbeError("unreachable")  # pragma: no cover

    async def _read_response(self, reader: asyncio.StreamReader) -> bytes:
        status_line = await reader.readuntil(b"\r\n")
        parts = status_line.decode("latin-1").split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
            raise ValueError(f"not an HTTP response: {status_line[:60]!r}")
        status = int(parts[1])
        headers: dict[str, str] = {}
        while True:
            line = await reader.readuntil(b"\r\n")
            if line == b"\r\n":
                break
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = await self._read_chunked(reader)
        elif "content-length" in headers:
            length = int(headers["content-length"])
            if length > _MAX_RESPONSE:
                raise ValueError(f"response of {length} bytes is too large")
            body = await reader.readexactly(length)
        else:
            body = await reader.read(_MAX_RESPONSE)
            await self.close()
        if headers.get("connection", "").lower() == "close":
            await self.close()
        if status != 200 and not body.lstrip().startswith(b"{"):
            raise ValueError(f"HTTP {status}")
        return body

    @staticmethod
    async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
        out = bytearray()
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
            if size == 0:
                while await reader.readuntil(b"\r\n") != b"\r\n":
                    pass
                return bytes(out)
            out += await reader.readexactly(size)
            await reader.readexactly(2)
            if len(out) > _MAX_RESPONSE:
                raise ValueError("chunked response too large")

    async def close(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError, ConnectionError):
                await writer.wait_closed()


async def wait_ready(
    port: int,
    *,
    deadline: float,
    alive: Callable[[], bool] | None = None,
    interval: float = 0.02,
) -> str:
    """Poll ``web3_clientVersion`` (then ``eth_chainId``) until the node answers.

    Returns the client version string. ``deadline`` is a ``time.monotonic()`` value; ``alive``
    lets the caller stop early when the process died. Raises ``ProbeError`` with the last error.
    """
    last: Exception | None = None
    conn = RpcConnection(port, timeout=2.0)
    try:
        while True:
            if alive is not None and not alive():
                raise ProbeError("the client process exited before its JSON-RPC port answered")
            try:
                try:
                    version = await conn.call("web3_clientVersion")
                    return str(version)
                except RpcError:
                    # some nodes disable web3_*: any JSON-RPC answer to eth_chainId means ready
                    chain_id = await conn.call("eth_chainId")
                    return f"chain {chain_id}"
            except ProbeError as exc:
                last = exc
            if time.monotonic() >= deadline:
                raise ProbeError(
                    f"the client's JSON-RPC port 127.0.0.1:{port} did not answer in time"
                    + (f" (last error: {last})" if last else "")
                )
            await asyncio.sleep(min(interval, max(0.0, deadline - time.monotonic())))
            interval = min(interval * 1.5, 0.25)
    finally:
        await conn.close()


#: Erigon's stage that executes the blocks: most of a sync, and the one that reaches the tip last
#: among the stages that always run.
EXECUTION_STAGE = "Execution"
EXECUTION_WEIGHT = 0.75


@dataclass
class SyncStatus:
    """What the node says about its sync: the ``sync``/``peers``/``block`` parts of ``status``."""

    syncing: bool
    current_block: int | None = None
    highest_block: int | None = None
    stages: list[tuple[str, int]] = field(default_factory=list)
    peers: int | None = None
    block: int | None = None

    @property
    def progress(self) -> float:
        """0..1, weighted towards Erigon's Execution stage (see EXECUTION_WEIGHT).

        Erigon's currentBlock stays 0 for long, so stages are used when given. A plain mean of
        all stages tops out near 90 %: stages after Execution lag or never run (CustomTrace
        stays 0 unless configured). So the stages up to Execution count, Execution (where the
        node spends most of its sync) weighs EXECUTION_WEIGHT; without an Execution stage, the
        mean of all stages.
        """
        if not self.syncing:
            return 1.0
        highest = self.highest_block or 0
        if highest <= 0:
            return 0.0
        fractions = [(n, min(max(b, 0), highest) / highest) for n, b in self.stages]
        names = [n for n, _ in fractions]
        if EXECUTION_STAGE in names:
            at = names.index(EXECUTION_STAGE)
            before = [f for _, f in fractions[:at]]
            execution = fractions[at][1]
            if not before:
                return round(execution, 4)
            early = sum(before) / len(before)
            return round((1 - EXECUTION_WEIGHT) * early + EXECUTION_WEIGHT * execution, 4)
        if fractions:
            return round(sum(f for _, f in fractions) / len(fractions), 4)
        return round(min(max(self.current_block or 0, 0), highest) / highest, 4)

    def sync_info(self) -> SyncInfo | None:
        """The typed ``sync`` part of the node status (None when the node is not syncing)."""
        if not self.syncing:
            return None
        return SyncInfo(
            current_block=self.current_block,
            highest_block=self.highest_block,
            stages=tuple(SyncStage(n, b) for n, b in self.stages),
            progress=self.progress,
        )

    def sync_json(self) -> dict[str, Any] | None:
        """The ``sync`` object of the status JSON (None when the node is not syncing)."""
        info = self.sync_info()
        return info.to_json() if info is not None else None


def parse_syncing(result: Any) -> SyncStatus:
    """Interpret an ``eth_syncing`` result: ``false`` or ``{currentBlock, highestBlock, stages}``."""
    if result is False or result is None:
        return SyncStatus(syncing=False)
    if not isinstance(result, dict):
        raise ProbeError(f"eth_syncing answered an unexpected value: {str(result)[:80]}")
    stages: list[tuple[str, int]] = []
    raw_stages = result.get("stages")
    if isinstance(raw_stages, list):
        for st in raw_stages:
            if isinstance(st, dict):
                name = st.get("stage_name", st.get("name"))
                num = parse_quantity(st.get("block_number", st.get("block")))
                if isinstance(name, str) and num is not None:
                    stages.append((name[:64], num))
    return SyncStatus(
        syncing=True,
        current_block=parse_quantity(result.get("currentBlock")),
        highest_block=parse_quantity(result.get("highestBlock")),
        stages=stages,
    )


async def sync_status(port: int, *, call_timeout: float = 3.0) -> SyncStatus:
    """Read ``eth_syncing``, ``net_peerCount`` and ``eth_blockNumber`` from the node.

    ``eth_syncing`` must answer (``ProbeError`` otherwise); peers and block are None when the
    node does not implement them (anvil has no ``net_peerCount``).
    """
    conn = RpcConnection(port, timeout=call_timeout)
    try:
        status = parse_syncing(await conn.call("eth_syncing"))
        with contextlib.suppress(RpcError):
            status.peers = parse_quantity(await conn.call("net_peerCount"))
        with contextlib.suppress(RpcError):
            status.block = parse_quantity(await conn.call("eth_blockNumber"))
        return status
    finally:
        await conn.close()

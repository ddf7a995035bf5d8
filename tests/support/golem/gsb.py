"""A small client of yagna's service bus (GSB), as yagna 0.17.6 speaks it.

Facts read from yagna's sources (ya-service-bus 0.7.3, ya-sb-proto 0.6.2; GPL: read, not copied)
and checked against the real daemons of PyPI `golem-node`.

Test-support code: it lets the exe-unit stand-in (`exe_unit.py`) bind services on the REAL
provider daemon's bus and call the daemon's local services, as yagna's exe-unit process does.
Wire facts: TCP, each frame a 4-byte big-endian length and a protobuf `Packet` (a oneof of
Hello, Register*, Call*, Ping/Pong, ...); payloads are flexbuffers encodings of serde values,
possibly zlib-compressed; replies are serde Results (`{"Ok": v}` / `{"Err": e}`). The protobuf
field helpers are the runtime's own hand-written codec (`erigolem_runtime.protocol`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import uuid
import zlib
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from erigolem_runtime.protocol import _bytes, _fields, _message, _str, _uint
from flatbuffers import flexbuffers

log = logging.getLogger(__name__)

HELLO, REGISTER, REGISTER_REPLY, UNREGISTER, UNREGISTER_REPLY = 1, 2, 3, 4, 5
CALL, CALL_REPLY, PING, PONG = 6, 7, 14, 15
MAX_PACKET = 64 * 1024 * 1024


class GsbError(Exception):
    """The bus refused something (registration, a call) or the peer answered an error."""


@dataclass(frozen=True)
class Call:
    """One incoming call: who called, the full address and the decoded payload."""

    caller: str
    address: str
    body: Any


Handler = Callable[[Call], Awaitable[Any]]
"""Returns the value to send back as `{"Ok": value}`; raising GsbReplyError sends `Err`."""


class GsbReplyError(Exception):
    """Raised by a handler to answer `{"Err": error}` (error = a serde enum, e.g. NotFound)."""

    def __init__(self, kind: str, detail: Any = None) -> None:
        super().__init__(f"{kind}: {detail}")
        self.error: Any = kind if detail is None else {kind: detail}


def encode(value: Any) -> bytes:
    """A value as ya-service-bus sends it (flexbuffers, uncompressed)."""
    return bytes(flexbuffers.Dumps(value))


def decode(data: bytes) -> Any:
    """Payload bytes to a value: zlib-inflated when they are zlib, else taken as they are."""
    with contextlib.suppress(zlib.error):
        data = zlib.decompress(data)
    return flexbuffers.Loads(data)


def _fields_of(body: bytes, what: str) -> dict[int, int | bytes]:
    return {number: value for number, _wire, value in _fields(body, what)}


def _text(fields: dict[int, int | bytes], number: int) -> str:
    raw = fields.get(number, b"")
    return raw.decode() if isinstance(raw, bytes) else ""


class GsbConnection:
    """One connection to a yagna GSB router: bind prefixes, answer calls, make calls.

    Args:
        url: the daemon's `GSB_URL` (`tcp://127.0.0.1:PORT`).
        name: how this client introduces itself in its Hello.
    """

    def __init__(self, url: str, name: str = "erigolem-test-exe-unit") -> None:
        if not url.startswith("tcp://"):
            raise ValueError(f"only tcp:// GSB URLs are supported, got {url!r}")
        host, _, port = url.removeprefix("tcp://").rpartition(":")
        self._host, self._port = host, int(port)
        self._name = name
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._read_task: asyncio.Task[None] | None = None
        self._handlers: dict[str, Handler] = {}
        self._register_replies: deque[asyncio.Future[tuple[int, str]]] = deque()
        self._unregister_replies: deque[asyncio.Future[int]] = deque()
        self._calls: dict[str, asyncio.Future[tuple[int, bytes]]] = {}
        self._serving: set[asyncio.Task[None]] = set()
        self._write_lock = asyncio.Lock()
        self.closed = asyncio.Event()

    async def connect(self) -> None:
        self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
        self._read_task = asyncio.get_running_loop().create_task(self._read_loop())

    async def close(self) -> None:
        """Drop the connection: the router forgets every service bound through it."""
        for task in [self._read_task, *self._serving]:
            if task is not None:
                task.cancel()
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(Exception):
                await self._writer.wait_closed()
        self.closed.set()

    # --- sending --------------------------------------------------------------------------

    async def _send(self, number: int, body: bytes) -> None:
        if self._writer is None or self.closed.is_set():
            raise GsbError("the GSB connection is closed")
        packet = _message(number, body)
        async with self._write_lock:
            self._writer.write(struct.pack(">I", len(packet)) + packet)
            await self._writer.drain()

    async def bind(self, prefix: str, handler: Handler) -> None:
        """Register `prefix` (calls to `prefix/...` come here); GsbError if the bus refuses."""
        future: asyncio.Future[tuple[int, str]] = asyncio.get_running_loop().create_future()
        self._register_replies.append(future)
        self._handlers[prefix] = handler
        await self._send(REGISTER, _str(1, prefix))
        code, message = await asyncio.wait_for(future, 10)
        if code != 0:
            del self._handlers[prefix]
            raise GsbError(f"registering {prefix} failed: {code} {message}")

    async def unbind(self, prefix: str) -> None:
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._unregister_replies.append(future)
        self._handlers.pop(prefix, None)
        await self._send(UNREGISTER, _str(1, prefix))
        await asyncio.wait_for(future, 10)

    async def call(
        self, address: str, body: Any, *, caller: str = "local", within: float = 10
    ) -> Any:
        """Call a bus service; return the `Ok` value, raise GsbError on `Err` or a bus failure."""
        request_id = uuid.uuid4().hex
        future: asyncio.Future[tuple[int, bytes]] = asyncio.get_running_loop().create_future()
        self._calls[request_id] = future
        try:
            await self._send(
                CALL,
                _str(1, caller) + _str(2, address) + _str(3, request_id) + _bytes(4, encode(body)),
            )
            code, data = await asyncio.wait_for(future, within)
        finally:
            self._calls.pop(request_id, None)
        if code != 0:
            raise GsbError(f"{address}: bus error {code}: {data[:300]!r}")
        reply = decode(data)
        if isinstance(reply, dict) and "Err" in reply:
            raise GsbError(f"{address}: {reply['Err']}")
        return reply.get("Ok") if isinstance(reply, dict) else reply

    # --- receiving ------------------------------------------------------------------------

    async def _read_loop(self) -> None:
        assert self._reader is not None
        try:
            while True:
                (length,) = struct.unpack(">I", await self._reader.readexactly(4))
                if length > MAX_PACKET:
                    raise GsbError(f"GSB packet of {length} bytes is too big")
                packet = await self._reader.readexactly(length)
                for number, _wire, body in _fields(packet, "GSB packet"):
                    assert isinstance(body, bytes)
                    await self._on_packet(number, body)
        except (asyncio.IncompleteReadError, ConnectionError):
            log.debug("GSB connection closed by the router")
        finally:
            self.closed.set()
            pending: list[asyncio.Future[Any]] = [
                *self._calls.values(),
                *self._register_replies,
                *self._unregister_replies,
            ]
            for future in pending:
                if not future.done():
                    future.set_exception(GsbError("the GSB connection closed"))

    async def _on_packet(self, number: int, body: bytes) -> None:
        fields = _fields_of(body, f"GSB packet {number}")
        if number == HELLO:
            await self._send(
                HELLO, _str(1, self._name) + _str(2, "0.6.2") + _bytes(3, uuid.uuid4().bytes)
            )
        elif number == PING:
            await self._send(PONG, b"")
        elif number == REGISTER_REPLY and self._register_replies:
            code = fields.get(1, 0)
            self._register_replies.popleft().set_result(
                (code if isinstance(code, int) else 0, _text(fields, 2))
            )
        elif number == UNREGISTER_REPLY and self._unregister_replies:
            code = fields.get(1, 0)
            self._unregister_replies.popleft().set_result(code if isinstance(code, int) else 0)
        elif number == CALL_REPLY:
            future = self._calls.get(_text(fields, 1))
            code, data = fields.get(2, 0), fields.get(4, b"")
            if future is not None and not future.done():
                future.set_result(
                    (code if isinstance(code, int) else 0, data if isinstance(data, bytes) else b"")
                )
        elif number == CALL:
            task = asyncio.get_running_loop().create_task(self._serve(fields))
            self._serving.add(task)
            task.add_done_callback(self._serving.discard)

    async def _serve(self, fields: dict[int, int | bytes]) -> None:
        address, request_id = _text(fields, 2), _text(fields, 3)
        no_reply = bool(fields.get(5, 0))
        prefix = max(
            (p for p in self._handlers if address.startswith(p + "/")), default=None, key=len
        )
        data = fields.get(4, b"")
        reply: Any
        if prefix is None:
            reply = {"Err": {"NotFound": f"no service at {address}"}}
        else:
            try:
                value = await self._handlers[prefix](
                    Call(
                        _text(fields, 1), address, decode(data if isinstance(data, bytes) else b"")
                    )
                )
                reply = {"Ok": value}
            except GsbReplyError as exc:
                reply = {"Err": exc.error}
            except Exception as exc:  # a bug in the stand-in: say so to the caller
                log.exception("GSB handler for %s failed", address)
                reply = {"Err": {"Service": f"{type(exc).__name__}: {exc}"}}
        if no_reply:
            return
        with contextlib.suppress(GsbError, ConnectionError):
            await self._send(
                CALL_REPLY,
                _str(1, request_id) + _uint(2, 0) + _uint(3, 0) + _bytes(4, encode(reply)),
            )

"""The gateway's hot path: a lean HTTP/1.1 server protocol for `POST /<chain>` on the gateway port.

aiohttp's server costs ~0.1 ms of Python per request, a third of the gateway's budget. This
protocol reads keep-alive POSTs with a Content-Length body (pipelined requests are answered in
order, one at a time) and answers with the same JSON-RPC error objects as the aiohttp routes.
Anything else on the connection (a WebSocket upgrade, GET /status, a path it does not route,
query strings) is handed, at a request boundary, to the aiohttp app on the same port: the
transport moves to aiohttp's protocol with the bytes read so far.
Limits: head size, body size (the policy's), and a deadline for a started request (slowloris).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast

from erigolem_desktop.core.gateway.dispatch import (
    INVALID_REQUEST,
    TOO_LARGE,
    ChainGateway,
    answer_body,
    error_obj,
)

if TYPE_CHECKING:
    from erigolem_desktop.core.gateway.config import GatewayPolicy


class FrontHost(Protocol):
    """What the raw front needs of the gateway service (server.py), without importing it."""

    policy: GatewayPolicy
    front_conns: set[HttpFront]

    def route(
        self, chain: str, path_token: str | None, authorization: str, path: str
    ) -> ChainGateway | tuple[int, dict[str, Any]]: ...


log = logging.getLogger(__name__)

MAX_HEAD = 16 << 10  # bytes of request line + headers
REQUEST_DEADLINE = 15.0  # seconds from a request's first byte to its last
IDLE_TIMEOUT = 75.0  # seconds a kept-alive connection may sit idle (aiohttp's default)
PATH_RE = re.compile(rb"/([^/{}%?#]+)(?:/([^/{}%?#]+))?")
REASONS = {
    200: b"OK",
    204: b"No Content",
    400: b"Bad Request",
    401: b"Unauthorized",
    404: b"Not Found",
    408: b"Request Timeout",
    411: b"Length Required",
    413: b"Payload Too Large",
    431: b"Request Header Fields Too Large",
    500: b"Internal Server Error",
    505: b"HTTP Version Not Supported",
}


class _BadRequest(Exception):
    """The request cannot be read; answered with `status` and a JSON-RPC error, then closed."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code = status, code


def _dump(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


class HttpFront(asyncio.Protocol):
    """One client connection: raw POST /<chain> handling, else a hand-over to aiohttp."""

    def __init__(self, service: FrontHost, fallback: Callable[[], asyncio.Protocol]) -> None:
        self.service = service
        self.fallback = fallback
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.busy = False
        self.paused = False  # the client is not reading our replies (write side full)
        self.reading = True
        self.sent_continue = False
        self._timer: asyncio.TimerHandle | None = None
        self._loop = asyncio.get_running_loop()
        self._since = self._loop.time()  # when the idle time or the pending request began

    # --- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.service.front_conns.add(self)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self.service.front_conns.discard(self)
        self._disarm()
        self.transport = None

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        if not self.busy:
            self._next()

    def data_received(self, data: bytes) -> None:
        if not self.buf and not self.busy:
            self._since = self._loop.time()  # a new request started arriving
        self.buf += data
        if not self.busy:
            self._next()
        elif len(self.buf) > MAX_HEAD + self.service.policy.max_body and self.transport:
            self.transport.pause_reading()  # pipelined far ahead of our answers: wait
            self.reading = False

    # --- requests -----------------------------------------------------------------------

    def _next(self) -> None:
        """Start answering the next complete request in the buffer, if there is one."""
        transport = self.transport
        if transport is None or self.paused or transport.is_closing():
            return
        if not self.reading:
            transport.resume_reading()
            self.reading = True
        try:
            parsed = self._parse()
        except _BadRequest as exc:
            self._respond(exc.status, _dump(error_obj(None, exc.code, str(exc))), close=True)
            return
        if parsed is None:
            return
        if parsed is False:
            self._hand_over()
            return
        gw, body, keep = parsed
        self.busy = True
        self.sent_continue = False
        if isinstance(gw, ChainGateway):
            self._loop.create_task(self._serve(gw, body, keep))
        else:
            status, obj = gw
            self._done(status, _dump(obj), keep)

    def _parse(self) -> tuple[ChainGateway | tuple[int, Any], bytes, bool] | Literal[False] | None:
        """The next request: (route or error, body, keep-alive); None: not all here yet;
        False: not ours (aiohttp answers it)."""
        buf = self.buf
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            if len(buf) > MAX_HEAD:
                raise _BadRequest(
                    431, INVALID_REQUEST, f"request head over {MAX_HEAD} bytes; send fewer headers"
                )
            return None
        if end > MAX_HEAD:
            raise _BadRequest(
                431, INVALID_REQUEST, f"request head over {MAX_HEAD} bytes; send fewer headers"
            )
        lines = bytes(buf[:end]).split(b"\r\n")
        while lines and not lines[0]:
            lines.pop(0)  # stray CRLFs between requests are allowed (RFC 9112 2.2)
        parts = lines[0].split(b" ") if lines else []
        if len(parts) != 3 or not parts[0].isalpha() or not parts[1]:
            raise _BadRequest(
                400, INVALID_REQUEST, "malformed HTTP request line: send 'POST /<chain> HTTP/1.1'"
            )
        method, target, version = parts
        if version not in (b"HTTP/1.1", b"HTTP/1.0"):
            raise _BadRequest(505, INVALID_REQUEST, "only HTTP/1.0 and HTTP/1.1 are served here")
        match = PATH_RE.fullmatch(target)
        if method != b"POST" or match is None:
            return False
        headers: dict[bytes, bytes] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            if not sep or not name or name != name.strip() or name[:1] in b" \t":
                raise _BadRequest(400, INVALID_REQUEST, "malformed HTTP header line")
            key = name.lower()
            value = value.strip()
            if key in headers and key == b"content-length" and headers[key] != value:
                raise _BadRequest(400, INVALID_REQUEST, "conflicting Content-Length headers")
            headers[key] = value
        if b"upgrade" in headers:
            return False
        if b"transfer-encoding" in headers:
            raise _BadRequest(
                411, INVALID_REQUEST, "chunked bodies are not served: send a Content-Length"
            )
        raw_len = headers.get(b"content-length", b"0")
        if not raw_len.isdigit() or len(raw_len) > 12:
            raise _BadRequest(400, INVALID_REQUEST, f"bad Content-Length {raw_len[:20]!r}")
        length = int(raw_len)
        max_body = self.service.policy.max_body
        if length > max_body:
            raise _BadRequest(
                413, TOO_LARGE, f"request body over {max_body} bytes; send less per request"
            )
        start = end + 4
        if len(buf) < start + length:
            expect = headers.get(b"expect", b"").lower() == b"100-continue"
            if expect and not self.sent_continue and self.transport is not None:
                self.sent_continue = True
                self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            return None
        body = bytes(buf[start : start + length])
        del buf[: start + length]
        conn = headers.get(b"connection", b"").lower()
        keep = conn != b"close" if version == b"HTTP/1.1" else conn == b"keep-alive"
        chain = match.group(1).decode("latin-1")
        token = match.group(2)
        route = self.service.route(
            chain,
            None if token is None else token.decode("latin-1"),
            headers.get(b"authorization", b"").decode("latin-1"),
            target.decode("latin-1"),
        )
        return route, body, keep

    async def _serve(self, gw: ChainGateway, body: bytes, keep: bool) -> None:
        try:
            reply_bytes, reply = await answer_body(gw, body, self.service.policy)
        except Exception:  # a bug must not kill the connection silently
            log.exception("gateway request failed")
            self._done(500, _dump(error_obj(None, -32603, "internal gateway error")), False)
            return
        if reply_bytes is not None:
            self._done(200, reply_bytes, keep)
        elif reply is None:
            self._done(204, b"", keep)
        else:
            self._done(200, _dump(reply), keep)

    def _done(self, status: int, body: bytes, keep: bool) -> None:
        self.busy = False
        self._respond(status, body, close=not keep)
        if keep:
            self._since = self._loop.time()
            self._next()

    def _respond(self, status: int, body: bytes, *, close: bool) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        head = b"HTTP/1.1 %d %s\r\n" % (status, REASONS.get(status, b""))
        if status != 204:
            head += b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
        if close:
            head += b"Connection: close\r\n"
        transport.write(head + b"\r\n" + body)
        if close:
            self._disarm()
            transport.close()

    def _hand_over(self) -> None:
        """Give this connection (and the bytes read so far) to the aiohttp app."""
        transport = self.transport
        assert transport is not None
        self._disarm()
        self.service.front_conns.discard(self)
        self.transport = None
        proto = self.fallback()
        transport.set_protocol(proto)
        proto.connection_made(transport)
        if self.buf:
            data, self.buf = bytes(self.buf), bytearray()
            proto.data_received(data)

    # --- timers: one tick per connection, nothing per request ---------------------------

    def _arm(self) -> None:
        self._timer = self._loop.call_later(min(REQUEST_DEADLINE, IDLE_TIMEOUT) / 3, self._tick)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _tick(self) -> None:
        self._timer = None
        if self.transport is None:
            return
        waited = self._loop.time() - self._since
        if self.busy:
            pass
        elif self.buf and waited > REQUEST_DEADLINE:
            message = f"the request did not arrive in {REQUEST_DEADLINE:g} s; send it whole"
            self._respond(408, _dump(error_obj(None, INVALID_REQUEST, message)), close=True)
            return
        elif not self.buf and waited > IDLE_TIMEOUT:
            self.transport.close()  # an idle keep-alive connection
            return
        self._arm()

    def close(self) -> None:
        """Close the connection now (the gateway is stopping)."""
        if self.transport is not None:
            self.transport.close()

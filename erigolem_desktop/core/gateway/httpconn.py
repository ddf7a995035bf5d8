"""A lean HTTP/1.1 keep-alive client for forwarding JSON-RPC bodies to one node (the hot path).

aiohttp's client costs ~0.1 ms of Python per request; the gateway only ever POSTs a byte body
to one fixed URL and reads the whole reply, so this sends a pre-built request head on pooled
asyncio streams and reads Content-Length or chunked replies. A request on a reused connection
that the server had already closed (a keep-alive race: no byte of the reply came back) is sent
again once on a fresh connection.
"""

from __future__ import annotations

import asyncio
import ssl
from urllib.parse import urlsplit

MAX_IDLE = 32  # kept-alive connections per node (the benchmark's 16 concurrent clients fit)
MAX_HEAD = 64 << 10  # bytes of status line + headers
MAX_REPLY = 256 << 20  # bytes of one reply body


class HttpError(Exception):
    """The connection failed or the reply was not HTTP/1.1 we can read; the message says how."""


class _Stale(Exception):
    """A reused connection was closed before any byte of the reply (safe to send again)."""


Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class HttpPool:
    """POSTs to one URL over kept-alive connections; `post` returns (status, reply bytes)."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self._ssl: ssl.SSLContext | None = (
            ssl.create_default_context() if parts.scheme == "https" else None
        )
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        host = parts.netloc.rsplit("@", 1)[-1]
        lines = [f"POST {path} HTTP/1.1", f"Host: {host}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        self._head = ("\r\n".join(lines) + "\r\nContent-Length: ").encode("latin-1")
        self._idle: list[Conn] = []
        self._closed = False

    async def post(self, body: bytes) -> tuple[int, bytes]:
        """Send `body`; the reply's status and body (HttpError/OSError when the link fails)."""
        request = b"".join((self._head, str(len(body)).encode(), b"\r\n\r\n", body))
        while self._idle:
            conn = self._idle.pop()
            try:
                return await self._exchange(conn, request, reused=True)
            except _Stale:
                continue
        conn = await self._open()
        try:
            return await self._exchange(conn, request, reused=False)
        except _Stale:
            raise HttpError("the node closed the connection without answering") from None

    async def _open(self) -> Conn:
        return await asyncio.open_connection(
            self.host,
            self.port,
            ssl=self._ssl,
            server_hostname=self.host if self._ssl else None,
            limit=MAX_HEAD,
        )

    async def _exchange(self, conn: Conn, request: bytes, *, reused: bool) -> tuple[int, bytes]:
        reader, writer = conn
        keep = False
        try:
            writer.write(request)
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError as exc:
                if not exc.partial:  # closed before answering: stale if reused
                    raise _Stale from None
                raise HttpError("the node closed the connection mid-answer") from None
            except ConnectionResetError:
                if reused:
                    raise _Stale from None
                raise
            except asyncio.LimitOverrunError:
                raise HttpError("the node's reply headers are too large") from None
            status, length, chunked, keep = _parse_head(head)
            if chunked:
                body = await _read_chunked(reader)
            elif length is not None:
                if length > MAX_REPLY:
                    raise HttpError(f"the node's reply of {length} bytes is too large")
                body = await reader.readexactly(length)
            else:
                keep = False
                body = await reader.read(MAX_REPLY)
        except asyncio.IncompleteReadError:
            keep = False
            raise HttpError("the node closed the connection mid-answer") from None
        except BaseException:
            keep = False
            raise
        finally:
            if keep and not self._closed and len(self._idle) < MAX_IDLE:
                self._idle.append(conn)
            else:
                writer.close()
        return status, body

    def close(self) -> None:
        """Close the kept-alive connections (calls in flight finish on their own)."""
        self._closed = True
        for _reader, writer in self._idle:
            writer.close()
        self._idle.clear()


def _parse_head(head: bytes) -> tuple[int, int | None, bool, bool]:
    """(status, content length or None, chunked?, keep-alive?) of a reply head."""
    lines = head.decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    if not version.startswith("HTTP/1.") or not rest[:3].isdigit():
        raise HttpError(f"the node did not answer in HTTP/1.1 ({lines[0][:60]!r})")
    status = int(rest[:3])
    length: int | None = None
    chunked = False
    keep = version == "HTTP/1.1"
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep:
            continue
        name, value = name.strip().lower(), value.strip()
        if name == "content-length":
            if not value.isdigit():
                raise HttpError(f"the node sent a bad Content-Length ({value[:20]!r})")
            length = int(value)
        elif name == "transfer-encoding":
            chunked = "chunked" in value.lower()
        elif name == "connection":
            keep = value.lower() == "keep-alive" or (keep and value.lower() != "close")
    if status in (204, 304) or 100 <= status < 200:
        length = 0
    return status, length, chunked, keep


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    total = 0
    while True:
        line = await reader.readuntil(b"\r\n")
        size_text = line.split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise HttpError(f"the node sent a bad chunk size ({size_text[:20]!r})") from None
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                pass
            return b"".join(parts)
        total += size
        if total > MAX_REPLY:
            raise HttpError("the node's chunked reply is too large")
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)

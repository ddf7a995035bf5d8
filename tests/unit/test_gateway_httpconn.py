"""The gateway's lean keep-alive HTTP client against a raw loopback server that answers in each
way HTTP/1.1 allows (Content-Length, chunked, Connection: close, a closed idle connection).

The server here is a stand-in for a node's nginx front: it speaks HTTP/1.1 on 127.0.0.1 and
records the requests it got, so the tests can see reuse, headers and bodies as sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from erigolem_desktop.core.gateway.httpconn import HttpError, HttpPool

Reply = Callable[[bytes], bytes]  # request body -> raw reply bytes


class RawServer:
    """An HTTP/1.1 stand-in on 127.0.0.1: `reply(body)` makes each answer; counts connections."""

    def __init__(self, reply: Reply, close_after: int | None = None) -> None:
        self.reply = reply
        self.close_after = close_after  # close the connection after this many answers
        self.connections = 0
        self.heads: list[bytes] = []
        self.server: asyncio.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        answered = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.heads.append(head)
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length)
                writer.write(self.reply(body))
                await writer.drain()
                answered += 1
                if self.close_after is not None and answered >= self.close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    @property
    def url(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/abc/"


async def started(raw: RawServer) -> RawServer:
    raw.server = await asyncio.start_server(raw.handle, "127.0.0.1", 0)
    return raw


def with_length(body: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


def chunked(body: bytes) -> bytes:
    half = len(body) // 2
    parts = [body[:half], body[half:]]
    chunks = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(p), p) for p in parts if p)
    return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n"


@pytest.mark.asyncio
async def test_keeps_the_connection_alive_and_sends_the_head_it_was_given() -> None:
    raw = await started(RawServer(lambda b: with_length(b"{" + b + b"}")))
    pool = HttpPool(raw.url, {"Authorization": "Basic eDp5", "Content-Type": "application/json"})
    try:
        for i in range(5):
            status, body = await pool.post(b"%d" % i)
            assert (status, body) == (200, b"{%d}" % i)
        assert raw.connections == 1
        head = raw.heads[0].decode()
        assert head.startswith("POST /abc/ HTTP/1.1\r\n")
        assert "Authorization: Basic eDp5\r\n" in head
        assert "Content-Length: 1\r\n" in head
    finally:
        pool.close()
        assert raw.server is not None
        raw.server.close()


@pytest.mark.asyncio
async def test_reads_chunked_replies() -> None:
    raw = await started(RawServer(lambda b: chunked(b'{"result":"' + b * 3000 + b'"}')))
    pool = HttpPool(raw.url, {})
    try:
        status, body = await pool.post(b"x")
        assert status == 200
        assert body == b'{"result":"' + b"x" * 3000 + b'"}'
        assert (await pool.post(b"y"))[1].count(b"y") == 3000
        assert raw.connections == 1
    finally:
        pool.close()
        assert raw.server is not None
        raw.server.close()


@pytest.mark.asyncio
async def test_a_connection_the_server_closed_is_replaced_not_reported() -> None:
    # The server closes after each answer while saying keep-alive (a keepalive_requests limit
    # or an idle timeout racing the next request): the next call opens a fresh connection.
    raw = await started(RawServer(lambda b: with_length(b), close_after=1))
    pool = HttpPool(raw.url, {})
    try:
        for i in range(3):
            await asyncio.sleep(0.05)  # let the close arrive, as an idle timeout would
            assert await pool.post(b"%d" % i) == (200, b"%d" % i)
        assert raw.connections == 3
    finally:
        pool.close()
        assert raw.server is not None
        raw.server.close()


@pytest.mark.asyncio
async def test_connection_close_and_reply_without_length() -> None:
    raw = await started(
        RawServer(lambda b: b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n[1]", close_after=1)
    )
    pool = HttpPool(raw.url, {})
    try:
        assert await pool.post(b"a") == (200, b"[1]")
        assert await pool.post(b"b") == (200, b"[1]")
        assert raw.connections == 2
    finally:
        pool.close()
        assert raw.server is not None
        raw.server.close()


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (b"SSH-2.0-OpenSSH\r\n\r\n", "did not answer in HTTP/1.1"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: x1\r\n\r\n", "bad Content-Length"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", "closed the connection mid-answer"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "bad chunk size"),
        (b"", "closed the connection without answering"),
    ],
)
async def test_broken_replies_are_clear_errors(reply: bytes, message: str) -> None:
    raw = await started(RawServer(lambda b: reply, close_after=1))
    pool = HttpPool(raw.url, {})
    try:
        with pytest.raises(HttpError, match=message):
            await pool.post(b"x")
    finally:
        pool.close()
        assert raw.server is not None
        raw.server.close()


@pytest.mark.asyncio
async def test_unreachable_is_an_os_error_and_bad_urls_are_refused() -> None:
    srv = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    srv.close()
    await srv.wait_closed()
    pool = HttpPool(f"http://127.0.0.1:{port}/", {})
    with pytest.raises(OSError):
        await pool.post(b"x")
    with pytest.raises(ValueError, match="not an http"):
        HttpPool("ftp://example.org/", {})

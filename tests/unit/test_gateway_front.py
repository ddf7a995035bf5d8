"""The gateway's raw HTTP/1.1 front against bad and unusual input, over a real loopback socket.

The gateway here has one chain whose only node's port is closed, so every well-formed call is
answered by the gateway itself (-32002, no node answering) with the call's own id: enough to see
what the front read. Real answers through the front are in tests/integration/test_gateway*.py.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from erigolem_desktop.core.gateway import front
from erigolem_desktop.core.gateway.config import ChainRoute, GatewayPolicy, UpstreamSpec
from erigolem_desktop.core.gateway.server import GatewayService

Reply = tuple[int, dict[str, str], bytes]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest_asyncio.fixture
async def gateway() -> AsyncIterator[GatewayService]:
    node = UpstreamSpec("node-a", f"http://127.0.0.1:{_closed_port()}/")
    service = GatewayService([ChainRoute("dev", (node,))], GatewayPolicy(max_body=4096))
    await service.start()
    try:
        yield service
    finally:
        await service.close()


async def _read_reply(reader: asyncio.StreamReader) -> Reply:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers, body


def _post(body: bytes, path: str = "/dev", extra: str = "") -> bytes:
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
    return head.encode() + body


def _call(rid: int) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": rid, "method": "eth_blockNumber"}).encode()


async def _exchange(service: GatewayService, data: bytes, n: int = 1) -> tuple[list[Reply], bool]:
    """Send `data` on a fresh connection, read `n` replies; and whether the gateway then closed."""
    assert service.port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", service.port)
    try:
        writer.write(data)
        replies = [await _read_reply(reader) for _ in range(n)]
        try:
            closed = await asyncio.wait_for(reader.read(1), 0.3) == b""
        except TimeoutError:
            closed = False
        return replies, closed
    finally:
        writer.close()


def _error(reply: Reply) -> dict[str, Any]:
    _status, headers, body = reply
    assert headers["content-type"] == "application/json"
    return dict(json.loads(body)["error"])


@pytest.mark.asyncio
async def test_pipelined_calls_are_answered_in_order_then_status_goes_to_aiohttp(
    gateway: GatewayService,
) -> None:
    status_get = b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n"
    data = _post(_call(1)) + b"\r\n" + _post(_call(2)) + status_get
    replies, closed = await _exchange(gateway, data, 3)
    assert [json.loads(r[2])["id"] for r in replies[:2]] == [1, 2]
    assert all(r[0] == 200 and _error(r)["code"] == -32002 for r in replies[:2])
    status, _, body = replies[2]  # the same connection, now served by the aiohttp app
    assert status == 200
    assert json.loads(body)["chains"][0]["chain"] == "dev"
    assert not closed


@pytest.mark.asyncio
async def test_malformed_request_lines_and_headers_get_400_and_a_close(
    gateway: GatewayService,
) -> None:
    for data in (
        b"POST\r\n\r\n",
        b"POST /dev HTTP/1.1 extra\r\n\r\n",
        b"\x16\x03\x01 garbage\r\n\r\n",  # a TLS hello on the plain port
        b"POST /dev HTTP/1.1\r\nno colon here\r\n\r\n",
        b"POST /dev HTTP/1.1\r\n folded: header\r\n\r\n",
    ):
        (reply,), closed = await _exchange(gateway, data)
        assert reply[0] == 400, data
        assert _error(reply)["code"] == -32600
        assert closed
    (reply,), closed = await _exchange(gateway, b"POST /dev HTTP/2.0\r\n\r\n")
    assert reply[0] == 505
    assert closed


@pytest.mark.asyncio
async def test_bad_content_lengths_and_chunked_bodies_are_refused(gateway: GatewayService) -> None:
    for length in ("abc", "-1", "1e3", "99999999999999999"):
        data = f"POST /dev HTTP/1.1\r\nContent-Length: {length}\r\n\r\n".encode()
        (reply,), closed = await _exchange(gateway, data)
        assert reply[0] == 400
        assert "Content-Length" in _error(reply)["message"]
        assert closed
    twice = b"POST /dev HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}"
    (reply,), closed = await _exchange(gateway, twice)
    assert reply[0] == 400
    assert "conflicting" in _error(reply)["message"]
    chunked = b"POST /dev HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"
    (reply,), closed = await _exchange(gateway, chunked)
    assert reply[0] == 411
    assert "Content-Length" in _error(reply)["message"]
    assert closed


@pytest.mark.asyncio
async def test_huge_heads_and_bodies_are_refused_before_they_are_read(
    gateway: GatewayService,
) -> None:
    huge = b"POST /dev HTTP/1.1\r\nX-Big: " + b"a" * (front.MAX_HEAD + 10)
    (reply,), closed = await _exchange(gateway, huge)  # no end of head ever comes
    assert reply[0] == 431
    assert closed
    big = b"POST /dev HTTP/1.1\r\nContent-Length: 5000\r\n\r\n"  # over max_body=4096
    (reply,), closed = await _exchange(gateway, big)
    assert reply[0] == 413
    assert _error(reply)["code"] == -32005
    assert closed


@pytest.mark.asyncio
async def test_a_slow_request_is_cut_off_and_an_idle_one_closed(
    gateway: GatewayService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(front, "REQUEST_DEADLINE", 0.3)
    monkeypatch.setattr(front, "IDLE_TIMEOUT", 0.6)
    assert gateway.port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    writer.write(b"POST /dev HTTP/1.1\r\nContent-Le")  # ... and never the rest (slowloris)
    status, _, body = await asyncio.wait_for(_read_reply(reader), 3)
    assert status == 408
    assert "did not arrive" in json.loads(body)["error"]["message"]
    assert await asyncio.wait_for(reader.read(1), 3) == b""
    writer.close()
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    writer.write(_post(_call(3)))
    assert (await _read_reply(reader))[0] == 200
    assert await asyncio.wait_for(reader.read(1), 3) == b""  # idle past the timeout: closed
    writer.close()


@pytest.mark.asyncio
async def test_expect_continue_http10_tokens_and_unknown_chains(gateway: GatewayService) -> None:
    assert gateway.port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    body = _call(4)
    head = f"POST /dev HTTP/1.1\r\nContent-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n"
    writer.write(head.encode())
    assert (
        await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 3) == b"HTTP/1.1 100 Continue\r\n\r\n"
    )
    writer.write(body)
    assert json.loads((await _read_reply(reader))[2])["id"] == 4
    writer.close()
    old = b"POST /dev HTTP/1.0\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    (reply,), closed = await _exchange(gateway, old)
    assert reply[0] == 200
    assert reply[1]["connection"] == "close"
    assert closed
    (reply,), closed = await _exchange(gateway, _post(body, "/nochain"))
    assert reply[0] == 404
    assert "serves /dev" in _error(reply)["message"]
    assert not closed
    (reply,), _ = await _exchange(gateway, _post(body, "/dev/sometoken"))
    assert reply[0] == 404
    assert "use /<chain>" in _error(reply)["message"]
    (reply,), _ = await _exchange(gateway, _post(b"{not json"))
    assert reply[0] == 200
    assert _error(reply)["code"] == -32700


@pytest.mark.asyncio
async def test_the_token_is_checked_on_the_raw_path() -> None:
    node = UpstreamSpec("node-a", f"http://127.0.0.1:{_closed_port()}/")
    service = GatewayService(
        [ChainRoute("dev", (node,))], GatewayPolicy(token="s3cret-local-token-42")
    )
    await service.start()
    try:
        body = _call(5)
        (reply,), _ = await _exchange(service, _post(body))
        assert reply[0] == 401
        assert _error(reply)["code"] == -32001
        (reply,), _ = await _exchange(service, _post(body, "/dev/wrong"))
        assert reply[0] == 401
        (reply,), _ = await _exchange(service, _post(body, "/dev/s3cret-local-token-42"))
        assert reply[0] == 200
        assert json.loads(reply[2])["id"] == 5
        bearer = "Authorization: Bearer s3cret-local-token-42\r\n"
        (reply,), _ = await _exchange(service, _post(body, extra=bearer))
        assert reply[0] == 200
        assert json.loads(reply[2])["id"] == 5
    finally:
        await service.close()

"""JsonRpcClient against a real anvil, directly and through a real nginx with auth_basic.

Covers single and batch calls, JSON-RPC error objects returned as they came, a large (> 1 MB)
result, 401 through nginx, a refused port, a timeout, a non-JSON body (nginx's HTML 502 page).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from passlib.hash import apr_md5_crypt

from erigolem_desktop.core.rpc import (
    LARGE_BODY_BYTES,
    JsonRpcClient,
    RpcAuthError,
    RpcBadResponse,
    RpcCallError,
    RpcResult,
    RpcTimeout,
    RpcUnreachable,
)
from tests.support.binaries import free_port

USER, PASSWORD = "erigolem", "correct-horse-battery-staple-0123456789"


def _wait_port(port: int, proc: subprocess.Popen[bytes], what: str, timeout: float = 10) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise RuntimeError(f"{what} did not listen on {port}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.fixture(scope="module")
def anvil_url(anvil_bin: Path) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [str(anvil_bin), "--host", "127.0.0.1", "--port", str(port), "--silent"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_port(port, proc, "anvil")
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(proc)


@pytest.fixture(scope="module")
def nginx_front(
    nginx_bin: Path, anvil_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """nginx with /node/ -> anvil behind auth_basic, /dead/ -> a closed port (502 HTML page)."""
    prefix = tmp_path_factory.mktemp("nginx")
    for d in ("conf", "logs", "tmp"):
        (prefix / d).mkdir()
    (prefix / "conf/htpasswd").write_text(f"{USER}:{apr_md5_crypt.hash(PASSWORD)}\n")
    (prefix / "conf/htpasswd").chmod(0o600)
    port, dead = free_port(), free_port()
    # As root, nginx workers would run as nobody and could not read the 0600 htpasswd.
    user = "user root root;" if os.geteuid() == 0 else ""
    (prefix / "conf/nginx.conf").write_text(
        f"""{user} worker_processes 1; daemon off; pid logs/nginx.pid; error_log logs/error.log;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path tmp/body; proxy_temp_path tmp/proxy; fastcgi_temp_path tmp/fastcgi;
  uwsgi_temp_path tmp/uwsgi; scgi_temp_path tmp/scgi;
  server {{ listen 127.0.0.1:{port};
    location /node/ {{ auth_basic "json-rpc"; auth_basic_user_file htpasswd;
      proxy_pass {anvil_url}/; proxy_http_version 1.1; proxy_set_header Connection ""; }}
    location /dead/ {{ proxy_pass http://127.0.0.1:{dead}/; }}
  }}
}}
"""
    )
    proc = subprocess.Popen(
        [str(nginx_bin), "-p", str(prefix), "-c", "conf/nginx.conf", "-e", "logs/error.log"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_port(port, proc, "nginx")
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(proc)


@pytest_asyncio.fixture
async def anvil(anvil_url: str) -> AsyncIterator[JsonRpcClient]:
    async with JsonRpcClient(anvil_url, timeout=10) as client:
        yield client


@pytest.mark.asyncio
async def test_single_call(anvil: JsonRpcClient) -> None:
    res = await anvil.call("eth_chainId")
    assert res.ok
    assert res.error is None
    assert res.result == "0x7a69"
    assert res.elapsed_ms > 0
    assert res.size_bytes > len('"0x7a69"')
    assert res.unwrap() == "0x7a69"
    assert res.to_json()["result"] == "0x7a69"


@pytest.mark.asyncio
async def test_batch_in_order(anvil: JsonRpcClient) -> None:
    results = await anvil.batch(
        [("web3_clientVersion", []), ("eth_chainId", None), ("eth_nope", []), ("net_version", [])]
    )
    assert [r.method for r in results] == [
        "web3_clientVersion",
        "eth_chainId",
        "eth_nope",
        "net_version",
    ]
    assert results[0].result.startswith("anvil/")
    assert results[1].result == "0x7a69"
    assert results[2].error is not None
    assert results[2].result is None
    assert results[3].result == "31337"
    assert await anvil.batch([]) == []


@pytest.mark.asyncio
async def test_error_object_returned_as_it_came(anvil: JsonRpcClient) -> None:
    res = await anvil.call("eth_getBalance", ["not-an-address", "latest"])
    assert not res.ok
    assert res.error is not None
    assert isinstance(res.error["code"], int)
    assert res.error["message"]
    with pytest.raises(RpcCallError, match="eth_getBalance failed") as info:
        res.unwrap()
    assert info.value.error == res.error
    missing = await anvil.call("no_such_method")
    assert missing.error is not None
    assert missing.error["code"] == -32601


@pytest.mark.asyncio
async def test_large_result_parsed_off_loop(anvil: JsonRpcClient) -> None:
    addr = "0x00000000000000000000000000000000000000aa"
    code = "0x" + "60" * (LARGE_BODY_BYTES // 2 + 1000)
    (await anvil.call("anvil_setCode", [addr, code])).unwrap()
    res = await anvil.call("eth_getCode", [addr, "latest"])
    assert res.result == code
    assert res.size_bytes > LARGE_BODY_BYTES


@pytest.mark.asyncio
async def test_through_nginx_with_credentials(nginx_front: str) -> None:
    async with JsonRpcClient(f"{nginx_front}/node/", USER, PASSWORD) as client:
        assert (await client.call("eth_chainId")).result == "0x7a69"
        batch = await client.batch([("eth_chainId", []), ("eth_blockNumber", [])])
        assert batch[0].result == "0x7a69"
        assert isinstance(batch[1].result, str)


@pytest.mark.asyncio
@pytest.mark.parametrize(("user", "password"), [(USER, "wrong"), (None, None), ("other", PASSWORD)])
async def test_401_in_plain_words(nginx_front: str, user: str | None, password: str | None) -> None:
    async with JsonRpcClient(f"{nginx_front}/node/", user, password) as client:
        with pytest.raises(RpcAuthError) as info:
            await client.call("eth_chainId")
    assert str(info.value) == (
        "The node rejected the credentials (HTTP 401). "
        "Rotate or re-copy them from the node's details."
    )
    assert info.value.hint


@pytest.mark.asyncio
async def test_non_json_body(nginx_front: str) -> None:
    async with JsonRpcClient(f"{nginx_front}/dead/") as client:
        with pytest.raises(RpcBadResponse, match=r"HTTP 502.*not JSON") as info:
            await client.call("eth_chainId")
    assert "not answering" in info.value.hint


@pytest.mark.asyncio
async def test_refused_port() -> None:
    url = f"http://127.0.0.1:{free_port()}/x/"
    async with JsonRpcClient(url) as client:
        with pytest.raises(RpcUnreachable) as info:
            await client.call("eth_chainId")
    assert str(info.value).startswith(f"The node is unreachable at {url} (connection refused).")
    assert "erigolem node list" in info.value.hint


@pytest.mark.asyncio
async def test_timeout() -> None:
    """A real listening socket that accepts and never answers: the call times out."""
    writers: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with JsonRpcClient(f"http://127.0.0.1:{port}/", timeout=0.3) as client:
            started = time.monotonic()
            with pytest.raises(RpcTimeout, match=r"did not answer eth_chainId within 0\.3 s"):
                await client.call("eth_chainId")
            assert time.monotonic() - started < 2
            with pytest.raises(RpcTimeout, match=r"batch of 1 calls within 0\.2 s"):
                await client.batch([("eth_chainId", [])], timeout=0.2)
    finally:
        for w in writers:
            w.close()
        server.close()
        await server.wait_closed()


@pytest.mark.asyncio
async def test_json_that_is_not_rpc() -> None:
    """A real HTTP server (aiohttp) answering JSON that is not a JSON-RPC response."""
    from aiohttp import web

    async def handler(request: web.Request) -> web.Response:
        return web.json_response({"hello": "world"})

    app = web.Application()
    app.router.add_post("/", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        async with JsonRpcClient(f"http://127.0.0.1:{port}/") as client:
            with pytest.raises(RpcBadResponse, match="neither a result nor an error"):
                await client.call("eth_chainId")
            with pytest.raises(RpcBadResponse, match="not a JSON-RPC response"):
                await client.batch([("eth_chainId", [])])
    finally:
        await runner.cleanup()


def test_result_to_json_of_error() -> None:
    res = RpcResult("m", error={"code": 1, "message": "x"}, elapsed_ms=1.23456, size_bytes=3)
    out: dict[str, Any] = res.to_json()
    assert out == {
        "method": "m",
        "error": {"code": 1, "message": "x"},
        "elapsed_ms": 1.235,
        "size_bytes": 3,
    }

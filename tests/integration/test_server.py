"""`erigolem serve` over real HTTP: aiohttp on 127.0.0.1, the real Local backend (erigolem-runtime,
nginx, anvil), the real keyring API (in-memory backend), wallets = eth-account keys signing the
server's EIP-4361 messages. One end-to-end node per test that needs one; bad input starts none."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from erigolem_runtime.api.process import process_token
from eth_account import Account
from eth_account.messages import encode_defunct

from erigolem_desktop.core.backends.local import LocalBackend
from erigolem_desktop.core.manager import NodeManager
from erigolem_desktop.core.records import NodeStore
from erigolem_desktop.core.rpc import JsonRpcClient, RpcAuthError
from erigolem_desktop.core.secrets import SecretStore
from erigolem_desktop.core.siwe import SiweMessage
from erigolem_desktop.server.app import create_app
from erigolem_desktop.server.auth import STATEMENT, SiweAuth
from erigolem_desktop.server.routes import ServerOptions
from tests.support.memkeyring import MemoryKeyring
from tests.support.serve_process import serve_process

pytestmark = pytest.mark.integration

CLI = [sys.executable, "-m", "erigolem_desktop"]
HOSTILE_NAME = "<script>alert(1)</script>\n\x00\x1b[31m$(rm -rf ~); `id` 'x' \"y\" " * 3


class Clock:
    """Wall time plus an offset the test can move (expiry without waiting an hour)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


class Wallet:
    """An eth-account key that signs in like a script would (see server/README.md)."""

    def __init__(self) -> None:
        acct = Account.create()
        self.key = acct.key
        self.address = str(acct.address)

    def sign(self, text: str) -> str:
        signed = Account.sign_message(encode_defunct(text=text), self.key)
        return str(signed.signature.to_0x_hex())

    def headers(self, text: str, *, bearer: str | None = None) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {bearer or self.address}",
            "Message": urllib.parse.quote(text, safe=""),
            "Signature": self.sign(text),
        }


class Api:
    """A running server: its base URL, an HTTP session, the manager and the clock."""

    def __init__(
        self, base: str, http: aiohttp.ClientSession, manager: NodeManager, clock: Clock
    ) -> None:
        self.base, self.http, self.manager, self.clock = base, http, manager, clock
        self.authority: SiweAuth | None = None

    async def call(
        self, method: str, path: str, *, headers: dict[str, str] | None = None, **kw: Any
    ) -> tuple[int, Any, aiohttp.ClientResponse]:
        async with self.http.request(method, self.base + path, headers=headers, **kw) as resp:
            text = await resp.text()
            return resp.status, json.loads(text) if text else None, resp

    async def sign_in(self, wallet: Wallet, *, with_address: bool = True) -> dict[str, str]:
        query = f"?address={wallet.address}" if with_address else ""
        status, message, _ = await self.call("GET", "/getMessage" + query)
        assert status == 200
        assert isinstance(message, str)
        return wallet.headers(message)


ServerFactory = Callable[..., Awaitable[Api]]


@pytest_asyncio.fixture
async def start_server(
    erigolem_home: Path, memory_keyring: MemoryKeyring
) -> AsyncIterator[ServerFactory]:
    """Start servers (each with its own manager on the Local backend); all cleaned up after."""
    runners: list[web.AppRunner] = []
    sessions: list[aiohttp.ClientSession] = []

    async def start(**kw: Any) -> Api:
        sock = socket.create_server(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        domain = f"127.0.0.1:{port}"
        manager = NodeManager(
            NodeStore(),
            {"local": LocalBackend(erigolem_home)},
            SecretStore(choose_backend=False),
            poll_interval=0.2,
        )
        clock = Clock()
        authority = SiweAuth(domains=[domain], clock=clock, **kw.pop("auth_kw", {}))
        app = create_app(
            manager,
            domains=[domain],
            auth=authority,
            options=kw.pop("options", None) or ServerOptions(stop_wait=15),
            **kw,
        )
        runner = web.AppRunner(app)
        await runner.setup()
        runners.append(runner)
        await web.SockSite(runner, sock).start()
        http = aiohttp.ClientSession()
        sessions.append(http)
        api = Api(f"http://{domain}", http, manager, clock)
        api.authority = authority
        return api

    try:
        yield start
    finally:
        for http in sessions:
            await http.close()
        for runner in runners:
            await asyncio.wait_for(runner.cleanup(), 30)  # closes the manager: nodes stop


async def wait_status(
    api: Api, headers: dict[str, str], node_id: str, statuses: set[str], within: float = 60
) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        status, body, _ = await api.call("GET", "/getInstances", headers=headers)
        assert status == 200, body
        node = next(n for n in body if n["id"] == node_id)
        if node["status"] in statuses:
            return dict(node)
        assert node["status"] in {"pending", "starting", "running", "stopping"}, node
        assert time.monotonic() < deadline, f"node still {node['status']}: {node}"
        await asyncio.sleep(0.2)


def _alive(pid: int) -> bool:
    return process_token(pid) is not None


# ------------------------------------------------------------------------- end to end


@pytest.mark.asyncio
async def test_sign_in_create_use_and_stop_a_node(
    start_server: ServerFactory, anvil_bin: Path, nginx_bin: Path
) -> None:
    api = await start_server(options=ServerOptions(max_active_per_wallet=1, stop_wait=15))
    alice, bob = Wallet(), Wallet()
    as_alice = await api.sign_in(alice)
    as_bob = await api.sign_in(bob, with_address=False)  # old-client style: unbound message

    assert (await api.call("GET", "/getInstances", headers=as_alice))[:2] == (200, [])
    status, created, _ = await api.call(
        "POST",
        "/createInstance",
        headers=as_alice,
        json={"params": {"network": "dev"}, "name": HOSTILE_NAME},
    )
    assert status == 201, created
    assert created["status"] == "pending"
    assert created["init_params"] == {"network": "dev"}
    assert created["created_at"]
    assert "url" not in created
    assert "stopped_at" not in created
    name = created["name"]
    assert len(name) <= 64
    assert not any(ord(c) < 32 for c in name)
    assert name.startswith("<script>alert(1)</script>")  # kept as text: JSON escapes it

    node = await wait_status(api, as_alice, created["id"], {"running", "failed"})
    assert node["status"] == "running", node
    assert node["state"] == "ready"
    assert node["network"] == "dev"
    assert node["chain"] == "dev"
    assert node["client"] == "anvil"
    assert node["backend"] == "local"
    assert node["url"].startswith("http://127.0.0.1:")
    assert node["ws_url"] == "ws://" + node["url"].removeprefix("http://")
    user, password = node["auth"]["user"], node["auth"]["password"]
    assert user
    assert password
    assert len(password) >= 16
    rec = api.manager.get(node["id"])
    assert rec is not None
    assert rec.owner == alice.address
    runtime_pid = rec.runtime["runtime_pid"]

    async with JsonRpcClient(node["url"], user, password) as rpc:
        assert int((await rpc.call("eth_chainId")).unwrap(), 16) > 0
    async with JsonRpcClient(node["url"], user, "wrong") as rpc:
        with pytest.raises(RpcAuthError):
            await rpc.call("eth_chainId")

    # one active node per wallet here: a second is refused, nothing is created
    status, body, _ = await api.call(
        "POST", "/createInstance", headers=as_alice, json={"params": {"network": "dev"}}
    )
    assert status == 429, body
    assert "active nodes" in body["msg"]

    # bob sees nothing of alice's and cannot stop it
    assert (await api.call("GET", "/getInstances", headers=as_bob))[:2] == (200, [])
    status, body, _ = await api.call("POST", f"/stopInstance/{node['id']}", headers=as_bob)
    assert (status, body) == (404, {"msg": "invalid instance ID"})
    status, body, _ = await api.call("POST", "/stopInstance/nonexistent", headers=as_alice)
    assert (status, body) == (404, {"msg": "invalid instance ID"})

    path_id = node["url"].rstrip("/").rsplit("/", 1)[1]  # the id in its URL names it too
    status, body, _ = await api.call("POST", f"/stopInstance/{path_id}", headers=as_bob)
    assert (status, body) == (404, {"msg": "invalid instance ID"})

    # alice stops it, by the id in its URL (her headers in lowercase work the same)
    lower = dict(as_alice, Authorization=f"Bearer {alice.address.lower()}")
    status, body, _ = await api.call("POST", f"/stopInstance/{path_id}", headers=lower)
    assert status == 200, body
    assert body["status"] in {"stopping", "stopped"}
    stopped = await wait_status(api, as_alice, node["id"], {"stopped"}, within=30)
    assert stopped["stopped_at"]
    assert "url" not in stopped
    assert "auth" not in stopped
    assert api.manager.password(node["id"]) is None
    for _ in range(50):
        if not _alive(runtime_pid):
            break
        await asyncio.sleep(0.1)
    assert not _alive(runtime_pid)
    # stopping again is harmless
    status, body, _ = await api.call("POST", f"/stopInstance/{node['id']}", headers=as_alice)
    assert (status, body["status"]) == (200, "stopped")


@pytest.mark.asyncio
async def test_a_node_that_cannot_start_is_failed_with_a_reason(
    start_server: ServerFactory,
    nginx_bin: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An Erigon that dies at once (a broken install): the node is `failed`, never `terminated`.

    The `erigon` here is a two-line script standing in for a broken Erigon binary on PATH."""
    broken = tmp_path / "bin" / "erigon"
    broken.parent.mkdir()
    broken.write_text("#!/bin/sh\necho 'Fatal: broken install' >&2\nexit 1\n")
    broken.chmod(0o755)
    monkeypatch.setenv("PATH", f"{broken.parent}:{os.environ['PATH']}")
    api = await start_server()
    alice = Wallet()
    headers = await api.sign_in(alice)
    status, created, _ = await api.call(
        "POST", "/createInstance", headers=headers, json={"params": {"network": "sepolia"}}
    )
    assert status == 201, created
    node = await wait_status(api, headers, created["id"], {"failed", "running"}, within=60)
    assert node["status"] == "failed", node
    assert "It said: Fatal: broken install" in node["reason"], node  # the client's own words
    assert "not set up" not in node["reason"]  # Erigon is there, it just fails
    assert node["stopped_at"]
    assert "url" not in node


# --------------------------------------------------------------------------- bad input


@pytest.mark.asyncio
async def test_sign_in_failures_are_clear_400s(start_server: ServerFactory) -> None:
    api = await start_server()
    alice, mallory = Wallet(), Wallet()
    good = await api.sign_in(alice)
    _, message, _ = await api.call("GET", f"/getMessage?address={alice.address}")
    text = str(message)

    async def refused(headers: dict[str, str], expected: str) -> None:
        for method, path in (
            ("GET", "/getInstances"),
            ("POST", "/createInstance"),
            ("POST", "/stopInstance/abc"),
            ("POST", "/logout"),
        ):
            status, body, _ = await api.call(
                method, path, headers=headers, json={"params": {"network": "dev"}}
            )
            assert status == 400, (path, body)
            assert expected in body["msg"], (path, body)

    await refused({}, "Missing authorization header")
    await refused({**good, "Authorization": "Token abc"}, 'should start with "Bearer "')
    await refused({**good, "Authorization": "Bearer bob"}, "is not a correct address")
    await refused({k: v for k, v in good.items() if k != "Signature"}, "Missing signature")
    await refused({k: v for k, v in good.items() if k != "Message"}, "Missing message")
    await refused({**good, "Message": "Confirm the terms of use"}, "Invalid message")
    await refused({**good, "Signature": "0xdeadbeef"}, "Invalid signature")
    # signed by another key
    await refused(
        {**alice.headers(text), "Signature": mallory.sign(text)}, f"not signed by {alice.address}"
    )
    # a nonce this server never issued (a message the client made up itself)
    made_up = SiweMessage.create(
        domain=api.base.removeprefix("http://"),
        address=alice.address,
        uri=api.base + "/",
        statement=STATEMENT,
        expires_in=timedelta(hours=1),
    ).to_text()
    await refused(alice.headers(made_up), "did not issue")
    # tampered (another chain), re-signed by the right key
    tampered = text.replace("Chain ID: 1", "Chain ID: 5")
    await refused(alice.headers(tampered), "or it was changed")
    # a signed-in request must come by one of our names (--domain), like getMessage
    await refused({**good, "Host": "evil.example"}, "does not answer for the host")
    # a message for another site is not even handed out
    status, body, _ = await api.call("GET", "/getMessage", headers={"Host": "evil.example"})
    assert status == 400
    assert "does not answer for the host" in body["msg"]
    status, body, _ = await api.call("GET", "/getMessage?address=0x12")
    assert status == 400
    assert "not a correct address" in body["msg"]

    # revoked: logout, then the same headers are refused; another session is unaffected
    other = alice.headers(text)
    assert (await api.call("POST", "/logout", headers=good))[:2] == (200, {"msg": "signed out"})
    await refused(good, "signed out")
    assert (await api.call("GET", "/getInstances", headers=other))[0] == 200

    # expired: an hour later the message no longer opens a session
    api.clock.offset = timedelta(hours=1, seconds=1)
    await refused(other, "expired")

    # nothing was created by any of it
    assert api.manager.list() == []


@pytest.mark.asyncio
async def test_create_input_errors_lose_nothing(start_server: ServerFactory) -> None:
    api = await start_server()
    alice = Wallet()
    headers = await api.sign_in(alice)

    async def bad(payload: Any, expected: str, status: int = 400, **kw: Any) -> None:
        if payload is not None:
            kw["json"] = payload
        got, body, resp = await api.call("POST", "/createInstance", headers=headers, **kw)
        assert got == status, body
        assert resp.content_type == "application/json"
        assert expected in body["msg"], body

    await bad(None, "not valid JSON", data=b"{not json")
    await bad(None, "not valid JSON", data=b"")
    await bad(None, "not valid JSON", data=b'{"params": {"network": NaN}}')
    await bad(None, "not UTF-8", data=b'{"params": "\xff"}')
    await bad([1, 2], "should be a JSON object")
    await bad({}, "'params' key is required")
    await bad({"params": "sepolia"}, "'params' should be an object")
    await bad({"params": ["network"]}, "'params' should be an object")
    await bad({"params": {}}, "'params.network' is required")
    await bad({"params": {"network": 5}}, "'params.network' should be a string")
    await bad({"params": {"network": "goerli"}}, "has been shut down")
    await bad({"params": {"network": "mainnet; rm -rf /"}}, "unknown network")
    await bad({"params": {"network": "sepolia", "client": "geth"}}, "unknown client")
    await bad({"params": {"network": "sepolia", "client": "anvil"}}, "does not serve")
    await bad({"params": {"network": "dev", "backend": "golem"}}, "not available here")
    # a real network this server's local backend cannot run (no Erigon here): refused up front,
    # without the operator's paths or CLI flags in the answer
    await bad({"params": {"network": "sepolia"}}, "cannot run on this server's local backend")
    _, body, _ = await api.call(
        "POST", "/createInstance", headers=headers, json={"params": {"network": "mainnet"}}
    )
    assert "runs: dev" in body["msg"]
    assert "/" not in body["msg"]
    assert "--" not in body["msg"]
    await bad({"params": {"network": "dev", "datadir": "/"}}, "unknown parameter(s)")
    await bad({"params": {"network": "dev"}, "name": ["x"]}, "'name' should be a string")
    await bad(None, "over", status=413, data=b"x" * 70_000)
    assert api.manager.list() == []
    assert (await api.call("GET", "/getInstances", headers=headers))[:2] == (200, [])


@pytest.mark.asyncio
async def test_health_routes_and_errors_keep_the_json_shape(start_server: ServerFactory) -> None:
    api = await start_server()
    status, body, _ = await api.call("GET", "/health")
    assert status == 200
    assert body["status"] == "ok"
    assert body["backends"] == ["local"]
    assert (await api.call("POST", "/getMessage"))[:2] == (405, {"msg": "method not allowed"})
    assert (await api.call("GET", "/nothing"))[:2] == (404, {"msg": "not found"})
    status, message, resp = await api.call("GET", "/getMessage")
    assert resp.content_type == "application/json"
    parsed = SiweMessage.parse(message)
    assert parsed.chain_id == 1
    assert parsed.statement is not None
    assert parsed.statement.startswith("Confirm the terms of use of the application:")
    assert "Access-Control-Allow-Origin" not in resp.headers  # CORS off by default
    preflight = {"Origin": "https://app.example", "Access-Control-Request-Method": "GET"}
    status, _, resp = await api.call("OPTIONS", "/getInstances", headers=preflight)
    assert status in (403, 405)
    assert "Access-Control-Allow-Origin" not in resp.headers


@pytest.mark.asyncio
async def test_cors_allow_list_and_401_option(start_server: ServerFactory) -> None:
    api = await start_server(
        allow_origins=["https://app.example"], options=ServerOptions(auth_error_status=401)
    )
    preflight = {"Origin": "https://app.example", "Access-Control-Request-Method": "GET"}
    status, _, resp = await api.call("OPTIONS", "/getInstances", headers=preflight)
    assert status == 204
    assert resp.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert "Signature" in resp.headers["Access-Control-Allow-Headers"]
    status, _, resp = await api.call(
        "OPTIONS", "/getInstances", headers={**preflight, "Origin": "https://evil.example"}
    )
    assert status == 403
    assert "Access-Control-Allow-Origin" not in resp.headers
    status, body, resp = await api.call(
        "GET", "/getInstances", headers={"Origin": "https://app.example"}
    )
    assert status == 401
    assert "Missing authorization header" in body["msg"]
    assert resp.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")


# ------------------------------------------------------------------ the serve command


def test_serve_refuses_a_public_address_without_public() -> None:
    proc = subprocess.run(
        [*CLI, "serve", "--host", "0.0.0.0", "--port", "0"],  # refused, never bound
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert "not a loopback address" in proc.stderr
    assert "--public" in proc.stderr
    for args in (["--allow-origin", "*"], ["--port", "70000"], ["--domain", "a b"]):
        proc = subprocess.run(
            [*CLI, "serve", *args], capture_output=True, text=True, timeout=60, check=False
        )
        assert proc.returncode == 2, (args, proc.stderr)


def test_serve_command_stops_its_nodes_on_sigterm(
    erigolem_home: Path, anvil_bin: Path, nginx_bin: Path
) -> None:
    """The real `erigolem serve` process (keyring: the app's own non-prompting choice)."""
    with serve_process() as (proc, info):
        assert info["pid"] == proc.pid
        assert info["domains"][0] == info["url"].removeprefix("http://")
        node_id = asyncio.run(_create_over_http(info["url"]))
        rec = NodeStore().get(node_id)
        assert rec is not None
        assert rec.state.value == "ready"
        runtime_pid = rec.runtime["runtime_pid"]
        assert _alive(runtime_pid)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        rec = NodeStore().get(node_id)
        assert rec is not None
        assert rec.state.value == "stopped", rec
        deadline = time.monotonic() + 5
        while _alive(runtime_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(runtime_pid)


async def _create_over_http(base: str) -> str:
    wallet = Wallet()
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/getMessage", params={"address": wallet.address}) as resp:
            headers = wallet.headers(await resp.json())
        async with http.post(
            f"{base}/createInstance", headers=headers, json={"params": {"network": "dev"}}
        ) as resp:
            assert resp.status == 201, await resp.text()
            node_id = str((await resp.json())["id"])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            async with http.get(f"{base}/getInstances", headers=headers) as resp:
                nodes = await resp.json()
            if nodes[0]["status"] in ("running", "failed"):
                assert nodes[0]["status"] == "running", nodes[0]
                return node_id
            await asyncio.sleep(0.2)
    raise AssertionError("the node did not start within 60 s")


def test_serve_allow_origin_answers_preflights_without_credentials(erigolem_home: Path) -> None:
    """`erigolem serve --allow-origin`: a browser dapp on a foreign origin gets its preflight
    (no credentials, as browsers send it) answered 204; other origins get no CORS headers."""

    async def check(base: str) -> None:
        dapp = "https://dapp.example"
        preflight = {
            "Origin": dapp,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, message, signature",
        }
        async with aiohttp.ClientSession() as http:
            async with http.options(f"{base}/createInstance", headers=preflight) as resp:
                assert resp.status == 204
                assert resp.headers["Access-Control-Allow-Origin"] == dapp
                assert "POST" in resp.headers["Access-Control-Allow-Methods"]
                allowed = {
                    h.strip().lower()
                    for h in resp.headers["Access-Control-Allow-Headers"].split(",")
                }
                assert {"authorization", "content-type", "message", "signature"} <= allowed
                assert "Access-Control-Allow-Credentials" not in resp.headers
            foreign = {**preflight, "Origin": "https://evil.example"}
            async with http.options(f"{base}/createInstance", headers=foreign) as resp:
                assert resp.status == 403
                assert "Access-Control-Allow-Origin" not in resp.headers
            async with http.get(f"{base}/getMessage", headers={"Origin": dapp}) as resp:
                assert resp.status == 200
                assert resp.headers["Access-Control-Allow-Origin"] == dapp

    with serve_process("--allow-origin", "https://dapp.example") as (_proc, info):
        asyncio.run(check(info["url"]))


def test_serve_closes_slow_and_idle_connections(erigolem_home: Path) -> None:
    """Slowloris: connections that send nothing, trickle a request head, or stall a body are
    closed after --idle-timeout; a normal client is served meanwhile (issue 11 item 15)."""
    timeout = 2.0

    async def attack(base: str) -> str:
        host, port = base.removeprefix("http://").rsplit(":", 1)
        wallet = Wallet()
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{base}/getMessage?address={wallet.address}") as resp,
        ):
            signed = wallet.headers(await resp.json())

        async def connect() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
            return await asyncio.open_connection(host, int(port))

        async def closed_after(reader: asyncio.StreamReader, t0: float) -> tuple[float, bytes]:
            data = await asyncio.wait_for(reader.read(), timeout * 6)  # b"" or an answer, then EOF
            return time.monotonic() - t0, data

        async def trickle(writer: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                writer.write(b"GET /health HTTP/1.1\r\nHost: " + host.encode() + b"\r\nX-Slow: ")
                for _ in range(int(timeout * 4 / 0.5)):
                    await asyncio.sleep(0.5)
                    writer.write(b"a")
                    await writer.drain()

        t0 = time.monotonic()
        silent = [await connect() for _ in range(100)]
        slow = [await connect() for _ in range(100)]
        trickles = [asyncio.create_task(trickle(w)) for _, w in slow]
        body_reader, body_writer = await connect()
        head = "".join(f"{k}: {v}\r\n" for k, v in signed.items())
        body_writer.write(
            f"POST /createInstance HTTP/1.1\r\nHost: {host}:{port}\r\n{head}"
            'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"par'.encode()
        )
        async with (
            aiohttp.ClientSession() as http,  # a normal client, meanwhile
            http.get(f"{base}/health") as resp,
        ):
            assert resp.status == 200
        waits = await asyncio.gather(
            *(closed_after(r, t0) for r, _ in silent + slow), closed_after(body_reader, t0)
        )
        for task in trickles:
            task.cancel()
        for _, w in [*silent, *slow, (body_reader, body_writer)]:
            w.close()
        worst = max(w for w, _ in waits)
        assert worst < timeout * 4, worst  # the stalled body: timeout, then 2 s of lingering
        assert all(data == b"" for _, data in waits[:-1])  # no request: closed, no answer
        body_answer = waits[-1][1].decode()
        assert body_answer.startswith("HTTP/1.1 408"), body_answer
        assert "did not arrive within 2 s" in body_answer
        return (
            f"201 slow connections closed after at most {worst:.1f} s (--idle-timeout {timeout:g})"
        )

    with serve_process("--idle-timeout", str(timeout)) as (_proc, info):
        print("\n[slow connections]", asyncio.run(attack(info["url"])))


def test_serve_ipv6_url_and_one_line_per_malformed_request(erigolem_home: Path) -> None:
    """`--host [::1]` and `--host ::1` print http://[::1]:PORT; 8 malformed requests log 8 lines
    and no traceback (issue 11 item 17)."""
    bad = [
        b"GARBAGE\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n",
        b"GET / HTTP/9.9\r\n\r\n",
        b"GET / HTTP/1.1\r\nBad Header\r\n\r\n",
        b"GET /\x00 HTTP/1.1\r\n\r\n",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        b"GET / HTTP/1.1\r\n" + b"X: " + b"a" * 20000 + b"\r\n\r\n",
    ]
    for host in ("[::1]", "::1"):
        with serve_process("--host", host) as (proc, info):
            assert info["url"].startswith("http://[::1]:"), info
            port = int(info["url"].rsplit(":", 1)[1])
            answers = 0
            for payload in bad:
                with socket.create_connection(("::1", port), timeout=5) as sock:
                    sock.sendall(payload)
                    answers += sock.recv(100).startswith(b"HTTP/1.") or 0
            assert answers == len(bad)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(30) == 0
            assert proc.stderr is not None
            err = proc.stderr.read()
            assert "Traceback" not in err, err
            logged = [line for line in err.splitlines() if "Error handling request" in line]
            assert len(bad) - 2 <= len(logged) <= len(bad), err  # (aiohttp skips pure garbage)
            assert all(": 400 " in line for line in logged), err

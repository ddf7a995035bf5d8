"""What every client sees at a node's nginx endpoint: JSON-RPC error bodies and CORS.

Real nginx (private master) in front of real anvil nodes; the requests are the ones JSON-RPC
libraries and browsers send (a preflight is OPTIONS with Origin and no credentials).
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import http.client
import json
import socket

import pytest
from erigolem_runtime.config import RuntimeConfig
from erigolem_runtime.credentials import new_password
from erigolem_runtime.nginx import NginxFront
from erigolem_runtime.nginx.templates import GZIP_MIN_LENGTH

from erigolem_desktop.core.rpc_blocking import BlockingJsonRpcClient
from erigolem_desktop.core.rpc_wire import RpcAuthError, RpcUnreachable
from tests.integration import test_nginx_front as front_tests
from tests.support import log_emitter
from tests.support.binaries import free_port

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

# the real nginx and anvil fixtures of the NginxFront tests
config = front_tests.config
anvils = front_tests.anvils
_served = front_tests._served

USER = "erigolem"
FOREIGN = "https://dapp.foreign.example"


def _request(
    url: str,
    method: str,
    headers: dict[str, str],
    body: bytes | None = None,
) -> tuple[int, http.client.HTTPMessage, bytes]:
    """One request on a fresh connection: (status, headers, body)."""
    hostport, path = url.split("://", 1)[1].split("/", 1)
    conn = http.client.HTTPConnection(hostport, timeout=10)
    try:
        conn.request(method, "/" + path, body, headers)
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read()
    finally:
        conn.close()


def _basic(password: str) -> str:
    return "Basic " + base64.b64encode(f"{USER}:{password}".encode()).decode()


def _assert_rpc_error(status: int, headers: http.client.HTTPMessage, body: bytes) -> int:
    """The answer is a JSON-RPC error object served as application/json; returns its code."""
    assert headers["Content-Type"] == "application/json", (status, headers)
    obj = json.loads(body)
    assert obj["jsonrpc"] == "2.0"
    assert obj["id"] is None
    assert isinstance(obj["error"]["message"], str)
    assert obj["error"]["message"]
    code = obj["error"]["code"]
    assert isinstance(code, int)
    return code


CALL = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}).encode()
JSON = {"Content-Type": "application/json"}


async def test_every_nginx_error_is_a_json_rpc_error(
    config: RuntimeConfig,
    anvils: list[int],
) -> None:
    front = NginxFront(config)
    pw = new_password()
    url = await front.add_instance("json-node", anvils[0], USER, pw)
    dead = await front.add_instance("dead-node", free_port(), USER, pw)  # nothing listens there
    try:
        status, headers, body = _request(url, "POST", JSON, CALL)
        assert status == 401
        assert headers["WWW-Authenticate"] == 'Basic realm="erigolem node json-node"'
        assert _assert_rpc_error(status, headers, body) == -32001
        assert b"wrong or missing credentials" in body

        status, headers, body = _request(url, "POST", {**JSON, "Authorization": _basic("x" * 24)})
        assert (status, _assert_rpc_error(status, headers, body)) == (401, -32001)

        status, headers, body = _request(
            config.public_url + "/nobody/", "POST", {**JSON, "Authorization": _basic(pw)}, CALL
        )
        assert (status, _assert_rpc_error(status, headers, body)) == (404, -32004)

        status, headers, body = _request(dead, "POST", {**JSON, "Authorization": _basic(pw)}, CALL)
        assert (status, _assert_rpc_error(status, headers, body)) == (502, -32052)
        assert b"not answering" in body

        status, raw = _too_large(url, pw)
        assert status == 413
        assert b"Content-Type: application/json" in raw
        assert json.loads(raw.split(b"\r\n\r\n", 1)[1])["error"]["code"] == -32013

        status, headers, body = _request(url, "POST", {**JSON, "Authorization": _basic(pw)}, CALL)
        assert status == 200
        assert json.loads(body)["result"] == "0x7a69"  # the node still works
        # only the 200: nginx's own 401/413 are not billed
        assert _served(front, "json-node", 1) == 1
    finally:
        await front.remove_instance("dead-node")
        await front.remove_instance("json-node")


def _too_large(url: str, password: str) -> tuple[int, bytes]:
    """Announce a 17 MiB body (limit 16 MiB) and read nginx's answer before sending it."""
    hostport, path = url.split("://", 1)[1].split("/", 1)
    host, port = hostport.split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        head = (
            f"POST /{path} HTTP/1.1\r\nHost: {hostport}\r\nContent-Type: application/json\r\n"
            f"Authorization: {_basic(password)}\r\nContent-Length: {17 << 20}\r\n\r\n"
        )
        sock.sendall(head.encode())
        raw = b""
        while b"\r\n\r\n" not in raw or not raw.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            raw += chunk
    return int(raw.split(b" ", 2)[1]), raw


async def test_cors_preflight_without_credentials_any_origin(
    config: RuntimeConfig,
    anvils: list[int],
) -> None:
    front = NginxFront(config)
    pw = new_password()
    url = await front.add_instance("cors-any", anvils[0], USER, pw)
    try:
        preflight = {
            "Origin": FOREIGN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        }
        status, headers, body = _request(url, "OPTIONS", preflight)
        assert status == 204, body
        assert headers["Access-Control-Allow-Origin"] == "*"
        methods = {m.strip() for m in headers["Access-Control-Allow-Methods"].split(",")}
        assert {"POST", "GET", "OPTIONS"} <= methods
        allowed = {h.strip().lower() for h in headers["Access-Control-Allow-Headers"].split(",")}
        assert {"authorization", "content-type"} <= allowed

        # the actual request still needs the credentials; its 401 is readable by the page
        status, headers, body = _request(url, "POST", {**JSON, "Origin": FOREIGN}, CALL)
        assert status == 401
        assert headers["Access-Control-Allow-Origin"] == "*"
        assert _assert_rpc_error(status, headers, body) == -32001

        status, headers, body = _request(
            url, "POST", {**JSON, "Origin": FOREIGN, "Authorization": _basic(pw)}, CALL
        )
        assert status == 200
        assert json.loads(body)["result"] == "0x7a69"
        assert headers["Access-Control-Allow-Origin"] == "*"
        assert headers["Access-Control-Allow-Methods"] is None  # preflight-only headers
        assert _served(front, "cors-any", 1) == 1  # the preflight is not billed
    finally:
        await front.remove_instance("cors-any")


async def test_cors_restricted_to_the_renters_origins(
    config: RuntimeConfig,
    anvils: list[int],
) -> None:
    front = NginxFront(config)
    pw = new_password()
    mine = "https://my-dapp.example:8443"
    url = await front.add_instance("cors-list", anvils[0], USER, pw, allow_origins=[mine])
    try:
        auth = {**JSON, "Authorization": _basic(pw)}
        status, headers, _ = _request(url, "OPTIONS", {"Origin": mine})
        assert status == 204
        assert headers["Access-Control-Allow-Origin"] == mine
        assert "Origin" in headers["Vary"]
        status, headers, _ = _request(url, "POST", {**auth, "Origin": mine}, CALL)
        assert (status, headers["Access-Control-Allow-Origin"]) == (200, mine)

        status, headers, _ = _request(url, "OPTIONS", {"Origin": FOREIGN})
        assert status == 204
        assert headers["Access-Control-Allow-Origin"] is None
        status, headers, _ = _request(url, "POST", {**auth, "Origin": FOREIGN}, CALL)
        assert status == 200
        assert headers["Access-Control-Allow-Origin"] is None
        status, headers, body = _request(url, "POST", {**JSON, "Origin": mine}, CALL)
        assert status == 401
        assert headers["Access-Control-Allow-Origin"] == mine
        assert _assert_rpc_error(status, headers, body) == -32001
    finally:
        await front.remove_instance("cors-list")


@pytest.mark.parametrize(
    "bad",
    ["https://a.example/path", "javascript:alert(1)", "https://a.example; return 200", "", [], 5],
)
async def test_bad_origins_are_refused_before_any_file(config: RuntimeConfig, bad: object) -> None:
    front = NginxFront(config)
    with pytest.raises(ValueError, match="origin"):
        await front.add_instance("bad-origin", 8545, USER, new_password(), allow_origins=[bad])  # type: ignore[list-item]
    assert not front.layout.location_file("bad-origin").exists()


async def test_large_json_answers_are_gzipped_when_the_client_asks(
    config: RuntimeConfig,
    anvils: list[int],
) -> None:
    direct = f"http://127.0.0.1:{anvils[0]}/"
    address = await asyncio.to_thread(log_emitter.fill_logs, direct, 400)
    front = NginxFront(config)
    pw = new_password()
    url = await front.add_instance("gzip-node", anvils[0], USER, pw)
    try:
        auth = {**JSON, "Authorization": _basic(pw)}
        logs = log_emitter.get_logs_request(address)
        status, headers, plain = _request(url, "POST", auth, logs)
        assert status == 200
        assert headers["Content-Encoding"] is None  # the client did not ask
        assert len(json.loads(plain)["result"]) == 400

        status, headers, packed = _request(url, "POST", {**auth, "Accept-Encoding": "gzip"}, logs)
        assert status == 200
        assert headers["Content-Encoding"] == "gzip"
        assert "Accept-Encoding" in (headers["Vary"] or "")
        assert gzip.decompress(packed) == plain
        assert len(packed) * 2 < len(plain)  # JSON-RPC answers (hex, repeated keys) shrink

        # small answers stay as they are (below the threshold the header costs more)
        status, headers, small = _request(url, "POST", {**auth, "Accept-Encoding": "gzip"}, CALL)
        assert status == 200
        assert headers["Content-Encoding"] is None
        assert json.loads(small)["result"] == "0x7a69"
        assert len(plain) > GZIP_MIN_LENGTH > len(small)
    finally:
        await front.remove_instance("gzip-node")


async def test_blocking_client_reads_the_json_errors(
    config: RuntimeConfig,
    anvils: list[int],
) -> None:
    """`erigolem rpc`'s client: results, nginx's JSON errors in plain words, transport errors."""
    front = NginxFront(config)
    pw = new_password()
    url = await front.add_instance("blocking-node", anvils[0], USER, pw)
    dead = await front.add_instance("blocking-dead", free_port(), USER, pw)
    try:
        with BlockingJsonRpcClient(url, USER, pw) as client:
            assert client.call("eth_chainId").result == "0x7a69"
            batch = client.batch([("eth_chainId", []), ("nope_nothing", [])])
            assert batch[0].result == "0x7a69"
            assert batch[1].error is not None
        with BlockingJsonRpcClient(url, USER, "x" * 24) as client, pytest.raises(RpcAuthError):
            client.call("eth_chainId")
        with BlockingJsonRpcClient(dead, USER, pw) as client:
            error = client.call("eth_chainId").error
            assert error is not None
            assert error["code"] == -32052
            assert "not answering" in error["message"]
        gone = f"http://127.0.0.1:{free_port()}/x/"
        with BlockingJsonRpcClient(gone, USER, pw) as client, pytest.raises(RpcUnreachable):
            client.call("eth_chainId")
    finally:
        await front.remove_instance("blocking-dead")
        await front.remove_instance("blocking-node")

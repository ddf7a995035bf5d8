"""WebSocket through nginx: `ws_url` in the start output, `eth_subscribe newHeads` with credentials.

Real runtime (NodeService in-process), real nginx, real anvil; the WebSocket client is the
`websockets` library from the dev dependencies (what a Python dapp would use).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import websockets
from websockets.exceptions import InvalidStatus
from websockets.typing import Origin

from erigolem_desktop.core.snippets import snippet
from tests.integration import test_runtime_node as node_tests
from tests.support.binaries import REPO

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120), pytest.mark.asyncio]

env = node_tests.env  # the real runtime + nginx + anvil fixture
Env = node_tests.Env


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


async def _call(
    ws: Any, rid: int, method: str, params: list[Any], notes: list[Any] | None = None
) -> Any:
    """Send one call and return its result; notifications arriving meanwhile go to `notes`."""
    await ws.send(json.dumps({"jsonrpc": "2.0", "id": rid, "method": method, "params": params}))
    while True:
        msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if msg.get("id") == rid:
            assert "error" not in msg, msg
            return msg["result"]
        if notes is not None:
            notes.append(msg)


async def test_eth_subscribe_new_heads_through_nginx(env: Env) -> None:
    svc = env.service()
    out = await svc.start(
        [json.dumps({**node_tests.ANVIL, "allow_origins": ["https://d.example"]})]
    )
    ws_url = out["ws_url"]
    assert ws_url == "ws://" + out["url"].removeprefix("http://")
    user, password = node_tests.creds(out)

    with pytest.raises(InvalidStatus) as refused:  # no credentials: the handshake gets 401
        async with websockets.connect(ws_url):
            pass
    assert refused.value.response.status_code == 401

    async with websockets.connect(
        ws_url, additional_headers=_basic(user, password), origin=Origin("https://d.example")
    ) as ws:
        sub = await _call(ws, 1, "eth_subscribe", ["newHeads"])
        assert isinstance(sub, str)
        notes: list[Any] = []
        for rid in (2, 3):
            await _call(ws, rid, "evm_mine", [], notes)
        while len(notes) < 2:
            notes.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
        for msg in notes:
            assert msg["method"] == "eth_subscription"
            assert msg["params"]["subscription"] == sub
        assert [int(m["params"]["result"]["number"], 16) for m in notes] == [1, 2]
        assert await _call(ws, 4, "eth_unsubscribe", [sub]) is True

    # the same credentials in the URL work too (how most WebSocket libraries take them)
    with_userinfo = ws_url.replace("ws://", f"ws://{user}:{password}@")
    async with websockets.connect(with_userinfo) as ws:
        assert await _call(ws, 1, "eth_chainId", []) == "0x7a69"

    status = json.loads((await svc.run(["status"])).stdout)
    assert status["ws_url"] == ws_url


async def test_the_snippets_run_as_written(env: Env, tmp_path: Path) -> None:
    """web3.py (HTTP), ethers.js (a CommonJS .js file) and the web3.py subscription snippet,
    each run unchanged in a fresh process."""
    svc = env.service()
    out = await svc.start([json.dumps(node_tests.ANVIL)])
    user, password = node_tests.creds(out)

    http_snippet = snippet("web3.py", out["url"], user, password)
    done = await asyncio.to_thread(_python, http_snippet, 60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0"

    # the form the snippet warns about: custom headers replace web3's Content-Type
    broken = http_snippet.replace(
        f"request_kwargs={{'auth': ({user!r}, {password!r})}}",
        f"request_kwargs={{'headers': {_basic(user, password)!r}}}",
    )
    assert broken != http_snippet
    assert (await asyncio.to_thread(_python, broken, 60)).returncode != 0

    # ethers.js (CommonJS) as a .js file in a default Node project, run by node
    ethers_js = tmp_path / "project" / "snippet.js"
    ethers_js.parent.mkdir()
    ethers_js.write_text(snippet("ethers.js", out["url"], user, password))
    done = await asyncio.to_thread(
        subprocess.run,
        ["node", str(ethers_js)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "NODE_PATH": str(REPO / "node_modules")},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0"

    code = snippet("subscribe", out["url"], user, password, out["ws_url"])
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        line = b""
        for _ in range(100):  # mine until the subscriber has printed a head
            assert (await node_tests.rpc(out["url"], (user, password), "evm_mine"))[0] == 200
            with contextlib.suppress(TimeoutError):
                assert proc.stdout is not None
                line = await asyncio.wait_for(proc.stdout.readline(), 0.3)
            if line or proc.returncode is not None:
                break
        assert line.startswith(b"block "), (line, await _stderr(proc))
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


async def _stderr(proc: asyncio.subprocess.Process) -> bytes:
    if proc.returncode is None:
        proc.kill()
    assert proc.stderr is not None
    return await proc.stderr.read()


def _python(code: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, check=False
    )

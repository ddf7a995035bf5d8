"""`erigolem serve` and warm nodes (issue 12 item 9): `params.warm` over real HTTP, refused
unless Golem + Erigon (as `node start --warm`), and the instance reports the mode.

The Golem backend is the real GolemBackend with a yagna URL nobody listens on: the node record
(and so the mode) exists at once; its start then fails, which is not what is tested here.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web

from erigolem_desktop.core.backends.golem.backend import GolemBackend
from erigolem_desktop.core.backends.golem.config import GolemConfig
from erigolem_desktop.core.backends.local import LocalBackend
from erigolem_desktop.core.manager import NodeManager
from erigolem_desktop.core.records import NodeStore
from erigolem_desktop.core.secrets import SecretStore
from erigolem_desktop.server import instances
from erigolem_desktop.server.app import create_app
from erigolem_desktop.server.auth import SiweAuth
from erigolem_desktop.server.routes import ServerOptions
from tests.integration.test_server import Api, Clock, Wallet


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest_asyncio.fixture
async def api(erigolem_home: Path, memory_keyring: Any) -> AsyncIterator[Api]:
    """A server with the Local and a (yagna-less) Golem backend, on 127.0.0.1."""
    sock = socket.create_server(("127.0.0.1", 0))
    domain = f"127.0.0.1:{sock.getsockname()[1]}"
    golem = GolemBackend(GolemConfig(api_url=f"http://127.0.0.1:{_closed_port()}", app_key="k"))
    manager = NodeManager(
        NodeStore(),
        {"local": LocalBackend(erigolem_home), "golem": golem},
        SecretStore(choose_backend=False),
        poll_interval=0.2,
    )
    clock = Clock()
    authority = SiweAuth(domains=[domain], clock=clock)
    app = create_app(manager, domains=[domain], auth=authority, options=ServerOptions(stop_wait=5))
    runner = web.AppRunner(app)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    http = aiohttp.ClientSession()
    try:
        yield Api(f"http://{domain}", http, manager, clock)
    finally:
        await http.close()
        await asyncio.wait_for(runner.cleanup(), 30)


@pytest.mark.asyncio
async def test_warm_create_is_validated_and_the_mode_reported(api: Api) -> None:
    headers = await api.sign_in(Wallet())

    async def create(params: dict[str, Any]) -> tuple[int, Any]:
        got, body, _ = await api.call(
            "POST", "/createInstance", headers=headers, json={"params": params}
        )
        return got, body

    for params, expected in (
        ({"network": "dev", "backend": "golem", "warm": True}, "synced Erigon: it needs"),
        ({"network": "dev", "backend": "golem", "warm": True}, "client anvil"),
        ({"network": "mainnet", "backend": "local", "warm": True}, "got backend local"),
        ({"network": "mainnet", "backend": "golem", "warm": "yes"}, "should be true or false"),
    ):
        status, body = await create(params)
        assert status == 400, body
        assert expected in body["msg"]
    assert api.manager.list() == []  # refused before a record exists

    status, body = await create({"network": "mainnet", "backend": "golem", "warm": True})
    assert status == 201, body
    assert body["mode"] == "warm"
    assert body["init_params"]["warm"] is True
    rec = api.manager.get(body["id"])
    assert rec is not None
    assert rec.warm is True
    status, body = await create({"network": "mainnet", "backend": "golem"})
    assert status == 201, body
    assert body["mode"] == "private"
    got, listed, _ = await api.call("GET", "/getInstances", headers=headers)
    assert got == 200
    assert sorted(i["mode"] for i in listed) == ["private", "warm"]


def test_after_a_server_restart_init_params_still_say_warm() -> None:
    from erigolem_desktop.core.records import NodeRecord

    rec = NodeRecord(
        id="abc123def456", name="n", backend="golem", chain="mainnet", client="erigon", warm=True
    )
    assert instances.instance(rec, None)["init_params"] == {"network": "mainnet", "warm": True}

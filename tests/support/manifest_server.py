"""A real HTTP server (aiohttp on 127.0.0.1) serving an update manifest, and the test release key.

The key stands for the project's release key (whose private half is not in the repository)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest_asyncio
from aiohttp import web
from eth_account import Account

RELEASE_KEY = bytes.fromhex("11" * 32)
RELEASE_ADDR: str = Account.from_key(RELEASE_KEY).address

Serve = Callable[[bytes], str]


@pytest_asyncio.fixture
async def serve() -> AsyncIterator[Serve]:
    """A real HTTP server on 127.0.0.1 serving whatever bytes the test sets at /manifest.json."""
    body = [b""]

    async def handler(_request: web.Request) -> web.Response:
        return web.Response(body=body[0], content_type="application/json")

    app = web.Application()
    app.router.add_get("/manifest.json", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]

    def set_body(data: bytes) -> str:
        body[0] = data
        return f"http://127.0.0.1:{port}/manifest.json"

    yield set_body
    await runner.cleanup()

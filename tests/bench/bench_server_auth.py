"""REST server sign-in cost: an authenticated `GET /getInstances` against the unauthenticated
`GET /health` baseline, over real HTTP on 127.0.0.1, plus the SIWE check alone (first sight of
a session = signature recovery; later requests = cached).

Run: `python -m tests.bench.bench_server_auth [N]` (N requests per figure, default 300).
Uses a temporary ERIGOLEM_HOME, an in-memory keyring (real `keyring` API), the Local backend
(no node is started: the list is empty).
"""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import sys
import tempfile
import time
import urllib.parse

import keyring


async def _http_median(http: object, url: str, headers: dict[str, str], n: int) -> float:
    import aiohttp

    assert isinstance(http, aiohttp.ClientSession)
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        async with http.get(url, headers=headers) as resp:
            await resp.read()
            assert resp.status == 200, resp.status
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


async def run(n: int) -> None:
    import aiohttp
    from aiohttp import web
    from eth_account import Account
    from eth_account.messages import encode_defunct

    from erigolem_desktop.core.backends.local import LocalBackend
    from erigolem_desktop.core.manager import NodeManager
    from erigolem_desktop.core.records import NodeStore
    from erigolem_desktop.core.secrets import SecretStore
    from erigolem_desktop.server.app import create_app
    from erigolem_desktop.server.auth import SiweAuth
    from erigolem_desktop.server.ratelimit import unlimited

    sock = socket.create_server(("127.0.0.1", 0))
    domain = f"127.0.0.1:{sock.getsockname()[1]}"
    manager = NodeManager(NodeStore(), {"local": LocalBackend()}, SecretStore(choose_backend=False))
    auth = SiweAuth(domains=[domain], signin_limit=unlimited())  # the cost, not the limit
    runner = web.AppRunner(create_app(manager, domains=[domain], auth=auth), access_log=None)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    base = f"http://{domain}"
    acct = Account.create()
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/getMessage", params={"address": acct.address}) as resp:
                message = await resp.json()
            sig = Account.sign_message(encode_defunct(text=message), acct.key).signature
            headers = {
                "Authorization": f"Bearer {acct.address}",
                "Message": urllib.parse.quote(message, safe=""),
                "Signature": sig.to_0x_hex(),
            }
            health = await _http_median(http, f"{base}/health", {}, n)
            listing = await _http_median(http, f"{base}/getInstances", headers, n)
        # the check alone: first sight (recover the signer) vs cached
        texts = [auth.issue(domain, base + "/", acct.address) for _ in range(n)]
        signed = [
            (urllib.parse.quote(t, safe=""), Account.sign_message(encode_defunct(text=t), acct.key))
            for t in texts
        ]
        t0 = time.perf_counter()
        for enc, s in signed:
            auth.authenticate(f"Bearer {acct.address}", enc, s.signature.to_0x_hex())
        first = (time.perf_counter() - t0) / n
        t0 = time.perf_counter()
        for enc, s in signed:
            auth.authenticate(f"Bearer {acct.address}", enc, s.signature.to_0x_hex())
        cached = (time.perf_counter() - t0) / n
    finally:
        await runner.cleanup()
    print(f"GET /health (no auth, baseline):     {health * 1e3:7.3f} ms median")
    print(f"GET /getInstances (SIWE, cached):    {listing * 1e3:7.3f} ms median")
    print(f"  ratio to baseline:                 {listing / health:7.2f}x")
    print(f"SIWE check, first sight (ecrecover): {first * 1e3:7.3f} ms")
    print(f"SIWE check, cached session:          {cached * 1e3:7.3f} ms")
    print(f"  ratio first/cached:                {first / cached:7.1f}x")


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    from tests.support.memkeyring import MemoryKeyring

    with tempfile.TemporaryDirectory() as home:
        os.environ["ERIGOLEM_HOME"] = home
        keyring.set_keyring(MemoryKeyring())
        asyncio.run(run(n))
    return 0


if __name__ == "__main__":
    sys.exit(main())

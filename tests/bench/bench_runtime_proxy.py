"""Benchmark: JSON-RPC through the runtime's nginx front vs straight to anvil.

Run: ``.venv/bin/python -m tests.bench.bench_runtime_proxy [--requests N] [--seconds S]``

Prints the median latency of sequential keep-alive ``eth_blockNumber`` calls (nginx with basic
auth vs direct), and the throughput of 16 concurrent keep-alive clients, both as ratios measured
in the same run. Targets: latency ratio <= 1.3, throughput ratio >= 0.8.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import dataclasses
import json
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
from erigolem_runtime.config import RuntimeConfig, load_config, save_config
from erigolem_runtime.instance import NodeService
from erigolem_runtime.nginx import stop_private_nginx

from tests.support.runtime_env import make_local_config

BODY = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []})
ANVIL_START = json.dumps({"chain": "dev", "client": "anvil"})


def auth_header(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}", "Content-Type": "application/json"}


def bench_config(directory: Path, **changes: Any) -> tuple[RuntimeConfig, Path]:
    """A local runtime config (private nginx, free port range) under ``directory``."""
    path = make_local_config(directory)
    config = dataclasses.replace(load_config(path), **changes)
    save_config(config, path)
    return load_config(path), path


@asynccontextmanager
async def one_instance(
    directory: Path, hash_scheme: str | None = None
) -> AsyncIterator[tuple[NodeService, dict[str, Any]]]:
    config, path = bench_config(directory)
    if hash_scheme is not None:
        nginx = dataclasses.replace(config.nginx, hash_scheme=hash_scheme)
        save_config(dataclasses.replace(config, nginx=nginx), path)
        config = load_config(path)
    svc = NodeService(config, directory / "work")
    try:
        out = await svc.start([ANVIL_START])
        yield svc, out
    finally:
        await svc.shutdown()
        if config.nginx.prefix is not None:
            stop_private_nginx(config.nginx.prefix)


async def sequential(
    session: aiohttp.ClientSession, url: str, headers: dict[str, str], n: int
) -> list[float]:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        async with session.post(url, data=BODY, headers=headers) as resp:
            await resp.read()
            assert resp.status == 200, resp.status
        times.append(time.perf_counter() - t0)
    return times


async def throughput(url: str, headers: dict[str, str], clients: int, seconds: float) -> float:
    conn = aiohttp.TCPConnector(limit=clients, force_close=False)
    async with aiohttp.ClientSession(connector=conn) as session:
        stop = time.perf_counter() + seconds
        counts = [0] * clients

        async def worker(i: int) -> None:
            while time.perf_counter() < stop:
                async with session.post(url, data=BODY, headers=headers) as resp:
                    await resp.read()
                    assert resp.status == 200, resp.status
                counts[i] += 1

        t0 = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(clients)))
        return sum(counts) / (time.perf_counter() - t0)


async def main(requests: int, seconds: float, schemes: list[str]) -> None:
    for scheme in schemes:
        print(f"=== nginx auth_basic hash scheme: {scheme}")
        await measure(requests, seconds, scheme)


async def measure(requests: int, seconds: float, scheme: str) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-proxy-") as tmp:
        async with one_instance(Path(tmp), scheme) as (svc, out):
            assert svc._rpc_port is not None
            direct = f"http://127.0.0.1:{svc._rpc_port}/"
            proxied = out["url"]
            h_proxy = auth_header(out["auth"]["user"], out["auth"]["password"])
            h_direct = {"Content-Type": "application/json"}
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as s:
                await sequential(s, direct, h_direct, 50)  # warm-up
                await sequential(s, proxied, h_proxy, 50)
                med_d = statistics.median(await sequential(s, direct, h_direct, requests))
                med_p = statistics.median(await sequential(s, proxied, h_proxy, requests))
            rps_d = await throughput(direct, h_direct, 16, seconds)
            rps_p = await throughput(proxied, h_proxy, 16, seconds)
            served = svc.counters()
    print(f"sequential keep-alive eth_blockNumber, {requests} requests each")
    print(f"  median direct to anvil : {med_d * 1e3:8.3f} ms")
    print(f"  median through nginx   : {med_p * 1e3:8.3f} ms")
    print(f"  latency ratio          : {med_p / med_d:8.3f}   (target <= 1.3)")
    print(f"16 concurrent keep-alive clients, {seconds:g} s each")
    print(f"  direct to anvil        : {rps_d:8.0f} req/s")
    print(f"  through nginx          : {rps_p:8.0f} req/s")
    print(f"  throughput ratio       : {rps_p / rps_d:8.3f}   (target >= 0.8)")
    print(f"requests counted by the runtime: {served['golem.usage.erigon.requests']:.0f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument(
        "--scheme", action="append", choices=["apr1", "ssha"], help="default: both, in turn"
    )
    ns = parser.parse_args()
    asyncio.run(main(ns.requests, ns.seconds, ns.scheme or ["apr1", "ssha"]))

"""Benchmark: 20 instances on one host, each its own `erigolem-runtime` process (as on a provider).

Run: ``.venv/bin/python -m tests.bench.bench_runtime_scale [--instances N]``

Starts N runtimes (anvil dev chain) one after the other through ``RuntimeClient``, then checks
every instance answers with its own credentials and refuses every other instance's, and reads
each runtime process's RSS from /proc. Targets: the Nth start within 1.5x the 1st; runtime RSS
per instance <= 60 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from erigolem_runtime.api.client import RuntimeClient, RuntimeClientError
from erigolem_runtime.config import load_config, save_config
from erigolem_runtime.nginx import stop_private_nginx

from tests.bench.bench_runtime_proxy import BODY, auth_header, bench_config


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


async def status_code(session: aiohttp.ClientSession, url: str, out: dict[str, Any]) -> int:
    headers = auth_header(out["auth"]["user"], out["auth"]["password"])
    async with session.post(url, data=BODY, headers=headers) as resp:
        await resp.read()
        return resp.status


async def main(n: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    config, path = bench_config(tmp / "cfg")
    config = dataclasses.replace(config, max_instances=max(n, config.max_instances))
    save_config(config, path)
    clients: list[RuntimeClient] = []
    outs: list[dict[str, Any]] = []
    times: list[float] = []
    try:
        for i in range(n):
            client = RuntimeClient(tmp / f"w{i}", config_path=path)
            clients.append(client)
            t0 = time.perf_counter()
            await client.deploy()
            outs.append(await client.start({"chain": "dev", "client": "anvil"}))
            times.append(time.perf_counter() - t0)
        await asyncio.sleep(0.5)  # let the last reload's old workers go
        own_ok = 0
        foreign_refused = 0
        foreign_total = 0
        async with aiohttp.ClientSession() as session:
            for i, out in enumerate(outs):
                own_ok += await status_code(session, out["url"], out) == 200
                for j in (i - 1, (i + 1) % n):  # neighbours' credentials on this URL
                    if j == i or j < 0:
                        continue
                    foreign_total += 1
                    foreign_refused += await status_code(session, out["url"], outs[j]) == 401
        rss = [rss_mb(c.pid) for c in clients if c.pid is not None]
    finally:
        for client in clients:
            with contextlib.suppress(RuntimeClientError):
                await client.shutdown()
        cfg = load_config(path)
        if cfg.nginx.prefix is not None:
            stop_private_nginx(cfg.nginx.prefix)
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{n} instances, each its own runtime process + anvil, one nginx")
    print(f"  reachable with own credentials   : {own_ok}/{n}")
    print(f"  neighbour credentials refused    : {foreign_refused}/{foreign_total}")
    print(f"  start time 1st                   : {times[0] * 1e3:7.1f} ms")
    print(f"  start time {n}th                  : {times[-1] * 1e3:7.1f} ms")
    print(f"  ratio {n}th / 1st                 : {times[-1] / times[0]:7.2f}   (target <= 1.5)")
    print(f"  median start                     : {statistics.median(times) * 1e3:7.1f} ms")
    print(f"  runtime RSS per instance, median : {statistics.median(rss):7.1f} MB (target <= 60)")
    print(f"  runtime RSS per instance, max    : {max(rss):7.1f} MB")
    print("  start times (ms):", [round(t * 1e3) for t in times])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=20)
    asyncio.run(main(parser.parse_args().instances))

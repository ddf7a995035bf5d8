"""Benchmark: start latency of an instance, as exe-unit sees it, minus anvil's own start.

Run: ``.venv/bin/python -m tests.bench.bench_runtime_start [--runs N]``

Each run spawns ``erigolem-runtime`` through ``RuntimeClient`` (deploy, then start
``{"chain": "dev", "client": "anvil"}``) and polls the returned URL until the first 200 through
nginx. Anvil's own start (spawn until its first JSON-RPC answer) is measured in the same run and
subtracted. "cold" runs also start the private nginx master; "warm" runs have another instance
keeping the master up (the provider case: nginx already running). Target: overhead <= 1.0 s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp
from erigolem_runtime.api.client import RuntimeClient
from erigolem_runtime.config import load_config
from erigolem_runtime.nginx import stop_private_nginx

from tests.bench.bench_runtime_proxy import BODY, auth_header, bench_config
from tests.support.binaries import anvil_path, free_port


async def anvil_own_start(anvil: Path) -> float:
    """Seconds from spawning anvil until it answers eth_blockNumber."""
    port = free_port()
    t0 = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        str(anvil),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        async with aiohttp.ClientSession() as session:
            while True:
                try:
                    async with session.post(
                        f"http://127.0.0.1:{port}/",
                        data=BODY,
                        headers={"Content-Type": "application/json"},
                    ) as resp:
                        if resp.status == 200:
                            return time.perf_counter() - t0
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.005)
    finally:
        proc.terminate()
        await proc.wait()


async def first_200(url: str, headers: dict[str, str], t0: float) -> float:
    async with aiohttp.ClientSession() as session:
        while True:
            with contextlib.suppress(aiohttp.ClientError):
                async with session.post(url, data=BODY, headers=headers) as resp:
                    if resp.status == 200:
                        return time.perf_counter() - t0
            await asyncio.sleep(0.005)


async def one_start(workdir: Path, config_path: Path) -> tuple[float, float]:
    """(seconds until the start output, seconds until the first 200 through nginx)."""
    t0 = time.perf_counter()
    client = RuntimeClient(workdir, config_path=config_path)
    try:
        await client.deploy()
        out = await client.start({"chain": "dev", "client": "anvil"})
        started = time.perf_counter() - t0
        ok = await first_200(
            out["url"], auth_header(out["auth"]["user"], out["auth"]["password"]), t0
        )
    finally:
        await client.shutdown()
    return started, ok


async def main(runs: int) -> None:
    anvil = anvil_path()
    if anvil is None:
        raise SystemExit("anvil not found: run scripts/bootstrap")
    tmp = Path(tempfile.mkdtemp(prefix="bench-start-"))
    _, path = bench_config(tmp / "cfg")
    try:
        anvil_times = [await anvil_own_start(anvil) for _ in range(runs)]
        cold = [await one_start(tmp / f"cold-{i}", path) for i in range(runs)]
        keeper = RuntimeClient(tmp / "keeper", config_path=path)
        await keeper.deploy()
        await keeper.start({"chain": "dev", "client": "anvil"})
        try:
            warm = [await one_start(tmp / f"warm-{i}", path) for i in range(runs)]
        finally:
            await keeper.shutdown()
    finally:
        cfg = load_config(path)
        if cfg.nginx.prefix is not None:
            stop_private_nginx(cfg.nginx.prefix)
        shutil.rmtree(tmp, ignore_errors=True)
    a = statistics.median(anvil_times)
    print(f"anvil's own start (spawn -> first answer), median of {runs}: {a * 1e3:7.1f} ms")
    for name, rows in (
        ("cold (nginx master started too)", cold),
        ("warm (nginx already up)", warm),
    ):
        started = statistics.median(r[0] for r in rows)
        ok = statistics.median(r[1] for r in rows)
        print(f"{name}:")
        print(f"  deploy+start -> start output : {started * 1e3:7.1f} ms")
        print(f"  deploy+start -> first 200    : {ok * 1e3:7.1f} ms")
        print(f"  overhead (minus anvil start) : {(ok - a) * 1e3:7.1f} ms   (target <= 1000 ms)")
    print("runs (start output ms, first 200 ms):", json.dumps(
        {"cold": [[round(x * 1e3) for x in r] for r in cold], "warm": [[round(x * 1e3) for x in r] for r in warm]}
    ))  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    asyncio.run(main(parser.parse_args().runs))

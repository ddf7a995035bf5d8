"""Benchmark: JSON-RPC through the runtime's nginx front vs straight to anvil.

Run: ``.venv/bin/python -m tests.bench.bench_runtime_proxy [--requests N] [--seconds S]
[--rounds R] [--client auto|wrk|aiohttp] [--scheme ssha|apr1 ...]``

Latency: median of sequential keep-alive ``eth_blockNumber`` calls from one aiohttp client,
direct and through nginx (basic auth) on their own kept-alive connections, measured in
alternating blocks so that load from other processes hits both sides alike.
With wrk installed, the same is also measured with wrk on one connection: a client whose own
overhead (~0.02 ms instead of aiohttp's ~0.2 ms) does not dilute nginx's share.
Throughput: 16 concurrent keep-alive connections, direct and proxied in alternating rounds
(median of the rounds). The load generator is ``wrk`` when installed (``apt-get install wrk``):
a Python client saturates a core at ~10k req/s, before anvil or nginx do, so its ratio would
measure the client. Without wrk the bench falls back to aiohttp and says so.
The CPU used per request by the client, nginx's workers and anvil is printed too, which shows
what bounds each figure on a small machine. Targets: latency ratio <= 1.3, throughput >= 0.8.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import dataclasses
import json
import os
import re
import shutil
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
from erigolem_runtime.api.process import children
from erigolem_runtime.config import (
    DEFAULT_HASH_SCHEME,
    HASH_SCHEMES,
    RuntimeConfig,
    load_config,
    save_config,
)
from erigolem_runtime.instance import NodeService
from erigolem_runtime.nginx import stop_private_nginx

from tests.support.runtime_env import make_local_config

BODY = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []})
ANVIL_START = json.dumps({"chain": "dev", "client": "anvil"})
CLIENTS = 16
TICK = os.sysconf("SC_CLK_TCK")


def auth_header(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}", "Content-Type": "application/json"}


def bench_config(directory: Path, hash_scheme: str | None = None) -> tuple[RuntimeConfig, Path]:
    """A local runtime config (private nginx, free port range) under `directory`, and its path."""
    path = make_local_config(directory)
    config = load_config(path)
    if hash_scheme is not None:
        nginx = dataclasses.replace(config.nginx, hash_scheme=hash_scheme)
        save_config(dataclasses.replace(config, nginx=nginx), path)
        config = load_config(path)
    return config, path


@asynccontextmanager
async def one_instance(
    directory: Path, hash_scheme: str
) -> AsyncIterator[tuple[NodeService, dict[str, Any]]]:
    """A dev-chain instance behind a private nginx master, under a local config in `directory`."""
    config, _ = bench_config(directory, hash_scheme=hash_scheme)
    svc = NodeService(config, directory / "work")
    try:
        out = await svc.start([ANVIL_START])
        yield svc, out
    finally:
        await svc.shutdown()
        if config.nginx.prefix is not None:
            stop_private_nginx(config.nginx.prefix)


# --------------------------------------------------------------------------- CPU accounting


def _cpu_seconds(pid: int) -> float:
    """utime + stime of one process, in seconds (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def _client_cpu() -> float:
    """CPU seconds of this process plus its finished children (wrk)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


@dataclasses.dataclass
class Sample:
    """One throughput round: requests per second and CPU seconds spent per 1000 requests."""

    rps: float
    cpu_per_k: dict[str, float]


async def with_cpu(
    pids: dict[str, list[int]], run: Callable[[], Awaitable[tuple[int, float]]]
) -> Sample:
    """Run one load round; CPU per 1000 requests of the client and of each named process group."""
    before = {name: sum(_cpu_seconds(p) for p in ps) for name, ps in pids.items()}
    client0 = _client_cpu()
    done, elapsed = await run()
    cpu = {"client": _client_cpu() - client0}
    for name, ps in pids.items():
        cpu[name] = sum(_cpu_seconds(p) for p in ps) - before[name]
    per_k = {k: v * 1000 / max(done, 1) for k, v in cpu.items()}
    return Sample(done / elapsed, per_k)


# --------------------------------------------------------------------------- load


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


async def latencies(
    direct: tuple[str, dict[str, str]], proxied: tuple[str, dict[str, str]], n: int, block: int
) -> tuple[list[float], list[float]]:
    """Sequential latencies, direct and proxied in alternating blocks, one connection each."""
    out: tuple[list[float], list[float]] = ([], [])
    sessions = [aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) for _ in range(2)]
    try:
        targets = list(zip(sessions, (direct, proxied), out, strict=True))
        for session, (url, headers), _ in targets:
            await sequential(session, url, headers, 200)  # warm-up: connection, JIT-free caches
        while len(out[1]) < n:
            for session, (url, headers), times in targets:
                times.extend(await sequential(session, url, headers, min(block, n - len(times))))
    finally:
        for s in sessions:
            await s.close()
    return out


async def aiohttp_load(url: str, headers: dict[str, str], seconds: float) -> tuple[int, float]:
    """CLIENTS keep-alive aiohttp workers for `seconds`; (requests done, elapsed)."""
    conn = aiohttp.TCPConnector(limit=CLIENTS, force_close=False)
    async with aiohttp.ClientSession(connector=conn) as session:
        stop = time.perf_counter() + seconds
        counts = [0] * CLIENTS

        async def worker(i: int) -> None:
            while time.perf_counter() < stop:
                async with session.post(url, data=BODY, headers=headers) as resp:
                    await resp.read()
                    assert resp.status == 200, resp.status
                counts[i] += 1

        t0 = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(CLIENTS)))
        return sum(counts), time.perf_counter() - t0


def _lua(headers: dict[str, str]) -> str:
    lines = ['wrk.method = "POST"', f"wrk.body = {json.dumps(BODY)}"]
    lines += [f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()]
    return "\n".join(lines) + "\n"


async def _wrk(
    wrk: str, script_dir: Path, url: str, headers: dict[str, str], seconds: float, conns: int
) -> str:
    """wrk's report of `conns` keep-alive connections from one thread; fails on any error."""
    script = script_dir / "post.lua"  # in a 0700 temp dir: it holds the basic-auth header
    script.write_text(_lua(headers))
    proc = await asyncio.create_subprocess_exec(
        wrk,
        "-t1",
        f"-c{conns}",
        f"-d{seconds:g}s",
        "--latency",
        "-s",
        str(script),
        url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    raw, _ = await proc.communicate()
    text = raw.decode(errors="replace")
    if proc.returncode != 0 or "requests in" not in text:
        raise RuntimeError(f"wrk failed (exit {proc.returncode}): {text}")
    if "Non-2xx" in text or "Socket errors" in text:
        raise RuntimeError(f"wrk saw failed requests: {text}")
    return text


_UNIT = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


async def wrk_load(
    wrk: str, script_dir: Path, url: str, headers: dict[str, str], seconds: float
) -> tuple[int, float]:
    """CLIENTS keep-alive connections from one wrk thread; (requests done, seconds)."""
    text = await _wrk(wrk, script_dir, url, headers, seconds, CLIENTS)
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)\b", text)
    if m is None:
        raise RuntimeError(f"cannot read wrk's report: {text}")
    return int(m.group(1)), float(m.group(2)) * _UNIT[m.group(3)]


async def wrk_median_latency(
    wrk: str, script_dir: Path, url: str, headers: dict[str, str], seconds: float
) -> float:
    """Median latency (s) of one keep-alive connection, sequential requests, from wrk."""
    text = await _wrk(wrk, script_dir, url, headers, seconds, 1)
    m = re.search(r"^\s*50%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.MULTILINE)
    if m is None:
        raise RuntimeError(f"cannot read wrk's latency distribution: {text}")
    return float(m.group(1)) * _UNIT[m.group(2)]


# --------------------------------------------------------------------------- report


async def measure(requests: int, seconds: float, rounds: int, scheme: str, tool: str) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-proxy-") as tmp:
        async with one_instance(Path(tmp), scheme) as (svc, out):
            assert svc._rpc_port is not None
            assert svc._proc is not None
            assert svc._nginx is not None
            master = svc._nginx.master_pid()
            assert master is not None
            pids = {"nginx": children(master), "anvil": [svc._proc.pid]}
            direct = (f"http://127.0.0.1:{svc._rpc_port}/", {"Content-Type": "application/json"})
            proxied = (out["url"], auth_header(out["auth"]["user"], out["auth"]["password"]))
            lat_d, lat_p = await latencies(direct, proxied, requests, block=100)

            def round_(
                url: str, headers: dict[str, str]
            ) -> Callable[[], Awaitable[tuple[int, float]]]:
                if tool == "aiohttp":
                    return lambda: aiohttp_load(url, headers, seconds)
                return lambda: wrk_load(tool, Path(tmp), url, headers, seconds)

            samples: tuple[list[Sample], list[Sample]] = ([], [])
            lean: tuple[list[float], list[float]] = ([], [])
            for _ in range(rounds):
                for (url, headers), into in zip((direct, proxied), samples, strict=True):
                    into.append(await with_cpu(pids, round_(url, headers)))
                if tool != "aiohttp":
                    for (url, headers), times in zip((direct, proxied), lean, strict=True):
                        times.append(await wrk_median_latency(tool, Path(tmp), url, headers, 1))
            served = svc.counters()["golem.usage.erigon.requests"]
    med_d, med_p = statistics.median(lat_d), statistics.median(lat_p)
    rps_d = statistics.median(s.rps for s in samples[0])
    rps_p = statistics.median(s.rps for s in samples[1])
    print(f"sequential keep-alive eth_blockNumber (aiohttp), {requests} requests each")
    print(f"  median direct to anvil : {med_d * 1e3:8.3f} ms")
    print(f"  median through nginx   : {med_p * 1e3:8.3f} ms")
    print(f"  latency ratio          : {med_p / med_d:8.3f}   (target <= 1.3)")
    if lean[0]:
        lean_d, lean_p = statistics.median(lean[0]), statistics.median(lean[1])
        print(f"same, lean client (wrk, 1 connection; median of {rounds} x 1 s medians)")
        print(f"  direct {lean_d * 1e6:.0f} us, through nginx {lean_p * 1e6:.0f} us, ", end="")
        print(f"ratio {lean_p / lean_d:.3f}, nginx adds {(lean_p - lean_d) * 1e6:.0f} us")
    print(f"{CLIENTS} concurrent keep-alive connections ({tool}), {rounds} x {seconds:g} s each")
    print(f"  direct to anvil        : {rps_d:8.0f} req/s   {_ranges(samples[0])}")
    print(f"  through nginx          : {rps_p:8.0f} req/s   {_ranges(samples[1])}")
    print(f"  throughput ratio       : {rps_p / rps_d:8.3f}   (target >= 0.8)")
    for label, group in (("direct", samples[0]), ("proxied", samples[1])):
        keys = group[0].cpu_per_k
        cpu = {k: statistics.median(s.cpu_per_k[k] for s in group) for k in keys}
        parts = ", ".join(f"{k} {v * 1e3:.0f}" for k, v in cpu.items())
        print(f"  CPU ms per 1000 req, {label:7s}: {parts}")
    print(f"requests counted by the runtime: {served:.0f}")


def _ranges(samples: list[Sample]) -> str:
    values = sorted(s.rps for s in samples)
    return f"(rounds {values[0]:.0f}-{values[-1]:.0f})"


async def main(requests: int, seconds: float, rounds: int, schemes: list[str], tool: str) -> None:
    print(f"throughput load generator: {tool if tool == 'aiohttp' else 'wrk (' + tool + ')'}")
    for scheme in schemes:
        default = " (default)" if scheme == DEFAULT_HASH_SCHEME else ""
        print(f"=== nginx auth_basic hash scheme: {scheme}{default}")
        await measure(requests, seconds, rounds, scheme, tool)


def pick_tool(choice: str) -> str:
    """The wrk binary, or "aiohttp" (asked for, or wrk missing in auto mode)."""
    if choice == "aiohttp":
        return "aiohttp"
    wrk = shutil.which("wrk")
    if wrk is None:
        if choice == "wrk":
            raise SystemExit("wrk is not installed: apt-get install wrk, or use --client aiohttp")
        print("wrk not found (apt-get install wrk): falling back to the aiohttp client, whose")
        print("own CPU use may cap the throughput figures; see the CPU lines below")
        return "aiohttp"
    return wrk


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--client", choices=["auto", "wrk", "aiohttp"], default="auto")
    parser.add_argument(
        "--scheme", action="append", choices=HASH_SCHEMES, help="default: each, in turn"
    )
    ns = parser.parse_args()
    schemes = ns.scheme or sorted(HASH_SCHEMES, key=lambda s: s != DEFAULT_HASH_SCHEME)
    asyncio.run(main(ns.requests, ns.seconds, ns.rounds, schemes, pick_tool(ns.client)))

"""Benchmark: the local gateway vs calling a node's URL directly, verified reads, failover time.

Run: ``.venv/bin/python -m tests.bench.bench_gateway [--requests N] [--seconds S] [--rounds R]
[--only overhead|verify|looplag|failover]``

Two real dev nodes (erigolem-runtime's NodeService + a private nginx + anvil each, one genesis,
block 1 mined) back one gateway. The gateway runs in its own process (this file with
``--child``; routes and credentials come on its stdin, never on disk), as it does under
``erigolem gateway serve``, so the load generator does not share its loop or core.

- Overhead: sequential keep-alive ``eth_blockNumber`` from one aiohttp connection, to node-a's
  URL (nginx, basic auth) and to the gateway, in alternating blocks; the p50 difference is what
  the gateway adds (target <= +0.3 ms). Throughput: 16 concurrent keep-alive connections, direct
  and through the gateway in alternating rounds, median of the rounds (target >= 0.8x), with
  each round's ratio. Two gateways run: as shipped (raw HTTP front, "after") and with aiohttp
  serving the POSTs too ("before"), so both are measured against the same baseline in one run.
  CPU per 1000 requests of the client, the gateways, nginx and anvil shows what bounds each.
- Verified ``eth_getBalance``: two gateways (verify off / mark) over the same nodes; ms per call
  (p50) and upstream requests per call, counted by the runtimes (requests served through nginx),
  with health rounds paused so they do not count.
- Loop lag: the gateway on the bench's own loop (as in the app, which runs it on the GUI's
  loop) under 16 connections from another process; how late a 5 ms timer fires there.
- Failover: a client calls ``eth_blockNumber`` in a loop; node-a's anvil is SIGKILLed. Printed:
  the first call's latency after the kill, the worst in the next 3 s, failed calls, and when the
  gateway's status has node-a out. Then the same with the client hung (SIGSTOP) instead of dead:
  a node that accepts and never answers.
No figure is asserted: this prints, the suite does not run it.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
from erigolem_runtime.api.process import children
from erigolem_runtime.config import AnvilConfig
from erigolem_runtime.instance import NodeService
from erigolem_runtime.nginx import stop_private_nginx

from tests.bench.bench_runtime_proxy import (
    ANVIL_START,
    CLIENTS,
    Sample,
    aiohttp_load,
    auth_header,
    bench_config,
    latencies,
    with_cpu,
)
from tests.support.gateway_nodes import GENESIS_TIMESTAMP, mine_first_block

FUNDED = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"  # anvil's account #0
BLOCK_NUMBER = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []})
JSON_HEADERS = {"Content-Type": "application/json"}


@dataclasses.dataclass
class Node:
    """One running dev node: its service (for counters and pids) and its URL with credentials."""

    name: str
    svc: NodeService
    url: str
    user: str
    password: str
    prefix: Path | None

    @property
    def headers(self) -> dict[str, str]:
        return auth_header(self.user, self.password)

    @property
    def anvil_pid(self) -> int:
        assert self.svc._proc is not None
        return int(self.svc._proc.pid)

    def nginx_pids(self) -> list[int]:
        assert self.svc._nginx is not None
        master = self.svc._nginx.master_pid()
        return [] if master is None else children(master)

    def served(self) -> float:
        return float(self.svc.counters()["golem.usage.erigon.requests"])

    def upstream(self) -> dict[str, Any]:
        return {"name": self.name, "url": self.url, "user": self.user, "password": self.password}


@asynccontextmanager
async def dev_node(directory: Path, name: str) -> AsyncIterator[Node]:
    """A dev node with the shared genesis (see tests/support/gateway_nodes.py), block 1 mined."""
    config, _ = bench_config(directory / name)
    wrapper = directory / "anvil-same-genesis"
    if not wrapper.exists():
        wrapper.write_text(
            f'#!/bin/sh\nexec "{config.clients.anvil.binary}" --timestamp {GENESIS_TIMESTAMP} "$@"\n'
        )
        wrapper.chmod(0o755)
    clients = dataclasses.replace(config.clients, anvil=AnvilConfig(binary=str(wrapper)))
    config = dataclasses.replace(config, clients=clients)
    svc = NodeService(config, directory / name / "work")
    try:
        out = await svc.start([ANVIL_START])
        node = Node(
            name, svc, out["url"], out["auth"]["user"], out["auth"]["password"], config.nginx.prefix
        )
        await mine_first_block(node.url, node.user, node.password)
        yield node
    finally:
        await svc.shutdown()
        if config.nginx.prefix is not None:
            stop_private_nginx(config.nginx.prefix)


@dataclasses.dataclass
class Gateway:
    """A gateway child process and its dev-chain URL."""

    proc: asyncio.subprocess.Process
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/dev"

    async def status(self) -> dict[str, Any]:
        async with (
            aiohttp.ClientSession() as s,
            s.get(f"http://127.0.0.1:{self.port}/status") as resp,
        ):
            return dict(await resp.json())


@asynccontextmanager
async def gateway(
    nodes: list[Node], *, front: str = "raw", **policy: Any
) -> AsyncIterator[Gateway]:
    """Start `--child` with these nodes and policy settings; stop it (SIGTERM) afterwards.
    `front`: "raw" (the gateway as shipped) or "aiohttp" (aiohttp serving POSTs too: before)."""
    spec = {"upstreams": [n.upstream() for n in nodes], "policy": policy, "front": front}
    profile = os.environ.get("BENCH_GATEWAY_PROFILE")  # a path: cProfile the gateway into it
    prefix = ["-m", "cProfile", "-o", profile] if profile else []
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *prefix,
        "-m",
        "tests.bench.bench_gateway",
        "--child",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdin is not None
        assert proc.stdout is not None
        proc.stdin.write(json.dumps(spec).encode() + b"\n")
        await proc.stdin.drain()
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        if not line.strip().isdigit():
            raise RuntimeError(f"the gateway child did not start: {line!r}")
        yield Gateway(proc, int(line))
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def child() -> None:
    """The gateway process: routes and policy from one JSON line on stdin, the port on stdout."""
    from erigolem_desktop.core.gateway import (
        ChainRoute,
        GatewayPolicy,
        GatewayService,
        UpstreamSpec,
        VerifyMode,
    )

    spec = json.loads(sys.stdin.readline())
    policy = dict(spec["policy"])
    if "verify" in policy:
        policy["verify"] = VerifyMode(policy["verify"])
    route = ChainRoute("dev", tuple(UpstreamSpec(**u) for u in spec["upstreams"]))
    raw_front = spec.get("front", "raw") == "raw"
    service = GatewayService([route], GatewayPolicy(**policy), raw_front=raw_front)
    port = await service.start()
    print(port, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    try:
        await stop.wait()
    finally:
        await service.close()


# --------------------------------------------------------------------------- overhead


async def overhead(nodes: list[Node], requests: int, seconds: float, rounds: int) -> None:
    """Direct vs the gateway with its raw front (after) and with aiohttp serving POSTs (before),
    all from the same client in this process, in alternating blocks and rounds."""
    a = nodes[0]
    async with gateway(nodes) as gw, gateway(nodes, front="aiohttp") as gw_aio:
        direct = (a.url, a.headers)
        vias = {"raw front": (gw.url, JSON_HEADERS), "aiohttp": (gw_aio.url, JSON_HEADERS)}
        lat: dict[str, tuple[list[float], list[float]]] = {}
        for label, via in vias.items():
            lat[label] = await latencies(direct, via, requests, block=100)
        pids = {
            "gw raw": [gw.proc.pid],
            "gw aiohttp": [gw_aio.proc.pid],
            "nginx": [p for n in nodes for p in n.nginx_pids()],
            "anvil": [n.anvil_pid for n in nodes],
        }

        def load(url: str, headers: dict[str, str]) -> Callable[[], Awaitable[tuple[int, float]]]:
            return lambda: aiohttp_load(url, headers, seconds)

        targets = {"direct": direct, **vias}
        samples: dict[str, list[Sample]] = {k: [] for k in targets}
        for _ in range(rounds):
            for label, (url, headers) in targets.items():
                samples[label].append(await with_cpu(pids, load(url, headers)))
    print(f"== overhead: sequential keep-alive eth_blockNumber (aiohttp), {requests} each")
    for label, (lat_d, lat_g) in lat.items():
        p50_d, p50_g = statistics.median(lat_d), statistics.median(lat_g)
        print(
            f"  {label:9s}: node URL {p50_d * 1e3:.3f} ms, gateway {p50_g * 1e3:.3f} ms, "
            f"adds {(p50_g - p50_d) * 1e3:+.3f} ms   (target <= +0.3)"
        )
    print(f"== {CLIENTS} concurrent keep-alive connections (aiohttp), {rounds} x {seconds:g} s")
    rps = {k: statistics.median(s.rps for s in v) for k, v in samples.items()}
    print(f"  node URL               : {rps['direct']:8.0f} req/s")
    for label in vias:
        per_round = [g.rps / d.rps for g, d in zip(samples[label], samples["direct"], strict=True)]
        rounds_text = " ".join(f"{r:.2f}" for r in per_round)
        print(
            f"  gateway, {label:9s}    : {rps[label]:8.0f} req/s, ratio "
            f"{rps[label] / rps['direct']:.3f} (target >= 0.8; per round {rounds_text})"
        )
    for label, group in samples.items():
        keys = group[0].cpu_per_k
        cpu = {k: statistics.median(s.cpu_per_k[k] for s in group) for k in keys}
        parts = ", ".join(f"{k} {v * 1e3:.0f}" for k, v in cpu.items())
        print(f"  CPU ms per 1000 req, {label:9s}: {parts}")


# --------------------------------------------------------------------------- verified reads


async def balance_calls(url: str, n: int) -> tuple[list[float], dict[str, Any]]:
    """`n` sequential eth_getBalance calls; their latencies and the last reply."""
    body = json.dumps(
        {"jsonrpc": "2.0", "id": 1, "method": "eth_getBalance", "params": [FUNDED, "latest"]}
    )
    times: list[float] = []
    reply: dict[str, Any] = {}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as s:
        for _ in range(n):
            t0 = time.perf_counter()
            async with s.post(url, data=body, headers=JSON_HEADERS) as resp:
                reply = dict(await resp.json())
            times.append(time.perf_counter() - t0)
    return times, reply


async def verify_cost(nodes: list[Node], requests: int) -> None:
    n = max(50, requests // 4)
    quiet: dict[str, Any] = {"health_interval": 3600.0, "health_timeout": 5.0}
    rows: dict[str, tuple[float, float, dict[str, Any]]] = {}
    async with (
        gateway(nodes, verify="off", **quiet) as off,
        gateway(nodes, verify="mark", **quiet) as mark,
    ):
        for gw in (off, mark):
            await balance_calls(gw.url, 20)  # warm-up
        times: dict[str, list[float]] = {"off": [], "mark": []}
        counted: dict[str, float] = {"off": 0.0, "mark": 0.0}
        last: dict[str, dict[str, Any]] = {}
        for _ in range(4):  # alternating blocks, so background load hits both alike
            for label, gw in (("off", off), ("mark", mark)):
                before = sum(x.served() for x in nodes)
                ts, last[label] = await balance_calls(gw.url, n // 4)
                counted[label] += sum(x.served() for x in nodes) - before
                times[label].extend(ts)
        for label in ("off", "mark"):
            rows[label] = (
                statistics.median(times[label]) * 1e3,
                counted[label] / len(times[label]),
                last[label],
            )
    print(f"== verified eth_getBalance, {n} sequential calls each (2 nodes, agreement by asking)")
    for label in ("off", "mark"):
        p50, per_call, reply = rows[label]
        mark_text = reply.get("erigolem", {}).get("verified", "-")
        print(
            f"  verify={label:4s}: p50 {p50:7.3f} ms, upstream requests/call {per_call:5.2f}, "
            f"verified={mark_text}"
        )
    extra_ms = rows["mark"][0] - rows["off"][0]
    extra_req = rows["mark"][1] - rows["off"][1]
    print(
        f"  verification costs   : {extra_ms:+7.3f} ms and {extra_req:+.2f} upstream requests "
        f"per call (ratio {rows['mark'][0] / rows['off'][0]:.2f}x)"
    )


# --------------------------------------------------------------------------- failover


async def failover(nodes: list[Node], how: signal.Signals) -> None:
    a = nodes[0]
    async with gateway(nodes, health_interval=1.0, health_timeout=1.0) as gw:
        calls: list[tuple[float, float, bool, str]] = []  # (start, latency, ok, node)
        stop = asyncio.Event()

        async def client() -> None:
            async with aiohttp.ClientSession() as s:
                while not stop.is_set():
                    t0 = time.perf_counter()
                    ok = False
                    try:
                        async with s.post(
                            gw.url,
                            data=BLOCK_NUMBER,
                            headers=JSON_HEADERS,
                            timeout=aiohttp.ClientTimeout(total=60),
                        ) as resp:
                            ok = "result" in await resp.json()
                    except (aiohttp.ClientError, TimeoutError):
                        ok = False
                    calls.append((t0, time.perf_counter() - t0, ok, ""))
                    await asyncio.sleep(0.005)

        task = asyncio.create_task(client())
        await asyncio.sleep(1.0)
        killed_at = time.perf_counter()
        os.kill(a.anvil_pid, how)
        out_at: float | None = None
        while time.perf_counter() - killed_at < 40:
            status = await gw.status()
            node = next(x for x in status["chains"][0]["nodes"] if x["name"] == a.name)
            if not node["in"]:
                out_at = time.perf_counter()
                reason = node["reason"]
                break
            await asyncio.sleep(0.02)
        else:
            reason = "still in after 40 s"
        await asyncio.sleep(max(0.0, (out_at or time.perf_counter()) + 3.0 - time.perf_counter()))
        stop.set()
        await task
        if how is signal.SIGSTOP:
            os.kill(a.anvil_pid, signal.SIGCONT)
    after = [c for c in calls if c[0] + c[1] >= killed_at]
    first = after[0] if after else None
    failed = sum(1 for c in after if not c[2])
    worst = max((c[1] for c in after), default=0.0)
    before = [c[1] for c in calls if c[0] + c[1] < killed_at]
    what = "dead (SIGKILL)" if how is signal.SIGKILL else "hung (SIGSTOP)"
    print(f"== failover: node-a's anvil {what}, client calling eth_blockNumber in a loop")
    print(f"  p50 before the kill    : {statistics.median(before) * 1e3:8.3f} ms")
    if first is not None:
        print(f"  first call after       : {first[1] * 1e3:8.1f} ms (ok={first[2]})")
    print(f"  worst call after       : {worst * 1e3:8.1f} ms; failed calls: {failed}/{len(after)}")
    if out_at is not None:
        print(f"  node-a shown out after : {(out_at - killed_at) * 1e3:8.1f} ms ({reason})")
    else:
        print(f"  node-a: {reason}")


# --------------------------------------------------------------------------- loop lag


async def load_child(url: str, seconds: float) -> None:
    """`--load`: CLIENTS keep-alive connections on `url` for `seconds`; prints done, elapsed."""
    done, elapsed = await aiohttp_load(url, JSON_HEADERS, seconds)
    print(done, elapsed, flush=True)


async def loop_lag(nodes: list[Node], seconds: float) -> None:
    """The gateway on this process's loop, as the app runs it, under load from another
    process: how late a 5 ms timer fires on that loop (the GUI's budget is one 16 ms frame)."""
    from erigolem_desktop.core.gateway import ChainRoute, GatewayPolicy, GatewayService
    from erigolem_desktop.core.gateway import UpstreamSpec as Spec

    route = ChainRoute("dev", tuple(Spec(**n.upstream()) for n in nodes))
    service = GatewayService([route], GatewayPolicy())
    port = await service.start()
    lags: list[float] = []
    stop = asyncio.Event()

    async def monitor() -> None:
        while not stop.is_set():
            t0 = time.perf_counter()
            await asyncio.sleep(0.005)
            lags.append(time.perf_counter() - t0 - 0.005)

    task = asyncio.create_task(monitor())
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.bench.bench_gateway",
            "--load",
            f"http://127.0.0.1:{port}/dev",
            "--seconds",
            str(seconds),
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await proc.communicate()
    finally:
        stop.set()
        await task
        await service.close()
    done, elapsed = (float(x) for x in out.split())
    lags.sort()
    print(f"== loop lag: gateway on this loop, {CLIENTS} connections from another process")
    print(f"  served                 : {done / elapsed:8.0f} req/s for {elapsed:.1f} s")
    print(
        f"  5 ms timer late by     : p50 {statistics.median(lags) * 1e3:.2f} ms, "
        f"p99 {lags[int(len(lags) * 0.99)] * 1e3:.2f} ms, max {lags[-1] * 1e3:.2f} ms "
        "(frame budget 16 ms)"
    )


async def main(requests: int, seconds: float, rounds: int, only: str | None) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-gateway-") as tmp:
        async with AsyncExitStack() as stack:
            nodes = [
                await stack.enter_async_context(dev_node(Path(tmp), name))
                for name in ("node-a", "node-b")
            ]
            if only in (None, "overhead"):
                await overhead(nodes, requests, seconds, rounds)
            if only in (None, "verify"):
                await verify_cost(nodes, requests)
            if only in (None, "looplag"):
                await loop_lag(nodes, seconds)
            if only in (None, "failover"):
                await failover(nodes, signal.SIGKILL)
                await asyncio.sleep(3)  # the runtime restarts node-a's client
                await failover(nodes, signal.SIGSTOP)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", choices=["overhead", "verify", "looplag", "failover"])
    parser.add_argument("--load", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ns = parser.parse_args()
    if ns.child:
        asyncio.run(child())
    elif ns.load:
        asyncio.run(load_child(ns.load, ns.seconds))
    else:
        asyncio.run(main(ns.requests, ns.seconds, ns.rounds, ns.only))

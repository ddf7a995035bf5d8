"""Benchmark: gzip on a node's endpoint — a large `eth_getLogs` answer over a slow link.

Run: ``.venv/bin/python -m tests.bench.bench_gzip [--logs N] [--mbit M] [--runs R]``

A real dev node (runtime + nginx + anvil) is filled with N event logs (default 44,000: an
`eth_getLogs` answer of ~19 MB, the size users reported), then that answer is fetched
through a throttling TCP proxy (a Python stand-in for a rate-limited link, M Mbit/s each way)
with and without `Accept-Encoding: gzip`. Printed: bytes on the wire, seconds until the whole
answer is read (and decompressed), and the same over the unthrottled loopback (where the
cost of compressing shows). Then the small-call latency: p50 of sequential keep-alive
`eth_blockNumber` through nginx (client asking for gzip) vs straight to anvil (target <= 1.3).
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import http.client
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from erigolem_runtime.config import DEFAULT_HASH_SCHEME

from tests.bench.bench_runtime_proxy import auth_header, latencies, one_instance
from tests.support import log_emitter


class ThrottledProxy:
    """A TCP proxy to `target` pacing each direction to `rate` bytes/s; counts bytes to the client."""

    def __init__(self, target: tuple[str, int], rate: float) -> None:
        self.target = target
        self.rate = rate
        self.down = 0  # bytes server -> client since the last reset
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        await asyncio.gather(
            self._pipe(reader, up_writer, count=False),
            self._pipe(up_reader, writer, count=True),
            return_exceptions=True,
        )

    async def _pipe(
        self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, *, count: bool
    ) -> None:
        due = time.perf_counter()
        try:
            while chunk := await src.read(16384):
                due = max(due, time.perf_counter()) + len(chunk) / self.rate
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                if count:
                    self.down += len(chunk)
                dst.write(chunk)
                await dst.drain()
        finally:
            dst.close()


def fetch(host: str, port: int, path: str, headers: dict[str, str], body: bytes) -> bytes:
    """POST on a fresh connection; the answer's body, decompressed if it came gzipped."""
    conn = http.client.HTTPConnection(host, port, timeout=600)
    try:
        conn.request("POST", path, body, headers)
        resp = conn.getresponse()
        data = resp.read()
        assert resp.status == 200, (resp.status, data[:200])
        if resp.headers.get("Content-Encoding") == "gzip":
            data = gzip.decompress(data)
        return data
    finally:
        conn.close()


async def large_answer(
    url: str, headers: dict[str, str], body: bytes, mbit: float, runs: int
) -> dict[str, Any]:
    """Wire bytes and seconds for the large answer, with/without gzip, throttled and not."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", int(parts.port or 80)
    proxy = ThrottledProxy((host, port), mbit * 1e6 / 8)
    proxy_port = await proxy.start()
    out: dict[str, Any] = {}
    reference: bytes | None = None
    try:
        for label, extra in (("plain", {}), ("gzip", {"Accept-Encoding": "gzip"})):
            h = {**headers, **extra}
            slow, fast, wire = [], [], []
            for _ in range(runs):
                proxy.down = 0
                t0 = time.perf_counter()
                data = await asyncio.to_thread(fetch, "127.0.0.1", proxy_port, parts.path, h, body)
                slow.append(time.perf_counter() - t0)
                wire.append(proxy.down)
                t0 = time.perf_counter()
                await asyncio.to_thread(fetch, host, port, parts.path, h, body)
                fast.append(time.perf_counter() - t0)
                reference = reference or data
                assert data == reference  # the same answer either way
            out[label] = {
                "wire_bytes": statistics.median(wire),
                "throttled_s": statistics.median(slow),
                "loopback_s": statistics.median(fast),
            }
        out["answer_bytes"] = len(reference or b"")
    finally:
        await proxy.close()
    return out


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-gzip-") as tmp:
        async with one_instance(Path(tmp), DEFAULT_HASH_SCHEME) as (svc, out):
            assert svc._rpc_port is not None
            direct = f"http://127.0.0.1:{svc._rpc_port}/"
            t0 = time.perf_counter()
            address = await asyncio.to_thread(log_emitter.fill_logs, direct, args.logs)
            print(f"filled {args.logs:,} logs in {time.perf_counter() - t0:.1f} s")
            headers = auth_header(out["auth"]["user"], out["auth"]["password"])
            body = log_emitter.get_logs_request(address)
            big = await large_answer(out["url"], headers, body, args.mbit, args.runs)
            print(
                f"eth_getLogs answer: {big['answer_bytes'] / 1e6:.1f} MB; link {args.mbit} Mbit/s"
            )
            print(f"{'':6} {'wire MB':>9} {'throttled s':>12} {'loopback s':>11}")
            for label in ("plain", "gzip"):
                r = big[label]
                print(
                    f"{label:6} {r['wire_bytes'] / 1e6:9.2f} {r['throttled_s']:12.2f} "
                    f"{r['loopback_s']:11.3f}"
                )
            p, g = big["plain"], big["gzip"]
            print(
                f"gzip: {p['wire_bytes'] / g['wire_bytes']:.1f}x fewer bytes, "
                f"{p['throttled_s'] / g['throttled_s']:.1f}x faster on the slow link, "
                f"{g['loopback_s'] / p['loopback_s']:.2f}x the loopback time"
            )
            plain = (direct, {"Content-Type": "application/json"})
            for label, h in (
                ("asking gzip", {**headers, "Accept-Encoding": "gzip"}),
                ("not asking", headers),
            ):
                d, n = await latencies(plain, (out["url"], h), args.calls, 100)
                ratio = statistics.median(n) / statistics.median(d)
                print(
                    f"small calls (eth_blockNumber, {args.calls} each), client {label}: p50 "
                    f"direct {statistics.median(d) * 1e3:.3f} ms, via nginx "
                    f"{statistics.median(n) * 1e3:.3f} ms, ratio {ratio:.2f} (target <= 1.3)"
                )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--logs", type=int, default=44_000, help="event logs (default 44000)")
    parser.add_argument("--mbit", type=float, default=50.0, help="link rate (default 50 Mbit/s)")
    parser.add_argument("--runs", type=int, default=3, help="fetches per case (median)")
    parser.add_argument("--calls", type=int, default=2000, help="small calls per side")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))

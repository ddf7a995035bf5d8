"""Benchmark: `erigolem node start --local` until the endpoint answers (target <= 1.5 s), and the
`erigolem rpc` round trip; baselines measured in the same run (bare anvil start, an in-process
JsonRpcClient call, `python -c pass`).

Run: `python -m tests.bench.bench_cli_node [--runs N]`. Uses a throw-away ERIGOLEM_HOME.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

from tests.support.binaries import anvil_path, free_port

CLI = [sys.executable, "-m", "erigolem_desktop"]


def _stats(name: str, values: list[float], target: float | None = None) -> float:
    med = statistics.median(values)
    line = (
        f"{name:<48} median {med * 1000:8.1f} ms  min {min(values) * 1000:8.1f}  "
        f"max {max(values) * 1000:8.1f}  (n={len(values)})"
    )
    if target is not None:
        line += f"  target <= {target * 1000:.0f} ms: {'OK' if med <= target else 'MISSED'}"
    print(line)
    return med


async def _answers(url: str, user: str | None, password: str | None) -> None:
    from erigolem_desktop.core.rpc import JsonRpcClient

    async with JsonRpcClient(url, user, password, timeout=5) as client:
        (await client.call("eth_chainId")).unwrap()


def bench_anvil_start(runs: int) -> list[float]:
    anvil = anvil_path()
    assert anvil is not None, "anvil not found"
    out = []
    for _ in range(runs):
        port = free_port()
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [str(anvil), "--host", "127.0.0.1", "--port", str(port), "--silent"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            while True:
                with socket.socket() as s:
                    if s.connect_ex(("127.0.0.1", port)) == 0:
                        break
                time.sleep(0.002)
            asyncio.run(_answers(f"http://127.0.0.1:{port}", None, None))
            out.append(time.perf_counter() - t0)
        finally:
            proc.terminate()
            proc.wait(5)
    return out


def _read_json(stream: Any) -> dict[str, Any]:
    buf = ""
    while True:
        line = stream.readline()
        if not line:
            raise RuntimeError(f"node start gave no JSON: {buf!r}")
        buf += line
        try:
            data = json.loads(buf)
        except ValueError:
            continue
        assert isinstance(data, dict)
        return data


def bench_node_start(runs: int) -> tuple[list[float], list[float], dict[str, Any] | None]:
    """Time to a ready + answering endpoint; also the clean-stop time. Keeps the last node up."""
    starts, stops = [], []
    kept: dict[str, Any] | None = None
    for i in range(runs):
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [*CLI, "node", "start", "--local", "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        data = _read_json(proc.stdout)
        creds = data["credentials"]
        asyncio.run(_answers(creds["url"], creds["user"], creds["password"]))
        starts.append(time.perf_counter() - t0)
        if i == runs - 1:
            kept = {"proc": proc, **data}
            break
        t1 = time.perf_counter()
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        stops.append(time.perf_counter() - t1)
        assert proc.stdout is not None
        proc.stdout.close()
    return starts, stops, kept


def bench_rpc(
    node_id: str, runs: int, url: str, user: str, password: str
) -> tuple[list[float], list[float], list[float]]:
    cli, baseline, python = [], [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        proc = subprocess.run(
            [*CLI, "rpc", node_id, "eth_chainId", "--json"], capture_output=True, check=True
        )
        cli.append(time.perf_counter() - t0)
        assert json.loads(proc.stdout)["result"]
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        python.append(time.perf_counter() - t0)

    async def in_process() -> None:
        from erigolem_desktop.core.rpc import JsonRpcClient

        async with JsonRpcClient(url, user, password) as client:
            await client.call("eth_chainId")  # warm the connection
            for _ in range(runs * 10):
                t0 = time.perf_counter()
                await client.call("eth_chainId")
                baseline.append(time.perf_counter() - t0)

    asyncio.run(in_process())
    return cli, baseline, python


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    ns = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="erigolem-bench-") as home:
        os.environ["ERIGOLEM_HOME"] = home
        # Like an installed app after its first run: bytecode cached (here in the temp dir, so
        # the tree is not touched), even where PYTHONDONTWRITEBYTECODE is set.
        os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
        os.environ["PYTHONPYCACHEPREFIX"] = os.path.join(home, "pycache")
        subprocess.run([*CLI, "node", "list"], capture_output=True, check=True)  # warm the cache
        print(f"ERIGOLEM_HOME={home}  runs={ns.runs}  (bytecode cache warm)")
        anvil = _stats("baseline: bare anvil start -> eth_chainId", bench_anvil_start(ns.runs))
        starts, stops, kept = bench_node_start(ns.runs)
        start = _stats("erigolem node start --local -> endpoint answers", starts, target=1.5)
        if stops:
            _stats("  clean stop after SIGTERM (process exit)", stops)
        assert kept is not None
        proc = kept["proc"]
        try:
            creds = kept["credentials"]
            cli, baseline, python = bench_rpc(
                kept["node"]["id"], ns.runs * 2, creds["url"], creds["user"], creds["password"]
            )
            rpc_cli = _stats("erigolem rpc ID eth_chainId (whole process)", cli)
            py = _stats("baseline: python -c pass", python)
            inproc = _stats("baseline: in-process JsonRpcClient call (nginx)", baseline)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
            proc.stdout.close()
        print(f"ratio node start / bare anvil start:       {start / anvil:6.1f}x")
        print(f"ratio erigolem rpc / python -c pass:        {rpc_cli / py:6.1f}x")
        print(f"ratio erigolem rpc / in-process call:       {rpc_cli / inproc:6.0f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())

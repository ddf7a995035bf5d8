"""Benchmark: time from a Golem node start to `ready` in the real-yagna arrangement.

Run: `python -m tests.bench.bench_golem_start [N]` (default N=3 starts, one after another; the
last node's stop releases the allocation with the engine, so each start builds a fresh one).
Arrangement as in tests/integration/test_golem_yagna.py: real yagna daemons (requestor + one
provider, central net) with anvil as hoodi, the provider agent and exe-unit stand-ins,
the real erigolem-runtime behind nginx. Prints the engine start, then per start the split into
negotiation (demand -> agreement created), agreement (created -> approved), deploy+start
(activity -> running), first RPC answer (eth_chainId through nginx), and the total; and as a
baseline measured in the same run, the runtime's own deploy+start through RuntimeClient (what
the Local backend does), with the ratio. After each stop: the time until the payment is
confirmed on chain by the requestor daemon (`yagna payment process now`, then the erc20 driver's
approve/Transfer on the anvil, with the arrangement's shortened driver intervals).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
import warnings
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

warnings.filterwarnings("ignore", "pkg_resources is deprecated", UserWarning)

import aiohttp  # noqa: E402
from erigolem_runtime.api.client import RuntimeClient  # noqa: E402

from erigolem_desktop.core.backends.base import NodeSpec  # noqa: E402
from erigolem_desktop.core.backends.golem.backend import GolemBackend  # noqa: E402
from tests.support.golem.arrangement import (  # noqa: E402
    cli_start,
    golem_net,
    provider_side,
    settle_now,
)
from tests.support.golem.chain import PAYMENT_NETWORK  # noqa: E402
from tests.support.golem.yagna import YagnaDaemon  # noqa: E402
from tests.support.runtime_env import make_local_config, stop_runtime_nginx  # noqa: E402


async def first_rpc(url: str, user: str, password: str) -> float:
    body = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
    headers = {"Authorization": aiohttp.encode_basic_auth(user, password)}
    t0 = time.perf_counter()
    async with aiohttp.ClientSession() as s, s.post(url, json=body, headers=headers) as resp:
        assert resp.status == 200, resp.status
        await resp.read()
    return time.perf_counter() - t0


async def baseline(workdir: Path, config: Path) -> float:
    """The runtime alone: deploy + start + first RPC, as the Local backend runs it."""
    client = RuntimeClient(workdir, config_path=config)
    t0 = time.perf_counter()
    await client.deploy()
    out = await client.start({"chain": "dev", "client": "anvil"})
    await first_rpc(out["url"], out["auth"]["user"], out["auth"]["password"])
    elapsed = time.perf_counter() - t0
    await client.shutdown()
    return elapsed


def _paid(requestor: YagnaDaemon) -> Decimal:
    status = requestor.payment_status(PAYMENT_NETWORK)
    return Decimal(status["outgoing"]["confirmed"]["totalAmount"])


async def settle(requestor: YagnaDaemon, before: Decimal, since: float) -> float:
    """Seconds from `since` (the stop) until the requestor reports more confirmed than `before`."""
    await settle_now(requestor)
    while await asyncio.to_thread(_paid, requestor) <= before:
        if time.perf_counter() - since > 120:
            raise TimeoutError("the payment was not confirmed within 120 s of the stop")
        await asyncio.sleep(0.2)
    return time.perf_counter() - since


async def run(root: Path, runtime_config: Path, n: int) -> None:
    net_ctx = golem_net(root / "net", providers=1)
    net = net_ctx.__enter__()
    try:
        os.environ["PATH"] = f"{net.bin_dir}:{os.environ['PATH']}"
        async with provider_side(net, root, runtime_config) as side:
            backend = GolemBackend(side.config, invoice_wait=15)
            try:
                t0 = time.perf_counter()
                await backend._manager.ensure_engine()
                engine_s = time.perf_counter() - t0
                print(f"engine start (allocation, gftp, API clients): {engine_s * 1000:7.1f} ms")
                rows: list[tuple[float, ...]] = []
                for i in range(n):
                    spec = NodeSpec("dev", "anvil", f"bench{i}", Decimal("0.2"), timedelta(hours=1))
                    t0 = time.perf_counter()
                    node = await backend.start(f"b{i}", spec, lambda _m: None)
                    ready = time.perf_counter() - t0
                    rpc = await first_rpc(node.url, node.user, node.password)
                    handle = backend.handle(f"b{i}")
                    assert handle is not None
                    ph = handle.phases
                    created = ph["created"]
                    negotiation = ph["AgreementCreated"] - created
                    agreement = ph["AgreementConfirmed"] - ph["AgreementCreated"]
                    deploy = ph["running"] - ph.get("ActivityCreated", ph["AgreementConfirmed"])
                    rows.append((negotiation, agreement, deploy, rpc, ready + rpc))
                    print(
                        f"start {i}: negotiation {negotiation:6.2f} s | agreement {agreement:5.2f} s"
                        f" | deploy+start {deploy:5.2f} s | first RPC {rpc * 1000:6.1f} ms"
                        f" | total {ready + rpc:6.2f} s"
                    )
                    paid_before = await asyncio.to_thread(_paid, net.requestor)
                    t_stop = time.perf_counter()
                    await backend.stop(f"b{i}")
                    settled = await settle(net.requestor, paid_before, t_stop)
                    print(f"start {i}: stop -> payment confirmed on chain {settled:5.2f} s")
                    rows[-1] = (*rows[-1], settled)
                cli, _code = await cli_start(root, side.config)
                print(
                    f"CLI `erigolem node start --golem` to ready (new process + engine): {cli:.2f} s"
                )
                base = [await baseline(root / f"base{i}", runtime_config) for i in range(n)]
                total = statistics.median(r[4] for r in rows)
                local = statistics.median(base)
                print(
                    f"median: negotiation {statistics.median(r[0] for r in rows):.2f} s, "
                    f"agreement {statistics.median(r[1] for r in rows):.2f} s, "
                    f"deploy+start {statistics.median(r[2] for r in rows):.2f} s, "
                    f"first RPC {statistics.median(r[3] for r in rows) * 1000:.1f} ms, "
                    f"total {total:.2f} s, "
                    f"stop -> payment confirmed {statistics.median(r[5] for r in rows):.2f} s"
                )
                print(f"baseline (runtime alone, deploy+start+first RPC): {local:.2f} s")
                print(f"ratio golem/local: {total / local:.1f}x")
            finally:
                await backend.close()
    finally:
        net_ctx.__exit__(None, None, None)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    keep = os.environ.get("BENCH_GOLEM_DIR")  # keep the daemons' logs there
    with tempfile.TemporaryDirectory(prefix="bench-golem-") as tmp:
        root = Path(keep) if keep else Path(tmp)
        config = make_local_config(root / "runtime")
        try:
            asyncio.run(run(root, config, n))
        finally:
            stop_runtime_nginx(config)


if __name__ == "__main__":
    main()

"""The whole Golem test arrangement, shared by the integration test and the benchmark.

`GolemNet` (synchronous, one per session): anvil as the hoodi payment chain with real payment
contracts (chain.py), a requestor yagna that is also the central-net hub and holds 100 tGLM, and
provider yagnas, with receiver accounts initialised; every daemon's erc20 driver runs on the
anvil with shortened payment intervals (chain.driver_config).
`ProviderSide` (async, per test): the runtime's real offer template and provider agents
publishing offers (each starts an exe-unit stand-in per activity on its daemon's GSB), plus a
GolemConfig pointing yapapi at the real requestor daemon for market, activity and payment.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from erigolem_desktop.core.backends.golem.config import GolemConfig
from tests.support.binaries import anvil_path, yagna_path
from tests.support.golem import gftp_stub
from tests.support.golem.chain import (
    PAYMENT_NETWORK,
    PaymentChain,
    driver_config,
    start_payment_chain,
)
from tests.support.golem.exe_unit import ExeUnit
from tests.support.golem.provider_agent import Preset, ProviderAgent, build_offer
from tests.support.golem.yagna import YagnaDaemon, start_yagna

SUBNET = "erigolem-test"
REQUESTOR_KEY = "erigolem-requestor-key-0123456789"
REQUESTOR_GLM = 100  # tGLM minted to the requestor on the payment chain
PRESET = Preset(
    coeffs={
        "golem.usage.duration_sec": Decimal("0.0001"),
        "golem.usage.erigon.requests": Decimal("0.00001"),
    },
    initial_price=Decimal("0.001"),
)


@dataclass
class GolemNet:
    root: Path
    chain: PaymentChain
    requestor: YagnaDaemon
    providers: list[YagnaDaemon] = field(default_factory=list)
    bin_dir: Path | None = None


@contextmanager
def golem_net(root: Path, providers: int = 1) -> Iterator[GolemNet]:
    """Start anvil + yagnas; stop them all (SIGTERM, then SIGKILL) whatever happens."""
    anvil, yagna = anvil_path(), yagna_path()
    if anvil is None or yagna is None:
        raise RuntimeError("anvil or yagna missing: run scripts/bootstrap")
    root.mkdir(parents=True, exist_ok=True)
    started: list[Any] = []
    try:
        chain = start_payment_chain(anvil, root)
        started.append(chain)
        requestor = start_yagna(
            yagna,
            "requestor",
            root,
            hub_port=None,
            payment_rpc=chain.url,
            appkey=REQUESTOR_KEY,
            driver_config=driver_config(chain.url),
        )
        started.append(requestor)
        net = GolemNet(root, chain, requestor)
        for i in range(providers):
            daemon = start_yagna(
                yagna,
                f"provider{i}",
                root,
                hub_port=requestor.gsb_port,
                payment_rpc=chain.url,
                appkey=f"erigolem-provider{i}-key-0123456789",
                driver_config=driver_config(chain.url),
            )
            started.append(daemon)
            net.providers.append(daemon)
        for daemon in [requestor, *net.providers]:
            chain.fund(daemon.identity, glm=REQUESTOR_GLM if daemon is requestor else 0)
        for daemon in net.providers:
            daemon.cli("payment", "init", "--receiver", "--network", PAYMENT_NETWORK)
        net.bin_dir = root / "bin"
        gftp_stub.install(net.bin_dir)
        yield net
    finally:
        for proc in reversed(started):
            proc.stop()


def offer_template(runtime_config: Path) -> dict[str, Any]:
    """The REAL `erigolem-runtime offer-template` output (as exe-unit would run it)."""
    out = subprocess.run(
        [sys.executable, "-m", "erigolem_runtime", "offer-template"],
        env={**os.environ, "ERIGOLEM_RUNTIME_CONFIG": str(runtime_config)},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return dict(json.loads(out.stdout))


@dataclass
class ProviderSide:
    agents: list[ProviderAgent]
    config: GolemConfig
    template: dict[str, Any]

    def exe_unit_of(self, agreement_id: str) -> ExeUnit:
        """The (last) exe-unit stand-in serving an agreement."""
        for agent in self.agents:
            record = agent.agreements.get(agreement_id)
            if record is not None and record.activities:
                return agent.exe_units[record.activities[-1]]
        raise KeyError(agreement_id)


CHEAP = Preset(
    coeffs={
        "golem.usage.duration_sec": Decimal("0.00001"),
        "golem.usage.erigon.requests": Decimal("0.000001"),
    },
    initial_price=Decimal("0.0001"),
)


@asynccontextmanager
async def provider_side(
    net: GolemNet,
    workdir: Path,
    runtime_config: Path,
    *,
    broken: tuple[int, ...] = (),
    offer_timeout: float = 60,
    presets: dict[int, Preset] | None = None,
    debit_note_interval: float = 2.0,
    refuse_activities: tuple[int, ...] = (),
    extra_counters: dict[int, dict[str, Decimal]] | None = None,
) -> AsyncIterator[ProviderSide]:
    """Agents (one per provider yagna), each with exe-unit stand-ins for its activities.

    `broken` providers fail every deploy and price with the CHEAP preset, so the strategy picks
    them first and the retry on another provider is exercised deterministically. `presets`
    overrides the pricing of chosen providers; `refuse_activities` providers fail every
    activity creation; `extra_counters` adds priced counters to a provider's usage vector.
    """
    template = offer_template(runtime_config)
    agents: list[ProviderAgent] = []
    try:
        for i, daemon in enumerate(net.providers):
            preset = (presets or {}).get(i) or (
                CHEAP if i in broken or i in refuse_activities else PRESET
            )
            extra = (extra_counters or {}).get(i, {})
            offer_template_i = template
            if extra:
                preset = Preset({**preset.coeffs, **extra}, CHEAP.initial_price)
                props = dict(template["properties"])
                props["golem.com.usage.vector"] = [*props["golem.com.usage.vector"], *extra]
                offer_template_i = {**template, "properties": props}
            offer = build_offer(
                offer_template_i,
                preset,
                node_name=f"erigolem-provider-{i}",
                identity=daemon.identity,
                subnet=SUBNET,
            )
            agent = ProviderAgent(
                daemon,
                offer,
                workdir=workdir / f"provider{i}",
                runtime_config=runtime_config,
                debit_note_interval=debit_note_interval,
                broken=i in broken,
                refuse_activities=i in refuse_activities,
            )
            await agent.start()
            agents.append(agent)
        for agent in agents:
            await agent.wait_visible(net.requestor)
        config = GolemConfig(
            api_url=net.requestor.api_url,
            app_key=REQUESTOR_KEY,
            subnet=SUBNET,
            payment_network=PAYMENT_NETWORK,
            budget_glm=Decimal("2"),
            node_budget_glm=Decimal("1"),
            offer_timeout=timedelta(seconds=offer_timeout),
            start_timeout=timedelta(seconds=offer_timeout + 60),
            status_interval=2.0,
        )
        yield ProviderSide(agents, config, template)
    finally:
        for agent in agents:
            await agent.stop()


async def settle_now(daemon: YagnaDaemon) -> None:
    """Let the requestor's payment cycle run now (`yagna payment process now`), not in 5 min."""
    await asyncio.to_thread(daemon.cli, "payment", "process", "now", "--network", PAYMENT_NETWORK)


async def cli_start(root: Path, config: GolemConfig) -> tuple[float, int]:
    """`erigolem node start --golem --json` in a child process, pointed at this arrangement.

    Returns (seconds until it printed the ready node with credentials, its exit code after
    Ctrl+C, which makes it stop the node and settle).
    """
    env = {
        **os.environ,
        "YAGNA_APPKEY": config.app_key or "",
        "YAGNA_API_URL": config.api_url,
        "YAGNA_PAYMENT_NETWORK": config.payment_network,
        "YAGNA_SUBNET": config.subnet,
        "ERIGOLEM_HOME": str(root / "cli-home"),
        "XDG_DATA_HOME": str(root / "cli-xdg"),
        "PYTHON_KEYRING_BACKEND": "erigolem_desktop.core.keyring_setup.DataDirKeyring",
        "PYTHONWARNINGS": "ignore",
    }
    argv = [sys.executable, "-m", "erigolem_desktop", "node", "start", "--golem", "--json"]
    t0 = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        *argv, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        assert proc.stdout is not None
        seen: list[bytes] = []
        while True:
            line = await asyncio.wait_for(proc.stdout.readline(), 120)
            if b'"credentials"' in line:
                elapsed = time.perf_counter() - t0
                break
            if not line:
                raise RuntimeError(f"CLI ended without a ready node: {seen!r}")
            seen.append(line[:300])
        proc.send_signal(signal.SIGINT)  # the CLI stops the node and settles on Ctrl+C
        await proc.communicate()
        return elapsed, await asyncio.wait_for(proc.wait(), 90)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()

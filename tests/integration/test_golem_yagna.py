"""The Golem backend end to end against the REAL yagna daemon (PyPI golem-node 0.17.6).

Real: two/three yagna daemons on loopback in central-net mode (requestor = hub, providers),
anvil as the hoodi payment chain for yagna's erc20 driver, carrying the project's own token
(GLM's role), multi-transfer and wrapper contracts at yagna's hoodi addresses (compiled by npm
solc: tests/support/golem/chain.py), yapapi's engine with our strategy/payload/service manager,
market negotiation and agreements, the allocation (its timeout and release as yagna reports
them), the invoice issued by the provider daemon's payment API and accepted by yapapi, the
driver's payment (approve + ERC-20 Transfer on the chain, confirmed by both daemons),
`erigolem-runtime` (its `offer-template`, deploy/start/run over the Runtime API), the anvil dev
chain it starts, and nginx with basic auth in front of it.

Stand-ins (no registry ships these): `gftp` (tests/support/golem/gftp_stub.py), ya-provider
(tests/support/golem/provider_agent.py: offers from the runtime's real template + a pricing
preset, counter-proposals, approvals, debit notes and invoices via the real REST APIs), and
exe-unit (tests/support/golem/exe_unit.py: one per activity, started on the provider daemon's
real CreateActivity event, speaking yagna's GSB to the provider daemon). yapapi talks market,
activity and payment to the real requestor daemon only; every Exec, result poll, state and
usage query travels requestor daemon -> central net -> provider daemon -> exe-unit stand-in.
A provider that disappears is its exe-unit killed (bus connection and runtime gone).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from erigolem_desktop.core.backends.base import NodeSpec
from erigolem_desktop.core.backends.golem import errors
from erigolem_desktop.core.backends.golem.backend import ALLOCATION_MARGIN, GolemBackend
from erigolem_desktop.core.backends.golem.service import ErigonService
from tests.support.golem.arrangement import (
    CHEAP,
    PRESET,
    GolemNet,
    cli_start,
    golem_net,
    provider_side,
    settle_now,
)
from tests.support.golem.chain import PAYMENT_NETWORK
from tests.support.golem.provider_agent import _flatten
from tests.support.runtime_env import make_local_config, stop_runtime_nginx

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GolemNet]:
    with golem_net(tmp_path_factory.mktemp("golem-net"), providers=2) as running:
        yield running
    # golem_net stops anvil and every yagna (SIGTERM, then SIGKILL) on the way out
    for proc in [running.chain.proc, running.requestor.proc, *(p.proc for p in running.providers)]:
        assert proc.poll() is not None


@pytest.fixture
def runtime_config(tmp_path: Path) -> Iterator[Path]:
    path = make_local_config(tmp_path / "runtime")
    try:
        yield path
    finally:
        stop_runtime_nginx(path)


@pytest.fixture
def gftp_path(net: GolemNet, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    monkeypatch.setenv("PATH", f"{net.bin_dir}:{os.environ['PATH']}")


async def _eth_chain_id(url: str, user: str, password: str) -> tuple[int, dict[str, Any]]:
    body = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
    headers = {"Authorization": aiohttp.encode_basic_auth(user, password)}
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, json=body, headers=headers) as resp,
    ):
        text = await resp.text()
        return resp.status, (json.loads(text) if resp.status == 200 else {"body": text})


def _allocations(net: GolemNet, since: datetime) -> list[dict[str, Any]]:
    """The requestor daemon's allocations made since `since` (earlier tests' are released)."""
    found = net.requestor.request("GET", "/payment-api/v1/allocations")
    return [a for a in found if _when(a["timestamp"]) >= since - timedelta(seconds=1)]


def _when(stamp: str) -> datetime:
    """yagna's RFC 3339 timestamps (nanoseconds, `Z`) as aware datetimes."""
    head, _, frac = stamp.rstrip("Z").partition(".")
    return datetime.fromisoformat(f"{head}.{(frac + '000000')[:6]}+00:00")


def _confirmed(net: GolemNet) -> dict[str, Decimal]:
    """What each daemon's `yagna payment status` reports as confirmed (requestor: outgoing)."""
    found = {}
    for daemon in [net.requestor, *net.providers]:
        way = "outgoing" if daemon is net.requestor else "incoming"
        status = daemon.payment_status(PAYMENT_NETWORK)
        found[daemon.identity] = Decimal(status[way]["confirmed"]["totalAmount"])
    return found


@pytest.mark.asyncio
@pytest.mark.timeout(150)
async def test_rent_node_end_to_end_with_retry_and_settlement(
    net: GolemNet, runtime_config: Path, tmp_path: Path, gftp_path: None
) -> None:
    async with provider_side(net, tmp_path, runtime_config, broken=(0,)) as side:
        backend = GolemBackend(side.config, invoice_wait=20)
        try:
            phases: list[str] = []
            spec = NodeSpec(
                chain="dev",
                client="anvil",
                name="e2e",
                budget_glm=Decimal("0.5"),
                duration=timedelta(hours=1),
            )
            before = datetime.now(UTC)
            confirmed_before = await asyncio.to_thread(_confirmed, net)
            node = await backend.start("n1", spec, phases.append)

            # the cheap, broken provider was tried first, then excluded; the node runs elsewhere
            broken, good = side.agents
            assert broken.agreements, "the cheaper provider should have been tried first"
            assert len(broken.agreements) == 1  # excluded for this node after its failure
            assert backend.strategy.excluded == {}  # ... and only while this node started
            assert good.node_id in (node.provider or "")
            handle = backend.handle("n1")
            assert handle is not None
            service = handle.service
            assert isinstance(service, ErigonService)
            assert service.attempts == 2
            assert "deploy failed" in service.failures[0]
            assert phases[0] == "Connecting to yagna…"
            assert phases[-1].startswith("Node running on erigolem-provider-1")

            # the allocation reserves the budget for the rental plus a margin, not 10 years
            (allocation,) = _allocations(net, before)
            expected = before + timedelta(hours=1) + ALLOCATION_MARGIN
            assert abs((_when(allocation["timeout"]) - expected).total_seconds()) < 60

            # credentials from the start output work through nginx; wrong ones do not
            assert node.status.to_json()["state"] == "ready"
            status, answer = await _eth_chain_id(node.url, node.user, node.password)
            assert (status, answer["result"]) == (200, hex(31337))
            status, _ = await _eth_chain_id(node.url, node.user, "wrong-password")
            assert status == 401
            assert (await backend.status("n1")).to_json()["state"] == "ready"

            # the agreement our demand produced, as the provider daemon sees it
            ((agreement_id, _record),) = good.agreements.items()
            agreement = await good.fetch_agreement(agreement_id)
            offer = _flatten(agreement["offer"]["properties"])
            demand = _flatten(agreement["demand"]["properties"])
            assert offer["golem.runtime.name"] == "erigon"
            assert (
                offer["golem.runtime.erigon.chains"]
                == side.template["properties"]["golem.runtime.erigon.chains"]
            )
            vector = offer["golem.com.usage.vector"]
            assert vector == ["golem.usage.duration_sec", "golem.usage.erigon.requests"]
            assert offer["golem.com.pricing.model.linear.coeffs"] == [
                float(PRESET.coeffs[k]) for k in vector
            ] + [float(PRESET.initial_price)]
            expiration = datetime.fromtimestamp(demand["golem.srv.comp.expiration"] / 1000, UTC)
            assert abs((expiration - (before + timedelta(hours=1))).total_seconds()) < 30
            assert demand["golem.com.payment.chosen-platform"] == "erc20-hoodi-tglm"
            assert "golem.com.payment.platform.erc20-hoodi-tglm.address" in demand
            # a 1 h rental has no mid-agreement payments (yapapi needs >= 5 h): the provider
            # sends debit notes at its own interval and they are accepted, not paid, mid-way
            assert "golem.com.scheme.payu.payment-timeout-sec?" not in demand
            assert "golem.runtime.erigon.chains=dev" in agreement["demand"]["constraints"]
            assert agreement["state"] == "Approved"

            # rotate: the old password stops working at once
            user, password = await backend.rotate_credentials("n1")
            assert password != node.password
            assert (await _eth_chain_id(node.url, node.user, node.password))[0] == 401
            assert (await _eth_chain_id(node.url, user, password))[0] == 200

            # usage as exe-unit reports it: the runtime's request counter (from nginx's log,
            # sent as counter events) catches up within a few seconds
            deadline = time.monotonic() + 15
            while True:
                usage = await backend.usage("n1")
                assert usage is not None
                if (usage.requests or 0) >= 2 or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.5)
            assert usage.requests == 2  # the two authenticated requests; 401s are not billed
            assert usage.duration_sec is not None
            assert usage.duration_sec > 0

            # debit notes from the provider daemon, accepted by the requestor during the rental
            deadline = time.monotonic() + 15
            while len(good.agreements[agreement_id].debit_notes) < 2:
                assert time.monotonic() < deadline, "fewer than two debit notes in 15 s"
                await asyncio.sleep(0.5)
            deadline = time.monotonic() + 10
            while (await good.debit_note_statuses(agreement_id))[:2] != ["ACCEPTED"] * 2:
                assert time.monotonic() < deadline, await good.debit_note_statuses(agreement_id)
                await asyncio.sleep(0.5)
            times = good.debit_note_times
            gaps = [b - a for a, b in itertools.pairwise(times)]
            print(f"debit-note cadence: {', '.join(f'{g:.2f}' for g in gaps)} s")

            # stop -> agreement terminated -> invoice from the provider daemon -> accepted
            t0 = time.monotonic()
            await backend.stop("n1")
            assert time.monotonic() - t0 < 25
            assert not backend.is_running("n1")
            try:  # the instance's location is gone (or the runtime's private nginx with it)
                gone = (await _eth_chain_id(node.url, user, password))[0]
            except aiohttp.ClientConnectorError:
                gone = 0
            assert gone in (0, 401, 404, 502)
            invoices = backend.invoices("n1")
            assert agreement_id in invoices
            assert await good.invoice_status(agreement_id) == "ACCEPTED"
            invoice = await good.invoice(agreement_id)
            assert invoice["activityIds"] == good.agreements[agreement_id].activities
            billed = good.invoiced_usage[agreement_id]
            assert invoices[agreement_id] == good.cost(billed)
            assert invoices[agreement_id] > PRESET.initial_price
            # the failed attempt's agreement was ended and settled too (its start price)
            ((broken_id, broken_record),) = broken.agreements.items()
            assert broken_record.terminated
            assert await broken.invoice_status(broken_id) == "ACCEPTED"
            assert invoices[broken_id] >= CHEAP.initial_price
            final = await backend.usage("n1")
            assert final is not None
            assert final.cost_glm == invoices[agreement_id] + invoices[broken_id]
            # the last node stopped: the allocation was released (yagna no longer lists it)
            assert _allocations(net, before) == []

            # settlement on chain: the requestor's erc20 driver pays each accepted invoice with a
            # tGLM Transfer requestor -> provider, and both daemons report it confirmed
            first_block = net.chain.block_number()
            await settle_now(net.requestor)
            due = {good.node_id: invoices[agreement_id], broken.node_id: invoices[broken_id]}
            payer = net.requestor.identity
            deadline = time.monotonic() + 60
            while True:
                paid = {
                    p: [t.glm for t in net.chain.transfers(payer, p, since_block=first_block)]
                    for p in due
                }
                confirmed = await asyncio.to_thread(_confirmed, net)
                gained = {k: v - confirmed_before[k] for k, v in confirmed.items()}
                if all(paid.values()) and all(gained[p] for p in due) and gained[payer]:
                    break
                assert time.monotonic() < deadline, (paid, gained)
                await asyncio.sleep(0.5)
            print(f"stop -> Transfer confirmed by both daemons: {time.monotonic() - t0:.1f} s")
            assert paid == {p: [amount] for p, amount in due.items()}  # one Transfer each
            assert gained == {payer: sum(due.values()), **due}
        finally:
            await backend.close()


@pytest.mark.asyncio
@pytest.mark.timeout(60)
async def test_no_offer_for_the_chain_times_out_with_a_clear_error(
    net: GolemNet, runtime_config: Path, tmp_path: Path, gftp_path: None
) -> None:
    """The real market matcher keeps providers that do not serve the chain away."""
    async with provider_side(net, tmp_path, runtime_config, offer_timeout=8) as side:
        backend = GolemBackend(side.config)
        try:
            spec = NodeSpec(chain="sepolia", client="erigon", name="none")
            t0 = time.monotonic()
            since = datetime.now(UTC)
            with pytest.raises(errors.NoOffers, match="sepolia"):
                await backend.start("n2", spec, lambda _m: None)
            assert _allocations(net, since) == []  # a failed start releases it too
            assert time.monotonic() - t0 < 15  # 8 s offer timeout + withdrawing the demand
            handle = backend.handle("n2")
            assert handle is not None
            assert handle.finished
            assert handle.status.value == "stopped"
            assert not backend.is_running("n2")
            assert all(not a.agreements for a in side.agents)
        finally:
            await backend.close()


@pytest.mark.asyncio
@pytest.mark.timeout(90)
async def test_provider_that_disappears_marks_the_node_failed(
    net: GolemNet, runtime_config: Path, tmp_path: Path, gftp_path: None
) -> None:
    async with provider_side(net, tmp_path, runtime_config) as side:
        backend = GolemBackend(side.config, invoice_wait=15)
        try:
            since = datetime.now(UTC)
            node = await backend.start("n3", NodeSpec("dev", "anvil", "lost"), lambda _m: None)
            assert (await _eth_chain_id(node.url, node.user, node.password))[0] == 200
            (agent,) = [a for a in side.agents if a.agreements]
            (activity_id,) = agent.exe_units
            await agent.kill_exe_unit(activity_id)
            t0 = time.monotonic()
            handle = backend.handle("n3")
            assert handle is not None
            while handle.status.value != "failed":
                assert time.monotonic() - t0 < 30, handle.status
                await handle.wait_change(0.5)
            assert "provider erigolem-provider-" in (handle.reason or "")
            # what the real provider daemon answers once nothing serves the activity's address
            assert "endpoint address not found" in (handle.reason or "")
            with pytest.raises(errors.NodeLost, match="no longer running"):
                await backend.status("n3")
            assert not backend.is_running("n3")
            # no node is left: the allocation is released without a Stop (after the invoice)
            t1 = time.monotonic()
            while _allocations(net, since):
                assert time.monotonic() - t1 < 45, _allocations(net, since)
                await asyncio.sleep(0.5)
            print(f"failure -> allocation released: {time.monotonic() - t1:.1f} s")
            await backend.stop("n3")  # settles what was used
            assert handle.status.value == "failed"  # stopping afterwards keeps the failure
            (agent,) = [a for a in side.agents if a.agreements]
            ((agreement_id, _),) = agent.agreements.items()
            assert await agent.invoice_status(agreement_id) == "ACCEPTED"
        finally:
            await backend.close()


@pytest.mark.asyncio
@pytest.mark.timeout(90)
async def test_cli_node_start_golem_uses_this_backend(
    net: GolemNet, runtime_config: Path, tmp_path: Path, gftp_path: None
) -> None:
    """`erigolem node start --golem` (helper D's CLI) rents through GolemBackend, then settles."""
    async with provider_side(net, tmp_path, runtime_config) as side:
        elapsed, code = await cli_start(tmp_path, side.config)
        print(f"erigolem node start --golem -> credentials: {elapsed:.2f} s")
        assert elapsed < 60
        assert code == 0
        (agent,) = [a for a in side.agents if a.agreements]
        ((agreement_id, record),) = agent.agreements.items()
        assert record.terminated
        assert await agent.invoice_status(agreement_id) == "ACCEPTED"


@pytest.mark.asyncio
@pytest.mark.timeout(90)
async def test_budget_stops_the_node_before_the_spend_would_pass_it(
    net: GolemNet, runtime_config: Path, tmp_path: Path, gftp_path: None
) -> None:
    """Real debit notes (every 2 s) bring the spend close to the budget: the node is stopped
    with the reason before a note or the invoice could pass it, and the invoice is paid."""
    async with provider_side(net, tmp_path, runtime_config) as side:
        backend = GolemBackend(side.config, invoice_wait=15)
        budget = PRESET.initial_price + Decimal("0.0006")  # about 6 s at the preset's rate
        try:
            # 1 h: no mid-agreement payments, so the provider's 2 s debit-note interval holds
            spec = NodeSpec(
                "dev", "anvil", "budget", budget_glm=budget, duration=timedelta(hours=1)
            )
            await backend.start("n5", spec, lambda _m: None)
            handle = backend.handle("n5")
            assert handle is not None
            deadline = time.monotonic() + 30
            while not handle.stop_requested:
                assert time.monotonic() < deadline, "the budget never stopped the node"
                await handle.wait_change(0.5)
            assert "budget" in (handle.stop_reason or "")
            with pytest.raises(errors.NodeLost, match="budget"):
                await backend.status("n5")  # what the user sees
            await backend.stop("n5")
            (agent,) = [a for a in side.agents if a.agreements]
            ((agreement_id, _),) = agent.agreements.items()
            assert await agent.invoice_status(agreement_id) == "ACCEPTED"
            invoiced = backend.invoices("n5")[agreement_id]
            assert invoiced <= budget
            assert len(agent.agreements[agreement_id].debit_notes) >= 1
        finally:
            await backend.close()


@pytest.mark.asyncio
@pytest.mark.timeout(90)
async def test_failed_activity_creation_is_retried_elsewhere_with_the_cause(
    net: GolemNet, runtime_config: Path, tmp_path: Path, gftp_path: None
) -> None:
    """Provider 0 (cheapest) has its activity Terminated at once; provider 1 gets the node."""
    async with provider_side(net, tmp_path, runtime_config, refuse_activities=(0,)) as side:
        backend = GolemBackend(side.config, invoice_wait=15)
        try:
            phases: list[str] = []
            node = await backend.start("n6", NodeSpec("dev", "anvil", "retry"), phases.append)
            refusing, good = side.agents
            assert refusing.agreements, "the cheaper provider should have been tried first"
            assert good.node_id in (node.provider or "")
            shown = [p for p in phases if "activity creation failed" in p]
            assert shown, phases
            assert refusing.node_id in shown[0]
            assert (await _eth_chain_id(node.url, node.user, node.password))[0] == 200
            await backend.stop("n6")
        finally:
            await backend.close()


@pytest.mark.asyncio
@pytest.mark.timeout(60)
async def test_offer_pricing_an_unknown_counter_is_refused(
    net: GolemNet, runtime_config: Path, tmp_path: Path, gftp_path: None
) -> None:
    """Provider 0 is cheaper but also prices golem.usage.cpu_sec (uncapped): never chosen."""
    extra = {0: {"golem.usage.cpu_sec": Decimal("1000")}}
    async with provider_side(net, tmp_path, runtime_config, extra_counters=extra) as side:
        backend = GolemBackend(side.config, invoice_wait=15)
        try:
            node = await backend.start("n7", NodeSpec("dev", "anvil", "cpu"), lambda _m: None)
            pricey, good = side.agents
            assert not pricey.agreements
            assert good.node_id in (node.provider or "")
            # (an offer of this daemon from an earlier test may still be cached on the market)
            refused = [s.refused or "" for s in backend.strategy.seen if s.issuer == pricey.node_id]
            assert any("outside the caps (golem.usage.cpu_sec)" in r for r in refused), refused
            await backend.stop("n7")
        finally:
            await backend.close()

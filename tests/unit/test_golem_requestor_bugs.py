"""Requestor bugs found against the real daemons, each pinned by a test (engine: the stand-in)."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest
from yapapi import events

from erigolem_desktop.core.backends.base import NodeSpec
from erigolem_desktop.core.backends.golem import errors
from erigolem_desktop.core.backends.golem.backend import GolemBackend, _Node
from erigolem_desktop.core.backends.golem.config import GolemConfig
from erigolem_desktop.core.backends.golem.service import ErigonService, NodeGone
from erigolem_desktop.core.backends.golem.service_manager import ServiceManager
from erigolem_desktop.core.backends.golem.strategy import (
    DURATION_COUNTER,
    REQUESTS_COUNTER,
    ErigonStrategy,
)
from tests.support.golem.fake_engine import FakeEngine


def _offer(vector: list[str], coeffs: list[float], issuer: str = "0xp1") -> Any:
    return SimpleNamespace(
        id="offer-1",
        issuer=issuer,
        props={
            "golem.com.scheme": "payu",
            "golem.com.pricing.model": "linear",
            "golem.com.usage.vector": vector,
            "golem.com.pricing.model.linear.coeffs": coeffs,
        },
    )


@pytest.mark.asyncio
async def test_offer_pricing_a_counter_outside_the_caps_is_refused() -> None:
    strategy = ErigonStrategy(GolemConfig())
    known = [DURATION_COUNTER, REQUESTS_COUNTER]
    assert await strategy.score_offer(_offer(known, [0.0001, 0.00001, 0.0])) > 0
    cpu = [DURATION_COUNTER, REQUESTS_COUNTER, "golem.usage.cpu_sec"]
    assert await strategy.score_offer(_offer(cpu, [0.0001, 0.00001, 1000.0, 0.0])) < 0
    assert "golem.usage.cpu_sec" in (strategy.seen[-1].refused or "")


@pytest.mark.asyncio
async def test_exclusions_belong_to_the_node_that_saw_the_failure() -> None:
    strategy = ErigonStrategy(GolemConfig())
    strategy.exclude("n1", "0xbad")
    offer = _offer([DURATION_COUNTER, REQUESTS_COUNTER], [0.0001, 0.00001, 0.0], "0xbad")
    assert await strategy.score_offer(offer) < 0
    strategy.release("n1")  # n1's start is over: a later node may use 0xbad again
    assert await strategy.score_offer(offer) > 0


def test_no_offers_says_whether_offers_came_and_why_they_were_refused() -> None:
    none = errors.NoOffers("erigon", "sepolia", 8, subnet="public")
    assert "no offer arrived at all" in str(none)
    assert "public" in str(none)
    dear = errors.NoOffers(
        "erigon", "dev", 8, offers=2, refused=["0xp: golem.usage.duration_sec at 0.002 GLM"]
    )
    assert "2 offer(s)" in str(dear)
    assert "0.002" in str(dear)
    assert "Raise the price caps" in dear.hint


async def _backend_with_node(budget: str = "1") -> tuple[GolemBackend, Any, Any]:
    engine = FakeEngine()
    backend = GolemBackend(GolemConfig(app_key="k"), engine_factory=lambda: engine)
    handle = backend._manager.create_service(object)
    async with asyncio.timeout(2):
        while handle.cluster is None:  # noqa: ASYNC110 (the stand-in has no event for this)
            await asyncio.sleep(0.01)
    spec = NodeSpec("dev", "anvil", "money", budget_glm=Decimal(budget))
    backend._nodes["n1"] = _Node(handle=handle, spec=spec)
    return backend, handle, SimpleNamespace(id=handle.cluster.id)


def _note(job: Any, agreement: str, due: str) -> events.DebitNoteAccepted:
    debit = SimpleNamespace(agreement_id=agreement, activity_id="a", total_amount_due=due)
    return events.DebitNoteAccepted(
        job=job,
        agreement=SimpleNamespace(id=agreement),  # type: ignore[arg-type]
        debit_note=debit,  # type: ignore[arg-type]
    )


@pytest.mark.asyncio
async def test_budget_is_per_node_across_agreements_and_stops_before_passing_it() -> None:
    backend, handle, job = await _backend_with_node("1")
    backend._on_event(_note(job, "agr-1", "0.4"))  # first agreement (its provider then failed)
    backend._on_event(_note(job, "agr-2", "0.1"))
    assert not handle.stop_requested
    # the next note of agr-2 would bring the node to 1.1 GLM: not accepted, node stopped
    over = SimpleNamespace(agreement_id="agr-2", total_amount_due="0.7")
    assert await backend.strategy.debit_note_accepted_amount(over) < Decimal("0.7")
    assert handle.stop_requested
    assert "budget" in (handle.stop_reason or "")
    with pytest.raises(errors.NodeLost, match="budget"):
        await backend.status("n1")
    await backend.close()


@pytest.mark.asyncio
async def test_budget_stop_comes_before_the_note_that_would_pass_it() -> None:
    backend, handle, job = await _backend_with_node("1")
    backend._on_event(_note(job, "agr-1", "0.5"))
    assert not handle.stop_requested
    backend._on_event(_note(job, "agr-1", "0.8"))  # at this pace the next note is 1.1
    assert handle.stop_requested
    assert "next debit note" in (handle.stop_reason or "")
    await backend.close()


@pytest.mark.asyncio
async def test_failed_activity_creation_counts_and_excludes_the_provider() -> None:
    backend, handle, job = await _backend_with_node()
    for i in range(backend.config.start_attempts):
        offer = SimpleNamespace(provider_id=f"0xp{i}")
        details = SimpleNamespace(raw_details=SimpleNamespace(offer=offer))
        event = events.ActivityCreateFailed(
            job=job,
            agreement=SimpleNamespace(id=f"agr-{i}", details=details),  # type: ignore[arg-type]
            exc_info=(TimeoutError, TimeoutError("408 Request Timeout"), None),
        )
        backend._on_event(event)
        if i == 0:  # counted as an attempt, that provider excluded for this node, not failed
            assert backend.strategy.excluded == {"n1": {"0xp0"}}
            assert handle.status.value != "failed"
    assert handle.status.value == "failed"
    assert "activity creation failed" in (handle.reason or "")
    assert "408" in (handle.reason or "")
    await backend.close()


@pytest.mark.asyncio
async def test_call_fails_at_once_when_the_run_loop_has_ended() -> None:
    service = ErigonService(start_arg={"chain": "dev", "client": "anvil"})
    service.run_ended = "provider p ended the activity"
    t0 = time.monotonic()
    with pytest.raises(NodeGone, match="ended the activity"):
        await service.call("status")
    assert time.monotonic() - t0 < 1


@pytest.mark.asyncio
async def test_stop_and_wait_returns_even_when_the_cluster_never_ends() -> None:
    class Stuck:
        id = "stuck"
        instances: ClassVar[list[Any]] = []

        def stop(self) -> None:
            pass

        async def terminate(self) -> None:
            await asyncio.Event().wait()  # never ends (a shielded terminate that hangs)

    class Engine(FakeEngine):
        async def run_service(self, service_class: Any, **kwargs: Any) -> Any:
            return Stuck()

    manager = ServiceManager(lambda: Engine())
    handle = manager.create_service(object)
    await asyncio.sleep(0.05)
    t0 = time.monotonic()
    assert await manager.stop_and_wait(handle, within=0.5) is False
    assert time.monotonic() - t0 < 7
    assert handle.finished


def test_hoodi_is_the_default_payment_network_and_holesky_is_retired() -> None:
    from erigolem_desktop.core.settings import Settings, SettingsError

    assert GolemConfig().payment_network == "hoodi"
    assert GolemConfig().payment_platform == "erc20-hoodi-tglm"
    assert Settings().payment_network == "hoodi"
    Settings().validate()
    with pytest.raises(SettingsError) as info:
        Settings(payment_network="holesky").validate()
    assert "shut down" in str(info.value)
    assert "--network hoodi" in info.value.hint


def test_funding_hints_name_the_network() -> None:
    hint = errors.NoFunds("erc20-sepolia-tglm", "no balance").hint
    assert "yagna payment status --network sepolia" in hint
    assert "yagna payment fund --network sepolia" in hint
    assert "--network polygon" in errors.NoFunds("erc20-polygon-glm", "x").hint

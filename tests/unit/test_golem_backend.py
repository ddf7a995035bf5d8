"""GolemBackend's money bookkeeping from yapapi's real event classes (engine: the stand-in)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from yapapi import events

from erigolem_desktop.core.backends.base import NodeSpec
from erigolem_desktop.core.backends.golem.backend import ALLOCATION_MARGIN, GolemBackend, _Node
from erigolem_desktop.core.backends.golem.config import GolemConfig
from erigolem_desktop.core.backends.golem.errors import NodeLost, UnknownNode
from erigolem_desktop.core.backends.golem.service_manager import ServiceHandle
from tests.support.golem.fake_engine import FakeCluster, FakeEngine


async def _backend_with_a_service() -> tuple[FakeEngine, GolemBackend, ServiceHandle]:
    """A backend on the engine stand-in with one service whose cluster exists."""
    engine = FakeEngine()
    backend = GolemBackend(GolemConfig(app_key="k"), engine_factory=lambda: engine)
    handle = backend._manager.create_service(object)
    async with asyncio.timeout(2):
        while handle.cluster is None:  # noqa: ASYNC110 (the stand-in has no event for this)
            await asyncio.sleep(0.01)
    return engine, backend, handle


@pytest.mark.asyncio
async def test_debit_notes_and_invoices_make_the_cost_and_the_budget_stops_the_node() -> None:
    engine, backend, handle = await _backend_with_a_service()
    spec = NodeSpec("dev", "anvil", "money", budget_glm=Decimal("1"))
    backend._nodes["n1"] = _Node(handle=handle, spec=spec)
    assert handle.cluster is not None
    job = SimpleNamespace(id=handle.cluster.id)
    agreement = SimpleNamespace(id="agr-1")

    def note(due: str) -> events.DebitNoteAccepted:
        debit = SimpleNamespace(agreement_id="agr-1", activity_id="act-1", total_amount_due=due)
        return events.DebitNoteAccepted(job=job, agreement=agreement, debit_note=debit)  # type: ignore[arg-type]

    backend._on_event(note("0.2"))
    usage = await backend.usage("n1")
    assert usage is not None
    assert usage.cost_glm == Decimal("0.2")
    assert not handle.stop_requested
    backend._on_event(note("0.96"))  # at this pace the next note passes the budget: stop
    assert handle.stop_requested
    invoice = SimpleNamespace(agreement_id="agr-1", amount="0.97")
    backend._on_event(events.InvoiceAccepted(job=job, agreement=agreement, invoice=invoice))
    usage = await backend.usage("n1")
    assert usage is not None
    assert usage.cost_glm == Decimal("0.97")
    assert backend.invoices("n1") == {"agr-1": Decimal("0.97")}
    assert [e[2] for e in backend.events] == [
        "DebitNoteAccepted",
        "DebitNoteAccepted",
        "InvoiceAccepted",
    ]
    with pytest.raises(NodeLost):
        await backend.status("n1")  # stopping: no longer running
    with pytest.raises(UnknownNode):
        await backend.logs("nope", 10)
    assert await backend.usage("nope") is None
    await backend.close()
    assert engine.stops == 1


@pytest.mark.asyncio
async def test_allocation_lasts_for_the_latest_live_node_and_is_released_when_none_is_left() -> (
    None
):
    """Not yapapi's 10 years: the latest live node's expiration plus the margin; then released."""
    engines: list[FakeEngine] = []

    def factory() -> FakeEngine:
        engines.append(FakeEngine())
        return engines[-1]

    backend = GolemBackend(GolemConfig(app_key="k"), engine_factory=factory)
    now = datetime.now(UTC)
    handles = [backend._manager.create_service(object) for _ in range(2)]
    for n, (handle, hours) in enumerate(zip(handles, (1, 3), strict=True)):
        spec = NodeSpec("dev", "anvil", f"n{n}")
        backend._nodes[f"n{n}"] = _Node(handle, spec, expiration=now + timedelta(hours=hours))
    assert backend._allocation_timeout() == now + timedelta(hours=3) + ALLOCATION_MARGIN
    async with asyncio.timeout(2):
        while not all(h.cluster for h in handles):  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    await backend._manager.stop_and_wait(handles[1], within=2)
    assert backend._allocation_timeout() == now + timedelta(hours=1) + ALLOCATION_MARGIN
    assert not await backend._manager.release_engine()  # n0 still runs: the allocation stays
    assert engines[0].stops == 0
    await backend.stop("n0")  # the last node: the engine stops and releases its allocation
    assert engines[0].stops == 1
    assert backend._manager.engine is None
    backend._manager.create_service(object)  # a later node gets a fresh engine (and allocation)
    async with asyncio.timeout(2):
        while len(engines) < 2 or engines[1].starts == 0:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    await backend.close()
    assert engines[1].stops == 1


@pytest.mark.asyncio
async def test_the_last_node_failing_by_itself_releases_the_allocation() -> None:
    """A provider gone with no Stop: the engine (and its allocation) goes with the last node."""
    engine, backend, handle = await _backend_with_a_service()
    assert isinstance(handle.cluster, FakeCluster)
    handle.cluster.instances[0].state.value = "terminated"  # ended by itself
    async with asyncio.timeout(2):
        while engine.stops == 0:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    assert handle.status.value == "failed"
    assert backend._manager.engine is None
    await backend.close()
    assert engine.stops == 1

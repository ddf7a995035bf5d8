"""GolemBackend's money bookkeeping from yapapi's real event classes (engine: the stand-in)."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from types import SimpleNamespace

import pytest
from yapapi import events

from erigolem_desktop.core.backends.base import NodeSpec
from erigolem_desktop.core.backends.golem.backend import GolemBackend, _Node
from erigolem_desktop.core.backends.golem.config import GolemConfig
from erigolem_desktop.core.backends.golem.errors import NodeLost, UnknownNode
from tests.support.golem.fake_engine import FakeEngine


@pytest.mark.asyncio
async def test_debit_notes_and_invoices_make_the_cost_and_the_budget_stops_the_node() -> None:
    engine = FakeEngine()
    backend = GolemBackend(GolemConfig(app_key="k"), engine_factory=lambda: engine)
    handle = backend._manager.create_service(object)
    async with asyncio.timeout(2):
        while handle.cluster is None:  # noqa: ASYNC110 (the stand-in has no event for this)
            await asyncio.sleep(0.01)
    spec = NodeSpec("dev", "anvil", "money", budget_glm=Decimal("1"))
    backend._nodes["n1"] = _Node(handle=handle, spec=spec)
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

"""Service manager state transitions on a stand-in engine (see tests/support/golem/fake_engine.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from erigolem_desktop.core.backends.golem.errors import YagnaNotRunning
from erigolem_desktop.core.backends.golem.service_manager import ServiceManager, ServiceStatus
from tests.support.golem.fake_engine import FakeCluster, FakeEngine, FakeService


async def _until(predicate: Callable[[], bool], within: float = 2.0) -> None:
    """Poll `predicate` (the fake changes plain attributes, there is no event to wait on)."""
    async with asyncio.timeout(within):
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


def _service(cluster: FakeCluster) -> FakeService:
    service = cluster.instances[0]
    assert isinstance(service, FakeService)
    return service


@pytest.mark.asyncio
async def test_handle_returned_pending_then_follows_the_instance_to_stopped() -> None:
    engine = FakeEngine()
    manager = ServiceManager(lambda: engine, poll=0.01)
    handle = manager.create_service(object, {"instance_params": [{"x": 1}]})
    assert handle.status is ServiceStatus.PENDING  # at once, before any await
    await _until(lambda: handle.cluster is not None)
    service = _service(engine.clusters[0])
    assert service.params == {"x": 1}
    service.state.value = "starting"
    assert handle.status.value == "starting"
    await _until(lambda: "starting" in handle.phases)
    service.state.value = "running"
    assert handle.status.value == "running"
    await _until(lambda: "running" in handle.phases)
    assert await manager.stop_and_wait(handle, within=2)
    assert handle.status.value == "stopped"
    assert handle.reason is None
    assert engine.clusters[0].terminated  # demand withdrawn, agreements ended
    for phase in ("created", "cluster", "starting", "running", "finished"):
        assert phase in handle.phases
    await manager.close()
    assert engine.stops == 1


@pytest.mark.asyncio
async def test_stop_before_the_cluster_exists_stops_it_when_it_appears() -> None:
    gate = asyncio.Event()
    engine = FakeEngine(gate=gate)
    manager = ServiceManager(lambda: engine, poll=0.01)
    handle = manager.create_service(object)
    await asyncio.sleep(0.02)
    handle.stop()  # engine still starting: no cluster yet
    assert handle.cluster is None
    assert handle.status is ServiceStatus.STOPPED
    gate.set()
    assert await handle.wait_finished(2)
    # stopped before run_service: no demand was ever published
    assert engine.clusters == []
    assert handle.status is ServiceStatus.STOPPED
    await manager.close()


@pytest.mark.asyncio
async def test_stop_while_run_service_in_flight_stops_the_new_cluster() -> None:
    engine = FakeEngine()
    manager = ServiceManager(lambda: engine, poll=0.01)
    original = engine.run_service

    async def slow_run_service(service_class, **kwargs):  # type: ignore[no-untyped-def]
        handle.stop()  # the user clicks Stop while the cluster is being created
        return await original(service_class, **kwargs)

    engine.run_service = slow_run_service  # type: ignore[method-assign]
    handle = manager.create_service(object)
    assert await handle.wait_finished(2)
    cluster = engine.clusters[0]
    assert cluster.stop_calls >= 1
    assert cluster.terminated
    assert _service(cluster).state.value == "terminated"
    assert handle.status is ServiceStatus.STOPPED
    await manager.close()


@pytest.mark.asyncio
async def test_instance_ending_by_itself_is_failed_with_reason() -> None:
    engine = FakeEngine()
    manager = ServiceManager(lambda: engine, poll=0.01)
    handle = manager.create_service(object)
    await _until(lambda: handle.cluster is not None)
    service = _service(engine.clusters[0])
    service.state.value = "running"
    service.reason = "provider-1: start failed (tried 3 provider(s))"
    service.state.value = "terminated"
    assert await handle.wait_finished(2)
    assert handle.status is ServiceStatus.FAILED
    assert handle.reason == "provider-1: start failed (tried 3 provider(s))"
    handle.stop()  # the user clears it away: it stays failed, with its reason
    assert handle.status is ServiceStatus.FAILED
    assert handle.reason == "provider-1: start failed (tried 3 provider(s))"
    await manager.close()


@pytest.mark.asyncio
async def test_engine_start_failure_fails_handles_and_is_retried_next_time() -> None:
    made: list[FakeEngine] = []

    def factory() -> FakeEngine:
        engine = FakeEngine(start_error=ConnectionRefusedError("refused") if not made else None)
        made.append(engine)
        return engine

    manager = ServiceManager(
        factory, on_engine_error=lambda e: YagnaNotRunning("http://127.0.0.1:1", str(e)), poll=0.01
    )
    first = manager.create_service(object)
    assert await first.wait_finished(2)
    assert first.status is ServiceStatus.FAILED
    assert isinstance(first.error, YagnaNotRunning)
    assert "Cannot reach the yagna daemon" in (first.reason or "")
    second = manager.create_service(object)
    await _until(lambda: second.cluster is not None)
    assert len(made) == 2
    assert made[1].starts == 1
    await manager.close()
    assert made[1].stops == 1
    assert made[0].stops == 0


@pytest.mark.asyncio
async def test_one_engine_for_many_services_and_close_stops_all() -> None:
    engine = FakeEngine()
    calls = 0

    def factory() -> FakeEngine:
        nonlocal calls
        calls += 1
        return engine

    manager = ServiceManager(factory, poll=0.01)
    handles = [manager.create_service(object) for _ in range(3)]
    await _until(lambda: all(h.cluster is not None for h in handles))
    for cluster in engine.clusters:
        _service(cluster).state.value = "running"
    await manager.close()
    assert calls == 1
    assert engine.starts == 1
    assert engine.stops == 1
    assert all(h.status is ServiceStatus.STOPPED for h in handles)
    assert all(c.terminated for c in engine.clusters)
    with pytest.raises(RuntimeError, match="closed"):
        manager.create_service(object)


@pytest.mark.asyncio
async def test_stop_right_after_the_instance_ended_keeps_the_failure() -> None:
    engine = FakeEngine()
    manager = ServiceManager(lambda: engine, poll=0.5)  # no await before stop: unseen by it
    handle = manager.create_service(object)
    await _until(lambda: handle.cluster is not None)
    service = _service(engine.clusters[0])
    service.state.value = "terminated"
    service.reason = "provider p ended the activity"
    handle.stop()
    assert handle.status.value == "failed"
    assert handle.reason == "provider p ended the activity"
    await manager.close()

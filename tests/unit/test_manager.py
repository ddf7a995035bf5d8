"""NodeManager with a scripted backend (tests/support/scripted_backend.py), the real NodeStore on
SQLite and the real keyring API (in-memory backend): transitions, failures, polling, recovery."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
import pytest_asyncio
from erigolem_runtime.api.process import process_token

from erigolem_desktop.core.backends.base import BackendError, NodeSpec
from erigolem_desktop.core.manager import (
    CLOSED_REASON,
    OWNER_APP,
    RECOVERED_REASON,
    EventKind,
    ManagerError,
    NodeEvent,
    NodeManager,
    owner_alive,
)
from erigolem_desktop.core.records import NodeRecord, NodeStore
from erigolem_desktop.core.secrets import SecretStore
from erigolem_desktop.core.states import NodeState
from tests.support.memkeyring import MemoryKeyring
from tests.support.scripted_backend import ScriptedBackend, status_json

SPEC = NodeSpec(chain="dev", client="anvil", name="test node")


@pytest.fixture
def store(tmp_path: Path) -> NodeStore:
    return NodeStore(tmp_path / "nodes.sqlite3")


@pytest.fixture
def backend() -> ScriptedBackend:
    return ScriptedBackend()


@pytest_asyncio.fixture
async def manager(
    store: NodeStore, backend: ScriptedBackend, memory_keyring: MemoryKeyring
) -> AsyncIterator[NodeManager]:
    mgr = NodeManager(
        store,
        {"local": backend},
        SecretStore(choose_backend=False),
        poll_interval=0.01,
        max_poll_interval=0.05,
    )
    try:
        yield mgr
    finally:
        await mgr.close()


def _drain(queue: asyncio.Queue[NodeEvent]) -> list[NodeEvent]:
    out = []
    while not queue.empty():
        out.append(queue.get_nowait())
    return out


async def _until(manager: NodeManager, node_id: str, *states: NodeState) -> NodeRecord:
    return await manager.wait(node_id, states, timeout=5)


@pytest.mark.asyncio
async def test_owner_kind_is_recorded_on_the_nodes_of_its_manager(
    store: NodeStore, backend: ScriptedBackend, memory_keyring: MemoryKeyring
) -> None:
    """`erigolem node stop` reads it to decide whether the owner may be signalled."""
    mgr = NodeManager(
        store, {"local": backend}, SecretStore(choose_backend=False), owner_kind=OWNER_APP
    )
    try:
        rec = await mgr.start(NodeSpec("dev", "anvil", "n"), backend="local")
        ready = await _until(mgr, rec.id, NodeState.READY)
        assert ready.runtime["owner_kind"] == OWNER_APP
    finally:
        await mgr.close()


@pytest.mark.asyncio
async def test_start_returns_pending_then_becomes_ready(
    manager: NodeManager, backend: ScriptedBackend, memory_keyring: MemoryKeyring
) -> None:
    queue = manager.subscribe()
    rec = await manager.start(SPEC, owner="0xabc")
    assert rec.state is NodeState.PENDING
    assert manager.get(rec.id) == rec
    ready = await _until(manager, rec.id, NodeState.READY)
    assert ready.state is NodeState.READY
    assert ready.url == f"http://127.0.0.1:1/{rec.id}/"
    assert ready.user == "erigolem"
    assert ready.owner == "0xabc"
    assert ready.ready_at is not None
    assert ready.last_status is not None
    assert ready.last_status.to_json()["state"] == "ready"
    assert ready.runtime["workdir"] == f"/nodes/{rec.id}"
    assert ready.runtime["owner_pid"] > 0
    assert "owner_kind" not in ready.runtime  # this manager was not told what process it is
    assert manager.password(rec.id) == backend.passwords[rec.id]
    assert backend.passwords[rec.id] in memory_keyring.store.values()
    kinds = [(e.kind, e.record.state) for e in _drain(queue) if e.node_id == rec.id]
    assert kinds[0] == (EventKind.ADDED, NodeState.PENDING)
    assert (EventKind.STATE, NodeState.STARTING) in kinds
    assert (EventKind.PROGRESS, NodeState.STARTING) in kinds
    assert kinds.index((EventKind.STATE, NodeState.READY)) > kinds.index(
        (EventKind.PROGRESS, NodeState.STARTING)
    )
    assert manager.holds(rec.id)
    # the password is in the keyring only: not in the record, not in the database files
    assert "password" not in (ready.last_status.to_json().get("auth") or {})
    await asyncio.sleep(0.05)  # a few polls store fresh status too
    for path in manager.store.path.parent.glob(manager.store.path.name + "*"):
        assert backend.passwords[rec.id].encode() not in path.read_bytes(), path


@pytest.mark.asyncio
async def test_start_wait_true(manager: NodeManager) -> None:
    rec = await manager.start(SPEC, wait=True)
    assert rec.state is NodeState.READY


@pytest.mark.asyncio
async def test_backend_failure_marks_failed_with_reason_and_hint(
    manager: NodeManager, backend: ScriptedBackend, memory_keyring: MemoryKeyring
) -> None:
    backend.start_error = BackendError("Erigon is not installed.", "Set clients.erigon.binary.")
    rec = await manager.start(SPEC, wait=True)
    assert rec.state is NodeState.FAILED
    assert rec.reason == "Erigon is not installed. Set clients.erigon.binary."
    assert rec.stopped_at is not None
    assert manager.password(rec.id) is None
    assert not backend.running
    assert memory_keyring.store == {}
    # nothing lost: the record is still there after a restart
    again = NodeStore(manager.store.path)
    assert again.get(rec.id) == manager.get(rec.id)


@pytest.mark.asyncio
async def test_unknown_backend_is_refused(manager: NodeManager) -> None:
    with pytest.raises(ManagerError, match="'golem' backend is not available"):
        await manager.start(SPEC, backend="golem")
    assert manager.list() == []


@pytest.mark.asyncio
async def test_polling_moves_syncing_to_ready_and_records_cost(
    manager: NodeManager, backend: ScriptedBackend
) -> None:
    backend.start_state = "syncing"
    backend.cost = Decimal("0.25")
    rec = await manager.start(SPEC, wait=True)
    assert rec.state is NodeState.SYNCING
    assert rec.ready_at is None
    sync = {"current_block": 5, "highest_block": 10, "stages": [], "progress": 0.5}
    backend.statuses = [status_json(rec.id, "syncing", sync=sync), status_json(rec.id, "ready")]
    ready = await _until(manager, rec.id, NodeState.READY)
    assert ready.ready_at is not None
    assert ready.cost == Decimal("0.25")


@pytest.mark.asyncio
async def test_degraded_status_keeps_node_with_reason(
    manager: NodeManager, backend: ScriptedBackend
) -> None:
    rec = await manager.start(SPEC, wait=True)
    queue = manager.subscribe()
    backend.statuses = [status_json(rec.id, "degraded", reason="client restarting (1)")]
    event = await asyncio.wait_for(queue.get(), 5)
    while event.record.state is not NodeState.SYNCING:
        event = await asyncio.wait_for(queue.get(), 5)
    assert event.record.reason == "client restarting (1)"
    back = await _until(manager, rec.id, NodeState.READY)
    assert back.reason is None


@pytest.mark.asyncio
async def test_status_error_then_recovery(manager: NodeManager, backend: ScriptedBackend) -> None:
    await manager.start(SPEC, wait=True)
    queue = manager.subscribe()
    backend.statuses = [BackendError("timeout reading status")]
    event = await asyncio.wait_for(queue.get(), 5)
    assert event.kind is EventKind.STATUS
    assert event.record.reason is not None
    assert "timeout reading status" in event.record.reason
    assert event.record.state is NodeState.READY  # one failure does not fail the node
    while True:
        event = await asyncio.wait_for(queue.get(), 5)
        if event.record.reason is None:
            break
    assert event.record.state is NodeState.READY


@pytest.mark.asyncio
async def test_repeated_status_errors_fail_the_node(
    manager: NodeManager, backend: ScriptedBackend
) -> None:
    rec = await manager.start(SPEC, wait=True)
    backend.statuses = [BackendError("no answer")] * 3
    failed = await _until(manager, rec.id, NodeState.FAILED)
    assert failed.reason == "Lost contact with the node: no answer"
    assert ("stop", rec.id) in backend.calls
    assert not backend.running


@pytest.mark.asyncio
async def test_runtime_reports_failed(manager: NodeManager, backend: ScriptedBackend) -> None:
    rec = await manager.start(SPEC, wait=True)
    backend.statuses = [status_json(rec.id, "failed", reason="anvil crashed 5 times")]
    failed = await _until(manager, rec.id, NodeState.FAILED)
    assert failed.reason == "The node failed: anvil crashed 5 times"
    assert not backend.running


@pytest.mark.asyncio
async def test_stop_transitions_and_forgets_password(
    manager: NodeManager, backend: ScriptedBackend
) -> None:
    rec = await manager.start(SPEC, wait=True)
    queue = manager.subscribe()
    stopped = await manager.stop(rec.id[:6])  # a unique prefix works
    assert stopped.state is NodeState.STOPPED
    assert stopped.stopped_at is not None
    assert stopped.reason is None
    states = [e.record.state for e in _drain(queue) if e.kind is EventKind.STATE]
    assert states == [NodeState.STOPPING, NodeState.STOPPED]
    assert manager.password(rec.id) is None
    assert not backend.running
    assert (await manager.stop(rec.id)).state is NodeState.STOPPED  # idempotent
    with pytest.raises(ManagerError, match="is stopped; cannot rotate"):
        await manager.rotate(rec.id)


@pytest.mark.asyncio
async def test_stop_failure_is_reported(manager: NodeManager, backend: ScriptedBackend) -> None:
    rec = await manager.start(SPEC, wait=True)
    backend.stop_error = BackendError("nginx did not reload", "Check the runtime log.")
    failed = await manager.stop(rec.id)
    assert failed.state is NodeState.FAILED
    assert failed.reason == "Stopping the node failed: nginx did not reload Check the runtime log."


@pytest.mark.asyncio
async def test_stop_during_start(manager: NodeManager, backend: ScriptedBackend) -> None:
    backend.start_delay = 30
    rec = await manager.start(SPEC)
    await asyncio.sleep(0.05)
    assert backend.running == {rec.id}
    stopped = await asyncio.wait_for(manager.stop(rec.id), 5)
    assert stopped.state is NodeState.STOPPED
    assert not backend.running


@pytest.mark.asyncio
async def test_rotate_and_logs(
    manager: NodeManager, backend: ScriptedBackend, memory_keyring: MemoryKeyring
) -> None:
    rec = await manager.start(SPEC, wait=True)
    old = manager.password(rec.id)
    queue = manager.subscribe()
    rotated = await manager.rotate(rec.id)
    assert rotated.user == "erigolem"
    new = manager.password(rec.id)
    assert new is not None
    assert new != old
    assert new == backend.passwords[rec.id]
    assert any(e.kind is EventKind.CREDENTIALS for e in _drain(queue))
    assert (await manager.logs(rec.id, 3)) == "line 0\nline 1\nline 2"


@pytest.mark.asyncio
async def test_keyring_failure_stops_the_node(
    manager: NodeManager, backend: ScriptedBackend, memory_keyring: MemoryKeyring
) -> None:
    from keyring.errors import KeyringError

    def broken(service: str, username: str, password: str) -> None:
        raise KeyringError("the keyring is locked")

    memory_keyring.set_password = broken  # type: ignore[method-assign]
    rec = await manager.start(SPEC, wait=True)
    assert rec.state is NodeState.FAILED
    assert rec.reason is not None
    assert "password could not be saved in the keyring" in rec.reason
    assert not backend.running


@pytest.mark.asyncio
async def test_resolve(manager: NodeManager, store: NodeStore) -> None:
    store.add(NodeRecord(id="abc111", name="a", backend="local", chain="dev", client="anvil"))
    store.add(NodeRecord(id="abc222", name="b", backend="local", chain="dev", client="anvil"))
    assert manager.resolve("abc1").id == "abc111"
    with pytest.raises(ManagerError, match="matches several nodes"):
        manager.resolve("abc")
    with pytest.raises(ManagerError, match="There is no node 'zzz'"):
        manager.resolve("zzz")
    with pytest.raises(ManagerError, match="no node ''"):
        manager.resolve("")


@pytest.mark.asyncio
async def test_the_url_path_id_names_the_node_too(manager: NodeManager, store: NodeStore) -> None:
    """`erigolem rpc 8b96bee5fdf5d669` (the id in the URL) finds node 44803a3b8f3b."""
    url = "http://127.0.0.1:8080/8b96bee5fdf5d669/"
    node = NodeRecord(id="44803a3b8f3b", name="a", backend="local", chain="dev", client="anvil")
    store.add(node.evolve(url=url))
    store.add(NodeRecord(id="0f0f0f0f0f0f", name="b", backend="local", chain="dev", client="anvil"))
    for key in ("44803a3b8f3b", "8b96bee5fdf5d669", "/8b96bee5fdf5d669/", url, url.rstrip("/")):
        assert manager.resolve(key).id == "44803a3b8f3b", key
        assert manager.lookup(key) is not None
    assert manager.resolve("8b96").id == "44803a3b8f3b"  # a unique prefix of either id
    assert manager.lookup("8b96") is None  # exact ids only (what the REST server uses)
    with pytest.raises(ManagerError, match="id in its URL"):
        manager.resolve("http://127.0.0.1:8080/ffffffffffffffff/")


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.mark.asyncio
async def test_recover_marks_orphans_stopped_and_leaves_live_owners(
    manager: NodeManager, store: NodeStore, backend: ScriptedBackend
) -> None:
    dead = _dead_pid()
    orphan = NodeRecord(
        id="orphan1",
        name="o",
        backend="local",
        chain="dev",
        client="anvil",
        state=NodeState.READY,
        runtime={"owner_pid": dead, "owner_token": "123", "pid": 999999},
    )
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])  # noqa: ASYNC220
    try:
        live = NodeRecord(
            id="live111",
            name="l",
            backend="local",
            chain="dev",
            client="anvil",
            state=NodeState.SYNCING,
            runtime={"owner_pid": sleeper.pid, "owner_token": process_token(sleeper.pid)},
        )
        reused = NodeRecord(
            id="reused1",
            name="r",
            backend="local",
            chain="dev",
            client="anvil",
            state=NodeState.STARTING,
            runtime={"owner_pid": sleeper.pid, "owner_token": "not-its-start-time"},
        )
        done = NodeRecord(
            id="done111",
            name="d",
            backend="local",
            chain="dev",
            client="anvil",
            state=NodeState.STOPPED,
        )
        for r in (orphan, live, reused, done):
            store.add(r)
        manager.secrets.set("orphan1", "x" * 24)
        changed = await manager.recover()
        assert sorted(r.id for r in changed) == ["orphan1", "reused1"]
        for node_id in ("orphan1", "reused1"):
            got = manager.get(node_id)
            assert got is not None
            assert got.state is NodeState.STOPPED
            assert got.reason == RECOVERED_REASON
        assert manager.password("orphan1") is None
        assert [n for n, _ in backend.reclaimed] == ["orphan1", "reused1"]
        assert backend.reclaimed[0][1]["pid"] == 999999
        live_now = manager.get("live111")
        assert live_now is not None
        assert live_now.state is NodeState.SYNCING
        assert owner_alive(live.runtime)
    finally:
        sleeper.kill()
        sleeper.wait()
    assert not owner_alive(live.runtime)
    assert not owner_alive({})


@pytest.mark.asyncio
async def test_close_stops_held_nodes(
    store: NodeStore, backend: ScriptedBackend, memory_keyring: MemoryKeyring
) -> None:
    mgr = NodeManager(store, {"local": backend}, SecretStore(choose_backend=False))
    rec = await mgr.start(SPEC, wait=True)
    backend.start_delay = 30
    slow = await mgr.start(SPEC)
    await asyncio.sleep(0.05)
    await asyncio.wait_for(mgr.close(), 5)
    got = store.get(rec.id)
    assert got is not None
    assert got.state is NodeState.STOPPED
    assert got.reason == CLOSED_REASON
    slow_now = store.get(slow.id)
    assert slow_now is not None
    assert slow_now.state is NodeState.STOPPED
    assert not backend.running
    with pytest.raises(ManagerError, match="closed"):
        await mgr.start(SPEC)
    # a new manager on the same file sees the records
    fresh = NodeManager(
        NodeStore(store.path), {"local": backend}, SecretStore(choose_backend=False)
    )
    assert {r.id for r in fresh.list()} == {rec.id, slow.id}
    assert await fresh.recover() == []


@pytest.mark.asyncio
async def test_events_iterator_and_forget(manager: NodeManager) -> None:
    seen: list[NodeEvent] = []

    async def consume() -> None:
        async for event in manager.events():
            seen.append(event)
            if event.record.state is NodeState.READY:
                return

    consumer = asyncio.create_task(consume())
    await asyncio.sleep(0)
    rec = await manager.start(SPEC)
    await asyncio.wait_for(consumer, 5)
    assert seen[0].kind is EventKind.ADDED
    with pytest.raises(ManagerError, match="Stop it first"):
        await manager.forget(rec.id)
    await manager.stop(rec.id)
    await manager.forget(rec.id)
    assert manager.get(rec.id) is None

"""SIGKILL of the private nginx master leaves no worker serving (issue 11 item 7).

Real LocalBackend + erigolem-runtime + nginx + anvil on loopback. A master killed hard leaves its
worker accepting on the listen port with the old config; the next start must end that worker
(it is in the dead master's group and session), take the same port again so running nodes keep
their URL, and `stop` must end everything. ERIGOLEM_MASTER_KILLS sets how many kills (default 3).
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import pytest_asyncio
from erigolem_runtime.api.process import children, cmdline, group_members, process_token
from erigolem_runtime.nginx import running_master_pid

from erigolem_desktop.core.backends.base import NodeSpec
from erigolem_desktop.core.backends.local import LocalBackend
from erigolem_desktop.core.manager import NodeManager
from erigolem_desktop.core.records import NodeStore
from erigolem_desktop.core.rpc import JsonRpcClient
from erigolem_desktop.core.secrets import SecretStore
from erigolem_desktop.core.states import NodeState
from tests.support.memkeyring import MemoryKeyring

pytestmark = pytest.mark.integration

KILLS = int(os.environ.get("ERIGOLEM_MASTER_KILLS", "3"))


@pytest_asyncio.fixture
async def manager(
    erigolem_home: Path, memory_keyring: MemoryKeyring, anvil_bin: Path, nginx_bin: Path
) -> AsyncIterator[NodeManager]:
    mgr = NodeManager(
        NodeStore(), {"local": LocalBackend(erigolem_home)}, SecretStore(choose_backend=False)
    )
    try:
        yield mgr
    finally:
        await asyncio.wait_for(mgr.close(), 30)


def _nginx_of(prefix: Path, killed: list[int]) -> list[int]:
    """nginx processes of this prefix: a master titled with it, its workers, killed groups'."""
    found = {p for m in killed for p in group_members(m)}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            line = cmdline(int(entry.name)) or b""
            if line.startswith(b"nginx: ") and f" -p {prefix}/ ".encode() in line:
                found.add(int(entry.name))
                found.update(children(int(entry.name)))
    return sorted(p for p in found if process_token(p) is not None)


async def _kill_master(prefix: Path) -> tuple[int, list[int]]:
    master = running_master_pid(prefix)
    assert master is not None
    workers = children(master)
    assert workers
    os.kill(master, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while process_token(master) is not None:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    return master, workers


async def _chain_id(manager: NodeManager, node_id: str) -> int:
    rec = manager.resolve(node_id)
    assert rec.url is not None
    async with JsonRpcClient(rec.url, rec.user, manager.password(node_id), timeout=5) as rpc:
        return int((await rpc.call("eth_chainId")).unwrap(), 16)


@pytest.mark.asyncio
async def test_killed_masters_leave_no_worker_and_urls_stay(
    manager: NodeManager, erigolem_home: Path
) -> None:
    killed: list[int] = []
    try:
        await _kill_and_restart(manager, erigolem_home / "runtime" / "nginx", killed)
    finally:  # on a failure, leave no orphan (the leak check cannot see nginx's workers)
        for pid in {p for m in killed for p in group_members(m)}:
            os.kill(pid, signal.SIGKILL)


async def _kill_and_restart(manager: NodeManager, prefix: Path, killed: list[int]) -> None:
    first = await asyncio.wait_for(manager.start(NodeSpec("dev", "anvil", "a"), wait=True), 60)
    assert first.state is NodeState.READY, first.reason
    assert first.url is not None
    port = urlsplit(first.url).port
    orphans_left = 0
    restarts: list[float] = []
    for i in range(KILLS):
        master, workers = await _kill_master(prefix)
        killed.append(master)
        assert [w for w in workers if process_token(w) is not None], "no orphan: nothing tested"
        t0 = time.monotonic()
        other = await asyncio.wait_for(
            manager.start(NodeSpec("dev", "anvil", f"b{i}"), wait=True), 60
        )
        restarts.append(time.monotonic() - t0)
        assert other.state is NodeState.READY, other.reason
        assert other.url is not None
        orphans_left += len(group_members(master))
        assert group_members(master) == [], "the dead master's worker still runs"
        assert urlsplit(other.url).port == port  # the same listen port, taken again
        assert manager.resolve(first.id).url == first.url
        assert await _chain_id(manager, first.id) == 31337  # the new master serves it
        assert await _chain_id(manager, other.id) == 31337
        await asyncio.wait_for(manager.stop(other.id), 30)
    master, _ = await _kill_master(prefix)  # once more, then stop the last node
    killed.append(master)
    await asyncio.wait_for(manager.stop(first.id), 30)
    assert manager.resolve(first.id).state is NodeState.STOPPED
    deadline = time.monotonic() + 5
    while _nginx_of(prefix, killed) and time.monotonic() < deadline:  # noqa: ASYNC110 - processes exiting
        await asyncio.sleep(0.05)
    left = _nginx_of(prefix, killed)
    assert left == [], [cmdline(p) for p in left]
    assert all(group_members(m) == [] for m in killed)
    print(
        f"{len(killed)} SIGKILLs of the private nginx master: {orphans_left} orphaned workers "
        f"after the next start, {len(left)} nginx processes after stop; next start took "
        f"{min(restarts):.2f}-{max(restarts):.2f} s; node URL port {port} kept"
    )

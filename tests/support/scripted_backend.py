"""A scripted Backend for manager/CLI/UI tests.

It stands for a real backend (LocalBackend, GolemBackend) in tests about the *manager's*
behaviour: the test decides how a start goes (delay, progress messages, failure), what `status`
returns or raises, and sees which calls were made. It runs no process and serves no endpoint;
tests of the real thing are in tests/integration/test_local_backend.py.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar

from erigolem_runtime.api import NodeStatus

from erigolem_desktop.core.backends.base import (
    BackendError,
    NodeSpec,
    ProgressCallback,
    StartedNode,
    Usage,
)


def status_json(node_id: str, state: str = "ready", **extra: Any) -> NodeStatus:
    """A status as the runtime's `run status` prints it (JSON `extra` overrides), read typed."""
    out: dict[str, Any] = {
        "url": f"http://127.0.0.1:1/{node_id}/",
        "auth": {"user": "erigolem", "password": "p" * 24},
        "chain": "dev",
        "network": "dev",
        "client": "anvil",
        "state": state,
        "instance": node_id,
        "sync": None,
        "peers": 0,
        "block": 0,
        "restarts": 0,
        "reason": None,
    }
    out.update(extra)
    return NodeStatus.from_json(out)


@dataclass
class ScriptedBackend:
    kind: ClassVar[str] = "local"

    start_delay: float = 0.0
    start_error: BackendError | None = None
    start_state: str = "ready"
    progress_messages: tuple[str, ...] = ("Preparing", "Starting the client")
    statuses: list[Any] = field(default_factory=list)  # consumed in order: NodeStatus or Exception
    cost: Decimal | None = None
    running: set[str] = field(default_factory=set)
    calls: list[tuple[str, str]] = field(default_factory=list)
    passwords: dict[str, str] = field(default_factory=dict)
    reclaimed: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    stop_error: BackendError | None = None

    async def start(self, node_id: str, spec: NodeSpec, progress: ProgressCallback) -> StartedNode:
        self.calls.append(("start", node_id))
        for msg in self.progress_messages:
            progress(msg)
            await asyncio.sleep(0)
        self.running.add(node_id)
        try:
            await asyncio.sleep(self.start_delay)
        except asyncio.CancelledError:
            self.running.discard(node_id)  # a real backend cleans up on cancel too
            raise
        if self.start_error is not None:
            self.running.discard(node_id)
            raise self.start_error
        password = f"pw-{node_id}-0".ljust(24, "x")
        self.passwords[node_id] = password
        status = status_json(
            node_id, self.start_state, auth={"user": "erigolem", "password": password}
        )
        return StartedNode(status.url, "erigolem", password, status)

    async def status(self, node_id: str) -> NodeStatus:
        self.calls.append(("status", node_id))
        if node_id not in self.running:
            raise BackendError(f"node {node_id} is not running")
        if self.statuses:
            item = self.statuses.pop(0)
            if isinstance(item, Exception):
                raise item
            assert isinstance(item, NodeStatus), item
            return item
        auth = {"user": "erigolem", "password": self.passwords.get(node_id, "")}
        return status_json(node_id, "ready", auth=auth)

    async def rotate_credentials(self, node_id: str) -> tuple[str, str]:
        self.calls.append(("rotate", node_id))
        n = int(self.passwords[node_id].split("-")[2][0]) + 1
        self.passwords[node_id] = f"pw-{node_id}-{n}".ljust(24, "x")
        return "erigolem", self.passwords[node_id]

    async def logs(self, node_id: str, lines: int) -> str:
        self.calls.append(("logs", node_id))
        return "\n".join(f"line {i}" for i in range(lines))

    async def usage(self, node_id: str) -> Usage | None:
        return Usage(self.cost) if self.cost is not None else None

    async def stop(self, node_id: str) -> None:
        self.calls.append(("stop", node_id))
        if self.stop_error is not None:
            raise self.stop_error
        self.running.discard(node_id)

    def is_running(self, node_id: str) -> bool:
        return node_id in self.running

    def runtime_info(self, node_id: str) -> dict[str, Any]:
        return {"workdir": f"/nodes/{node_id}", "pid": 4242}

    async def reclaim(self, node_id: str, runtime: dict[str, Any]) -> None:
        self.reclaimed.append((node_id, runtime))

    async def close(self) -> None:
        for node_id in list(self.running):
            await self.stop(node_id)

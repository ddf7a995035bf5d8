"""Stand-in for yapapi's `Golem` engine and `Cluster` in service-manager unit tests.

It stands for the market and the provider: a cluster's single instance walks through yapapi's
service states (pending -> starting -> running -> [stopping ->] terminated) when the test says so,
with no yagna. The integration test (`tests/integration/test_golem_yagna.py`) runs the manager on
the real yapapi engine against real yagna daemons.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from typing import Any


@dataclass
class FakeState:
    value: str = "pending"


class FakeService:
    """What the manager reads of a yapapi Service: `state.value`, `exc_info`, a failure reason."""

    def __init__(self, **params: Any) -> None:
        self.params = params
        self.state = FakeState()
        self.exc_info: tuple[Any, Any, Any] = (None, None, None)
        self.reason: str | None = None

    def failure_reason(self) -> str | None:
        return self.reason


_ids = itertools.count(1)


class FakeCluster:
    """One instance; `stop()` walks it to `terminated` a moment later, like yapapi's runner."""

    def __init__(self, service_class: type[Any], params: dict[str, Any]) -> None:
        self.id = f"fake-{next(_ids)}"
        self.params = params
        params_list = params.get("instance_params") or [{}]
        self._instances = [FakeService(**params_list[0])]
        self.stop_calls = 0
        self.terminated = False

    @property
    def instances(self) -> list[Any]:
        return list(self._instances)

    def stop(self) -> None:
        self.stop_calls += 1
        service = self._instances[0]
        if service.state.value in ("pending", "starting", "running"):
            service.state.value = "stopping"
            asyncio.get_running_loop().call_later(0.05, self._terminate_instance)

    def _terminate_instance(self) -> None:
        self._instances[0].state.value = "terminated"

    async def terminate(self) -> None:
        self.terminated = True


@dataclass
class FakeEngine:
    """`start` can be held on a gate or made to fail; `run_service` hands out FakeClusters."""

    gate: asyncio.Event | None = None
    start_error: BaseException | None = None
    starts: int = 0
    stops: int = 0
    clusters: list[FakeCluster] = field(default_factory=list)

    async def start(self) -> None:
        self.starts += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.start_error is not None:
            raise self.start_error

    async def stop(self, wait_for_payments: bool = True) -> None:
        self.stops += 1

    async def run_service(self, service_class: Any, **kwargs: Any) -> FakeCluster:
        await asyncio.sleep(0)
        cluster = FakeCluster(service_class, kwargs)
        self.clusters.append(cluster)
        return cluster

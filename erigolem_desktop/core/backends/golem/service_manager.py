"""The project's small service manager on yapapi (the role of the unpublished yapapi-service-manager).

One Golem engine per app, started lazily in the running asyncio loop (qasync in the GUI, plain
asyncio in the CLI). `create_service` returns a `ServiceHandle` at once (status `pending`) and
runs `Golem.run_service` in a task; the handle survives the cluster and knows `stopped` (the user
asked) from `failed` (it ended by itself, with a reason). A handle stopped before its cluster
exists stops that cluster as soon as it appears (the original's yapapi #461 race), and each
cluster's demand is withdrawn when its instance ends, so stopped nodes leave nothing on the market.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

log = logging.getLogger(__name__)

CANCEL_WAIT = 5.0  # seconds a cancelled service task gets to unwind before Stop returns


class ServiceStatus(StrEnum):
    PENDING = "pending"
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    FAILED = "failed"


class ClusterLike(Protocol):
    """The part of `yapapi.services.Cluster` the manager uses."""

    @property
    def id(self) -> str: ...

    @property
    def instances(self) -> list[Any]: ...

    def stop(self) -> None: ...

    async def terminate(self) -> None: ...


class EngineLike(Protocol):
    """The part of `yapapi.Golem` the manager uses."""

    async def start(self) -> None: ...

    async def stop(self, wait_for_payments: bool = True) -> None: ...

    async def run_service(self, service_class: Any, **kwargs: Any) -> Any: ...


_STATES = {
    "pending": ServiceStatus.PENDING,
    "starting": ServiceStatus.STARTING,
    "running": ServiceStatus.RUNNING,
    "stopping": ServiceStatus.STOPPING,
}


def _restarting(service: Any) -> bool:
    """True while yapapi will restart the instance (its start failed, attempts remain)."""
    return bool(getattr(service, "restart_condition", False))


@dataclass
class ServiceHandle:
    """One service instance as the app sees it, from before the agreement to after the end.

    Attributes:
        id: stable id assigned before any Golem activity.
        phases: monotonic timestamps of what happened (created, agreement, activity, running,
            stopped) for progress and benchmarks.
    """

    service_class: type[Any]
    run_params: Mapping[str, Any]
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    cluster: ClusterLike | None = None
    stop_requested: bool = False
    stop_reason: str | None = None
    failure: str | None = None
    error: BaseException | None = None
    created_at: datetime = field(default_factory=datetime.now)
    stopped_at: datetime | None = None
    phases: dict[str, float] = field(default_factory=lambda: {"created": time.monotonic()})
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    _finished: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def service(self) -> Any | None:
        """The yapapi Service instance, once the cluster exists."""
        if self.cluster is None:
            return None
        instances = self.cluster.instances
        return instances[0] if instances else None

    @property
    def status(self) -> ServiceStatus:
        if self.failure is not None:
            return ServiceStatus.FAILED
        service = self.service
        state = "pending" if service is None else str(service.state.value)
        if state == "terminated" and not self.stop_requested and _restarting(service):
            return ServiceStatus.PENDING  # a failed start, about to be retried elsewhere
        if state == "terminated" or (self.stop_requested and self._finished.is_set()):
            return ServiceStatus.STOPPED if self.stop_requested else ServiceStatus.FAILED
        if state == "unresponsive":
            return ServiceStatus.FAILED
        if self.stop_requested:
            return ServiceStatus.STOPPED if service is None else ServiceStatus.STOPPING
        return _STATES.get(state, ServiceStatus.PENDING)

    @property
    def reason(self) -> str | None:
        """Why the service failed, when it did."""
        if self.failure is not None:
            return self.failure
        if self.status is not ServiceStatus.FAILED:
            return None
        return self.explain()

    def explain(self) -> str:
        """What the service itself says about its end (or a generic reason)."""
        service = self.service
        explain = getattr(service, "failure_reason", None)
        if callable(explain):
            text = explain()
            if text:
                return str(text)
        exc = getattr(service, "exc_info", (None, None, None))[1]
        if exc is not None:
            return f"{type(exc).__name__}: {exc}"
        return "the provider ended the service"

    def mark(self, phase: str) -> None:
        self.phases.setdefault(phase, time.monotonic())
        self.changed.set()

    def fail(self, reason: str, error: BaseException | None = None) -> None:
        if self.failure is None:
            self.failure = reason
            self.error = error
        self.changed.set()

    def stop(self, reason: str | None = None) -> None:
        """Ask the service to stop (idempotent; safe before the cluster exists).

        Args:
            reason: why, when it was not the user (e.g. the budget); shown to the user.
        """
        if reason and self.stop_reason is None:
            self.stop_reason = reason
        if not self.stop_requested and self.failure is None:
            service = self.service
            if service is not None and str(service.state.value) in ("terminated", "unresponsive"):
                self.fail(self.explain())  # it had already ended by itself: that stays a failure
        if not self.stop_requested:
            self.stop_requested = True
            self.stopped_at = datetime.now()
        if self.cluster is not None:
            self.cluster.stop()
        self.changed.set()

    @property
    def finished(self) -> bool:
        return self._finished.is_set()

    async def wait_finished(self, within: float | None = None) -> bool:
        """Wait until the instance ended and its cluster was withdrawn; False on timeout."""
        try:
            await asyncio.wait_for(self._finished.wait(), within)
        except TimeoutError:
            return False
        return True

    async def wait_change(self, within: float) -> None:
        """Wait for the next status change or `within` seconds (for pollers)."""
        self.changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.changed.wait(), within)


class ServiceManager:
    """Creates and stops service instances on one lazily started Golem engine.

    Args:
        engine_factory: builds the engine (a `yapapi.Golem`); called once, at the first start.
        on_engine_error: maps an engine start failure to the exception handles report.
        poll: seconds between checks of an instance's state while it runs.
        release_when_idle: stop the engine (releasing its allocation) as soon as no service is
            left, also when the last one ended by itself (a failure).
    """

    def __init__(
        self,
        engine_factory: Callable[[], EngineLike],
        *,
        on_engine_error: Callable[[BaseException], BaseException] | None = None,
        poll: float = 0.2,
        release_when_idle: bool = False,
    ) -> None:
        self._engine_factory = engine_factory
        self._release_when_idle = release_when_idle
        self._releases: set[asyncio.Task[bool]] = set()
        self._engine: EngineLike | None = None
        self._engine_lock = asyncio.Lock()
        self._started = False
        self._on_engine_error = on_engine_error or (lambda e: e)
        self._poll = poll
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.handles: list[ServiceHandle] = []
        self.closed = False

    @property
    def engine(self) -> EngineLike | None:
        return self._engine if self._started else None

    def create_service(
        self, service_class: type[Any], run_params: Mapping[str, Any] | None = None
    ) -> ServiceHandle:
        """Return a pending handle at once; the engine start and `run_service` run in a task."""
        if self.closed:
            raise RuntimeError("the service manager is closed")
        handle = ServiceHandle(service_class, dict(run_params or {}))
        self.handles.append(handle)
        task = asyncio.get_running_loop().create_task(
            self._run(handle), name=f"golem-service-{handle.id}"
        )
        self._tasks[handle.id] = task
        if self._release_when_idle:
            task.add_done_callback(self._service_ended)
        return handle

    def _service_ended(self, _task: asyncio.Task[None]) -> None:
        """A service task ended: if it was the last one, release the engine in the background."""
        if self.closed or any(not t.done() for t in self._tasks.values()):
            return
        release = asyncio.get_running_loop().create_task(self.release_engine())
        self._releases.add(release)
        release.add_done_callback(self._releases.discard)

    async def ensure_engine(self) -> EngineLike:
        """Start the one engine if needed (a failed start leaves no engine; next call retries)."""
        async with self._engine_lock:
            if self._engine is None:
                self._engine = self._engine_factory()
            if not self._started:
                try:
                    await self._engine.start()
                except Exception as exc:
                    self._engine = None
                    raise self._on_engine_error(exc) from exc
                self._started = True
            return self._engine

    async def _run(self, handle: ServiceHandle) -> None:
        cluster: ClusterLike | None = None
        try:
            try:
                engine = await self.ensure_engine()
            except Exception as exc:
                handle.fail(str(exc), exc)
                return
            if handle.stop_requested:
                return
            cluster = await engine.run_service(handle.service_class, **handle.run_params)
            handle.cluster = cluster
            handle.mark("cluster")
            if handle.stop_requested:  # stopped while run_service was in flight
                cluster.stop()
            await self._watch(handle)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("service %s failed", handle.id, exc_info=True)
            handle.fail(f"{type(exc).__name__}: {exc}", exc)
        finally:
            if cluster is not None:
                with contextlib.suppress(Exception):
                    cluster.stop()
                try:
                    await asyncio.shield(cluster.terminate())
                except Exception:
                    log.debug("cluster %s terminate failed", cluster.id, exc_info=True)
            handle.mark("finished")
            handle._finished.set()
            handle.changed.set()

    async def _watch(self, handle: ServiceHandle) -> None:
        """Follow the instance until it has ended (terminated) and note phase times."""
        last = ""
        while True:
            service = handle.service
            state = "pending" if service is None else str(service.state.value)
            if state != last:
                last = state
                handle.mark(state)
            if state == "terminated" and not handle.stop_requested and _restarting(service):
                pass  # yapapi restarts a failed start on another provider: keep following
            elif state in ("terminated", "unresponsive"):
                if not handle.stop_requested:  # ended by itself: failed, even if stopped later
                    handle.fail(handle.explain())
                return
            if state == "pending" and handle.stop_requested:
                return  # no agreement yet: withdrawing the demand is all there is to do
            await asyncio.sleep(self._poll)

    def stop(self, handle: ServiceHandle) -> None:
        handle.stop()

    async def stop_and_wait(self, handle: ServiceHandle, within: float = 60) -> bool:
        """Stop one service and wait until its cluster is gone; False when it took too long."""
        handle.stop()
        done = await handle.wait_finished(within)
        if not done:
            task = self._tasks.get(handle.id)
            if task is not None:
                task.cancel()  # every wait is bounded: Stop always returns
                await asyncio.wait({task}, timeout=CANCEL_WAIT)
            handle._finished.set()
            handle.changed.set()
        return done

    async def release_engine(self, within: float = 60) -> bool:
        """Stop the engine when no service is left (its allocation is released with it).

        The next `create_service` starts a fresh engine. Returns True when an engine was stopped;
        False when a service still runs or no engine was started.
        """
        async with self._engine_lock:
            if not self._started or self._engine is None:
                return False
            if any(not t.done() for t in self._tasks.values()):
                return False
            engine, self._engine, self._started = self._engine, None, False
            try:
                await asyncio.wait_for(engine.stop(wait_for_payments=True), within)
            except TimeoutError:
                log.warning("the Golem engine did not stop within %.0f s", within)
            except Exception:
                log.warning("the Golem engine failed to stop", exc_info=True)
            return True

    async def close(self, wait_for_payments: bool = True) -> None:
        """Stop every service, then the engine (which waits a while for the last invoices)."""
        if self.closed:
            return
        self.closed = True
        for handle in self.handles:
            handle.stop()
        pending = [t for t in self._tasks.values() if not t.done()]
        if pending:
            _, late = await asyncio.wait(pending, timeout=60)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        if self._releases:
            await asyncio.wait(set(self._releases), timeout=90)
        if self._started and self._engine is not None:
            try:
                await self._engine.stop(wait_for_payments=wait_for_payments)
            finally:
                self._started = False
                self._engine = None

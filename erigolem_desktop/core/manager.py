"""NodeManager: starts, watches and stops nodes through backends, and remembers them.

Qt-free and asyncio-only, so the window (via qasync), the CLI and the REST server share it.

The API in short (`core.app_context.open_manager` builds it for the app, the CLI and the server)::

    manager = open_manager()                      # NodeStore, SecretStore, the Local backend
    await manager.recover()                       # once at startup
    rec = await manager.start(NodeSpec("dev", "anvil", "my node"))   # returns at once: pending
    rec = await manager.wait(rec.id)              # ... until ready / syncing / failed / stopped
    manager.password(rec.id)                      # from the keyring
    queue = manager.subscribe()                   # NodeEvent(node_id, record, kind) for the UI
    await manager.stop(rec.id)
    await manager.close()                         # stops polling, closes backends (their nodes)

States: pending -> starting -> syncing -> ready -> stopping -> stopped, or failed with a reason.
Every change is saved (one SQLite transaction) before it is published.

Backends may offer two optional extras beyond `Backend` (duck-typed):
    `runtime_info(node_id) -> dict`: JSON details saved in `record.runtime` (pids, workdir) so a
        later process can clean up after a crash;
    `async reclaim(node_id, runtime: dict) -> str | None`: kill what is left of a node whose
        owning process died (used by `recover()`), only what it proves it started; returns why
        nothing was signalled when it could not prove that (kept in the record's reason).
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import logging
import os
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from erigolem_runtime.api import NodeStatus, RuntimeState
from erigolem_runtime.api.process import have_procfs, identify, process_token, unproven

from erigolem_desktop.core.backends.base import Backend, BackendError, NodeSpec
from erigolem_desktop.core.errors import HintedError
from erigolem_desktop.core.records import NodeRecord, NodeStore, new_node_id, url_id, utcnow
from erigolem_desktop.core.states import NodeState, from_runtime_state

log = logging.getLogger(__name__)

RECOVERED_REASON = "the app was closed while the node was running; it was stopped"
CLOSED_REASON = "the app was closed; the node was stopped"
UNPROVEN_REASON = "the process that ran this node is gone"  # + why nothing was signalled
_QUEUE_SIZE = 1000
_STATUS_FAILURES_BEFORE_FAILED = 3


class ManagerError(HintedError):
    """A request the manager cannot carry out (unknown id, wrong state): message + hint."""

    hint_in_str = True


class SecretsLike(Protocol):
    """What the manager needs of `secrets.SecretStore` (node passwords in the keyring)."""

    def set(self, node_id: str, password: str) -> None: ...
    def get(self, node_id: str) -> str | None: ...
    def delete(self, node_id: str) -> None: ...


class EventKind(StrEnum):
    ADDED = "added"  # a new record (pending)
    STATE = "state"  # the state changed (reason/url/user may have too)
    PROGRESS = "progress"  # a start-phase message (record.progress)
    STATUS = "status"  # a poll brought a new status (sync progress, peers, block)
    CREDENTIALS = "credentials"  # the password was rotated
    REMOVED = "removed"  # the record was forgotten


@dataclass(frozen=True)
class NodeEvent:
    """One change of one node; `record` is the record after the change."""

    node_id: str
    record: NodeRecord
    kind: EventKind


def owner_alive(runtime: Mapping[str, Any]) -> bool:
    """Whether the process recorded as the node's owner (`owner_pid`/`owner_token`) still runs."""
    pid = runtime.get("owner_pid")
    if not isinstance(pid, int):
        return False
    token = process_token(pid)
    if token is None:
        return False
    if not have_procfs():
        return True  # no start times here (macOS): that the pid exists is all there is
    expected = runtime.get("owner_token")
    return bool(expected) and token == expected  # no recorded start time: not provably alive


def owner_unproven(runtime: Mapping[str, Any]) -> str | None:
    """Why the recorded owner process may not be signalled (see `api.process.unproven`).

    An owner started from a terminal carries no spawn marker: its proof is its start time,
    executable and the digest of its own erigolem command line, recorded by itself.
    """
    return unproven(runtime.get("owner_pid"), runtime.get("owner_identity"), need_marker=False)


# What kind of process owns a node (`runtime["owner_kind"]`, from NodeManager's `owner_kind`).
# Other processes read it to know whether they may signal the owner: only a single-node
# `node start` process stops or rotates its node on SIGTERM/SIGUSR1.
OWNER_NODE_START = "node-start"  # a single-node `erigolem node start` (foreground or --detach)
OWNER_SERVE = "serve"  # `erigolem serve`, the REST server: many nodes of many wallets
OWNER_APP = "app"  # the Erigolem Desktop window
_OWNER_NAMES = {OWNER_NODE_START: "`erigolem node start`", OWNER_SERVE: "`erigolem serve`"}


def recovered_reason(runtime: Mapping[str, Any]) -> str:
    """Why `recover()` found a node stopped, naming the process that ran it when it was a CLI
    one (a killed `node start --detach` background process is no closed app)."""
    who = _OWNER_NAMES.get(str(runtime.get("owner_kind")))
    if who is None:
        return RECOVERED_REASON
    pid = runtime.get("owner_pid")
    return (
        f"the {who} process that ran it{f' (pid {pid})' if pid else ''} ended without "
        "stopping it (killed or crashed); the node was stopped"
    )


class NodeManager:
    """Owns the node records and the nodes this process runs (see the module docstring).

    Args:
        store: where records live.
        backends: by kind ("local", "golem").
        secrets: where node passwords live (the keyring).
        poll_interval: seconds between `status` polls of a running node.
        max_poll_interval: ceiling of the backoff after failed polls.
    """

    def __init__(
        self,
        store: NodeStore,
        backends: Mapping[str, Backend],
        secrets: SecretsLike,
        *,
        poll_interval: float = 5.0,
        max_poll_interval: float = 60.0,
        owner_kind: str | None = None,
    ) -> None:
        self.store = store
        self.backends = dict(backends)
        self.secrets = secrets
        self.poll_interval = poll_interval
        self.max_poll_interval = max_poll_interval
        self._queues: list[asyncio.Queue[NodeEvent]] = []
        self._start_tasks: dict[str, asyncio.Task[None]] = {}
        self._poll_tasks: dict[str, asyncio.Task[None]] = {}
        self._owner: dict[str, Any] = {
            "owner_pid": os.getpid(),
            "owner_token": process_token(os.getpid()),
            "owner_identity": identify(os.getpid()),
        }
        if owner_kind is not None:  # one of the OWNER_* kinds, recorded on this process's nodes
            self._owner["owner_kind"] = owner_kind
        self._closed = False

    # ------------------------------------------------------------------ queries

    def list(self, active_only: bool = False) -> list[NodeRecord]:
        """All records, oldest first (only pending..stopping ones with `active_only`)."""
        return self.store.list(active_only)

    def get(self, node_id: str) -> NodeRecord | None:
        return self.store.get(node_id)

    def lookup(self, key: str) -> NodeRecord | None:
        """The record whose node id, or whose URL's path id (`/8b96bee5fdf5d669/`), is `key`.

        `key` may also be the node's whole URL. The two ids differ (the node id is ours, the
        path id the runtime's instance id); users copy either, so both name the node.
        """
        key = url_id(key) if "://" in key else key.strip("/")
        if not key:
            return None
        rec = self.store.get(key)
        if rec is not None:
            return rec
        found = [r for r in self.store.list() if url_id(r.url) == key]
        return found[-1] if found else None  # the newest, should a path id ever repeat

    def resolve(self, id_or_prefix: str) -> NodeRecord:
        """The record `lookup` finds, or the only one whose node id or URL path id starts with
        `id_or_prefix`; ManagerError (saying what to do) else."""
        rec = self.lookup(id_or_prefix)
        if rec is not None:
            return rec
        prefix = id_or_prefix.strip("/")
        found = []
        if prefix and "://" not in prefix:
            found = [
                r
                for r in self.store.list()
                if r.id.startswith(prefix) or url_id(r.url).startswith(prefix)
            ]
        if len(found) == 1:
            return found[0]
        if not found:
            raise ManagerError(
                f"There is no node {id_or_prefix!r}.",
                "Use its node id or the id in its URL; list them with: erigolem node list --all",
            )
        ids = ", ".join(r.id for r in found)
        raise ManagerError(
            f"{id_or_prefix!r} matches several nodes ({ids}).", "Type more of the id."
        )

    def password(self, node_id: str) -> str | None:
        """The node's password from the keyring (None when none is stored)."""
        return self.secrets.get(node_id)

    def holds(self, node_id: str) -> bool:
        """Whether this process runs the node (its backend holds it, or it is starting here)."""
        if node_id in self._start_tasks:
            return True
        rec = self.store.get(node_id)
        backend = self.backends.get(rec.backend) if rec else None
        return bool(backend and backend.is_running(node_id))

    # ------------------------------------------------------------------- events

    def subscribe(self) -> asyncio.Queue[NodeEvent]:
        """A queue receiving every NodeEvent from now on (oldest dropped if it is not read)."""
        queue: asyncio.Queue[NodeEvent] = asyncio.Queue(_QUEUE_SIZE)
        self._queues.append(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[NodeEvent]) -> None:
        with contextlib.suppress(ValueError):
            self._queues.remove(queue)

    async def events(self) -> AsyncIterator[NodeEvent]:
        """`async for event in manager.events():` (subscribes for the loop's lifetime)."""
        queue = self.subscribe()
        try:
            while True:
                yield await queue.get()
        finally:
            self.unsubscribe(queue)

    def _publish(self, record: NodeRecord, kind: EventKind) -> None:
        event = NodeEvent(record.id, record, kind)
        for queue in list(self._queues):
            if queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait(event)

    def _update(self, node_id: str, kind: EventKind, **changes: Any) -> NodeRecord:
        current = self.store.get(node_id)
        if current is None:
            raise ManagerError(f"The node {node_id} is gone from the database.")
        rec = current.evolve(**changes)
        self.store.save(rec)
        self._publish(rec, kind)
        return rec

    # -------------------------------------------------------------------- start

    def _backend(self, kind: str) -> Backend:
        backend = self.backends.get(kind)
        if backend is None:
            known = ", ".join(sorted(self.backends)) or "none"
            raise ManagerError(
                f"The {kind!r} backend is not available in this app (available: {known}).",
                "Use one of the available backends.",
            )
        return backend

    async def start(
        self,
        spec: NodeSpec,
        backend: str = "local",
        owner: str | None = None,
        *,
        wait: bool = False,
    ) -> NodeRecord:
        """Create the record (pending) and start the node in the background.

        Returns the pending record at once, or with `wait=True` the record once the node is
        ready or syncing (or has failed: check `record.state` and `record.reason`).
        """
        if self._closed:
            raise ManagerError("The node manager is closed.")
        chosen = self._backend(backend)
        rec = NodeRecord(
            id=new_node_id(),
            name=spec.name or f"{spec.chain} node",
            backend=backend,
            chain=spec.chain,
            client=spec.client,
            warm=spec.warm,
            owner=owner,
            progress="Waiting to start",
            runtime=dict(self._owner),
        )
        self.store.add(rec)
        self._publish(rec, EventKind.ADDED)
        task = asyncio.create_task(self._run_start(rec.id, spec, chosen), name=f"start {rec.id}")
        self._start_tasks[rec.id] = task
        if wait:
            return await self.wait(rec.id)
        return rec

    async def wait(
        self,
        node_id: str,
        states: Iterable[NodeState] = (NodeState.READY, NodeState.SYNCING),
        timeout: float | None = None,  # noqa: ASYNC109 - the whole wait, not one I/O call
    ) -> NodeRecord:
        """The record once it reaches one of `states`, or stopped/failed; TimeoutError after
        `timeout` seconds."""
        wanted = set(states) | {NodeState.STOPPED, NodeState.FAILED}
        queue = self.subscribe()
        try:
            async with asyncio.timeout(timeout):
                rec = self.store.get(node_id)
                if rec is None:
                    raise ManagerError(f"There is no node {node_id!r}.")
                while rec.state not in wanted:
                    event = await queue.get()
                    if event.node_id == node_id:
                        rec = event.record
                return rec
        finally:
            self.unsubscribe(queue)

    async def _run_start(self, node_id: str, spec: NodeSpec, backend: Backend) -> None:
        try:
            await self._start_steps(node_id, spec, backend)
        finally:
            self._start_tasks.pop(node_id, None)

    async def _start_steps(self, node_id: str, spec: NodeSpec, backend: Backend) -> None:
        def progress(message: str) -> None:
            with contextlib.suppress(ManagerError):
                self._update(node_id, EventKind.PROGRESS, progress=message)

        try:
            self._update(node_id, EventKind.STATE, state=NodeState.STARTING, progress="Starting")
            started = await backend.start(node_id, spec, progress)
        except asyncio.CancelledError:
            await self._quiet_stop(backend, node_id)
            self._finish(
                node_id, NodeState.STOPPED, "the start was cancelled; nothing is left running"
            )
            raise
        except BackendError as exc:
            self._finish(node_id, NodeState.FAILED, str(exc))
            return
        except Exception as exc:
            log.exception("starting node %s failed", node_id)
            await self._quiet_stop(backend, node_id)
            self._finish(
                node_id,
                NodeState.FAILED,
                f"Unexpected error while starting: {exc!r}. Please report this bug.",
            )
            return

        try:
            self.secrets.set(node_id, started.password)
        except Exception as exc:
            # Without a stored password nobody could use the node: stop it and say why.
            await self._quiet_stop(backend, node_id)
            hint = getattr(exc, "hint", "")
            self._finish(
                node_id,
                NodeState.FAILED,
                f"The node started but its password could not be saved in the keyring ({exc}); "
                f"it was stopped. {hint}".strip(),
            )
            return

        status = started.status.public()
        state = from_runtime_state(status.state)
        if state is NodeState.FAILED:
            await self._quiet_stop(backend, node_id)
            self._finish(node_id, NodeState.FAILED, status.reason or "the node failed")
            return
        runtime = dict(self._owner)
        info = getattr(backend, "runtime_info", None)
        if callable(info):
            runtime.update(info(node_id))
        now = utcnow()
        self._update(
            node_id,
            EventKind.STATE,
            state=state,
            url=started.url,
            user=started.user,
            provider=started.provider,
            last_status=status,
            runtime=runtime,
            reason=None,
            progress="Ready" if state is NodeState.READY else "Syncing",
            ready_at=now if state is NodeState.READY else None,
        )
        self._start_polling(node_id, backend)

    def _finish(self, node_id: str, state: NodeState, reason: str | None) -> None:
        """Final state (stopped/failed): stop polling, record the reason and the time."""
        task = self._poll_tasks.pop(node_id, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        with contextlib.suppress(ManagerError):
            self._update(
                node_id,
                EventKind.STATE,
                state=state,
                reason=reason,
                stopped_at=utcnow(),
                progress=None,
            )

    async def _quiet_stop(self, backend: Backend, node_id: str) -> None:
        try:
            await backend.stop(node_id)
        except Exception:
            log.exception("stopping node %s after a failure also failed", node_id)

    # ------------------------------------------------------------------ polling

    def _start_polling(self, node_id: str, backend: Backend) -> None:
        if node_id not in self._poll_tasks and not self._closed:
            self._poll_tasks[node_id] = asyncio.create_task(
                self._poll(node_id, backend), name=f"poll {node_id}"
            )

    async def _poll(self, node_id: str, backend: Backend) -> None:
        delay = self.poll_interval
        failures = 0
        while True:
            # +-20 %: nodes started (or recovered) together drift apart instead of all being
            # polled, and saved, in the same loop turn (50 nodes: 10-18 ms loop pauses)
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))  # noqa: S311 - not a secret
            try:
                status = await backend.status(node_id)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                delay = min(self.max_poll_interval, delay * 2)
                gone = not backend.is_running(node_id)
                if gone or failures >= _STATUS_FAILURES_BEFORE_FAILED:
                    self._poll_tasks.pop(node_id, None)
                    await self._quiet_stop(backend, node_id)
                    self._finish(node_id, NodeState.FAILED, f"Lost contact with the node: {exc}")
                    return
                with contextlib.suppress(ManagerError):
                    self._update(
                        node_id,
                        EventKind.STATUS,
                        reason=f"The status check failed ({exc}); retrying in {delay:g} s.",
                    )
                continue
            failures, delay = 0, self.poll_interval
            await self._apply_status(node_id, backend, status)
            if node_id not in self._poll_tasks:
                return

    async def _apply_status(self, node_id: str, backend: Backend, status: NodeStatus) -> None:
        rec = self.store.get(node_id)
        if rec is None or not rec.active or rec.state is NodeState.STOPPING:
            return
        state = from_runtime_state(status.state)
        if state is NodeState.FAILED:
            self._poll_tasks.pop(node_id, None)
            await self._quiet_stop(backend, node_id)
            reason = status.reason or "the node's client failed"
            self._finish(node_id, NodeState.FAILED, f"The node failed: {reason}")
            return
        changes: dict[str, Any] = {"last_status": status.public()}
        degraded = status.reason if status.state is RuntimeState.DEGRADED else None
        changes["reason"] = degraded or None
        if state is NodeState.READY and rec.ready_at is None:
            changes["ready_at"] = utcnow()
        with contextlib.suppress(Exception):
            usage = await backend.usage(node_id)
            if usage is not None:
                changes["cost"] = usage.cost_glm
        kind = EventKind.STATE if state is not rec.state else EventKind.STATUS
        if kind is EventKind.STATE:
            changes["state"] = state
            changes["progress"] = "Ready" if state is NodeState.READY else "Syncing"
        if kind is EventKind.STATUS and all(getattr(rec, k) == v for k, v in changes.items()):
            return  # nothing new
        with contextlib.suppress(ManagerError):
            self._update(node_id, kind, **changes)

    async def refresh(self, node_id: str) -> NodeRecord:
        """Poll the node's status now (if this process runs it) and return the record."""
        rec = self.resolve(node_id)
        backend = self.backends.get(rec.backend)
        if backend is not None and rec.active and backend.is_running(rec.id):
            try:
                status = await backend.status(rec.id)
            except Exception as exc:
                raise ManagerError(f"The status of node {rec.id} could not be read: {exc}") from exc
            await self._apply_status(rec.id, backend, status)
        return self.resolve(rec.id)

    # --------------------------------------------------------------- operations

    def _held(self, node_id: str, what: str) -> tuple[NodeRecord, Backend]:
        rec = self.resolve(node_id)
        backend = self._backend(rec.backend)
        if not rec.active:
            raise ManagerError(
                f"The node {rec.id} is {rec.state.value}; cannot {what}.", "Start a new node."
            )
        if not backend.is_running(rec.id):
            raise ManagerError(
                f"The node {rec.id} is not run by this process; cannot {what} from here.",
                "Do it in the app or terminal that started the node.",
            )
        return rec, backend

    async def stop(self, node_id: str) -> NodeRecord:
        """Stop the node (stopping -> stopped) and forget its password; idempotent."""
        rec = self.resolve(node_id)
        node_id = rec.id
        start_task = self._start_tasks.get(node_id)
        if start_task is not None and not start_task.done():
            self._update(node_id, EventKind.STATE, state=NodeState.STOPPING, progress="Stopping")
            start_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await start_task
            return self._stopped(node_id, None)
        if not rec.active:
            return rec
        backend = self._backend(rec.backend)
        task = self._poll_tasks.pop(node_id, None)
        if task is not None:
            task.cancel()
        self._update(node_id, EventKind.STATE, state=NodeState.STOPPING, progress="Stopping")
        try:
            note = None
            if backend.is_running(node_id):
                await backend.stop(node_id)
            else:
                note = await self._reclaim(backend, self.store.get(node_id) or rec)
        except BackendError as exc:
            self._finish(node_id, NodeState.FAILED, f"Stopping the node failed: {exc}")
            return self.resolve(node_id)
        return self._stopped(node_id, note)

    def _stopped(self, node_id: str, reason: str | None) -> NodeRecord:
        rec = self.resolve(node_id)
        if rec.state is not NodeState.STOPPED:
            self._finish(node_id, NodeState.STOPPED, reason)
        self._forget_password(node_id)
        return self.resolve(node_id)

    def _forget_password(self, node_id: str) -> None:
        try:
            self.secrets.delete(node_id)
        except Exception:
            log.warning("could not delete the password of stopped node %s", node_id, exc_info=True)

    async def rotate(self, node_id: str) -> NodeRecord:
        """New credentials for the node (the old password stops working at once)."""
        rec, backend = self._held(node_id, "rotate its credentials")
        user, password = await backend.rotate_credentials(rec.id)
        self.secrets.set(rec.id, password)
        return self._update(rec.id, EventKind.CREDENTIALS, user=user)

    async def logs(self, node_id: str, lines: int = 100) -> str:
        """The last `lines` lines of the node client's log."""
        rec = self.resolve(node_id)
        backend = self._backend(rec.backend)
        return await backend.logs(rec.id, lines)

    async def forget(self, node_id: str) -> None:
        """Delete a stopped/failed record (and any password left for it)."""
        rec = self.resolve(node_id)
        if rec.active:
            raise ManagerError(f"The node {rec.id} is {rec.state.value}.", "Stop it first.")
        self.store.delete(rec.id)
        self._forget_password(rec.id)
        self._publish(rec, EventKind.REMOVED)

    # ---------------------------------------------------------- startup/closing

    async def recover(self) -> builtins.list[NodeRecord]:
        """At startup: settle records left active by a process that is gone.

        A record whose owner process still runs (another terminal or window) is left alone.
        Otherwise what is left of the node is killed (backend `reclaim`) and the record marked
        stopped with the reason `recovered_reason` gives. Returns the records changed.
        """
        changed = []
        for rec in self.store.list(active_only=True):
            if self.holds(rec.id) or owner_alive(rec.runtime):
                continue
            backend = self.backends.get(rec.backend)
            note = None
            if backend is not None:
                try:
                    note = await self._reclaim(backend, rec)
                except Exception:
                    log.exception("cleaning up after node %s failed", rec.id)
            reason = recovered_reason(rec.runtime) if note is None else f"{UNPROVEN_REASON}; {note}"
            self._finish(rec.id, NodeState.STOPPED, reason)
            self._forget_password(rec.id)
            changed.append(self.resolve(rec.id))
        return changed

    async def _reclaim(self, backend: Backend, rec: NodeRecord) -> str | None:
        """The backend's `reclaim` of what is left of `rec`; why nothing was signalled, if so."""
        reclaim: Callable[[str, dict[str, Any]], Awaitable[str | None]] | None = getattr(
            backend, "reclaim", None
        )
        if reclaim is None:
            return None
        note = await reclaim(rec.id, dict(rec.runtime))
        return note if isinstance(note, str) and note else None

    async def close(self) -> None:
        """Stop polling and every node this process runs (stopped with CLOSED_REASON)."""
        if self._closed:
            return
        self._closed = True
        for task in list(self._start_tasks.values()):
            task.cancel()
        for task in list(self._start_tasks.values()):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for task in list(self._poll_tasks.values()):
            task.cancel()
        self._poll_tasks.clear()
        held = [r for r in self.store.list(active_only=True) if self.holds(r.id)]
        for rec in held:
            self._update(rec.id, EventKind.STATE, state=NodeState.STOPPING, progress="Stopping")
        started = time.monotonic()
        for backend in self.backends.values():
            try:
                await backend.close()
            except Exception:
                log.exception("closing the %s backend failed", backend.kind)
        for rec in held:
            self._stopped(rec.id, CLOSED_REASON)
        log.debug("manager closed in %.2f s", time.monotonic() - started)

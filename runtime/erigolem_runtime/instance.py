"""`NodeService`: one isolated Ethereum node per runtime process (the Service behind `start`).

An instance owns: its client process (own process group, killed with the runtime by
``PR_SET_PDEATHSIG``), a port lease, a data directory (fresh, or the provider's kept datadir for
that chain), an nginx location with its own password file, and a slot among the host's
``max_instances``. ``start`` builds all of it or, on any failure, undoes what it built; ``shutdown``
tears it down in the order that closes the door first (nginx), then stops the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import fcntl
import json
import logging
import os
import shutil
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from erigolem_runtime import probe, profiles
from erigolem_runtime.api import (
    DURATION_COUNTER,
    REQUESTS_COUNTER,
    Auth,
    ErrorKind,
    NodeStatus,
    RunOutcome,
    RuntimeState,
    ServiceError,
    SyncInfo,
)
from erigolem_runtime.api.process import signal_group
from erigolem_runtime.config import RuntimeConfig
from erigolem_runtime.credentials import (
    new_instance_id,
    new_password,
    new_user,
    validate_instance_id,
)
from erigolem_runtime.datadirs import (
    REAPING,
    empty_reaping,
    lock_held,
    park_dead_datadirs,
    slots_dir,
)
from erigolem_runtime.nginx import NginxError, NginxFront
from erigolem_runtime.ports import PortLease, PortRangeExhausted, allocate_ports

log = logging.getLogger(__name__)

RUN_COMMANDS = ("status", "rotate-credentials", "logs")
START_KEYS = ("chain", "client", "network")
READY_TIMEOUT = {"anvil": 30.0, "erigon": 180.0}
STOP_GRACE = 1.0
"""SIGTERM -> SIGKILL for a client on a fresh datadir: its data is deleted anyway."""
KEPT_STOP_GRACE = 3.0
"""How long shutdown waits for a client on a provider-kept datadir to stop cleanly (SIGINT).

exe-unit allows 5 s for the whole stop and then SIGKILLs the runtime (nginx removal takes up
to 1 s of that). Erigon usually commits and closes its database within seconds, but can take
minutes mid-execution; SIGKILLed mid-write, a kept datadir can need a long recovery. So a
kept-datadir client is never SIGKILLed at shutdown: if it has not exited in time it finishes
its clean stop on its own (it runs in its own session, which exe-unit does not kill, and gets
SIGINT, not SIGKILL, when the runtime dies), holding the datadir's lock until it exits, so the
next rental of that chain waits rather than opening a database still being closed."""
MAX_BACKOFF = 60.0
DEFAULT_LOG_LINES = 100
MAX_LOG_LINES = 10_000

_PR_SET_PDEATHSIG = 1


def _die_with_parent(sig: signal.Signals = signal.SIGKILL) -> None:  # pragma: no cover
    """preexec_fn (runs in the forked child): the kernel sends ``sig`` to the client when the
    runtime (its parent) dies; SIGKILL for fresh datadirs, SIGINT (a clean stop) for kept."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
        except (OSError, AttributeError):
            pass


class _Undo:
    """Cleanup steps registered while starting; run in reverse when the start fails."""

    def __init__(self) -> None:
        self._steps: list[Callable[[], Awaitable[None] | None]] = []

    def push(self, step: Callable[[], Awaitable[None] | None]) -> None:
        self._steps.append(step)

    def clear(self) -> None:
        self._steps.clear()

    async def run(self) -> None:
        while self._steps:
            step = self._steps.pop()
            try:
                result = step()
                if result is not None:
                    await result
            except Exception:  # cleanup goes on: report, don't mask the start error
                log.exception("cleanup step failed")


class InstanceSlots:
    """Host-wide count of live instances (``max_instances``), shared by all runtimes of a host.

    Each live instance holds an flock on ``state_dir/instances/<id>.lock``; a dead runtime's lock
    vanishes with it, and its file is removed by the next count.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._fd: int | None = None
        self._path: Path | None = None

    def acquire(self, instance_id: str, limit: int) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        guard = os.open(self.directory / ".guard", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(guard, fcntl.LOCK_EX)
            live = 0
            for path in self.directory.glob("*.lock"):
                if lock_held(path):
                    live += 1
                else:
                    path.unlink(missing_ok=True)  # stale: its runtime is gone
            if live >= limit:
                raise ServiceError(
                    f"this provider already runs {live} instance(s), its limit (max_instances = "
                    f"{limit}): stop an instance or raise max_instances in the runtime config",
                    kind=ErrorKind.CAPACITY,
                )
            path = self.directory / f"{instance_id}.lock"
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.write(fd, f"{os.getpid()}\n".encode())
            self._fd, self._path = fd, path
        finally:
            os.close(guard)

    def release(self) -> None:
        fd, path, self._fd, self._path = self._fd, self._path, None, None
        if path is not None:
            path.unlink(missing_ok=True)
        if fd is not None:
            os.close(fd)


class _DatadirLock:
    """Exclusive use of a kept (provider-synced) datadir by one instance at a time."""

    def __init__(self, datadir: Path) -> None:
        self.path = datadir / ".erigolem-in-use.lock"
        self._fd: int | None = None

    def acquire(self, chain: str) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise ServiceError(
                f"the kept datadir for {chain} ({self.path.parent}) is in use by another "
                "instance (or by a client still closing it cleanly after its rental): try "
                "again when it stops, or remove keep_datadirs."
                f"{chain} from the runtime config so new instances get a fresh datadir",
                kind=ErrorKind.DATADIR,
            ) from None
        self._fd = fd

    @property
    def fd(self) -> int | None:
        """The locked descriptor: the client inherits it, so the lock lives as long as it does."""
        return self._fd

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


class NodeService:
    """The Service (see api.py) running one Ethereum client instance behind nginx."""

    def __init__(self, config: RuntimeConfig, workdir: Path) -> None:
        self.config = config
        self.workdir = Path(workdir)
        self.log_path = self.workdir / "logs" / "client.log"
        self.instance_id: str | None = None
        self.chain: str | None = None
        self.client: str | None = None
        self.url: str | None = None
        self.user: str | None = None
        self._password: str | None = None
        self.state: RuntimeState = RuntimeState.STARTING
        self.reason: str | None = None
        self.restarts = 0  # lifetime count (status "restarts")
        self.restarts_recent = 0  # counted against max_restarts; 0 again after stable_sec
        self.client_version: str | None = None
        self._profile: profiles.ClientProfile | None = None
        self._argv: list[str] = []
        self._rpc_port: int | None = None
        self._lease: PortLease | None = None
        self._datadir: Path | None = None
        self._datadir_fresh = False
        self._datadir_lock: _DatadirLock | None = None
        self._slots = InstanceSlots(slots_dir(config))
        self._reaper: asyncio.Task[int] | None = None
        self._closing_client: asyncio.Future[int] | None = None
        self._nginx: NginxFront | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._started_at: float | None = None
        self._stopped_at: float | None = None
        self._requests = 0
        self._closing = False
        self._ever_ready = False
        self._restarting = False
        self._lock = asyncio.Lock()
        self._watchdog: asyncio.Task[None] | None = None
        self._last_answer = 0.0  # monotonic time the client last answered JSON-RPC
        self._healthy_since: float | None = None  # answering (and not restarted) since
        self._hang_reason: str | None = None  # set by the watchdog before it kills a hung client

    # ------------------------------------------------------------------ start

    async def start(self, args: list[str]) -> dict[str, Any]:
        """Parse the start argument, build the instance, wait until it answers; start output."""
        if self.instance_id is not None or self._closing:
            raise ServiceError(
                "this runtime already started an instance: shut it down first",
                kind=ErrorKind.ALREADY_STARTED,
            )
        chain, profile = self._parse_start(args)
        binary = self._binary(profile)
        await reap_stale_nginx(self.config)
        self._reap_datadirs()
        undo = _Undo()
        try:
            instance_id = validate_instance_id(new_instance_id())
            self._slots.acquire(instance_id, self.config.max_instances)
            undo.push(self._slots.release)
            try:
                lease = allocate_ports(self.config, len(profile.port_names), instance_id)
            except PortRangeExhausted as exc:
                raise ServiceError(str(exc), kind=ErrorKind.CAPACITY) from None
            undo.push(lease.release)
            datadir, fresh = self._prepare_datadir(profile, chain, instance_id)
            if fresh:
                undo.push(lambda: shutil.rmtree(datadir, ignore_errors=True))
            else:
                undo.push(self._release_datadir)
            self.instance_id, self.chain, self.client = instance_id, chain, profile.name
            self._profile, self._lease = profile, lease
            self._datadir, self._datadir_fresh = datadir, fresh
            self._rpc_port = lease.ports[profile.rpc_port_index]
            self._argv = profiles.client_argv(
                profile,
                binary,
                chain,
                datadir,
                lease.ports,
                prune_mode=self.config.clients.erigon.prune_mode,
                extra_args=self.config.clients.erigon.extra_args
                if profile.name == "erigon"
                else (),
            )
            self._started_at = time.monotonic()
            await self._spawn()
            undo.push(self._kill_client)
            deadline = time.monotonic() + READY_TIMEOUT[profile.name]
            try:
                self.client_version = await probe.wait_ready(
                    self._rpc_port, deadline=deadline, alive=self._alive
                )
            except probe.ProbeError as exc:
                tail = self._tail(10)
                raise ServiceError(
                    f"{profile.name} did not become ready: {exc}. Last lines of its log:\n" + tail,
                    kind=ErrorKind.CLIENT_NOT_READY,
                    context={"client": profile.name, "log_tail": tail},
                ) from None
            self.user, self._password = new_user(), new_password()
            self._nginx = NginxFront(self.config)
            undo.push(self._remove_nginx)
            self.url = await self._nginx.add_instance(
                instance_id, self._rpc_port, self.user, self._password
            )
            undo.clear()
        except BaseException as exc:
            await undo.run()
            self._reset()
            if isinstance(exc, ServiceError | asyncio.CancelledError):
                raise
            if isinstance(exc, Exception):
                kind = ErrorKind.NGINX if isinstance(exc, NginxError) else ErrorKind.INTERNAL
                raise ServiceError(
                    f"starting the {profile.name} instance failed: {exc}", kind=kind
                ) from exc
            raise
        self._mark_answering()
        self._supervisor = asyncio.create_task(self._supervise(), name="erigolem-supervisor")
        if self.config.restart.unresponsive_sec > 0:
            self._watchdog = asyncio.create_task(self._watch(), name="erigolem-watchdog")
        return (await self._status()).to_json()

    def _reap_datadirs(self) -> None:
        """Move dead instances' datadirs aside now, remove them in the background (they can
        be hundreds of GB); a removal cut short by a kill is finished by the next start."""
        try:
            parked = park_dead_datadirs(self.config)
        except OSError as exc:
            log.warning("reaping dead instance datadirs failed: %s", exc)
            return
        if parked or (self.config.data_dir / REAPING).is_dir():
            self._reaper = asyncio.create_task(asyncio.to_thread(empty_reaping, self.config))

    def _parse_start(self, args: list[str]) -> tuple[str, profiles.ClientProfile]:
        example = '{"chain": "sepolia", "client": "erigon"}'
        if len(args) != 1:
            raise ServiceError(
                f"start takes exactly one JSON argument, e.g. '{example}' "
                f"(got {len(args)} arguments)",
                kind=ErrorKind.BAD_ARGUMENT,
            )
        try:
            spec = json.loads(args[0])
        except json.JSONDecodeError as exc:
            raise ServiceError(
                f"the start argument is not valid JSON ({exc.msg} at position {exc.pos}): "
                f"pass an object like '{example}'",
                kind=ErrorKind.BAD_ARGUMENT,
            ) from None
        if not isinstance(spec, dict):
            raise ServiceError(
                f"the start argument must be a JSON object like '{example}'",
                kind=ErrorKind.BAD_ARGUMENT,
            )
        unknown = sorted(str(k)[:30] for k in spec if k not in START_KEYS)
        if unknown:
            raise ServiceError(
                f"unknown start argument key(s) {', '.join(unknown)}: use chain and client, "
                f"e.g. '{example}'",
                kind=ErrorKind.BAD_ARGUMENT,
            )
        chain = spec.get("chain", spec.get("network"))
        if "chain" in spec and "network" in spec and spec["chain"] != spec["network"]:
            raise ServiceError(
                "the start argument gives both chain and network, and they differ",
                kind=ErrorKind.BAD_ARGUMENT,
            )
        profile = profiles.get_profile(spec.get("client", profiles.DEFAULT_CLIENT))
        if chain is None:
            raise profiles.UnknownChain(
                f'the start argument names no chain: add "chain" (one of '
                f"{', '.join(c for c in profile.chains if c in self.config.chains) or 'none'})"
            )
        chain = profiles.validate_chain(profile, chain, self.config.chains)
        return chain, profile

    def _binary(self, profile: profiles.ClientProfile) -> Path:
        configured = getattr(self.config.clients, profile.name).binary
        return profiles.resolve_binary(profile, configured)

    def _prepare_datadir(
        self, profile: profiles.ClientProfile, chain: str, instance_id: str
    ) -> tuple[Path, bool]:
        kept = self.config.keep_datadirs.get(chain) if profile.name == "erigon" else None
        if kept is not None:
            if not kept.is_dir():
                raise ServiceError(
                    f"the kept datadir for {chain} ({kept}) does not exist: create it, or fix "
                    f"keep_datadirs.{chain} in the runtime config",
                    kind=ErrorKind.DATADIR,
                )
            lock = _DatadirLock(kept)
            lock.acquire(chain)
            self._datadir_lock = lock
            return kept, False
        datadir = self.config.data_dir / instance_id
        try:
            self.config.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            datadir.mkdir(mode=0o700)
        except OSError as exc:
            raise ServiceError(
                f"cannot create the instance datadir {datadir}: {exc.strerror}; check data_dir "
                "in the runtime config points at a writable directory",
                kind=ErrorKind.DATADIR,
            ) from None
        return datadir, True

    def _release_datadir(self) -> None:
        if self._datadir_lock is not None:
            self._datadir_lock.release()
            self._datadir_lock = None

    def _reset(self) -> None:
        self.instance_id = self.chain = self.client = self.url = None
        self.user = self._password = None
        self._lease = None
        self._datadir = None
        self._nginx = None
        self._proc = None
        self._started_at = None

    # ------------------------------------------------------------------ process

    def _open_log(self) -> int:
        """The client log, opened for appending (the child writes to it directly)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        os.write(fd, f"--- erigolem-runtime: starting {self._argv[0]} ---\n".encode())
        return fd

    async def _spawn(self) -> None:
        logfd = self._open_log()
        kept_fd = self._datadir_lock.fd if self._datadir_lock is not None else None
        death = signal.SIGKILL if kept_fd is None else signal.SIGINT
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *self._argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=logfd,
                stderr=asyncio.subprocess.STDOUT,
                cwd=str(self._datadir),
                start_new_session=True,
                pass_fds=() if kept_fd is None else (kept_fd,),
                preexec_fn=lambda: _die_with_parent(death),  # only prctl: async-signal-safe
            )
        except OSError as exc:
            raise ServiceError(
                f"cannot run {self._argv[0]}: {exc.strerror}; check "
                f"{self._profile.binary_key if self._profile else 'the client binary'} "
                "in the runtime config",
                kind=ErrorKind.MISSING_BINARY,
                context={
                    "client": self._profile.name if self._profile else "",
                    "config_key": self._profile.binary_key if self._profile else "",
                },
            ) from None
        finally:
            os.close(logfd)

    def _alive(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    async def _kill_client(self) -> None:
        """SIGTERM the client's process group, SIGKILL after the grace period; reap it."""
        proc = self._proc
        if proc is None:
            return
        pgid = proc.pid  # start_new_session: the client leads its own group
        signal_group(pgid, signal.SIGTERM)
        signal_group(pgid, signal.SIGCONT)  # a stopped (frozen) client must run to see SIGTERM
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), STOP_GRACE)
        signal_group(pgid, signal.SIGKILL)  # also any helper left in the group
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), 1.0)

    async def _stop_kept_client(self) -> None:
        """SIGINT (Erigon's clean stop) and wait up to KEPT_STOP_GRACE; never SIGKILL."""
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        signal_group(proc.pid, signal.SIGCONT)  # a stopped client must run to stop cleanly
        signal_group(proc.pid, signal.SIGINT)
        try:
            await asyncio.wait_for(proc.wait(), KEPT_STOP_GRACE)
        except TimeoutError:
            log.warning(
                "%s (pid %d) is still closing its kept datadir after %.1f s: leaving it to "
                "finish; the datadir stays locked until it exits",
                self.client,
                proc.pid,
                KEPT_STOP_GRACE,
            )
            # reap it when it exits (if this process is still there then)
            self._closing_client = asyncio.ensure_future(proc.wait())

    async def _remove_nginx(self) -> None:
        if self._nginx is not None and self.instance_id is not None:
            await self._nginx.remove_instance(self.instance_id)

    # ------------------------------------------------------------------ supervision

    async def _supervise(self) -> None:
        """Restart the client when it dies (or the watchdog killed it hung), with exponential
        backoff, up to max_restarts in a row (the count starts over after stable_sec healthy)."""
        policy = self.config.restart
        while not self._closing:
            proc = self._proc
            if proc is None:
                return
            code = await proc.wait()
            if self._closing:
                return
            self._restarting = True
            self._renew_budget()  # it ran healthy long enough before this: a fresh budget
            self._healthy_since = None
            signal_group(proc.pid, signal.SIGKILL)  # leftovers of the dead client's group
            hang, self._hang_reason = self._hang_reason, None
            if hang is None:
                reason = f"{self.client} exited with code {code}"
                last = self._tail(1).strip()
                if last:
                    reason += f" (last log line: {last[:200]})"
            else:
                reason = hang
            if self.restarts_recent >= policy.max_restarts:
                self.state = RuntimeState.FAILED
                # plain words for the status (users read it); the knobs for operators, in the log
                self.reason = (
                    f"{reason}; gave up after {self.restarts_recent} restart(s) in a row: it "
                    "keeps crashing, so it is not restarted again"
                )
                log.error(
                    "instance %s failed: %s (restart.max_restarts = %d; the count starts over "
                    "after restart.stable_sec = %g s of healthy running)",
                    self.instance_id,
                    self.reason,
                    policy.max_restarts,
                    policy.stable_sec,
                )
                return
            self.restarts += 1
            self.restarts_recent += 1
            self.state = RuntimeState.DEGRADED
            count = f"restart {self.restarts_recent} of {policy.max_restarts}"
            self.reason = f"{reason}; restarted ({count})" if hang else f"{reason}; {count}"
            log.warning("instance %s: %s", self.instance_id, self.reason)
            delay = min(policy.backoff_sec * (2 ** (self.restarts_recent - 1)), MAX_BACKOFF)
            await asyncio.sleep(delay)
            if self._closing:
                return
            self._restarting = True
            try:
                await self._spawn()
                assert self._rpc_port is not None
                assert self.client is not None
                await probe.wait_ready(
                    self._rpc_port,
                    deadline=time.monotonic() + READY_TIMEOUT[self.client],
                    alive=self._alive,
                )
            except (ServiceError, probe.ProbeError) as exc:
                # counted as a restart; the loop sees the process gone and tries again
                self.reason = f"restart {self.restarts_recent} failed: {exc}"
                if self._alive():
                    await self._kill_client()
                continue
            finally:
                self._restarting = False
            if not self._closing:
                self._mark_answering()
                self.state = RuntimeState.STARTING  # the next status probe says syncing/ready
                self.reason = None

    async def _watch(self) -> None:
        """Kill a client that is alive but silent on JSON-RPC for ``restart.unresponsive_sec``.

        A frozen client (deadlock, SIGSTOP, swap storm) never exits, so the supervisor would
        wait forever; once killed, it is restarted like one that died. Erigon keeps answering
        ``web3_clientVersion`` while it syncs, so silence means it is stuck.
        """
        window = self.config.restart.unresponsive_sec
        interval = min(max(window / 4, 0.2), 5.0)
        conn: probe.RpcConnection | None = None
        try:
            while not self._closing and self.state is not RuntimeState.FAILED:
                await asyncio.sleep(interval)
                proc = self._proc
                if self._closing or self._restarting or proc is None or proc.returncode is not None:
                    continue
                if conn is None:
                    assert self._rpc_port is not None
                    conn = probe.RpcConnection(self._rpc_port, timeout=min(max(window / 3, 0.5), 5))
                try:
                    await conn.call("web3_clientVersion")
                    answered = True
                except probe.RpcError:
                    answered = True  # an error object is an answer: the client is alive
                except probe.ProbeError:
                    answered = False
                if self._closing or self._restarting or self._proc is not proc:
                    continue  # the supervisor acted meanwhile: its restart resets the clock
                if answered:
                    self._mark_answering()
                    continue
                self._healthy_since = None
                silent = time.monotonic() - self._last_answer
                if silent < window or proc.returncode is not None:
                    continue
                self._hang_reason = f"the client stopped answering JSON-RPC for {silent:.0f} s"
                log.warning("instance %s: %s; killing it", self.instance_id, self._hang_reason)
                await self._kill_client()  # the supervisor sees the exit and restarts it
        finally:
            if conn is not None:
                await conn.close()

    def _mark_answering(self) -> None:
        """The client just answered JSON-RPC: reset the silence clock, maybe renew the budget."""
        now = time.monotonic()
        self._last_answer = now
        if self._healthy_since is None:
            self._healthy_since = now
        self._renew_budget()

    def _renew_budget(self) -> None:
        """After ``restart.stable_sec`` of healthy running, ``max_restarts`` counts from 0 again."""
        since = self._healthy_since
        stable = self.config.restart.stable_sec
        if self.restarts_recent and since is not None and time.monotonic() - since >= stable:
            log.info(
                "instance %s ran healthy for %g s: restart budget renewed", self.instance_id, stable
            )
            self.restarts_recent = 0

    # ------------------------------------------------------------------ status

    def _failed(self) -> bool:
        return self.state is RuntimeState.FAILED

    async def _status(self) -> NodeStatus:
        sync: SyncInfo | None = None
        peers: int | None = None
        block: int | None = None
        proc, restarts = self._proc, self.restarts
        if (
            self.state is not RuntimeState.FAILED
            and not self._restarting
            and self._alive()
            and self._rpc_port
        ):
            try:
                st: probe.SyncStatus | None = await probe.sync_status(self._rpc_port)
                error = ""
            except probe.ProbeError as exc:
                st, error = None, str(exc)
            # apply only if the supervisor did not act meanwhile (it owns state while restarting)
            current = (
                self._proc is proc
                and self._alive()
                and self.restarts == restarts
                and not self._restarting
                and not self._failed()  # re-read after the await (the supervisor may have acted)
            )
            if current and st is not None:
                self._mark_answering()
                sync, peers, block = st.sync_info(), st.peers, st.block
                self.state = RuntimeState.SYNCING if st.syncing else RuntimeState.READY
                self._ever_ready = True
                self.reason = None
            elif current and self._ever_ready:
                self._healthy_since = None
                self.state = RuntimeState.DEGRADED
                self.reason = f"the client does not answer JSON-RPC: {error}"
        return NodeStatus(
            url=self.url or "",
            auth=Auth(self.user, self._password) if self.user is not None else None,
            chain=self.chain or "",
            client=self.client or "",
            client_version=self.client_version,
            state=self.state,
            instance=self.instance_id,
            sync=sync,
            peers=peers,
            block=block,
            restarts=self.restarts,
            restarts_recent=self.restarts_recent,
            reason=self.reason,
            # requests nginx passed to the node (401s not counted): the usage the bill is made of
            requests=int(self.counters()[REQUESTS_COUNTER]),
        )

    # ------------------------------------------------------------------ run

    async def run(self, argv: list[str]) -> RunOutcome:
        """``status`` | ``rotate-credentials`` | ``logs [N]``; anything else: exit code 2."""
        if not argv:
            return RunOutcome.error(f"no command given: use one of {', '.join(RUN_COMMANDS)}", 2)
        command = os.path.basename(argv[0]).lower()
        args = argv[1:]
        if command not in RUN_COMMANDS:
            return RunOutcome.error(
                f"unknown command {argv[0][:40]!r}: use one of {', '.join(RUN_COMMANDS)}", 2
            )
        if self.instance_id is None:
            return RunOutcome.error("no instance is running: start one first", 1)
        if command == "status":
            return RunOutcome.ok_json((await self._status()).to_json())
        if command == "rotate-credentials":
            return await self._rotate()
        return self._logs(args)

    async def _rotate(self) -> RunOutcome:
        async with self._lock:
            if self._nginx is None or self.instance_id is None or self.user is None:
                return RunOutcome.error("no instance is running: start one first", 1)
            password = new_password()
            try:
                await self._nginx.set_password(self.instance_id, self.user, password)
            except Exception as exc:
                return RunOutcome.error(
                    f"rotating the password failed, the old one still works: {exc}", 1
                )
            self._password = password
        return RunOutcome.ok_json((await self._status()).to_json())

    def _logs(self, args: list[str]) -> RunOutcome:
        n = DEFAULT_LOG_LINES
        if len(args) > 1:
            return RunOutcome.error("usage: logs [N] (N = number of lines, default 100)", 2)
        if args:
            if not args[0].isdigit() or not 1 <= int(args[0]) <= MAX_LOG_LINES:
                return RunOutcome.error(
                    f"logs: N must be a whole number from 1 to {MAX_LOG_LINES}, got {args[0][:20]!r}",
                    2,
                )
            n = int(args[0])
        return RunOutcome(0, self._tail(n).encode("utf-8", "replace"))

    def _tail(self, n: int) -> str:
        """The last ``n`` lines of the client log (reads backwards, at most a few MB)."""
        try:
            with open(self.log_path, "rb") as fh:
                fh.seek(0, os.SEEK_END)
                size = fh.tell()
                block = 64 * 1024
                data = b""
                pos = size
                while pos > 0 and data.count(b"\n") <= n and size - pos < 8 * 1024 * 1024:
                    step = min(block, pos)
                    pos -= step
                    fh.seek(pos)
                    data = fh.read(step) + data
        except OSError:
            return ""
        lines = data.decode("utf-8", "replace").splitlines()[-n:]
        return "\n".join(lines) + ("\n" if lines else "")

    # ------------------------------------------------------------------ counters / shutdown

    def counters(self) -> dict[str, float]:
        """Seconds since start (frozen at shutdown) and requests served through nginx."""
        if self._started_at is None and self._stopped_at is None:
            return {DURATION_COUNTER: 0.0, REQUESTS_COUNTER: float(self._requests)}
        end = self._stopped_at if self._stopped_at is not None else time.monotonic()
        duration = max(0.0, end - (self._started_at or end))
        if self._nginx is not None and self.instance_id is not None and self._stopped_at is None:
            try:
                self._requests = max(self._requests, self._nginx.requests_served(self.instance_id))
            except Exception:
                log.exception("cannot read the request counter")
        return {DURATION_COUNTER: round(duration, 3), REQUESTS_COUNTER: float(self._requests)}

    async def shutdown(self) -> None:
        """nginx location first (credentials die at once), then the client group, ports, datadir."""
        if self._closing:
            return
        self._closing = True
        for task in (self._watchdog, self._supervisor):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self._nginx is not None and self.instance_id is not None:
            with contextlib.suppress(Exception):
                self._requests = max(self._requests, self._nginx.requests_served(self.instance_id))
            try:
                await asyncio.wait_for(self._remove_nginx(), 1.0)
            except Exception:
                log.exception("removing the nginx location failed")
        if self._started_at is not None:
            self._stopped_at = time.monotonic()
        if self._datadir_lock is not None and not self._datadir_fresh:
            await self._stop_kept_client()
        else:
            await self._kill_client()
        if self._lease is not None:
            self._lease.release()
        self._release_datadir()
        if self._datadir is not None and self._datadir_fresh:
            shutil.rmtree(self._datadir, ignore_errors=True)
        self._slots.release()
        if self.state is not RuntimeState.FAILED:
            self.state = RuntimeState.STOPPED
        self._nginx = None

    @property
    def client_pid(self) -> int | None:
        """The client's pid (= its process group id), for tests and diagnostics."""
        return self._proc.pid if self._proc is not None else None


async def reap_stale_nginx(config: RuntimeConfig) -> list[str]:
    """Clean what crashed runtimes left in nginx (their locations, an unowned private master).

    Cheap when there is nothing to do (a lock and a directory listing); does nothing on a host
    that never ran an instance. Failures are logged, not raised: the next add reaps again and
    reports real nginx errors. Returns the ids removed.
    """
    front = NginxFront(config)
    if not front.layout.registry_dir.is_dir():
        return []
    try:
        reaped = await front.reap_stale()
    except Exception as exc:
        log.warning("cleaning up stale nginx instances failed: %s", exc)
        return []
    if reaped:
        log.info("removed the nginx locations of dead runtimes: %s", ", ".join(reaped))
    return reaped

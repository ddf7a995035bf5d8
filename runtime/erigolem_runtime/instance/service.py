"""`NodeService`: start, run commands and shut down one instance (the Service behind `start`)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from erigolem_runtime import probe, profiles, warm
from erigolem_runtime.api import ErrorKind, RunOutcome, RuntimeState, ServiceError
from erigolem_runtime.config import RuntimeConfig
from erigolem_runtime.credentials import (
    new_instance_id,
    new_password,
    new_user,
    validate_instance_id,
    validate_origins,
)
from erigolem_runtime.datadirs import REAPING, empty_reaping, park_dead_datadirs
from erigolem_runtime.instance.slots import DatadirLock
from erigolem_runtime.instance.status import StatusReporting
from erigolem_runtime.instance.supervise import READY_TIMEOUT
from erigolem_runtime.nginx import NginxError, NginxFront
from erigolem_runtime.ports import PortRangeExhausted, allocate_ports

log = logging.getLogger(__name__)

RUN_COMMANDS = ("status", "rotate-credentials", "logs")
START_KEYS = ("chain", "client", "network", "allow_origins", "mode")
DEFAULT_LOG_LINES = 100
MAX_LOG_LINES = 10_000


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


class NodeService(StatusReporting):
    """The Service (see `erigolem_runtime.api.service`) running one client behind nginx."""

    async def start(self, args: list[str]) -> dict[str, Any]:
        """Parse the start argument, build the instance, wait until it answers; start output."""
        if self.instance_id is not None or self._closing:
            raise ServiceError(
                "this runtime already started an instance: shut it down first",
                kind=ErrorKind.ALREADY_STARTED,
            )
        chain, profile, origins, mode = self._parse_start(args)
        warm_node = warm.warm_chain_for(self.config.warm, chain) if mode == "warm" else None
        if warm_node is not None:  # the rental's process is an rpcdaemon, not an Erigon
            profile = warm.RPCDAEMON_PROFILE
            binary = profiles.resolve_binary(profile, self.config.warm.rpcdaemon)
            await warm.check_warm_node(chain, warm_node)
        else:
            binary = self._binary(profile)
        if profile.name == "erigon":  # `erigon --version` off the loop, before anything is built
            prune = self.config.clients.erigon.prune_mode
            await asyncio.to_thread(profiles.check_erigon_binary, binary, prune)
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
            if warm_node is not None:  # shared, read-only: no lock, never removed
                datadir, fresh = warm_node.datadir, False
            else:
                datadir, fresh = self._prepare_datadir(profile, chain, instance_id)
            if fresh:
                undo.push(lambda: shutil.rmtree(datadir, ignore_errors=True))
            else:
                undo.push(self._release_datadir)
            client = "erigon" if warm_node is not None else profile.name
            self.instance_id, self.chain, self.client = instance_id, chain, client
            self.mode = mode
            self._profile, self._lease = profile, lease
            self._datadir, self._datadir_fresh = datadir, fresh
            self._rpc_port = lease.ports[profile.rpc_port_index]
            if warm_node is not None:
                self._argv = warm.rpcdaemon_argv(binary, warm_node, lease.ports)
            else:
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
                    nat=self.config.clients.erigon.nat,
                )
            self._started_at = time.monotonic()
            await self._spawn()
            undo.push(self._kill_client)
            deadline = time.monotonic() + READY_TIMEOUT[client]
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
                instance_id, self._rpc_port, self.user, self._password, origins
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

    def _parse_start(
        self, args: list[str]
    ) -> tuple[str, profiles.ClientProfile, tuple[str, ...], str]:
        """(chain, client profile, CORS origins allowed (() = any), mode) from the start argument."""
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
                f"unknown start argument key(s) {', '.join(unknown)}: use chain, client, "
                f"allow_origins and mode, e.g. '{example}'",
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
        try:
            origins = validate_origins(spec.get("allow_origins"))
        except ValueError as exc:
            raise ServiceError(str(exc), kind=ErrorKind.BAD_ARGUMENT) from None
        return chain, profile, origins, warm.parse_mode(spec.get("mode"), profile.name)

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
            lock = DatadirLock(kept)
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
        self.mode = "private"
        self.user = self._password = None
        self._lease = None
        self._datadir = None
        self._nginx = None
        self._proc = None
        self._started_at = None

    # ------------------------------------------------------------------ process
    async def _remove_nginx(self) -> None:
        if self._nginx is not None and self.instance_id is not None:
            await self._nginx.remove_instance(self.instance_id)

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
                self._usage = self._nginx.usage(self.instance_id)
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

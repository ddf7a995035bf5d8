"""Private or system nginx: one strategy object instead of mode checks all over the front.

`PrivateMode`: the runtime runs its own nginx master in `nginx.prefix` on loopback, started on
the first reload and stopped when no live instance is left. `SystemMode`: the provider's nginx,
tested and reloaded with the configured commands; never started or stopped by the runtime.

Extending: a new behaviour that differs by mode is a method on `NginxMode` implemented by both
classes, not an `if config.nginx.mode == ...` in the front.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from erigolem_runtime.api.process import child_environment
from erigolem_runtime.config import RuntimeConfig
from erigolem_runtime.nginx import control
from erigolem_runtime.nginx.errors import NginxError
from erigolem_runtime.nginx.layout import NginxLayout
from erigolem_runtime.nginx.templates import render_main_conf


@dataclass(frozen=True)
class Probe:
    """Where a plain GET shows whether nginx serves the new config, and how many answers."""

    host: str
    port: int
    path_prefix: str
    host_header: str
    needed: int  # answers in a row


class NginxMode(Protocol):
    """What differs between a private master and the system nginx."""

    def own_files(self) -> dict[Path, str]:
        """Extra files (path -> text) the runtime keeps written (the private nginx.conf)."""
        ...

    def dirs(self) -> list[Path]:
        """Extra directories the mode needs."""
        ...

    async def test(self) -> None:
        """`nginx -t` for the current files; NginxError (with nginx's words) if rejected."""
        ...

    async def reload(self) -> None:
        """Make nginx serve the current files; return once old workers stopped accepting."""
        ...

    async def stop_if_idle(self) -> bool:
        """With no live instance: stop what the runtime started. True if that was the change."""
        ...

    def probe(self) -> Probe | None:
        """Where to check a change took effect; None when it cannot be checked."""
        ...

    def removed(self, status: int | None) -> bool:
        """Whether `status` of GET /<id>/ shows the instance's location is gone."""
        ...

    def master_pid(self) -> int | None: ...

    def error_log_tail(self) -> str: ...


class PrivateMode:
    """The runtime's own nginx master in `nginx.prefix` (see the module docstring)."""

    def __init__(self, config: RuntimeConfig, layout: NginxLayout) -> None:
        assert layout.prefix is not None
        self.config = config
        self.prefix = layout.prefix

    def _args(self) -> list[str]:
        return ["-p", f"{self.prefix}/", "-c", "conf/nginx.conf", "-e", "logs/error.log"]

    def own_files(self) -> dict[Path, str]:
        return {self.prefix / "conf" / "nginx.conf": render_main_conf(self.config)}

    def dirs(self) -> list[Path]:
        return [self.prefix / sub for sub in ("conf", "logs", "tmp")]

    async def test(self) -> None:
        argv = [control.resolve_binary(self.config.nginx.binary), "-t", "-q", *self._args()]
        await _test(argv)

    async def reload(self) -> None:
        pid = self.master_pid()
        if pid is None:
            # a master killed hard leaves its workers on our port: end them, then take it again
            await asyncio.to_thread(control.reap_orphan_workers, self.prefix)
            await self._start_master()
            return
        old = control.workers_of(pid)
        os.kill(pid, signal.SIGHUP)
        # Old workers keep accepting until they handle the master's QUIT; wait for that, so a
        # request sent after this returns never meets the old configuration.
        await control.wait_workers_retired(old, self.error_log_tail())

    async def stop_if_idle(self) -> bool:
        # Nobody is served: stop the master, also one left running with no registration at
        # all (its owner died between unregistering and stopping it).
        await control.stop_master(self.prefix)
        return True

    def probe(self) -> Probe:
        n = self.config.nginx
        return Probe("127.0.0.1", n.listen_port, "", n.listen or "127.0.0.1", 1)

    def removed(self, status: int | None) -> bool:
        return status == 404

    def master_pid(self) -> int | None:
        return control.running_master_pid(self.prefix)

    def error_log_tail(self) -> str:
        return "nginx error log: " + control.log_tail(self.prefix / "logs" / "error.log", 3)

    async def _start_master(self) -> None:
        log = self.prefix / "logs" / "startup.log"
        with log.open("ab") as err:
            proc = await asyncio.create_subprocess_exec(
                control.resolve_binary(self.config.nginx.binary),
                *self._args(),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=err,
                env=child_environment(),  # nginx needs no variable of ours, and gets no secret
                start_new_session=True,  # the master outlives this runtime, in its own session
            )
            rc = await proc.wait()
        if rc != 0:
            tail = control.log_tail(log, 3)
            hint = ""
            if "Address already in use" in tail:
                hint = (
                    f" nginx.listen {self.config.nginx.listen} is taken by another program: "
                    "pick a free port (erigolem-runtime local-config does)."
                )
            raise NginxError(f"the private nginx master did not start (exit {rc}): {tail}.{hint}")
        deadline = time.monotonic() + control.SETTLE_TIMEOUT_SEC
        while (pid := control.master_candidate(self.prefix)) is None:
            if time.monotonic() > deadline:
                raise NginxError(
                    f"the private nginx master wrote no pid file; {self.error_log_tail()}"
                )
            await asyncio.sleep(0.01)
        control.record_master(self.prefix, pid)


class SystemMode:
    """The provider's nginx: configured test/reload commands, optional check_url and pid file."""

    def __init__(self, config: RuntimeConfig) -> None:
        self.config = config

    def own_files(self) -> dict[Path, str]:
        return {}

    def dirs(self) -> list[Path]:
        return []

    async def test(self) -> None:
        n = self.config.nginx
        argv = (
            list(n.test_command)
            if n.test_command
            else [control.resolve_binary(n.binary), "-t", "-q"]
        )
        await _test(argv)

    async def reload(self) -> None:
        n = self.config.nginx
        assert n.reload_command is not None
        old = control.workers_of(control.pid_from(n.pid_file) if n.pid_file else None)
        rc, out = await control.run_command(list(n.reload_command))
        if rc != 0:
            raise NginxError(
                f"nginx.reload_command {list(n.reload_command)} failed (exit {rc}): {out}"
            )
        await control.wait_workers_retired(old, self.error_log_tail())

    async def stop_if_idle(self) -> bool:
        return False  # the provider's nginx runs on without instances

    def probe(self) -> Probe | None:
        n = self.config.nginx
        if not n.check_url or urlsplit(n.check_url).scheme != "http":
            return None
        parts = urlsplit(n.check_url)
        # We cannot see a system nginx's workers without its pid file, so we ask for several
        # answers in a row.
        return Probe(
            parts.hostname or "127.0.0.1",
            parts.port or 80,
            parts.path.rstrip("/"),
            parts.netloc,
            1 if n.pid_file else 5,
        )

    def removed(self, status: int | None) -> bool:
        return status not in (None, 401)

    def master_pid(self) -> int | None:
        return None

    def error_log_tail(self) -> str:
        return "see the system nginx's error log"


def mode_for(config: RuntimeConfig, layout: NginxLayout) -> NginxMode:
    """The strategy for `config.nginx.mode` (the one place the mode is looked at)."""
    if layout.prefix is not None:
        return PrivateMode(config, layout)
    return SystemMode(config)


async def _test(argv: list[str]) -> None:
    rc, out = await control.run_command(argv)
    if rc != 0:
        raise NginxError(f"nginx rejected the configuration (change rolled back): {out}")

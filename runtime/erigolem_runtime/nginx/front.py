"""The config transaction: add, rotate and remove per-instance nginx locations safely.

Every change is written atomically, checked with `nginx -t` (rolled back if it fails) and then
applied with a reload (`modes`). Passwords change without a reload (nginx re-reads the htpasswd
file on every request). Removing an instance empties its htpasswd file first, so its
credentials stop working at once, before the location disappears.

Instances are registered in `registry_dir/<id>.json` with their owner's pid and start time;
every add/remove first reaps instances whose owner process is dead (see the package docstring
for the private master's rule against orphans). All of it runs under one flock.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

from erigolem_runtime.api.files import atomic_write, open_lock_file, try_lock
from erigolem_runtime.api.paths import COMMON
from erigolem_runtime.api.process import pid_alive, start_time
from erigolem_runtime.api.status import UsageStats
from erigolem_runtime.config import RuntimeConfig
from erigolem_runtime.credentials import (
    validate_instance_id,
    validate_origins,
    validate_password,
    validate_user,
)
from erigolem_runtime.nginx import control
from erigolem_runtime.nginx.errors import NginxError
from erigolem_runtime.nginx.htpasswd import Htpasswd
from erigolem_runtime.nginx.layout import layout_for
from erigolem_runtime.nginx.modes import mode_for
from erigolem_runtime.nginx.templates import (
    HTTP_COMMON,
    SERVER_COMMON,
    render_location,
    render_upstream,
)
from erigolem_runtime.nginx.usage import UsageWindow

LOCK_TIMEOUT_SEC = 30.0


class NginxFront:
    """Adds, rotates and removes per-instance nginx locations (see the module docstring)."""

    def __init__(self, config: RuntimeConfig) -> None:
        self.config = config
        self.layout = layout_for(config)
        self.mode = mode_for(config, self.layout)
        self.htpasswd = Htpasswd(config.nginx)
        self._counts: dict[str, tuple[int, int]] = {}  # id -> (log offset, lines counted)
        self._usage: dict[str, UsageWindow] = {}  # id -> its traffic, from the same lines

    # ---- public API

    async def add_instance(
        self,
        instance_id: str,
        upstream_port: int,
        user: str,
        password: str,
        allow_origins: Sequence[str] = (),
    ) -> str:
        """Expose `instance_id` at public_url/<id>/ behind basic auth; returns that URL.

        `allow_origins`: the browser origins CORS lets read the answers (empty = any origin;
        every request but a preflight still needs the credentials).
        """
        iid = validate_instance_id(instance_id)
        origins = validate_origins(list(allow_origins) or None)
        if isinstance(upstream_port, bool) or not isinstance(upstream_port, int):
            raise ValueError(f"invalid upstream port {upstream_port!r}: need an int")
        if not 1 <= upstream_port <= 65535:
            raise ValueError(f"invalid upstream port {upstream_port}: need 1-65535")
        line = self.htpasswd.line(validate_user(user), validate_password(password))
        async with self._locked():
            reaped = self._reap_locked()
            try:
                return await self._add_locked(iid, upstream_port, line, origins)
            finally:
                self._delete_leftovers(reaped)

    async def _add_locked(
        self, iid: str, upstream_port: int, line: str, origins: Sequence[str]
    ) -> str:
        """Register, write, test, reload, wait; on failure restore the previous files."""
        lay = self.layout
        record = self._read_record(iid)
        if record is not None and record.get("pid") != os.getpid():
            raise NginxError(
                f"instance id {iid} is already in use by process {record.get('pid')}: "
                "pick another id"
            )
        self._write_record(iid, upstream_port)
        files = {
            lay.htpasswd_file(iid): (line, self.htpasswd.mode),
            lay.upstream_file(iid): (render_upstream(iid, upstream_port), 0o644),
            lay.location_file(iid): (
                render_location(iid, lay.htpasswd_file(iid), lay.log_file(iid), origins),
                0o644,
            ),
        }
        self._ensure_dirs()
        self._write_common()
        backup = {path: _read_or_none(path) for path in files}
        for path, (text, mode) in files.items():
            atomic_write(path, text, mode=mode, gid=self.htpasswd.gid(path), fsync=False)
        try:
            await self.mode.test()
            await self.mode.reload()
            await self._settle(iid, lambda status: status == 401)
        except BaseException:
            self._restore(backup)
            if record is None:
                lay.record_file(iid).unlink(missing_ok=True)
            if not self._live_records():
                await self.mode.stop_if_idle()
            raise
        return self.config.instance_url(iid)

    async def set_password(self, instance_id: str, user: str, password: str) -> None:
        """Replace the instance's credentials; the old ones fail from the next request on."""
        iid = validate_instance_id(instance_id)
        line = self.htpasswd.line(validate_user(user), validate_password(password))
        path = self.layout.htpasswd_file(iid)
        async with self._locked():
            if not path.exists() or self._read_record(iid) is None:
                raise NginxError(f"no instance {iid} behind nginx: start it first")
            atomic_write(path, line, mode=self.htpasswd.mode, gid=self.htpasswd.gid(path))

    async def remove_instance(self, instance_id: str) -> None:
        """Take the instance off nginx: credentials dead at once, location and files gone."""
        iid = validate_instance_id(instance_id)
        async with self._locked():
            self.requests_served(iid)  # keep the final count readable after the log is gone
            self._retract([iid])
            errors = await self._finish_change(gone=[iid, *self._reap_locked()])
        if errors:
            raise NginxError("; ".join(errors))

    def requests_served(self, instance_id: str) -> int:
        """Requests nginx passed to the instance after authentication, from its access log."""
        iid = validate_instance_id(instance_id)
        offset, count = self._counts.get(iid, (0, 0))
        window = self._usage.setdefault(iid, UsageWindow())
        try:
            with self.layout.log_file(iid).open("rb") as fh:
                size = os.fstat(fh.fileno()).st_size
                if size < offset:  # truncated or replaced: count afresh
                    offset, count = 0, 0
                    window.reset()
                fh.seek(offset)
                while chunk := fh.read(1 << 20):
                    end = chunk.rfind(b"\n") + 1
                    if end == 0:  # only a line nginx is still writing: count it next time
                        break
                    count += chunk.count(b"\n", 0, end)
                    window.feed(chunk[:end])
                    offset += end
                    fh.seek(offset)  # re-read a line cut by the chunk boundary
        except FileNotFoundError:
            pass
        self._counts[iid] = (offset, count)
        return count

    def usage(self, instance_id: str) -> UsageStats:
        """The instance's recent traffic (over time, errors, latency) from its access log."""
        self.requests_served(instance_id)
        return self._usage[validate_instance_id(instance_id)].stats()

    def active_instances(self) -> list[str]:
        """Ids of instances registered by live processes (across all runtimes)."""
        return sorted(self._live_records())

    def master_pid(self) -> int | None:
        """The private master's pid (None in system mode or when none runs)."""
        return self.mode.master_pid()

    async def reap_stale(self) -> list[str]:
        """Remove instances whose owner died; stop an idle private master. Returns their ids."""
        async with self._locked():
            reaped = self._reap_locked()
            errors = await self._finish_change(gone=reaped)
        if errors:
            raise NginxError("; ".join(errors))
        return reaped

    # ---- internals: registry

    def _read_record(self, iid: str) -> dict[str, int] | None:
        try:
            data = json.loads(self.layout.record_file(iid).read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def _write_record(self, iid: str, port: int) -> None:
        record = {"pid": os.getpid(), "start": start_time(os.getpid()), "port": port}
        atomic_write(self.layout.record_file(iid), json.dumps(record), mode=0o600, fsync=False)

    def _records(self) -> dict[str, dict[str, int] | None]:
        out: dict[str, dict[str, int] | None] = {}
        with contextlib.suppress(FileNotFoundError):
            for path in self.layout.registry_dir.glob("*.json"):
                out[path.stem] = self._read_record(path.stem)
        return out

    def _live_records(self) -> list[str]:
        return [
            iid
            for iid, rec in self._records().items()
            if rec is not None and pid_alive(int(rec.get("pid", 0)), rec.get("start"))
        ]

    def _reap_locked(self) -> list[str]:
        """Remove files of instances whose owner is dead, and conf files nobody registered."""
        live = set(self._live_records())
        dead = [iid for iid in self._records() if iid not in live]
        with contextlib.suppress(FileNotFoundError):
            for path in self.layout.server_dir.glob("*.conf"):
                if path.name != COMMON and path.stem not in live and path.stem not in dead:
                    dead.append(path.stem)
        dead = [iid for iid in dead if _valid(iid)]
        self._retract(dead)
        return dead

    def _retract(self, ids: list[str]) -> None:
        """Kill the credentials (empty htpasswd, effective at once) and drop the conf files."""
        lay = self.layout
        for iid in ids:  # 1. credentials dead now (nginx re-reads the file per request)
            if lay.htpasswd_file(iid).exists():
                atomic_write(lay.htpasswd_file(iid), "", mode=0o600, fsync=False)
        for iid in ids:  # 2. locations out of the config
            lay.location_file(iid).unlink(missing_ok=True)
            lay.upstream_file(iid).unlink(missing_ok=True)

    async def _finish_change(self, gone: list[str]) -> list[str]:
        """After removals: reload (or stop an idle private master), then delete leftovers."""
        errors: list[str] = []
        live = set(self._live_records()) - set(gone)
        if not live and await self.mode.stop_if_idle():
            pass
        elif gone:
            try:
                await self.mode.test()
                await self.mode.reload()
                for iid in gone:
                    await self._settle(iid, self.mode.removed)
            except NginxError as exc:
                errors.append(str(exc))
        self._delete_leftovers(gone)
        return errors

    def _delete_leftovers(self, ids: list[str]) -> None:
        for iid in ids:
            self.layout.htpasswd_file(iid).unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                self.layout.log_file(iid).unlink(missing_ok=True)
            self.layout.record_file(iid).unlink(missing_ok=True)

    # ---- internals: files

    @contextlib.asynccontextmanager
    async def _locked(self) -> AsyncIterator[None]:
        """Exclusive across processes (flock) and coroutines; polls so the loop never blocks."""
        self.layout.registry_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = open_lock_file(self.layout.lock_path)
        try:
            deadline = time.monotonic() + LOCK_TIMEOUT_SEC
            while not try_lock(fd):
                if time.monotonic() > deadline:
                    raise NginxError(
                        f"another runtime has held {self.layout.lock_path} for "
                        f"{LOCK_TIMEOUT_SEC:.0f} s: check for a hung erigolem-runtime"
                    )
                await asyncio.sleep(0.01)
            yield
        finally:
            os.close(fd)  # also releases the lock

    def _ensure_dirs(self) -> None:
        lay = self.layout
        for d in (lay.http_dir, lay.server_dir, lay.log_dir, *self.mode.dirs()):
            d.mkdir(parents=True, exist_ok=True, mode=0o755)
        lay.htpasswd_dir.mkdir(parents=True, exist_ok=True, mode=self.htpasswd.dir_mode)

    def _write_common(self) -> None:
        lay = self.layout
        wanted = {lay.http_common: HTTP_COMMON, lay.server_common: SERVER_COMMON}
        wanted.update(self.mode.own_files())
        for path, text in wanted.items():
            if _read_or_none(path) != text.encode():
                atomic_write(path, text, mode=0o644, fsync=False)

    def _restore(self, backup: dict[Path, bytes | None]) -> None:
        for path, old in backup.items():
            if old is None:
                path.unlink(missing_ok=True)
            else:
                atomic_write(path, old, mode=0o644 if path.suffix == ".conf" else 0o600)

    async def _settle(self, iid: str, ok: Callable[[int | None], bool]) -> None:
        """Wait until a plain GET of /<iid>/ shows the new config (when it can be checked)."""
        probe = self.mode.probe()
        if probe is None:
            return
        path = f"{probe.path_prefix}/{iid}/"
        deadline = time.monotonic() + control.SETTLE_TIMEOUT_SEC
        status: int | None = None
        streak = 0
        while time.monotonic() < deadline:
            status = await control.http_status(
                probe.host, probe.port, path, probe.host_header or probe.host
            )
            streak = streak + 1 if ok(status) else 0
            if streak >= probe.needed:
                return
            await asyncio.sleep(0.01 if streak else 0.02)
        raise NginxError(
            f"nginx did not take the new configuration within "
            f"{control.SETTLE_TIMEOUT_SEC:.0f} s ({path} answered {status}); "
            f"{self.mode.error_log_tail()}"
        )


def _valid(iid: str) -> bool:
    try:
        validate_instance_id(iid)
    except ValueError:
        return False
    return True


def _read_or_none(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None

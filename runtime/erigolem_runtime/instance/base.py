"""`InstanceBase`: what one instance holds; every layer of `NodeService` reads these fields.

The layers, lowest first: `process` (the client process), `supervise` (restarts, watchdog),
`status` (probing the client into a `NodeStatus`), `service` (start, run, shutdown).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from erigolem_runtime import profiles
from erigolem_runtime.api import RuntimeState, UsageStats
from erigolem_runtime.config import RuntimeConfig
from erigolem_runtime.datadirs import slots_dir
from erigolem_runtime.instance.slots import DatadirLock, InstanceSlots
from erigolem_runtime.nginx import NginxFront
from erigolem_runtime.ports import PortLease


class InstanceBase:
    """The fields of one instance (set by ``start``, torn down by ``shutdown``)."""

    def __init__(self, config: RuntimeConfig, workdir: Path) -> None:
        self.config = config
        self.workdir = Path(workdir)
        self.log_path = self.workdir / "logs" / "client.log"
        self.instance_id: str | None = None
        self.chain: str | None = None
        self.client: str | None = None
        self.mode: str = "private"  # or "warm": an rpcdaemon on the provider's synced Erigon
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
        self._datadir_lock: DatadirLock | None = None
        self._slots = InstanceSlots(slots_dir(config))
        self._reaper: asyncio.Task[int] | None = None
        self._closing_client: asyncio.Future[int] | None = None
        self._nginx: NginxFront | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._started_at: float | None = None
        self._stopped_at: float | None = None
        self._requests = 0
        self._usage: UsageStats | None = None  # last traffic read from nginx's log
        self._closing = False
        self._ever_ready = False
        self._restarting = False
        self._lock = asyncio.Lock()
        self._watchdog: asyncio.Task[None] | None = None
        self._last_answer = 0.0  # monotonic time the client last answered JSON-RPC
        self._healthy_since: float | None = None  # answering (and not restarted) since
        self._hang_reason: str | None = None  # set by the watchdog before it kills a hung client

"""The instance's status: probe the client and build the `NodeStatus`; the usage counters."""

from __future__ import annotations

import logging
import time

from erigolem_runtime import probe
from erigolem_runtime.api import (
    DURATION_COUNTER,
    REQUESTS_COUNTER,
    Auth,
    NodeStatus,
    RuntimeState,
    SyncInfo,
    UsageStats,
)
from erigolem_runtime.api.status import ws_url_of
from erigolem_runtime.instance.supervise import Supervised

log = logging.getLogger(__name__)


class StatusReporting(Supervised):
    """Adds the status probe (which also moves the state to syncing/ready/degraded)."""

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
                self.reason = (
                    f"the provider's warm Erigon behind this endpoint does not answer: {error}"
                    if self.mode == "warm"  # the rental's rpcdaemon is up, the shared node is not
                    else f"the client does not answer JSON-RPC: {error}"
                )
        return NodeStatus(
            url=self.url or "",
            ws_url=ws_url_of(self.url) if self.url else None,  # both clients serve WS there
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
            extra={"mode": self.mode} if self.mode != "private" else {},
            usage=self._usage_stats(),
        )

    def _usage_stats(self) -> UsageStats | None:
        """The recent traffic from nginx's log (frozen at shutdown); None before nginx is set."""
        if self._nginx is not None and self.instance_id is not None and self._stopped_at is None:
            try:
                self._usage = self._nginx.usage(self.instance_id)
            except Exception:
                log.exception("cannot read the usage from the access log")
        return self._usage

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

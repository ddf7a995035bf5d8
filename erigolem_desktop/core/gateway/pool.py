"""The nodes of one chain: health rounds, lag-based removal, head agreement, and who serves next.

Every `policy.health_interval` seconds each node is asked for its latest block. A node that does
not answer, whose block hash is not the hash of its header, that is more than `max_lag` blocks
behind the best head, or whose hash at a common height differs from the majority's, is taken
out with the reason. An out node is back in after `rejoin_after` good rounds in a row (a node
caught lying stays out until the gateway restarts). Calls go to the first node in config order
that is in; a call that fails on one node marks it out at once, so the next call skips it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from erigolem_desktop.core.gateway.config import ChainRoute, GatewayPolicy, UpstreamSpec
from erigolem_desktop.core.gateway.upstream import Upstream, UpstreamFailure, UpstreamRpcError
from erigolem_desktop.core.gateway.verify import VerificationError, check_header

log = logging.getLogger(__name__)
TRUSTED_CACHE = 4096  # block hashes agreed on, by number


@dataclass(frozen=True)
class Notice:
    """Something the user should be told: a node went out or came back, a lie was caught."""

    at: float  # time.time()
    chain: str
    node: str
    kind: str  # "out", "in", "lied", "disagree", "resubscribed"
    message: str

    def to_json(self) -> dict[str, Any]:
        return {
            "at": round(self.at, 3),
            "chain": self.chain,
            "node": self.node,
            "kind": self.kind,
            "message": self.message,
        }


class UpstreamPool:
    """The nodes behind one chain's endpoint, in order of preference."""

    def __init__(
        self, route: ChainRoute, policy: GatewayPolicy, session: aiohttp.ClientSession
    ) -> None:
        self.route = route
        self.chain = route.chain
        self.policy = policy
        self._session = session
        self.upstreams = [Upstream(spec, session) for spec in route.upstreams]
        self.trusted: OrderedDict[int, str] = OrderedDict()
        self.notices: deque[Notice] = deque(maxlen=200)
        self.listeners: list[Callable[[Notice], None]] = []
        self.best_head: int | None = None
        self.chain_id: int | None = route.chain_id
        self.disagreement: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._round = asyncio.Event()
        self._pending_good: set[str] = set()  # probed fine this round, pending lag/agreement

    # --- membership ---------------------------------------------------------------------

    def set_route(self, route: ChainRoute) -> None:
        """Serve `route`'s nodes from now on: known ones keep their health, new ones join after
        their first good health round, gone ones are closed (calls in flight finish)."""
        known: dict[UpstreamSpec, Upstream] = {u.spec: u for u in self.upstreams}
        fresh = [
            known.pop(spec) if spec in known else Upstream(spec, self._session)
            for spec in route.upstreams
        ]
        self.route, self.upstreams = route, fresh
        for gone in known.values():
            gone.close()

    def healthy(self) -> list[Upstream]:
        """Nodes in rotation, in config order."""
        return [u for u in self.upstreams if u.health.healthy]

    def candidates(self) -> list[Upstream]:
        """Whom to try for a call: healthy nodes first; if none, the ones not caught lying
        (a node marked out by a blip may answer again before the next health round)."""
        healthy = self.healthy()
        if healthy:
            return healthy
        return [u for u in self.upstreams if not u.health.lied]

    def notify(self, up: Upstream, kind: str, message: str) -> None:
        notice = Notice(time.time(), self.chain, up.name, kind, message)
        self.notices.append(notice)
        log.warning("gateway %s: node %s %s: %s", self.chain, up.name, kind, message)
        for listener in list(self.listeners):
            try:
                listener(notice)
            except Exception:  # a listener's bug must not stop the gateway
                log.exception("gateway notice listener failed")

    def mark_out(self, up: Upstream, reason: str, *, lied: bool = False) -> None:
        """Take a node out of rotation now (idempotent for the same reason)."""
        h = up.health
        changed = h.healthy or h.reason != reason
        h.healthy, h.good_rounds, h.was_out = False, 0, True
        up.evict()  # reads waiting on it go to the next node now
        if changed:
            h.reason, h.since = reason, time.monotonic()
            self.notify(up, "lied" if lied else "out", reason)
        h.lied = h.lied or lied

    def _mark_good(self, up: Upstream) -> None:
        h = up.health
        if h.lied:
            return
        h.good_rounds += 1
        if not h.healthy and not h.was_out:  # first good round since the gateway started
            h.healthy, h.reason, h.since = True, "healthy", time.monotonic()
        elif not h.healthy and h.good_rounds >= self.policy.rejoin_after:
            h.healthy, h.reason, h.since = True, "healthy", time.monotonic()
            self.notify(up, "in", f"back in rotation at block {h.head}")
        elif h.healthy:
            h.reason = "healthy"

    def trust(self, number: int, block_hash: str) -> None:
        """Remember a block hash as agreed (bounded, oldest dropped)."""
        self.trusted[number] = block_hash
        self.trusted.move_to_end(number)
        while len(self.trusted) > TRUSTED_CACHE:
            self.trusted.popitem(last=False)

    # --- health rounds ------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name=f"gateway-health-{self.chain}")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for up in self.upstreams:
            up.close()

    async def wait_round(self) -> None:
        """Wait for the next health round to finish (tests and `status` use it)."""
        self._round.clear()
        await self._round.wait()

    async def _loop(self) -> None:
        while True:
            try:
                await self.check_once()
            except Exception:  # keep checking whatever one round hit
                log.exception("gateway %s: health round failed", self.chain)
            self._round.set()
            await asyncio.sleep(self.policy.health_interval)

    async def check_once(self) -> None:
        """One health round over every node (probes run concurrently)."""
        await asyncio.gather(*(self._probe(u) for u in self.upstreams))
        alive = [u for u in self.upstreams if u.health.head is not None and not u.health.lied]
        if not alive:
            return
        best = max(u.health.head or 0 for u in alive)
        self.best_head = best
        for up in alive:
            lag = best - (up.health.head or 0)
            if lag > self.policy.max_lag:
                self.mark_out(
                    up, f"behind the best head by {lag} blocks (limit {self.policy.max_lag})"
                )
                up.health.head = None  # not a candidate for agreement this round
        await self._agree([u for u in alive if u.health.head is not None])

    async def _probe(self, up: Upstream) -> None:
        started = time.perf_counter()
        try:
            if up.chain_id is None:  # asked once per node: wallets need it, and it must match
                up.chain_id = int(await up.call("eth_chainId", [], self.policy.health_timeout), 16)
            if self.chain_id is None:
                self.chain_id = up.chain_id
            elif up.chain_id != self.chain_id:
                up.health.head = None
                self.mark_out(
                    up, f"serves chain id {up.chain_id}, not this chain's {self.chain_id}"
                )
                return
            block = await up.call(
                "eth_getBlockByNumber", ["latest", False], self.policy.health_timeout
            )
            header = check_header(block)
        except UpstreamFailure as exc:
            up.health.head = None
            self.mark_out(up, f"health check failed: {exc}")
            return
        except (UpstreamRpcError, ValueError, TypeError) as exc:
            up.health.head = None
            self.mark_out(up, f"health check got an error answer: {exc}")
            return
        except VerificationError as exc:
            up.health.head = None
            self.mark_out(up, f"sent a bad block header: {exc}", lied=True)
            return
        up.health.latency_ms = (time.perf_counter() - started) * 1000
        up.health.head, up.health.head_hash = header.number, header.hash
        # Good for now; lag and agreement below may still take it out this round.
        self._pending_good.add(up.name)

    async def _agree(self, alive: list[Upstream]) -> None:
        """Compare hashes at the lowest common head; the minority is taken out."""
        pending, self._pending_good = self._pending_good, set()
        if len(alive) < 2:
            for up in alive:
                if up.name in pending:
                    self._mark_good(up)
            return
        height = min(u.health.head or 0 for u in alive)
        hashes: dict[str, list[Upstream]] = {}

        async def hash_at(up: Upstream) -> None:
            if up.health.head == height and up.health.head_hash:
                hashes.setdefault(up.health.head_hash, []).append(up)
                return
            try:
                block = await up.call(
                    "eth_getBlockByNumber", [hex(height), False], self.policy.health_timeout
                )
                header = check_header(block)
            except (UpstreamFailure, UpstreamRpcError) as exc:
                self.mark_out(up, f"could not give block {height}: {exc}")
                return
            except VerificationError as exc:
                self.mark_out(up, f"sent a bad block header: {exc}", lied=True)
                return
            hashes.setdefault(header.hash, []).append(up)

        await asyncio.gather(*(hash_at(u) for u in alive))
        if not hashes:
            return
        groups = sorted(hashes.items(), key=lambda kv: len(kv[1]), reverse=True)
        top_hash, top = groups[0]
        if len(groups) > 1 and len(groups[1][1]) == len(top):
            names = " vs ".join("+".join(u.name for u in g) for _h, g in groups)
            text = f"nodes disagree on block {height} ({names}); answers cannot be agreed"
            if self.disagreement != text:
                self.disagreement = text
                self.notify(top[0], "disagree", text)
            for _h, group in groups:
                for up in group:
                    if up.name in pending:
                        self._mark_good(up)
            return
        self.disagreement = None
        if len(top) >= 2:
            self.trust(height, top_hash)
        for up in top:
            if up.name in pending:
                self._mark_good(up)
        for other_hash, group in groups[1:]:
            for up in group:
                self.mark_out(
                    up,
                    f"its block {height} hash {other_hash[:12]}… differs from {len(top)} other "
                    f"node(s) ({top_hash[:12]}…)",
                )

    def status(self) -> dict[str, Any]:
        """Which nodes are in, out and why (no credentials)."""
        now = time.monotonic()
        return {
            "chain": self.chain,
            "chain_id": self.chain_id,
            "best_head": self.best_head,
            "disagreement": self.disagreement,
            "nodes": [
                {
                    "name": u.name,
                    "node_id": u.spec.node_id,
                    "url": u.spec.url,
                    "in": u.health.healthy,
                    "reason": u.health.reason,
                    "head": u.health.head,
                    "lied": u.health.lied,
                    "latency_ms": None
                    if u.health.latency_ms is None
                    else round(u.health.latency_ms, 3),
                    "for_s": round(now - u.health.since, 1),
                }
                for u in self.upstreams
            ],
            "notices": [n.to_json() for n in list(self.notices)[-20:]],
        }

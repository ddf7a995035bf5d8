"""The gateway as the desktop app runs it: on the app's loop, over the manager's ready nodes.

`LocalGateway.start()` binds 127.0.0.1:port and serves every chain that has a ready node (none
is fine: chains appear as their nodes become ready). `sync()` follows the manager (the window
calls it when node rows change and on a timer): new ready nodes join their chain, stopped ones
leave, a rotated password is picked up. The run file `<data>/gateway.json` is kept current, so
`erigolem node list` and `erigolem gateway status` find this gateway too. No Qt here.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any

from erigolem_desktop.core.gateway.config import GatewayPolicy
from erigolem_desktop.core.gateway.nodes import (
    remove_run_file,
    routes_from_nodes,
    wallet_hint,
    write_run_file,
)
from erigolem_desktop.core.gateway.pool import Notice
from erigolem_desktop.core.gateway.server import GatewayService
from erigolem_desktop.core.manager import NodeManager
from erigolem_desktop.core.states import NodeState

RECHECK_S = 30.0  # re-read the nodes' credentials at least this often (a rotated password)
# Nodes that serve or soon will again: a node whose client restarts shows as syncing, and
# stays behind its chain's URL (out, with the reason) rather than the chain vanishing.
SERVING = frozenset({NodeState.READY, NodeState.SYNCING})


class LocalGateway:
    """One gateway over a NodeManager's ready nodes, started and stopped on request.

    Attributes:
        notices: the latest notices of every chain, newest last (the view lists them).
        listeners: called with each Notice as it happens (the window's notification).
    """

    def __init__(self, manager: NodeManager, policy: GatewayPolicy, port: int) -> None:
        self.manager = manager
        self.policy = policy
        self.port = port
        self.service: GatewayService | None = None
        self.notices: deque[Notice] = deque(maxlen=200)
        self.listeners: list[Callable[[Notice], None]] = []
        self._key: tuple[Any, ...] | None = None
        self._synced_at = 0.0

    @property
    def running(self) -> bool:
        return self.service is not None

    def _ready_key(self) -> tuple[Any, ...]:
        return tuple(
            (r.id, r.chain, r.url, r.user)
            for r in self.manager.list(active_only=True)
            if r.state in SERVING and r.url is not None
        )

    async def start(self) -> int:
        """Bind and serve (OSError when the port is taken); returns the port."""
        if self.service is not None:
            assert self.service.port is not None
            return self.service.port
        self._key = self._ready_key()
        routes = routes_from_nodes(self.manager, allow_empty=True, states=SERVING)
        service = GatewayService(routes, self.policy, port=self.port)
        service.add_listener(self._on_notice)
        port = await service.start()
        self.service = service
        self._synced_at = time.monotonic()
        self._write_run_file()
        return port

    async def sync(self) -> bool:
        """Follow the manager's ready nodes; True when the routes changed."""
        service = self.service
        if service is None:
            return False
        key = self._ready_key()
        stale = time.monotonic() - self._synced_at > RECHECK_S
        if key == self._key and not stale:
            return False
        before = {c: r.upstreams for c, r in service.routes.items()}
        self._key, self._synced_at = key, time.monotonic()
        routes = routes_from_nodes(self.manager, allow_empty=True, states=SERVING)
        await service.update_routes(routes)
        changed = before != {r.chain: r.upstreams for r in routes}
        if changed:
            self._write_run_file()
        return changed

    async def stop(self) -> None:
        """Stop serving and remove the run file."""
        service, self.service = self.service, None
        if service is None:
            return
        port = service.port
        await service.close()
        if port is not None:
            remove_run_file(port)

    def status(self) -> dict[str, Any] | None:
        """The service's status (chains, nodes in/out and why, stats), None when stopped."""
        return None if self.service is None else self.service.status()

    def url(self, chain: str) -> str:
        assert self.service is not None
        return self.service.url(chain)

    def ws_url(self, chain: str) -> str:
        assert self.service is not None
        return self.service.ws_url(chain)

    def hint(self, chain: str, chain_id: int | None) -> str:
        return wallet_hint(chain, chain_id, self.url(chain))

    def _on_notice(self, notice: Notice) -> None:
        self.notices.append(notice)
        for listener in list(self.listeners):
            listener(notice)

    def _write_run_file(self) -> None:
        service = self.service
        if service is None or service.port is None:
            return
        chains = {c: [u.node_id or u.name for u in r.upstreams] for c, r in service.routes.items()}
        write_run_file(service.port, chains, self.policy.token is not None)

"""The REST endpoints, compatible with the original Erigolem requestor server (see README.md).

Every endpoint but `/health` and `/getMessage` needs a signed-in wallet (auth.py); a wallet
sees and stops only the nodes it created. Errors are `{"msg": "<text>"}` like the original's.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from erigolem_desktop.core.backends.base import BackendError, NodeSpec
from erigolem_desktop.core.manager import ManagerError, NodeManager, owner_alive
from erigolem_desktop.core.records import NodeRecord
from erigolem_desktop.server import instances
from erigolem_desktop.server.auth import (
    AuthError,
    Busy,
    RateLimited,
    Session,
    SiweAuth,
    parse_address,
)
from erigolem_desktop.server.ratelimit import RateLimit, client_key, whole_seconds

log = logging.getLogger(__name__)

SESSION_KEY = "erigolem.session"


def default_message_limit() -> RateLimit:
    """`GET /getMessage` per client: 120 at once, then 20 a second."""
    return RateLimit(rate=20.0, burst=120.0)


@dataclass
class ServerOptions:
    """Behaviour switches of the server.

    Args:
        auth_error_status: HTTP status of sign-in failures: 400 like the original (its clients
            expect it), or 401 (`--auth-401`).
        default_backend: where nodes run when `params.backend` is not given.
        max_active_per_wallet: active nodes one wallet may have at once.
        stop_wait: seconds `stopInstance` waits for the stop before answering (it then goes on).
        body_timeout: seconds a client has to send a request body (408 and close after).
        message_limit: `GET /getMessage` calls per client (429 past it; issuing stores nothing,
            so this only bounds CPU).
        networks: for each client, the networks it serves (from the runtime's profiles).
        default_clients: the client a network runs with when none is named.
    """

    auth_error_status: int = 400
    default_backend: str = "local"
    max_active_per_wallet: int = 10
    stop_wait: float = 10.0
    networks: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    default_clients: Mapping[str, str] = field(default_factory=dict)
    body_timeout: float = 15.0
    message_limit: RateLimit = field(default_factory=lambda: default_message_limit())


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda d: json.dumps(d, default=str))


def error(status: int, msg: str, **headers: str) -> web.Response:
    """An error in the original's shape: `{"msg": "<text>"}`."""
    return web.json_response({"msg": msg}, status=status, headers=headers or None)


def too_many(msg: str, retry_after: float) -> web.Response:
    """A 429 with Retry-After (whole seconds, at least 1)."""
    return error(429, msg, **{"Retry-After": str(whole_seconds(retry_after))})


class Api:
    """Handlers bound to one manager and one SIWE authority."""

    def __init__(self, manager: NodeManager, auth: SiweAuth, options: ServerOptions) -> None:
        self.manager = manager
        self.auth = auth
        self.options = options
        self.init_params: dict[str, dict[str, Any]] = {}  # node id -> params as sent
        self.stop_tasks: set[asyncio.Task[NodeRecord]] = set()
        self._create_lock = asyncio.Lock()

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/health", self.health, allow_head=False),
            web.get("/getMessage", self.get_message, allow_head=False),
            web.get("/getInstances", self.get_instances, allow_head=False),
            web.post("/createInstance", self.create_instance),
            web.post("/stopInstance/{id}", self.stop_instance),
            web.post("/logout", self.logout),
        ]

    # ------------------------------------------------------------------ helpers

    def session(self, request: web.Request) -> Session:
        """The signed-in wallet of the request, or AuthError (the Host must be one of ours)."""
        self.auth.domain_for(request.headers.get("Host"))
        return self.auth.authenticate(
            request.headers.get("Authorization"),
            request.headers.get("Message"),
            request.headers.get("Signature"),
            client=client_key(request.remote),
        )

    def auth_error(self, exc: AuthError) -> web.Response:
        if isinstance(exc, RateLimited):
            return too_many(exc.message, exc.retry_after)
        if isinstance(exc, Busy):
            return error(503, exc.message, **{"Retry-After": "60"})
        status = self.options.auth_error_status
        headers = {"WWW-Authenticate": 'Bearer realm="erigolem"'} if status == 401 else {}
        return error(status, exc.message, **headers)

    def _instance(self, rec: NodeRecord) -> dict[str, Any]:
        password: str | None = None
        if instances.STATUS[rec.state] == "running":
            try:
                password = self.manager.password(rec.id)
            except Exception:
                log.warning("could not read the password of node %s", rec.id, exc_info=True)
        return instances.instance(rec, password, self.init_params.get(rec.id))

    def _own(self, session: Session, node_id: str) -> NodeRecord | None:
        rec = self.manager.lookup(node_id) if node_id else None  # node id or URL path id
        if rec is None or (rec.owner or "").lower() != session.address.lower():
            return None
        return rec

    def _mine(self, session: Session) -> list[NodeRecord]:
        me = session.address.lower()
        return [r for r in self.manager.list() if (r.owner or "").lower() == me]

    # ---------------------------------------------------------------- endpoints

    async def health(self, request: web.Request) -> web.Response:
        """Liveness for load balancers and compose healthchecks (no auth, nothing private)."""
        return json_response(
            {"status": "ok", "version": _version(), "backends": sorted(self.manager.backends)}
        )

    async def get_message(self, request: web.Request) -> web.Response:
        """A fresh sign-in message (a JSON string) for `?address=` or the Bearer address, if any."""
        wait = self.options.message_limit.take(client_key(request.remote))
        if wait > 0:
            return too_many(
                f"Too many sign-in messages asked for; try again in {whole_seconds(wait)} s.", wait
            )
        try:
            domain = self.auth.domain_for(request.headers.get("Host"))
            address = request.query.get("address")
            bearer = request.headers.get("Authorization", "")
            if address is None and bearer.lower().startswith("bearer "):
                address = bearer[7:]
            if address is not None:
                address = parse_address(address)
        except AuthError as exc:
            return error(400, exc.message)
        text = self.auth.issue(domain, f"{request.scheme}://{domain}/", address)
        return json_response(text)

    async def get_instances(self, request: web.Request) -> web.Response:
        try:
            session = self.session(request)
        except AuthError as exc:
            return self.auth_error(exc)
        return json_response([self._instance(r) for r in self._mine(session)])

    async def create_instance(self, request: web.Request) -> web.Response:
        try:
            session = self.session(request)
        except AuthError as exc:
            return self.auth_error(exc)
        try:
            async with asyncio.timeout(self.options.body_timeout):
                body = await request.json(loads=_strict_loads)
        except TimeoutError:
            return error(
                408,
                f"the request body did not arrive within {self.options.body_timeout:g} s",
                Connection="close",
            )
        except UnicodeDecodeError:
            return error(400, "the request body is not UTF-8 text")
        except ValueError as exc:
            return error(
                400,
                f"the request body is not valid JSON ({exc}); send Content-Type: "
                'application/json and {"params": {"network": "sepolia"}}',
            )
        try:
            req = instances.parse_create(
                body,
                networks=self.options.networks,
                default_client=self.options.default_clients,
                backends=tuple(sorted(self.manager.backends)),
                default_backend=self.options.default_backend,
            )
        except instances.InputError as exc:
            return error(400, str(exc))
        refused = self._unservable(req.network, req.backend)
        if refused is not None:
            return refused
        async with self._create_lock:  # the quota check and the new record go together
            active = sum(1 for r in self._mine(session) if r.active)
            if active >= self.options.max_active_per_wallet:
                return error(
                    429,
                    f"this wallet already has {active} active nodes (the limit here); "
                    "stop one with POST /stopInstance/<id> first",
                )
            spec = NodeSpec(
                chain=req.network,
                client=req.client,
                name=req.name,
                allow_origins=req.allow_origins,
                warm=req.warm,
            )
            try:
                rec = await self.manager.start(spec, backend=req.backend, owner=session.address)
            except ManagerError as exc:
                return error(503, f"service initialization failed: {exc}")
        self.init_params[rec.id] = req.init_params
        log.info("node %s (%s) created for %s", rec.id, req.network, session.address)
        return json_response(self._instance(rec), status=201)

    def _unservable(self, network: str, backend_kind: str) -> web.Response | None:
        """A 400 when this server's local backend cannot run `network` (no Erigon here), before
        a record exists; the operator's paths stay out of the answer."""
        served = getattr(self.manager.backends.get(backend_kind), "served_chains", None)
        if backend_kind != "local" or not callable(served):
            return None
        try:
            chains = list(served())
        except BackendError as exc:
            log.error("cannot tell which chains the local backend serves: %s", exc)
            return error(503, "service initialization failed: the local runtime is not set up")
        if network in chains:
            return None
        other = [b for b in sorted(self.manager.backends) if b != "local"]
        way_out = f', or use "backend": "{other[0]}"' if other else ""
        return error(
            400,
            f"the network {network} cannot run on this server's local backend (it runs: "
            f"{', '.join(chains) or 'nothing yet'}); choose one of those{way_out}",
        )

    async def stop_instance(self, request: web.Request) -> web.Response:
        try:
            session = self.session(request)
        except AuthError as exc:
            return self.auth_error(exc)
        rec = self._own(session, request.match_info.get("id", ""))
        if rec is None:
            return error(404, "invalid instance ID")
        if rec.active and not self.manager.holds(rec.id):
            pid = rec.runtime.get("owner_pid")
            if isinstance(pid, int) and pid != os.getpid() and owner_alive(rec.runtime):
                return error(
                    409,
                    f"the node {rec.id} is run by another process (pid {pid}) on this computer; "
                    "stop it there (erigolem node stop ID)",
                )
        task = asyncio.create_task(self.manager.stop(rec.id), name=f"api stop {rec.id}")
        self.stop_tasks.add(task)
        task.add_done_callback(self._stop_done)
        await asyncio.wait({task}, timeout=self.options.stop_wait)
        if task.done() and not task.cancelled() and task.exception() is not None:
            return error(500, f"stopping the node failed: {task.exception()}")
        current = self.manager.get(rec.id) or rec
        log.info("node %s stop requested by %s", rec.id, session.address)
        return json_response(self._instance(current))

    def _stop_done(self, task: asyncio.Task[NodeRecord]) -> None:
        self.stop_tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("stopping a node failed", exc_info=task.exception())

    async def logout(self, request: web.Request) -> web.Response:
        """Sign out: the message in the headers stops opening sessions at once."""
        try:
            session = self.session(request)
        except AuthError as exc:
            return self.auth_error(exc)
        try:
            self.auth.revoke(session)
        except AuthError as exc:
            return self.auth_error(exc)
        return json_response({"msg": "signed out"})

    async def close(self) -> None:
        """Let stops in flight finish (the manager's close stops the rest)."""
        if self.stop_tasks:
            with contextlib.suppress(Exception):
                await asyncio.wait(set(self.stop_tasks), timeout=30)


@functools.cache
def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("erigolem-desktop")
    except PackageNotFoundError:
        return "unknown"


def _strict_loads(text: str) -> Any:
    """json.loads without NaN/Infinity (not JSON; they would not round-trip)."""

    def reject(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=reject)

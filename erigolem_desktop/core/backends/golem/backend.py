"""GolemBackend: nodes rented on the Golem market through yapapi and the service manager."""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar, cast

import aiohttp
from erigolem_runtime.api import NodeStatus, parse_output

from erigolem_desktop.core.backends.base import NodeSpec, ProgressCallback, StartedNode, Usage
from erigolem_desktop.core.backends.golem import errors
from erigolem_desktop.core.backends.golem.config import GolemConfig
from erigolem_desktop.core.backends.golem.payload import payload_for
from erigolem_desktop.core.backends.golem.preflight import Preflight, run_preflight
from erigolem_desktop.core.backends.golem.service import ErigonService, _first_line
from erigolem_desktop.core.backends.golem.service_manager import (
    EngineLike,
    ServiceHandle,
    ServiceManager,
    ServiceStatus,
)
from erigolem_desktop.core.backends.golem.strategy import (
    DURATION_COUNTER,
    REQUESTS_COUNTER,
    ErigonStrategy,
)

log = logging.getLogger(__name__)

ALLOCATION_MARGIN = timedelta(minutes=30)  # after the last expiration: the final invoice


@dataclass
class _Node:
    """What the backend keeps per node: the handle, the spec and the money seen so far."""

    handle: ServiceHandle
    spec: NodeSpec
    agreements: set[str] = field(default_factory=set)
    debit_notes: dict[str, Decimal] = field(default_factory=dict)  # agreement -> last due accepted
    invoices: dict[str, Decimal] = field(default_factory=dict)  # agreement -> accepted amount
    usage: dict[str, float] = field(default_factory=dict)
    last_status: NodeStatus | None = None
    previous_due: dict[str, Decimal] = field(default_factory=dict)  # agreement -> note before
    create_failures: list[str] = field(default_factory=list)  # "provider: cause"
    started_at: float = field(default_factory=time.monotonic)
    expiration: datetime = field(default_factory=lambda: datetime.now(UTC))

    def budget(self, default: Decimal) -> Decimal:
        return self.spec.budget_glm or default

    def cost_without(self, agreement_id: str) -> Decimal:
        """What the node's other agreements cost (invoiced, else last accepted note)."""
        return sum(
            (
                self.invoices.get(a, self.debit_notes.get(a, Decimal(0)))
                for a in self.agreements
                if a != agreement_id
            ),
            Decimal(0),
        )

    def cost(self) -> Decimal:
        """Invoiced amount per agreement, or the last accepted debit note while it runs."""
        return sum(
            (self.invoices.get(a, self.debit_notes.get(a, Decimal(0))) for a in self.agreements),
            Decimal(0),
        )


def map_engine_error(config: GolemConfig) -> Callable[[BaseException], BaseException]:
    """Turn what `Golem.start()` raised into the GolemError that says the way out."""

    def convert(exc: BaseException) -> BaseException:
        if isinstance(exc, errors.GolemError):
            return exc
        if isinstance(exc, aiohttp.ClientConnectorError | ConnectionRefusedError):
            return errors.YagnaNotRunning(config.api_url, str(exc))
        status = getattr(exc, "status", None)
        if isinstance(status, int):
            body = getattr(exc, "body", None) or getattr(exc, "reason", "") or ""
            if isinstance(body, bytes):
                body = body.decode(errors="replace")
            return errors.from_status(
                config.api_url, status, str(body), platform=config.payment_platform
            )
        text = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, ConnectionResetError | BrokenPipeError) or "gftp" in text.lower():
            with contextlib.suppress(errors.GftpMissing):
                errors.check_gftp()
                return errors.GolemError(
                    f"The Golem engine could not start: {text}", "See yapapi's log for details."
                )
            return errors.GftpMissing()
        return errors.GolemError(
            f"The Golem engine could not start: {text}",
            "Check that yagna is running and healthy (`yagna service run`), then try again.",
        )

    return convert


class GolemBackend:
    """Rents each node from a provider; one yapapi engine for the whole app.

    Args:
        config: connection, prices and budget (GolemConfig.load() by default).
        engine_factory: builds the engine; defaults to a `yapapi.Golem` made from `config`.
        invoice_wait: seconds `stop` waits for the provider's invoice to be accepted.
    """

    kind: ClassVar[str] = "golem"

    def __init__(
        self,
        config: GolemConfig | None = None,
        *,
        engine_factory: Callable[[], EngineLike] | None = None,
        invoice_wait: float = 10.0,
    ) -> None:
        self.config = config or GolemConfig.load()
        self.strategy = ErigonStrategy(self.config, acceptor=self._acceptable)
        self.invoice_wait = invoice_wait
        self._nodes: dict[str, _Node] = {}
        self._by_agreement: dict[str, _Node] = {}
        self._manager = ServiceManager(
            engine_factory or self._make_engine,
            on_engine_error=map_engine_error(self.config),
            release_when_idle=True,  # the allocation goes with the last node, failed or stopped
        )
        self.events: list[tuple[float, str, str]] = []  # (monotonic, node id, event name)

    # --- engine ---------------------------------------------------------------------------

    def _allocation_timeout(self) -> datetime:
        """When the allocation may end: the latest live node's expiration plus the margin."""
        live = [n.expiration for n in self._nodes.values() if not n.handle.finished]
        until = max(live, default=datetime.now(UTC) + self.config.default_duration)
        return until + ALLOCATION_MARGIN

    async def _extend_allocation(self) -> None:
        """A node that ends later than the allocation gets the allocation extended."""
        engine = self._manager.engine
        extend = getattr(engine, "extend_allocation", None)
        if extend is not None:
            await extend(self._allocation_timeout())

    async def _release_if_idle(self) -> None:
        """No node left: stop the engine, which releases its allocation (reserved GLM)."""
        if not any(self.is_running(n) for n in self._nodes):
            await self._manager.release_engine()

    def _make_engine(self) -> EngineLike:
        from yapapi.config import ApiConfig

        from erigolem_desktop.core.backends.golem.allocation import BoundedAllocationGolem

        if not self.config.app_key:
            raise errors.MissingAppKey()
        api = ApiConfig(
            app_key=self.config.app_key,
            api_url=self.config.api_url,
            activity_url=self.config.activity_url,
        )
        engine = BoundedAllocationGolem(
            allocation_timeout=self._allocation_timeout,
            budget=self.config.budget_glm,
            strategy=self.strategy,
            subnet_tag=self.config.subnet,
            payment_driver=self.config.payment_driver,
            payment_network=self.config.payment_network,
            event_consumer=self._on_event,
            api_config=api,
        )
        return cast(EngineLike, engine)

    async def check_connection(self) -> str:
        """Ask yagna who we are: the node id, or the error that says what to fix."""
        if not self.config.app_key:
            raise errors.MissingAppKey()
        headers = {"Authorization": f"Bearer {self.config.app_key}"}
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
                session.get(f"{self.config.api_url}/me", headers=headers) as resp,
            ):
                body = await resp.text()
                if resp.status != 200:
                    raise errors.from_status(self.config.api_url, resp.status, body)
                return str(json.loads(body)["identity"])
        except (aiohttp.ClientConnectionError, TimeoutError) as exc:
            raise errors.YagnaNotRunning(
                self.config.api_url, str(exc) or type(exc).__name__
            ) from exc
        except (ValueError, KeyError) as exc:
            raise errors.GolemError(
                f"{self.config.api_url} does not answer like yagna: {exc}",
                "Check the yagna API URL in Settings / YAGNA_API_URL.",
            ) from exc

    async def preflight(self) -> Preflight:
        """Before a start: yagna reachable, app key accepted, funds for the allocation, gftp.

        One line per check (preflight.py), so the Start dialog can say everything that needs
        fixing before a record exists. The funds are not compared with the budget while an
        engine runs: its allocation is already reserved.
        """
        return await run_preflight(self.config, engine_running=self._manager.engine is not None)

    def _on_event(self, event: Any) -> None:
        """yapapi's event stream: agreement, activity and money per node."""
        name = type(event).__name__
        agreement = getattr(event, "agreement", None)
        node = None
        job = getattr(event, "job", None)
        if job is not None:
            node = next(
                (
                    n
                    for n in self._nodes.values()
                    if n.handle.cluster is not None and n.handle.cluster.id == job.id
                ),
                None,
            )
        if agreement is not None and node is not None and agreement.id not in node.agreements:
            node.agreements.add(agreement.id)
            self._by_agreement[agreement.id] = node
        if agreement is not None:
            node = node or self._by_agreement.get(agreement.id)
        if node is None:
            return
        node_id = next((k for k, v in self._nodes.items() if v is node), "?")
        if name in (
            "AgreementCreated",
            "AgreementConfirmed",
            "ActivityCreated",
            "InvoiceAccepted",
            "DebitNoteAccepted",
            "ProposalConfirmed",
            "InvoiceReceived",
        ):
            node.handle.mark(name)
            self.events.append((time.monotonic(), node_id, name))
        if name == "DebitNoteAccepted":
            note = event.debit_note
            agreement_id = str(note.agreement_id)
            due = Decimal(note.total_amount_due)
            before = node.debit_notes.get(agreement_id)
            if before is not None:
                node.previous_due[agreement_id] = before
            node.debit_notes[agreement_id] = due
            self._check_budget(node, agreement_id)
        elif name == "InvoiceAccepted":
            node.invoices[str(event.invoice.agreement_id)] = Decimal(event.invoice.amount)
        elif name == "ActivityCreateFailed":
            self._activity_create_failed(node_id, node, event)

    def _activity_create_failed(self, node_id: str, node: _Node, event: Any) -> None:
        """Count a failed activity creation as an attempt and exclude that provider."""
        exc = (getattr(event, "exc_info", None) or (None, None, None))[1]
        cause = _first_line(exc) if exc is not None else "activity creation failed"
        provider = ""
        with contextlib.suppress(Exception):
            provider = str(event.provider_id)
        node.create_failures.append(
            f"{provider or 'a provider'}: activity creation failed: {cause}"
        )
        if provider:
            self.strategy.exclude(node_id, provider)
        service = node.handle.service
        attempts = len(node.create_failures) + (getattr(service, "attempts", 0) or 0)
        if attempts >= self.config.start_attempts:
            node.handle.fail(f"{node.create_failures[-1]} (tried {attempts} provider(s))")

    def _acceptable(self, agreement_id: str, amount: Decimal) -> Decimal:
        """How much of a note/invoice we accept: all of it while the node stays in budget."""
        node = self._by_agreement.get(agreement_id)
        if node is None:
            return amount
        budget = node.budget(self.config.node_budget_glm)
        total = node.cost_without(agreement_id) + amount
        if total <= budget:
            return amount
        self._stop_for_budget(
            node, f"the next payment would bring it to {total} GLM, over its budget of {budget} GLM"
        )
        return max(budget - node.cost_without(agreement_id), Decimal(0))

    def _check_budget(self, node: _Node, agreement_id: str) -> None:
        """Stop the node when the next debit note (at the pace seen so far, plus one interval
        for the stop) would pass the budget, so no note or invoice above it is left unpaid."""
        budget = node.budget(self.config.node_budget_glm)
        due = node.debit_notes[agreement_id]
        step = max(due - node.previous_due.get(agreement_id, due), Decimal(0))
        # the next note, plus one interval for the stop itself (the invoice counts up to then)
        projected = node.cost_without(agreement_id) + due + 2 * step
        if projected > budget:
            self._stop_for_budget(
                node,
                f"it has spent {node.cost()} GLM and the next debit note (about {projected} GLM) "
                f"would pass its budget of {budget} GLM",
            )

    def _stop_for_budget(self, node: _Node, why: str) -> None:
        if node.handle.stop_requested:
            return
        reason = f"stopped by its budget: {why}"
        log.warning("node %s", reason)
        node.handle.stop(reason)

    # --- Backend protocol -----------------------------------------------------------------

    async def start(self, node_id: str, spec: NodeSpec, progress: ProgressCallback) -> StartedNode:
        if node_id in self._nodes and self._nodes[node_id].handle.status not in (
            ServiceStatus.STOPPED,
            ServiceStatus.FAILED,
        ):
            raise errors.GolemError(f"Node {node_id} is already running.", "Stop it first.")
        progress("Connecting to yagna…")
        await self.check_connection()
        errors.check_gftp()
        duration = spec.duration or self.config.default_duration
        expiration = datetime.now(UTC) + duration

        def on_status(data: NodeStatus) -> None:
            if node_id in self._nodes:
                self._nodes[node_id].last_status = data

        params = {
            "start_arg": spec.start_argument(),
            "status_interval": self.config.status_interval,
            "max_attempts": self.config.start_attempts,
            "on_status": on_status,
            "on_provider_failed": lambda provider: self.strategy.exclude(node_id, provider),
        }
        handle = self._manager.create_service(
            ErigonService,
            {
                "instance_params": [params],
                "payload": payload_for(spec.chain, spec.client, spec.warm),
                "expiration": expiration,
            },
        )
        node = _Node(handle=handle, spec=spec, expiration=expiration)
        self._nodes[node_id] = node
        try:
            await self._extend_allocation()
            return await self._wait_started(node_id, node, progress)
        except BaseException:
            await self._manager.stop_and_wait(handle, within=30)
            await self._release_if_idle()
            raise
        finally:
            self.strategy.release(node_id)  # exclusions are for this node's start only

    async def _wait_started(
        self, node_id: str, node: _Node, progress: ProgressCallback
    ) -> StartedNode:
        handle = node.handle
        deadline = time.monotonic() + self.config.offer_timeout.total_seconds()
        give_up = time.monotonic() + self.config.start_timeout.total_seconds()
        said: set[str] = set()

        def say(key: str, text: str) -> None:
            if key not in said:
                said.add(key)
                progress(text)

        say("negotiating", "Negotiating with providers…")
        while True:
            for n, failure in enumerate(node.create_failures):
                say(f"create-failed-{n}", f"{failure}; trying another provider…")
            status = handle.status
            if "AgreementConfirmed" in handle.phases:
                say("agreement", "Agreement signed; creating the activity…")
            if status is ServiceStatus.STARTING:
                handle.mark("starting")
                say("starting", f"Deploying and starting the node on {self._provider(handle)}…")
            if status is ServiceStatus.RUNNING:
                handle.mark("running")
                await self._extend_allocation()  # in case the engine started meanwhile
                service = handle.service
                data = getattr(service, "start_output", None) or node.last_status
                if data is None:
                    raise errors.ProviderFailed("the runtime gave no start output", 1)
                progress(f"Node running on {self._provider(handle)}.")
                return StartedNode(
                    url=data.url,
                    user=data.user,
                    password=data.password or "",
                    status=data,
                    provider=self._provider(handle),
                )
            if status is ServiceStatus.FAILED:
                if handle.error is not None and isinstance(handle.error, errors.GolemError):
                    raise handle.error
                service = handle.service
                attempts = getattr(service, "attempts", 1) or 1
                raise errors.ProviderFailed(handle.reason or "unknown failure", attempts)
            if status is ServiceStatus.STOPPED:
                raise errors.GolemError(f"Node {node_id} was stopped while starting.")
            if (
                status is ServiceStatus.PENDING
                and "AgreementConfirmed" not in handle.phases
                and (time.monotonic() > deadline)
            ):
                seen = self.strategy.seen_since(node.started_at)
                raise errors.NoOffers(
                    "erigon",
                    node.spec.chain,
                    self.config.offer_timeout.total_seconds(),
                    subnet=self.config.subnet,
                    refused=[f"{s.issuer}: {s.refused}" for s in seen if s.refused],
                    offers=len(seen),
                )
            if time.monotonic() > give_up:
                service = handle.service
                why = service.failure_reason() if isinstance(service, ErigonService) else None
                why = why or (node.create_failures[-1] if node.create_failures else None)
                limit = self.config.start_timeout.total_seconds()
                raise errors.ProviderFailed(
                    f"the start took longer than {limit:.0f} s" + (f" ({why})" if why else ""),
                    getattr(service, "attempts", 0) or 1,
                )
            await handle.wait_change(0.25)

    @staticmethod
    def _provider(handle: ServiceHandle) -> str:
        service = handle.service
        if service is None or service._ctx is None:
            return "a provider"
        return f"{service.provider_name} ({service.provider_id})"

    def _running(self, node_id: str) -> ErigonService:
        node = self._nodes.get(node_id)
        if node is None:
            raise errors.UnknownNode(node_id)
        status = node.handle.status
        if status is not ServiceStatus.RUNNING:
            reason = node.handle.reason or node.handle.stop_reason or str(status)
            raise errors.NodeLost(node_id, reason)
        service = node.handle.service
        assert isinstance(service, ErigonService)
        return service

    async def status(self, node_id: str) -> NodeStatus:
        service = self._running(node_id)
        try:
            out = await service.call("status")
            return NodeStatus.from_json(parse_output(out, "status"))
        except Exception as exc:
            raise errors.GolemError(f"`status` failed on the provider: {exc}") from exc

    async def rotate_credentials(self, node_id: str) -> tuple[str, str]:
        service = self._running(node_id)
        try:
            out = json.loads(await service.call("rotate-credentials"))
        except Exception as exc:
            raise errors.GolemError(
                f"Rotating the password failed on the provider: {exc}",
                "The old password still works; try again.",
            ) from exc
        return str(out["auth"]["user"]), str(out["auth"]["password"])

    async def logs(self, node_id: str, lines: int) -> str:
        service = self._running(node_id)
        return await service.call("logs", str(max(1, int(lines))))

    async def usage(self, node_id: str) -> Usage | None:
        node = self._nodes.get(node_id)
        if node is None:
            return None
        service = node.handle.service
        if service is not None and node.handle.status is ServiceStatus.RUNNING:
            with contextlib.suppress(Exception):
                raw = await service.ctx.get_usage()
                node.usage = {k: float(v) for k, v in (raw.current_usage or {}).items()}
        return Usage(
            cost_glm=node.cost(),
            duration_sec=node.usage.get(DURATION_COUNTER),
            requests=node.usage.get(REQUESTS_COUNTER),
        )

    async def stop(self, node_id: str) -> None:
        node = self._nodes.get(node_id)
        if node is None:
            return
        with contextlib.suppress(Exception):
            await self.usage(node_id)
        done = await self._manager.stop_and_wait(node.handle, within=60)
        if not done:
            raise errors.GolemError(
                f"Node {node_id} did not stop within 60 s.",
                "Its agreement ends at expiration at the latest; try Stop again.",
            )
        deadline = time.monotonic() + self.invoice_wait
        while (
            node.agreements
            and time.monotonic() < deadline
            and not all(a in node.invoices for a in node.agreements)
        ):
            await node.handle.wait_change(0.2)
        await self._release_if_idle()

    def is_running(self, node_id: str) -> bool:
        node = self._nodes.get(node_id)
        return node is not None and node.handle.status in (
            ServiceStatus.PENDING,
            ServiceStatus.STARTING,
            ServiceStatus.RUNNING,
        )

    def handle(self, node_id: str) -> ServiceHandle | None:
        """The service handle of a node (status, phases) for the app and benchmarks."""
        node = self._nodes.get(node_id)
        return None if node is None else node.handle

    def invoices(self, node_id: str) -> dict[str, Decimal]:
        """Accepted invoice amounts per agreement of the node."""
        node = self._nodes.get(node_id)
        return {} if node is None else dict(node.invoices)

    async def close(self) -> None:
        await self._manager.close(wait_for_payments=True)

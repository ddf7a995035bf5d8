"""Stand-in for ya-provider (yagna's provider agent), which no registry ships.

It drives the REAL provider yagna through its REST APIs exactly where ya-provider would:
- market: publishes an offer built the way ya-provider builds one (runtime descriptor props +
  the runtime's real `offer-template` output + a linear pricing preset filtered to the template's
  usage vector, as ya-provider's `market/presets.rs` does), counter-proposes (accepting the
  requestor's negotiable `…?` properties), approves agreements;
- activity (provider side): on the daemon's CreateActivity event (its `eventType` is an object,
  `{"CreateActivity": {}}`) it starts an exe-unit stand-in (`exe_unit.py`) for the activity,
  which binds the activity's services on the daemon's GSB and reports Initialized; on
  DestroyActivity it has the exe-unit shut down and report Terminated;
- payment: debit notes through the real payment API every `debit_note_interval` seconds of an
  activity (the negotiated `golem.com.scheme.payu.debit-note.interval-sec?` when the agreement
  has mid-agreement payments, else the provider's own interval, as ya-provider does), from the
  activity's usage as its exe-unit reports it; an invoice listing the agreement's activity ids
  once the agreement is terminated (by the requestor, or by this agent when its activities
  were destroyed and none followed within `idle_agreement`, or when the agreement expires).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp

from tests.support.golem.exe_unit import ExeUnit
from tests.support.golem.yagna import YagnaDaemon

log = logging.getLogger(__name__)

PLATFORM = "erc20-hoodi-tglm"
APP_SESSION = "erigolem-test-agent"  # ties activity events to the agreements we approved


@dataclass(frozen=True)
class Preset:
    """A ya-provider pricing preset (linear): coefficient per counter plus a fixed price."""

    coeffs: Mapping[str, Decimal]
    initial_price: Decimal = Decimal(0)


def build_offer(
    template: Mapping[str, Any],
    preset: Preset,
    *,
    node_name: str,
    identity: str,
    subnet: str,
    runtime_version: str = "0.1.0",
    debit_note_interval: int = 120,
    payment_timeout: int = 18000,
) -> dict[str, Any]:
    """The offer (properties + constraints) ya-provider would publish for this runtime."""
    props: dict[str, Any] = dict(template.get("properties", {}))
    vector = sorted(k for k in props.get("golem.com.usage.vector", []) if k in preset.coeffs)
    if not vector:
        raise ValueError("Unsupported coefficients: no preset price for the usage vector")
    props.update(
        {
            "golem.com.usage.vector": vector,
            "golem.com.pricing.model": "linear",
            "golem.com.pricing.model.linear.coeffs": [float(preset.coeffs[k]) for k in vector]
            + [float(preset.initial_price)],
            "golem.com.scheme": "payu",
            "golem.com.scheme.payu.debit-note.interval-sec?": debit_note_interval,
            "golem.com.scheme.payu.payment-timeout-sec?": payment_timeout,
            "golem.com.payment.debit-notes.accept-timeout?": 240,
            f"golem.com.payment.platform.{PLATFORM}.address": identity,
            "golem.com.payment.protocol.version": 3,
            "golem.runtime.name": "erigon",
            "golem.runtime.version": runtime_version,
            "golem.runtime.capabilities": [],
            "golem.inf.cpu.cores": 2,
            "golem.inf.cpu.threads": 2,
            "golem.inf.mem.gib": 4.0,
            "golem.inf.storage.gib": 100.0,
            "golem.node.id.name": node_name,
            "golem.node.debug.subnet": subnet,
            "golem.srv.caps.multi-activity": True,
            "golem.activity.caps.transfer.protocol": ["http", "https", "gftp"],
        }
    )
    constraints = f"(&(golem.node.debug.subnet={subnet})(golem.srv.comp.expiration>0))"
    extra = str(template.get("constraints") or "").strip()
    if extra:
        constraints = f"(&{constraints}{extra})"
    return {"properties": props, "constraints": constraints}


@dataclass
class AgreementRecord:
    agreement: dict[str, Any]
    activities: list[str] = field(default_factory=list)
    debit_notes: list[str] = field(default_factory=list)
    invoice_id: str | None = None
    terminated: bool = False


class ProviderAgent:
    """Runs the provider side against one provider yagna until `stop()`.

    Args:
        daemon: the provider's yagna.
        offer: from `build_offer`.
        workdir: where each activity's runtime gets its work dir.
        runtime_config: the runtime config file the exe-units give the runtime.
        debit_note_interval: seconds between debit notes when the agreement has no
            negotiated interval (ya-provider's own setting).
        idle_agreement: seconds an agreement may have no live activity before this agent
            terminates it (ya-provider ends idle agreements too).
        broken: approve agreements but have every deploy fail (the exe-unit's runtime "is not
            installed"), to prove a failed start is retried on another provider.
        refuse_activities: start no exe-unit and set each new activity Terminated over the
            provider REST API (an exe-unit that dies at once), so the creation fails.
    """

    def __init__(
        self,
        daemon: YagnaDaemon,
        offer: Mapping[str, Any],
        *,
        workdir: Path,
        runtime_config: Path,
        debit_note_interval: float = 2.0,
        idle_agreement: float = 8.0,
        broken: bool = False,
        refuse_activities: bool = False,
    ) -> None:
        self.daemon = daemon
        self.refuse_activities = refuse_activities
        self.offer = dict(offer)
        self.workdir = workdir
        self.runtime_config = runtime_config
        self.debit_note_interval = debit_note_interval
        self.idle_agreement = idle_agreement
        self.broken = broken
        self.subscription: str | None = None
        self.agreements: dict[str, AgreementRecord] = {}
        self.exe_units: dict[str, ExeUnit] = {}
        self.proposals_seen: list[dict[str, Any]] = []
        self.counters_sent = 0
        self.invoiced_usage: dict[str, list[float]] = {}
        self.debit_note_times: list[float] = []
        self._session: aiohttp.ClientSession | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._vector: list[str] = list(self.offer["properties"]["golem.com.usage.vector"])
        self._coeffs: list[float] = list(
            self.offer["properties"]["golem.com.pricing.model.linear.coeffs"]
        )

    @property
    def node_id(self) -> str:
        return self.daemon.identity

    # --- plumbing -------------------------------------------------------------------------

    async def _call(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        assert self._session is not None
        async with self._session.request(
            method,
            self.daemon.api_url + path,
            json=body,
            params={k: str(v) for k, v in params.items()},
            headers={"Authorization": f"Bearer {self.daemon.appkey}"},
            timeout=aiohttp.ClientTimeout(total=30),
        ) as resp:
            text = await resp.text()
            if resp.status == 408 and path.endswith("events"):
                return []  # long-poll ended without events
            if resp.status >= 400:
                raise RuntimeError(f"{method} {path} -> {resp.status}: {text[:500]}")
            return json.loads(text) if text.strip() else None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession()
        self.subscription = str(await self._call("POST", "/market-api/v1/offers", self.offer))
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._market_loop()),
            loop.create_task(self._activity_loop()),
            loop.create_task(self._agreement_loop()),
        ]

    async def wait_visible(self, requestor: YagnaDaemon, within: float = 30) -> float:
        """Wait until the requestor's market matches this offer; republish it if it got lost.

        Offers travel by broadcast over the central net; one published while the net was still
        settling can miss the requestor. A throw-away demand naming this node shows it arrived.
        Returns the seconds it took.
        """
        assert self._session is not None
        name = self.offer["properties"]["golem.node.id.name"]
        subnet = self.offer["properties"]["golem.node.debug.subnet"]
        demand = {
            "properties": {
                "golem.node.debug.subnet": subnet,
                "golem.srv.comp.expiration": int((time.time() + 600) * 1000),
            },
            "constraints": f"(&(golem.node.id.name={name})(golem.node.debug.subnet={subnet}))",
        }
        headers = {"Authorization": f"Bearer {requestor.appkey}"}
        base = requestor.api_url + "/market-api/v1/demands"
        t0 = time.monotonic()
        async with self._session.post(base, json=demand, headers=headers) as resp:
            sub = str(await resp.json())
        try:
            while time.monotonic() - t0 < within:
                async with self._session.get(
                    f"{base}/{sub}/events",
                    params={"timeout": "3", "maxEvents": "5"},
                    headers=headers,
                ) as resp:
                    events = await resp.json() if resp.status == 200 else []
                if any(e.get("eventType") == "ProposalEvent" for e in events):
                    return time.monotonic() - t0
                if time.monotonic() - t0 > within / 2 and self.subscription:
                    await self._call("DELETE", f"/market-api/v1/offers/{self.subscription}")
                    self.subscription = str(
                        await self._call("POST", "/market-api/v1/offers", self.offer)
                    )
            raise RuntimeError(f"offer of {name} never reached the requestor's market")
        finally:
            async with self._session.delete(f"{base}/{sub}", headers=headers):
                pass

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for unit in self.exe_units.values():
            with contextlib.suppress(Exception):
                await unit.kill()
        if self.subscription and self._session is not None:
            with contextlib.suppress(Exception):
                await self._call("DELETE", f"/market-api/v1/offers/{self.subscription}")
        if self._session is not None:
            await self._session.close()

    # --- market ---------------------------------------------------------------------------

    async def _market_loop(self) -> None:
        while True:
            try:
                events = await self._call(
                    "GET",
                    f"/market-api/v1/offers/{self.subscription}/events",
                    timeout=2,
                    maxEvents=10,
                )
            except RuntimeError:
                log.debug("collectDemands failed", exc_info=True)
                await asyncio.sleep(0.5)
                continue
            for event in events or []:
                kind = event.get("eventType")
                if kind == "ProposalEvent":
                    await self._on_proposal(event["proposal"])
                elif kind == "AgreementEvent":
                    await self._on_agreement(event["agreement"])

    async def _on_proposal(self, proposal: dict[str, Any]) -> None:
        self.proposals_seen.append(proposal)
        if not proposal.get("prevProposalId"):
            return  # an initial match: ya-provider waits for the requestor's counter
        props = dict(self.offer["properties"])
        demand = proposal.get("properties", {})
        for key, value in _flatten(demand).items():
            if key.endswith("?") and key in props:
                props[key] = value  # accept the requestor's terms for negotiable props
        await self._call(
            "POST",
            f"/market-api/v1/offers/{self.subscription}/proposals/{proposal['proposalId']}",
            {"properties": props, "constraints": self.offer["constraints"]},
        )
        self.counters_sent += 1

    async def _on_agreement(self, agreement: dict[str, Any]) -> None:
        agreement_id = agreement["agreementId"]
        self.agreements[agreement_id] = AgreementRecord(agreement)
        self._spawn(self._watch_expiry(agreement_id))
        await self._call(
            "POST",
            f"/market-api/v1/agreements/{agreement_id}/approve",
            None,
            timeout=15,
            appSessionId=APP_SESSION,
        )

    async def _agreement_loop(self) -> None:
        """Invoice an agreement once it is terminated (by either side), as ya-provider does."""
        after = datetime.now(UTC).isoformat()
        while True:
            try:
                events = await self._call(
                    "GET",
                    "/market-api/v1/agreementEvents",
                    timeout=2,
                    maxEvents=10,
                    afterTimestamp=after,
                )
            except RuntimeError:
                await asyncio.sleep(0.5)
                continue
            for event in events or []:
                after = str(event.get("eventDate") or after)
                if event.get("eventType") == "AgreementTerminatedEvent":
                    await self._ended(str(event.get("agreementId", "")))
            await asyncio.sleep(0.2)

    async def _ended(self, agreement_id: str) -> None:
        record = self.agreements.get(agreement_id)
        if record is None or record.terminated:
            return
        record.terminated = True
        for activity_id in record.activities:
            unit = self.exe_units.get(activity_id)
            if unit is not None and unit.state != "Terminated":
                await unit.destroy()
        await self._invoice(agreement_id, record)

    async def terminate(self, agreement_id: str, reason: str) -> None:
        """End the agreement from the provider side (idle or expired), then invoice it."""
        record = self.agreements.get(agreement_id)
        if record is None or record.terminated:
            return
        with contextlib.suppress(RuntimeError):  # the requestor may have ended it meanwhile
            await self._call(
                "POST",
                f"/market-api/v1/agreements/{agreement_id}/terminate",
                {"message": reason, "golem.provider.code": "Expired"},
            )
        await self._ended(agreement_id)

    async def _watch_expiry(self, agreement_id: str) -> None:
        record = self.agreements[agreement_id]
        demand = _flatten(record.agreement.get("demand", {}).get("properties", {}))
        expires = float(demand.get("golem.srv.comp.expiration", 0)) / 1000
        await asyncio.sleep(max(0.0, expires - time.time()))
        await self.terminate(agreement_id, "Agreement expired")

    # --- activity (provider side) ---------------------------------------------------------

    async def _activity_loop(self) -> None:
        after = (datetime.now(UTC) - timedelta(seconds=5)).isoformat()
        handled: set[tuple[str, str]] = set()
        while True:
            try:
                events = await self._call(
                    "GET",
                    "/activity-api/v1/events",
                    timeout=2,
                    maxEvents=10,
                    afterTimestamp=after,
                    appSessionId=APP_SESSION,
                )
            except RuntimeError:
                log.warning("activity events failed", exc_info=True)
                await asyncio.sleep(0.5)
                continue
            for event in events or []:
                after = str(event.get("eventDate") or after)
                activity_id = str(event.get("activityId"))
                kind = event_kind(event)
                if (activity_id, kind) in handled:
                    continue
                handled.add((activity_id, kind))
                agreement_id = str(event.get("agreementId", ""))
                if kind == "CreateActivity":
                    await self._create_activity(agreement_id, activity_id)
                elif kind == "DestroyActivity":
                    unit = self.exe_units.get(activity_id)
                    if unit is not None:
                        await unit.destroy()
                    self._spawn(self._end_if_idle(agreement_id))

    async def _create_activity(self, agreement_id: str, activity_id: str) -> None:
        record = self.agreements.get(agreement_id)
        if record is None:
            return
        record.activities.append(activity_id)
        if self.refuse_activities:
            await self._call(
                "PUT",
                f"/activity-api/v1/activity/{activity_id}/state",
                {
                    "state": ["Terminated", None],
                    "reason": "exe-unit failed to start",
                    "errorMessage": "the erigon runtime crashed at start-up",
                },
            )
            return
        unit = ExeUnit(
            f"tcp://127.0.0.1:{self.daemon.gsb_port}",
            activity_id,
            agreement_id,
            self._vector,
            self.workdir / activity_id,
            self.runtime_config,
            broken=self.broken,
        )
        self.exe_units[activity_id] = unit
        await unit.start()  # reports Initialized: the daemon answers the requestor's create
        self._spawn(self._bill_activity(agreement_id, activity_id))

    async def _end_if_idle(self, agreement_id: str) -> None:
        await asyncio.sleep(self.idle_agreement)
        record = self.agreements.get(agreement_id)
        if record is None or record.terminated:
            return
        live = [
            a
            for a in record.activities
            if a in self.exe_units and self.exe_units[a].state != "Terminated"
        ]
        if not live:
            await self.terminate(agreement_id, "No activity on the agreement")

    def _spawn(self, coro: Any) -> None:
        self._tasks.append(asyncio.get_running_loop().create_task(coro))

    async def kill_exe_unit(self, activity_id: str) -> None:
        """The provider's exe-unit dies (runtime and bus connection gone, nothing reported)."""
        await self.exe_units[activity_id].kill()

    # --- payment --------------------------------------------------------------------------

    def cost(self, usage: Sequence[float]) -> Decimal:
        total = sum(
            Decimal(str(c)) * Decimal(str(u)) for c, u in zip(self._coeffs, usage, strict=False)
        )
        return (total + Decimal(str(self._coeffs[-1]))).quantize(Decimal("0.000000000001"))

    def usage_of_agreement(self, agreement_id: str) -> list[float]:
        """Summed usage of the agreement's activities, as their exe-units report it."""
        record = self.agreements.get(agreement_id)
        total = [0.0] * len(self._vector)
        for activity_id in record.activities if record else []:
            if activity_id not in self.exe_units:
                continue
            usage = self.exe_units[activity_id].usage()
            total = [a + b for a, b in zip(total, usage, strict=False)]
        return total

    async def _bill_activity(self, agreement_id: str, activity_id: str) -> None:
        """Debit notes at the agreement's interval while the activity lives (ya-provider's
        periodic notes); payable ones (with a due date) under mid-agreement payments."""
        record = self.agreements[agreement_id]
        demand = _flatten(record.agreement.get("demand", {}).get("properties", {}))
        mid = "golem.com.scheme.payu.payment-timeout-sec?" in demand
        interval = float(
            demand.get("golem.com.scheme.payu.debit-note.interval-sec?", self.debit_note_interval)
            if mid
            else self.debit_note_interval
        )
        unit = self.exe_units[activity_id]
        while True:
            await asyncio.sleep(interval)
            if record.terminated or unit.state == "Terminated":
                return
            usage = unit.usage()
            body: dict[str, Any] = {
                "activityId": activity_id,
                "totalAmountDue": str(self.cost(usage)),
                "usageCounterVector": usage,
            }
            if mid:
                body["paymentDueDate"] = (datetime.now(UTC) + timedelta(hours=5)).isoformat()
            try:
                note = await self._call("POST", "/payment-api/v1/debitNotes", body)
                await self._call("POST", f"/payment-api/v1/debitNotes/{note['debitNoteId']}/send")
                record.debit_notes.append(note["debitNoteId"])
                self.debit_note_times.append(time.monotonic())
            except RuntimeError:
                log.warning("debit note failed", exc_info=True)

    async def _invoice(self, agreement_id: str, record: AgreementRecord) -> None:
        usage = self.usage_of_agreement(agreement_id)
        self.invoiced_usage[agreement_id] = usage
        body = {
            "agreementId": agreement_id,
            "activityIds": record.activities,
            "amount": str(self.cost(usage)),
            "paymentDueDate": (datetime.now(UTC) + timedelta(minutes=5)).isoformat(),
        }
        invoice = await self._call("POST", "/payment-api/v1/invoices", body)
        record.invoice_id = invoice["invoiceId"]
        await self._call("POST", f"/payment-api/v1/invoices/{record.invoice_id}/send")

    async def fetch_agreement(self, agreement_id: str) -> dict[str, Any]:
        """The agreement as the provider daemon's market knows it now."""
        return dict(await self._call("GET", f"/market-api/v1/agreements/{agreement_id}"))

    async def invoice(self, agreement_id: str) -> dict[str, Any]:
        """The agreement's invoice as the provider daemon's payment API has it."""
        record = self.agreements[agreement_id]
        return dict(await self._call("GET", f"/payment-api/v1/invoices/{record.invoice_id}"))

    async def invoice_status(self, agreement_id: str) -> str | None:
        record = self.agreements.get(agreement_id)
        if record is None or record.invoice_id is None:
            return None
        invoice = await self._call("GET", f"/payment-api/v1/invoices/{record.invoice_id}")
        return str(invoice["status"])

    async def debit_note_statuses(self, agreement_id: str) -> list[str]:
        record = self.agreements.get(agreement_id)
        out = []
        for note_id in record.debit_notes if record else []:
            note = await self._call("GET", f"/payment-api/v1/debitNotes/{note_id}")
            out.append(str(note["status"]))
        return out


def event_kind(event: Mapping[str, Any]) -> str:
    """An activity event's type: yagna sends `{"CreateActivity": {}}` (an object), not a string."""
    kind = event.get("eventType")
    if isinstance(kind, Mapping):
        return str(next(iter(kind), ""))
    return str(kind)


def _flatten(props: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """yagna returns properties nested or flat; make them flat dotted keys."""
    out: dict[str, Any] = {}
    for key, value in props.items():
        full = f"{prefix}.{key}" if prefix else key
        if isinstance(value, Mapping):
            out.update(_flatten(value, full))
        else:
            out[full] = value
    return out

"""Stand-in for yagna's activity API as routed to a provider's exe-unit (no registry ships one).

Served by aiohttp on 127.0.0.1 and given to yapapi as its activity URL (`YAGNA_ACTIVITY_URL` /
`ApiConfig.activity_url`). What is real and what stands in:
- `POST /activity` accepts only agreements that the REAL requestor yagna's market reports as
  `Approved` (it asks `GET /market-api/v1/agreements/{id}` with the caller's app key) and hands
  out its own activity id. Forwarding the creation to the real yagna was tried: the requestor
  daemon's `POST /activity` never reached the provider daemon over the central net (408 after
  5 s, no GSB call logged on either side), and without a real exe-unit nothing could finish it.
  Even if it had, an exe-unit reports activity state and usage to its yagna over the GSB
  (`activity::local` SetState/SetUsage; yagna's provider activity service destroys an activity
  whose usage is not refreshed for ~10 s), and usage has no REST equivalent. So activities
  exist only here, and the provider agent cannot issue debit notes for them (yagna's payment
  API checks the activity on the provider daemon); the invoice is real.
- `DELETE /activity/{id}` shuts the runtime down (exe-unit's destroy).
- `POST /activity/{id}/exec`, `GET /activity/{id}/exec/{batch}`, `GET …/state`, `GET …/usage`
  are answered here, following exe-unit's ExeScript rules (reference/runtime-protocol.md §7):
  deploy (Initialized) -> start (Deployed) -> run (Ready only) ; terminate from any state; a
  failing command ends the batch; results are cumulative `ExeScriptCommandResult` lists with
  `isBatchFinished` on the last. The commands drive the REAL `erigolem-runtime` through
  `erigolem_runtime.api.client.RuntimeClient` (the supervisor-side client that plays exe-unit).
- Usage is the runtime's counters (`golem.usage.erigon.requests`) plus activity duration, in the
  order of the agreement's usage vector (read from the real market), as exe-unit reports it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from erigolem_runtime.api.client import RuntimeClient

log = logging.getLogger(__name__)

DURATION = "golem.usage.duration_sec"


@dataclass
class Batch:
    commands: list[dict[str, Any]]
    results: list[dict[str, Any]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    done: bool = False


@dataclass
class Activity:
    id: str
    agreement_id: str
    provider_id: str
    vector: list[str]
    client: RuntimeClient
    state: str = "Initialized"
    created: float = field(default_factory=time.monotonic)
    batches: dict[str, Batch] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    ended: float | None = None

    def usage(self) -> list[float]:
        end = self.ended or time.monotonic()
        counters = self.client.counters
        values = []
        for name in self.vector:
            if name == DURATION:
                values.append(round(end - self.created, 3))
            else:
                values.append(float(counters.get(name, 0.0)))
        return values


class ActivityService:
    """The stand-in server. `runtime_config`: the local runtime config for the runtime children.

    `broken_providers` returns node ids whose exe-unit "fails" `deploy` (to prove retries).
    """

    def __init__(
        self,
        requestor_api_url: str,
        workdir: Path,
        runtime_config: Path,
        *,
        broken_providers: Callable[[], set[str]] = set,
    ) -> None:
        self.requestor_api_url = requestor_api_url
        self.workdir = workdir
        self.runtime_config = runtime_config
        self.broken_providers = broken_providers
        self.activities: dict[str, Activity] = {}
        self.exec_log: list[tuple[str, str]] = []  # (activity, command kind)
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.url = ""

    async def start(self) -> str:
        app = web.Application()
        base = "/activity-api/v1"
        app.router.add_post(f"{base}/activity", self.create)
        app.router.add_delete(f"{base}/activity/{{aid}}", self.destroy)
        app.router.add_post(f"{base}/activity/{{aid}}/exec", self.exec)
        app.router.add_get(f"{base}/activity/{{aid}}/exec/{{bid}}", self.results)
        app.router.add_get(f"{base}/activity/{{aid}}/state", self.state)
        app.router.add_get(f"{base}/activity/{{aid}}/usage", self.usage)
        self._session = aiohttp.ClientSession()
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}{base}"
        return self.url

    async def stop(self) -> None:
        for activity in self.activities.values():
            await activity.client.shutdown()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    def usage_of(self, activity_id: str) -> list[float]:
        activity = self.activities.get(activity_id)
        return activity.usage() if activity else []

    # --- forwarded to the real requestor yagna ------------------------------------------

    async def _market_agreement(self, request: web.Request, agreement_id: str) -> dict[str, Any]:
        assert self._session is not None
        async with self._session.get(
            f"{self.requestor_api_url}/market-api/v1/agreements/{agreement_id}",
            headers={"Authorization": request.headers.get("Authorization", "")},
        ) as resp:
            resp.raise_for_status()
            return dict(await resp.json())

    async def create(self, request: web.Request) -> web.Response:
        raw = await request.read()
        payload = json.loads(raw)
        agreement_id = payload if isinstance(payload, str) else payload["agreementId"]
        try:
            agreement = await self._market_agreement(request, agreement_id)
        except aiohttp.ClientResponseError as exc:
            return web.json_response(
                {"message": f"agreement {agreement_id}: {exc}"}, status=exc.status
            )
        if agreement.get("state") != "Approved":
            return web.json_response(
                {"message": f"agreement {agreement_id} not approved"}, status=400
            )
        activity_id = uuid.uuid4().hex
        offer_props = _flatten(agreement["offer"]["properties"])
        client = RuntimeClient(self.workdir / activity_id, config_path=self.runtime_config)
        self.activities[activity_id] = Activity(
            activity_id,
            agreement_id,
            agreement["offer"]["providerId"],
            list(offer_props.get("golem.com.usage.vector", [])),
            client,
        )
        return web.json_response(activity_id, status=201)

    async def destroy(self, request: web.Request) -> web.Response:
        activity = self._get(request)
        async with activity.lock:
            await activity.client.shutdown()
            activity.state = "Terminated"
            activity.ended = activity.ended or time.monotonic()
        return web.json_response(None)

    async def lose(self, activity_id: str) -> None:
        """Make the provider vanish: the runtime is gone and the activity Terminated."""
        activity = self.activities[activity_id]
        async with activity.lock:
            await activity.client.shutdown()
            activity.state = "Terminated"
            activity.ended = activity.ended or time.monotonic()

    def usage_of_agreement(self, agreement_id: str) -> list[float]:
        """Summed usage of the agreement's activities (what the provider bills)."""
        total: list[float] = []
        for activity in self.activities.values():
            if activity.agreement_id == agreement_id:
                usage = activity.usage()
                total = usage if not total else [a + b for a, b in zip(total, usage, strict=False)]
        return total

    # --- exe-unit's part ------------------------------------------------------------------

    def _get(self, request: web.Request) -> Activity:
        activity = self.activities.get(request.match_info["aid"])
        if activity is None:
            raise web.HTTPNotFound(
                text=json.dumps({"message": "no such activity"}), content_type="application/json"
            )
        return activity

    async def exec(self, request: web.Request) -> web.Response:
        activity = self._get(request)
        if activity.state == "Terminated":
            return web.json_response({"message": "activity terminated"}, status=400)
        script = json.loads((await request.json())["text"])
        batch_id = uuid.uuid4().hex
        batch = Batch(list(script))
        activity.batches[batch_id] = batch
        asyncio.get_running_loop().create_task(self._run_batch(activity, batch))
        return web.json_response(batch_id)

    async def _run_batch(self, activity: Activity, batch: Batch) -> None:
        async with activity.lock:
            for index, command in enumerate(batch.commands):
                kind = next(iter(command))
                self.exec_log.append((activity.id, kind))
                try:
                    stdout, stderr = await self._command(activity, kind, command[kind])
                    ok, message = True, None
                except Exception as exc:  # the command's failure is its result
                    stdout, stderr, ok, message = (
                        "",
                        getattr(exc, "stderr_tail", ""),
                        False,
                        str(exc),
                    )
                last = (index == len(batch.commands) - 1) or not ok
                batch.results.append(
                    {
                        "index": index,
                        "eventDate": datetime.now(UTC).isoformat(),
                        "result": "Ok" if ok else "Error",
                        "stdout": stdout,
                        "stderr": stderr,
                        "message": message,
                        "isBatchFinished": last,
                    }
                )
                batch.changed.set()
                if last:
                    break
            batch.done = True
            batch.changed.set()

    async def _command(
        self, activity: Activity, kind: str, args: dict[str, Any]
    ) -> tuple[str, str]:
        client = activity.client
        if kind == "terminate":
            await client.shutdown()
            activity.state = "Initialized"
            return "", ""
        if kind == "deploy":
            self._require(activity, "Initialized", kind)
            if activity.provider_id in self.broken_providers():
                raise RuntimeError("deploy failed: the runtime is not installed on this provider")
            out = await client.deploy()
            activity.state = "Deployed"
            return json.dumps(out), ""
        if kind == "start":
            self._require(activity, "Deployed", kind)
            argv = list(args.get("args") or [])
            start_arg = json.loads(argv[0]) if argv else {}
            out = await client.start(start_arg)
            activity.state = "Ready"
            return json.dumps(out), ""
        if kind == "run":
            self._require(activity, "Ready", kind)
            result = await client.run(
                str(args["entry_point"]), *[str(a) for a in args.get("args", [])]
            )
            stdout = result.stdout.decode("utf-8", "replace")
            stderr = result.stderr.decode("utf-8", "replace")
            if result.return_code != 0:
                err = RuntimeError(f"ExeUnit command `run` exited with code {result.return_code}")
                err.stderr_tail = stderr  # type: ignore[attr-defined]
                raise err
            return stdout, stderr
        raise RuntimeError(f"command `{kind}` is not supported by this runtime")

    @staticmethod
    def _require(activity: Activity, state: str, kind: str) -> None:
        if activity.state != state:
            raise RuntimeError(f"`{kind}` is not allowed in state {activity.state}")

    async def results(self, request: web.Request) -> web.Response:
        activity = self._get(request)
        batch = activity.batches.get(request.match_info["bid"])
        if batch is None:
            return web.json_response({"message": "no such batch"}, status=404)
        timeout = float(request.query.get("timeout", "0") or 0)
        seen = len(batch.results)
        if not batch.done and timeout > 0:
            deadline = time.monotonic() + min(timeout, 10)
            while len(batch.results) == seen and not batch.done:
                batch.changed.clear()
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    await asyncio.wait_for(batch.changed.wait(), left)
                except TimeoutError:
                    break
        return web.json_response(batch.results)

    async def state(self, request: web.Request) -> web.Response:
        activity = self._get(request)
        return web.json_response(
            {"state": [activity.state, None], "reason": None, "errorMessage": None}
        )

    async def usage(self, request: web.Request) -> web.Response:
        activity = self._get(request)
        return web.json_response({"currentUsage": activity.usage(), "timestamp": int(time.time())})


def _flatten(props: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in props.items():
        full = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            out.update(_flatten(value, full))
        else:
            out[full] = value
    return out

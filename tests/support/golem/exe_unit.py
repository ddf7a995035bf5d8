"""Test double of yagna's exe-unit process (no registry ships it), speaking GSB to the REAL
provider daemon.

One `ExeUnit` per activity, started by the provider agent stand-in on the daemon's
CreateActivity event, as ya-provider spawns one exe-unit per activity. It binds
`/public/exeunit/<activity>` on the provider daemon's bus (the daemon routes the requestor's
Exec / GetExecBatchResults / GetRunningCommand / GetActivityState / GetActivityUsage there),
reports the activity's state (`/local/activity/SetActivityState`: Initialized on start,
Deployed, Ready, Terminated) and usage (`/local/activity/SetActivityUsage` every second, the
duration of the activity and the runtime's own counters, in the agreement's usage-vector
order), and runs ExeScript commands (deploy, start, run, terminate) against the REAL
`erigolem-runtime` through `RuntimeClient`, following exe-unit's rules (its
`exe_unit.rs` ExeScript state machine): a failing command ends its batch; results are kept per batch and
`GetExecBatchResults` waits (up to the request's timeout) for `commandIndex` as exe-unit does.
`StreamExecBatchResults` is not bound: yapapi polls (stream_output=False), and a streaming
request gets "endpoint address not found" from the daemon, visible in a test.
It carries no logic the product relies on: everything the requestor sees comes from the
daemons (state, usage, results are read back through them).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from erigolem_runtime.api.client import RuntimeClient

from tests.support.golem.gsb import Call, GsbConnection, GsbError, GsbReplyError

log = logging.getLogger(__name__)

DURATION = "golem.usage.duration_sec"
LOCAL_ACTIVITY = "/local/activity"
REPORT_INTERVAL = 1.0  # exe-unit's DEFAULT_REPORT_INTERVAL


@dataclass
class Batch:
    commands: list[dict[str, Any]]
    results: list[dict[str, Any]] = field(default_factory=list)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    running: str | None = None
    done: bool = False


class ExeUnit:
    """The exe-unit of one activity on one provider daemon.

    Args:
        gsb_url: the provider daemon's GSB_URL.
        activity_id, agreement_id: from the daemon's CreateActivity event.
        vector: the agreement's `golem.com.usage.vector`.
        workdir: the runtime's work dir for this activity.
        runtime_config: the runtime config file (ERIGOLEM_RUNTIME_CONFIG).
        broken: fail every `deploy` (a provider whose runtime is not installed).
    """

    def __init__(
        self,
        gsb_url: str,
        activity_id: str,
        agreement_id: str,
        vector: Sequence[str],
        workdir: Path,
        runtime_config: Path,
        *,
        broken: bool = False,
    ) -> None:
        self.activity_id = activity_id
        self.agreement_id = agreement_id
        self.vector = list(vector)
        self.broken = broken
        self.client = RuntimeClient(workdir, config_path=runtime_config)
        self.state = "New"
        self.batches: dict[str, Batch] = {}
        self.exec_log: list[str] = []
        self.usage_reports = 0
        self._bus = GsbConnection(gsb_url)
        self._prefix = f"/public/exeunit/{activity_id}"
        self._created = time.monotonic()
        self._ended: float | None = None
        self._lock = asyncio.Lock()
        self._reporter: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind the activity's services, report Initialized, start the usage reports."""
        await self._bus.connect()
        await self._bus.bind(self._prefix, self._dispatch)
        await self._set_state("Initialized")
        self._reporter = asyncio.get_running_loop().create_task(self._report_usage())

    async def destroy(self) -> None:
        """DestroyActivity: shut the runtime down, report Terminated, unbind, disconnect."""
        async with self._lock:
            await self.client.shutdown()
            self._ended = self._ended or time.monotonic()
            with contextlib.suppress(GsbError, TimeoutError):
                await self._report_once()
                await self._set_state("Terminated")
            with contextlib.suppress(GsbError, TimeoutError):
                await self._bus.unbind(self._prefix)
        await self._close()

    async def kill(self) -> None:
        """The provider vanishes: the runtime and the bus connection die with no report."""
        self._ended = self._ended or time.monotonic()
        await self._close()
        await self.client.shutdown()

    async def _close(self) -> None:
        for task in [self._reporter, *self._tasks]:
            if task is not None:
                task.cancel()
        await self._bus.close()

    def usage(self) -> list[float]:
        """The usage vector now: activity duration and the runtime's counters."""
        end = self._ended or time.monotonic()
        counters = self.client.counters
        return [
            round(end - self._created, 3) if name == DURATION else float(counters.get(name, 0.0))
            for name in self.vector
        ]

    # --- reports to the provider daemon ---------------------------------------------------

    async def _set_state(self, state: str) -> None:
        self.state = state
        await self._bus.call(
            f"{LOCAL_ACTIVITY}/SetActivityState",
            {
                "activityId": self.activity_id,
                "state": {"state": [state, None], "reason": None, "errorMessage": None},
                "timeout": None,
                "credentials": None,
            },
        )

    async def _report_once(self) -> None:
        await self._bus.call(
            f"{LOCAL_ACTIVITY}/SetActivityUsage",
            {
                "activityId": self.activity_id,
                "usage": {"currentUsage": self.usage(), "timestamp": int(time.time())},
                "timeout": None,
            },
        )
        self.usage_reports += 1

    async def _report_usage(self) -> None:
        while True:
            try:
                await self._report_once()
            except (GsbError, TimeoutError):
                log.warning("usage report of %s failed", self.activity_id, exc_info=True)
            await asyncio.sleep(REPORT_INTERVAL)

    # --- the bound services ---------------------------------------------------------------

    async def _dispatch(self, call: Call) -> Any:
        message = call.address.rsplit("/", 1)[-1]
        body = call.body if isinstance(call.body, dict) else {}
        if body.get("activityId", self.activity_id) != self.activity_id:
            raise GsbReplyError("Forbidden", f"not activity {body.get('activityId')}")
        if message == "Exec":
            return self._exec(body)
        if message == "GetExecBatchResults":
            return await self._results(body)
        if message == "GetRunningCommand":
            running = [
                {"command": b.running, "progress": None, "params": None}
                for b in self.batches.values()
                if b.running
            ]
            if not running:
                raise GsbReplyError("NotFound", f"No running command within {self.activity_id}")
            return running
        if message == "GetActivityState":
            return {"state": [self.state, None], "reason": None, "errorMessage": None}
        if message == "GetActivityUsage":
            return {"currentUsage": self.usage(), "timestamp": int(time.time())}
        raise GsbReplyError("BadRequest", f"{message} is not served by this exe-unit")

    def _exec(self, body: dict[str, Any]) -> str:
        batch_id = str(body["batchId"])
        if batch_id in self.batches:
            raise GsbReplyError("BadRequest", f"Batch {batch_id} already exists")
        batch = Batch(list(body.get("exeScript") or []))
        self.batches[batch_id] = batch
        task = asyncio.get_running_loop().create_task(self._run_batch(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return batch_id

    async def _results(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        batch = self.batches.get(str(body.get("batchId")))
        if batch is None:
            raise GsbReplyError("NotFound", f"batch_id = {body.get('batchId')}")
        if not batch.commands:
            return []
        index = body.get("commandIndex")
        wait_for = len(batch.commands) - 1 if index is None else int(index)
        timeout = float(body.get("timeout") or 0.0)

        def ready() -> bool:
            return batch.done or len(batch.results) > wait_for

        async with batch.changed:
            try:
                await asyncio.wait_for(batch.changed.wait_for(ready), timeout)
            except TimeoutError:
                if index is not None:
                    raise GsbReplyError("Timeout") from None
        results = batch.results
        return list(results if index is None else results[: int(index) + 1])

    async def _run_batch(self, batch: Batch) -> None:
        async with self._lock:
            for index, command in enumerate(batch.commands):
                kind = next(iter(command))
                self.exec_log.append(kind)
                batch.running = kind
                try:
                    stdout, stderr = await self._command(kind, command[kind] or {})
                    ok, message = True, None
                except Exception as exc:  # the command's failure is its result
                    stdout, stderr = "", str(getattr(exc, "stderr_tail", "") or "")
                    ok, message = False, str(exc)
                last = index == len(batch.commands) - 1 or not ok
                async with batch.changed:
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
                    batch.running = None
                    batch.done = last
                    batch.changed.notify_all()
                if last:
                    break

    async def _command(self, kind: str, args: dict[str, Any]) -> tuple[str, str]:
        if kind == "terminate":
            await self.client.shutdown()
            await self._set_state("Terminated")
            return "", ""
        if kind == "deploy":
            self._require("Initialized", kind)
            if self.broken:
                raise RuntimeError("deploy failed: the runtime is not installed on this provider")
            out = await self.client.deploy()
            await self._set_state("Deployed")
            return json.dumps(out), ""
        if kind == "start":
            self._require("Deployed", kind)
            argv = list(args.get("args") or [])
            out = await self.client.start(json.loads(argv[0]) if argv else {})
            await self._set_state("Ready")
            return json.dumps(out), ""
        if kind == "run":
            self._require("Ready", kind)
            result = await self.client.run(
                str(args.get("entry_point") or args.get("entryPoint")),
                *[str(a) for a in args.get("args") or []],
            )
            stdout = result.stdout.decode("utf-8", "replace")
            stderr = result.stderr.decode("utf-8", "replace")
            if result.return_code != 0:
                err = RuntimeError(f"ExeUnit command `run` exited with code {result.return_code}")
                err.stderr_tail = stderr  # type: ignore[attr-defined]
                raise err
            return stdout, stderr
        raise RuntimeError(f"command `{kind}` is not supported by this runtime")

    def _require(self, state: str, kind: str) -> None:
        if self.state != state:
            raise RuntimeError(f"`{kind}` is not allowed in state {self.state}")

"""ErigonService: one Ethereum node on a provider, driven through yapapi's Service handlers.

start: `deploy` + `start '{"chain","client"}'`; the start output (or, when the supervisor gives
none, `run status`) carries url, auth and state. run: `status` every `status_interval` seconds,
and commands asked for by the app (`rotate-credentials`, `logs N`, `status`) in between.
shutdown: yapapi's default (`terminate`). A failed start is retried on another provider, at
most `max_attempts` times in all.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncGenerator, Callable, Mapping
from datetime import timedelta
from typing import Any

from erigolem_runtime.api import NodeStatus, OutputError, RuntimeState, parse_output
from yapapi.ctx import WorkContext
from yapapi.script import Script
from yapapi.services import Service

log = logging.getLogger(__name__)

START_TIMEOUT = timedelta(minutes=3)
COMMAND_TIMEOUT = timedelta(seconds=60)


MAX_STATUS_FAILURES = 3


class NodeGone(Exception):
    """The provider no longer serves the node (activity ended or `status` keeps failing)."""


def _first_line(exc: BaseException) -> str:
    """A one-line reason; for yagna API errors the status plus the body's message."""
    text = (str(exc).strip() or type(exc).__name__).splitlines()[0]
    body = getattr(exc, "body", None)
    if body:
        try:
            message = json.loads(body).get("message")
        except (ValueError, AttributeError):
            message = str(body)
        text = f"{text} {message}".strip()
    return text[:300]


class StartOutputError(Exception):
    """The runtime's start output was not the JSON object DESIGN.md promises."""


def parse_node_json(text: str | None, what: str) -> NodeStatus:
    """Parse the runtime's JSON (start output / `run status`) and check url and auth are there."""
    try:
        return NodeStatus.from_json(parse_output(text, what, node=True))
    except OutputError as exc:
        raise StartOutputError(str(exc)) from exc


class ErigonService(Service):
    """One rented node. Instance params: `start_arg`, `status_interval`, `max_attempts`, hooks.

    Args:
        start_arg: the runtime's start argument (`NodeSpec.start_argument()`).
        status_interval: seconds between `run status` polls while running.
        max_attempts: providers tried in all before the start counts as failed.
        on_status: called with every fresh status (start output included).
        on_provider_failed: called with the provider id of a failed start (to exclude it).
    """

    def __init__(
        self,
        *args: Any,
        start_arg: Mapping[str, Any],
        status_interval: float = 15.0,
        max_attempts: int = 3,
        on_status: Callable[[NodeStatus], None] | None = None,
        on_provider_failed: Callable[[str], None] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.start_arg = dict(start_arg)
        self.status_interval = status_interval
        self.max_attempts = max(1, max_attempts)
        self.attempts = 0
        self.failures: list[str] = []
        self.start_output: NodeStatus | None = None
        self.status_failures = 0
        self.lost: str | None = None
        self.last_status: NodeStatus | None = None
        self._on_status = on_status
        self._on_provider_failed = on_provider_failed
        self._requests: asyncio.Queue[tuple[tuple[str, ...], asyncio.Future[str]]] = asyncio.Queue()
        self.run_ended: str | None = None  # why the run loop is over (then `call` fails at once)

    # --- handlers (async generators yielding Scripts, as yapapi wants) -----------------------

    async def start(self) -> AsyncGenerator[Script, Any]:
        self.attempts += 1
        try:
            script = self.ctx.new_script(timeout=START_TIMEOUT)
            script.deploy()
            started = script.start(json.dumps(self.start_arg, sort_keys=True))
            yield script
            out = (await started).stdout
            if out and out.strip():
                data = parse_node_json(out, "start output")
            else:
                script = self.ctx.new_script(timeout=COMMAND_TIMEOUT)
                status = script.run("status")
                yield script
                data = parse_node_json((await status).stdout, "status")
            self.start_output = data
            self._publish(data)
            if data.state is RuntimeState.FAILED:
                raise StartOutputError(f"the node failed to start: {data.reason}")
        except Exception as exc:
            self._record_failure(exc)
            raise

    async def run(self) -> AsyncGenerator[Script, Any]:
        future: asyncio.Future[str] | None = None
        try:
            while True:
                argv: tuple[str, ...] = ("status",)
                future = None
                with contextlib.suppress(TimeoutError):
                    argv, future = await asyncio.wait_for(
                        self._requests.get(), self.status_interval
                    )
                script = self.ctx.new_script(timeout=COMMAND_TIMEOUT)
                result = script.run(*argv)
                try:
                    yield script
                    out = (await result).stdout or ""
                except Exception as exc:  # CommandExecutionError is thrown in at the yield
                    if future is not None and not future.done():
                        future.set_exception(exc)
                    elif future is None:
                        log.warning("status of %s failed: %s", self.provider_name, exc)
                        self.status_failures += 1
                        await self._check_alive(exc)
                    continue
                self.status_failures = 0
                if argv[0] in ("status", "rotate-credentials"):
                    with contextlib.suppress(StartOutputError):
                        self._publish(parse_node_json(out, argv[0]))
                if future is not None and not future.done():
                    future.set_result(out)
        finally:  # whoever waits for a command, or asks later, learns at once that it is over
            self.run_ended = self.lost or "the node's command loop ended"
            waiting = [future] + [
                self._requests.get_nowait()[1] for _ in range(self._requests.qsize())
            ]
            for pending in waiting:
                if pending is not None and not pending.done():
                    pending.set_exception(NodeGone(self.run_ended))

    async def _check_alive(self, exc: BaseException) -> None:
        """Give up on a provider whose activity ended or that stopped answering `status`."""
        terminated = False
        with contextlib.suppress(Exception):
            state = await self.ctx.get_raw_state()
            terminated = "Terminated" in (state.state or [])
        if terminated or self.status_failures >= MAX_STATUS_FAILURES:
            what = "ended the activity" if terminated else "stopped answering"
            self.lost = f"provider {self.provider_name} {what}: {_first_line(exc)}"
            raise NodeGone(self.lost) from exc

    @property
    def ctx(self) -> WorkContext:
        """The work context (set by yapapi before any handler runs)."""
        if self._ctx is None:
            raise RuntimeError("the service has no activity yet")
        return self._ctx

    # --- what the backend calls -----------------------------------------------------------

    async def call(self, *argv: str, within: float = 90) -> str:
        """Run one runtime command on the provider (while running) and return its stdout."""
        if self.run_ended is not None:
            raise NodeGone(self.run_ended)
        if str(self.state.value) != "running":
            raise RuntimeError(f"the node is {self.state.value}, not running")
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        await self._requests.put((tuple(argv), future))
        return await asyncio.wait_for(future, within)

    @property
    def restart_condition(self) -> bool:
        return bool(super().restart_condition) and self.attempts < self.max_attempts

    async def reset(self) -> None:
        self.run_ended = None
        self.start_output = None
        self.last_status = None

    def failure_reason(self) -> str | None:
        """Why the service ended: lost provider, last start failure, or the error it died of."""
        if self.lost:
            return self.lost
        if self.failures and not self.service_instance.started_successfully:
            return f"{self.failures[-1]} (tried {self.attempts} provider(s))"
        exc = self.exc_info[1]
        if exc is not None:
            return f"provider {self.provider_name} stopped serving the node: {_first_line(exc)}"
        return None

    # --- internals ------------------------------------------------------------------------

    def _publish(self, data: NodeStatus) -> None:
        self.last_status = data
        if self._on_status is not None:
            self._on_status(data)

    def _record_failure(self, exc: BaseException) -> None:
        provider = self.provider_name or "?"
        message = str(exc)
        stderr = getattr(exc, "stderr", None)
        if stderr:
            message = f"{message}: {str(stderr).strip()[-300:]}"
        self.failures.append(f"{provider}: {message}")
        provider_id = self.provider_id
        if provider_id and self._on_provider_failed is not None:
            self._on_provider_failed(provider_id)

"""Supervision: restart a client that died or hung, with backoff and a restart budget."""

from __future__ import annotations

import asyncio
import logging
import signal
import time

from erigolem_runtime import probe
from erigolem_runtime.api import RuntimeState, ServiceError
from erigolem_runtime.api.process import signal_group
from erigolem_runtime.instance.process import ClientProcess

log = logging.getLogger(__name__)

READY_TIMEOUT = {"anvil": 30.0, "erigon": 180.0}
MAX_BACKOFF = 60.0


class Supervised(ClientProcess):
    """Adds the supervisor (restarts on exit) and the watchdog (kills a silent client)."""

    async def _supervise(self) -> None:
        """Restart the client when it dies (or the watchdog killed it hung), with exponential
        backoff, up to max_restarts in a row (the count starts over after stable_sec healthy)."""
        policy = self.config.restart
        while not self._closing:
            proc = self._proc
            if proc is None:
                return
            code = await proc.wait()
            if self._closing:
                return
            self._restarting = True
            self._renew_budget()  # it ran healthy long enough before this: a fresh budget
            self._healthy_since = None
            signal_group(proc.pid, signal.SIGKILL)  # leftovers of the dead client's group
            hang, self._hang_reason = self._hang_reason, None
            if hang is None:
                reason = f"{self.client} exited with code {code}"
                last = self._tail(1).strip()
                if last:
                    reason += f" (last log line: {last[:200]})"
            else:
                reason = hang
            if self.restarts_recent >= policy.max_restarts:
                self.state = RuntimeState.FAILED
                # plain words for the status (users read it); the knobs for operators, in the log
                self.reason = (
                    f"{reason}; gave up after {self.restarts_recent} restart(s) in a row: it "
                    "keeps crashing, so it is not restarted again"
                )
                log.error(
                    "instance %s failed: %s (restart.max_restarts = %d; the count starts over "
                    "after restart.stable_sec = %g s of healthy running)",
                    self.instance_id,
                    self.reason,
                    policy.max_restarts,
                    policy.stable_sec,
                )
                return
            self.restarts += 1
            self.restarts_recent += 1
            self.state = RuntimeState.DEGRADED
            count = f"restart {self.restarts_recent} of {policy.max_restarts}"
            self.reason = f"{reason}; restarted ({count})" if hang else f"{reason}; {count}"
            log.warning("instance %s: %s", self.instance_id, self.reason)
            delay = min(policy.backoff_sec * (2 ** (self.restarts_recent - 1)), MAX_BACKOFF)
            await asyncio.sleep(delay)
            if self._closing:
                return
            self._restarting = True
            try:
                await self._spawn()
                assert self._rpc_port is not None
                assert self.client is not None
                await probe.wait_ready(
                    self._rpc_port,
                    deadline=time.monotonic() + READY_TIMEOUT[self.client],
                    alive=self._alive,
                )
            except (ServiceError, probe.ProbeError) as exc:
                # counted as a restart; the loop sees the process gone and tries again
                self.reason = f"restart {self.restarts_recent} failed: {exc}"
                if self._alive():
                    await self._kill_client()
                continue
            finally:
                self._restarting = False
            if not self._closing:
                self._mark_answering()
                self.state = RuntimeState.STARTING  # the next status probe says syncing/ready
                self.reason = None

    async def _watch(self) -> None:
        """Kill a client that is alive but silent on JSON-RPC for ``restart.unresponsive_sec``.

        A frozen client (deadlock, SIGSTOP, swap storm) never exits, so the supervisor would
        wait forever; once killed, it is restarted like one that died. Erigon keeps answering
        ``web3_clientVersion`` while it syncs, so silence means it is stuck.
        """
        window = self.config.restart.unresponsive_sec
        interval = min(max(window / 4, 0.2), 5.0)
        conn: probe.RpcConnection | None = None
        try:
            while not self._closing and self.state is not RuntimeState.FAILED:
                await asyncio.sleep(interval)
                proc = self._proc
                if self._closing or self._restarting or proc is None or proc.returncode is not None:
                    continue
                if conn is None:
                    assert self._rpc_port is not None
                    conn = probe.RpcConnection(self._rpc_port, timeout=min(max(window / 3, 0.5), 5))
                try:
                    await conn.call("web3_clientVersion")
                    answered = True
                except probe.RpcError:
                    answered = True  # an error object is an answer: the client is alive
                except probe.ProbeError:
                    answered = False
                if self._closing or self._restarting or self._proc is not proc:
                    continue  # the supervisor acted meanwhile: its restart resets the clock
                if answered:
                    self._mark_answering()
                    continue
                self._healthy_since = None
                silent = time.monotonic() - self._last_answer
                if silent < window or proc.returncode is not None:
                    continue
                self._hang_reason = f"the client stopped answering JSON-RPC for {silent:.0f} s"
                log.warning("instance %s: %s; killing it", self.instance_id, self._hang_reason)
                await self._kill_client()  # the supervisor sees the exit and restarts it
        finally:
            if conn is not None:
                await conn.close()

    def _mark_answering(self) -> None:
        """The client just answered JSON-RPC: reset the silence clock, maybe renew the budget."""
        now = time.monotonic()
        self._last_answer = now
        if self._healthy_since is None:
            self._healthy_since = now
        self._renew_budget()

    def _renew_budget(self) -> None:
        """After ``restart.stable_sec`` of healthy running, ``max_restarts`` counts from 0 again."""
        since = self._healthy_since
        stable = self.config.restart.stable_sec
        if self.restarts_recent and since is not None and time.monotonic() - since >= stable:
            log.info(
                "instance %s ran healthy for %g s: restart budget renewed", self.instance_id, stable
            )
            self.restarts_recent = 0

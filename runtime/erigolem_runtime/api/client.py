"""Supervisor-side client of the runtime: plays exe-unit's part against `erigolem-runtime`.

It spawns the runtime with the argv exe-unit uses (`--workdir W deploy --`, then a long-lived
`--workdir W start <json>`), speaks the Runtime API over the child's stdin/stdout, routes events
the way exe-unit does, and shuts down like exe-unit (shutdown request, then SIGKILL of the
process group). The desktop app's Local backend, the provider self-test and the tests use it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from erigolem_runtime.api.errors import ErrorKind, ServiceError
from erigolem_runtime.api.files import tail_lines
from erigolem_runtime.api.output import OutputError, parse_output
from erigolem_runtime.api.paths import CONFIG_ENV
from erigolem_runtime.api.process import (
    MARKER_ENV,
    PYTHON_PREFIXES,
    child_environment,
    new_marker,
    signal_group,
)
from erigolem_runtime.logsetup import LOG_DIR_NAME, redact
from erigolem_runtime.protocol import (
    ErrorReply,
    HelloReply,
    HelloRequest,
    KillRequest,
    ProcessStatus,
    ProtocolError,
    Request,
    RequestCommand,
    Response,
    ResponseCommand,
    RunReply,
    RunRequest,
    RuntimeCounter,
    RuntimeState,
    RuntimeStatus,
    ShutdownReply,
    ShutdownRequest,
    frame_request,
    response_decoder,
)

log = logging.getLogger(__name__)

HELLO_VERSION = "0.1.0"  # what exe-unit sends
_STDERR_KEEP = 64 * 1024
_KILL_WAIT = 5.0


@dataclass(frozen=True)
class RunResult:
    """Outcome of one `run` command, as exe-unit would report it."""

    return_code: int
    stdout: bytes
    stderr: bytes

    def json(self, what: str = "command output") -> dict[str, Any]:
        """stdout parsed as one JSON object; RuntimeClientError if it is not one."""
        try:
            return parse_output(self.stdout.decode("utf-8", "replace"), what)
        except OutputError as exc:
            raise RuntimeClientError(str(exc)) from exc


class RuntimeClientError(Exception):
    """Something went wrong talking to the runtime; the message says what and where to look.

    `error` is the runtime's own ServiceError (kind, message, context) when the runtime
    reported the failure (a failed start or run); None when the talk itself failed (no reply,
    the process died): then `kind` is FAILED.
    """

    def __init__(
        self, message: str, *, stderr_tail: str = "", error: ServiceError | None = None
    ) -> None:
        super().__init__(message)
        self.stderr_tail = stderr_tail
        self.error = error

    @property
    def kind(self) -> ErrorKind:
        return self.error.kind if self.error is not None else ErrorKind.FAILED

    def __str__(self) -> str:
        base = super().__str__()
        if self.stderr_tail:
            return f"{base}\n{self.stderr_tail}"
        return base


@dataclass
class _PendingRun:
    argv: tuple[str, ...]
    done: asyncio.Future[int]
    pid: int | None = None
    stdout: bytearray = field(default_factory=bytearray)
    stderr: bytearray = field(default_factory=bytearray)


class RuntimeClient:
    """Drives one runtime process (one activity) through deploy, start, runs and shutdown."""

    def __init__(
        self,
        workdir: Path,
        *,
        command: Sequence[str] | None = None,
        env: Mapping[str, str] | None = None,
        config_path: Path | None = None,
    ) -> None:
        self.workdir = Path(workdir)
        self.command: list[str] = (
            list(command) if command else [sys.executable, "-m", "erigolem_runtime"]
        )
        # the runtime gets what it needs to run and find its config, never the wallet's secrets
        child_env = child_environment(keep_prefixes=(*PYTHON_PREFIXES, "ERIGOLEM_RUNTIME"))
        if env:
            child_env.update(env)
        if config_path is not None:
            child_env[CONFIG_ENV] = str(config_path)
        #: The project's mark on the runtime process (see `api.process.identify`).
        self.marker = new_marker()
        child_env[MARKER_ENV] = self.marker
        self._env = child_env
        self._proc: asyncio.subprocess.Process | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._stderr_task: asyncio.Task[None] | None = None
        self._stderr: collections.deque[bytes] = collections.deque()
        self._stderr_size = 0
        self._next_id = 2  # exe-unit starts at 2
        self._replies: dict[int, asyncio.Future[ResponseCommand]] = {}
        self._pending_run: _PendingRun | None = None
        self._active: dict[int, _PendingRun] = {}
        self._abandoned: set[int] = set()
        self._run_lock = asyncio.Lock()
        self._fallback_out = bytearray()
        self._fallback_err = bytearray()
        self._counters: dict[str, float] = {}
        self._states: dict[str, bytes] = {}
        self._dead: RuntimeClientError | None = None
        self._shut_down = False
        self.start_output: dict[str, Any] | None = None

    # ------------------------------------------------------------------ properties

    @property
    def counters(self) -> dict[str, float]:
        """Latest value of every counter the runtime reported."""
        return dict(self._counters)

    @property
    def states(self) -> dict[str, bytes]:
        """Latest runtime `state` events by name (exe-unit only logs these)."""
        return dict(self._states)

    @property
    def pid(self) -> int | None:
        """OS pid of the long-lived runtime process (None before start)."""
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.returncode is None and self._dead is None

    @property
    def returncode(self) -> int | None:
        """Exit code of the runtime process once it has exited."""
        return self._proc.returncode if self._proc is not None else None

    # ---------------------------------------------------------------------- helpers

    def _argv(self, *tail: str) -> list[str]:
        return [*self.command, "--workdir", str(self.workdir), *tail]

    def _stderr_text(self) -> str:
        return b"".join(self._stderr).decode("utf-8", "replace")

    def _diagnostics(self) -> str:
        parts = []
        err = self._stderr_text().strip()
        if err:
            parts.append("runtime stderr:\n" + redact("\n".join(err.splitlines()[-20:])))
        logs = tail_logs(self.workdir)
        if logs:
            parts.append("runtime logs:\n" + logs)
        return "\n".join(parts)

    def _error(self, message: str, error: ServiceError | None = None) -> RuntimeClientError:
        return RuntimeClientError(message, stderr_tail=self._diagnostics(), error=error)

    # ----------------------------------------------------------------------- deploy

    async def _run_once(
        self,
        what: str,
        argv: Sequence[str],
        timeout: float,  # noqa: ASYNC109 (the seam)
        *,
        cwd: Path | None = None,
    ) -> tuple[int, bytes, bytes]:
        """Run one short-lived runtime command (deploy, test) in its own session.

        The whole process group is killed on a timeout or when the caller is cancelled.
        """
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=cwd,
                env=self._env,
                start_new_session=True,
            )
        except OSError as exc:
            raise RuntimeClientError(
                f"{what}: cannot start the runtime {self.command[0]!r}: {exc}"
            ) from exc
        try:
            out, err = await asyncio.wait_for(proc.communicate(), timeout)
        except TimeoutError:
            await _kill_group(proc)
            raise RuntimeClientError(
                f"{what} did not finish within {timeout:g} s (runtime: {' '.join(self.command)})",
                stderr_tail=tail_logs(cwd) if cwd is not None else "",
            ) from None
        finally:
            if proc.returncode is None:
                await _kill_group(proc)
        return int(proc.returncode or 0), out, err

    async def deploy(self, timeout: float = 30) -> dict[str, Any]:  # noqa: ASYNC109 (the seam)
        """Run `<cmd> --workdir W deploy --` once and return its deploy JSON."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        returncode, out, err = await self._run_once(
            "deploy", self._argv("deploy", "--"), timeout, cwd=self.workdir
        )
        err_text = redact(err.decode("utf-8", "replace").strip())
        if returncode != 0:
            raise RuntimeClientError(
                f"deploy failed with exit code {returncode}: {err_text or 'no message'}"
            )
        text = out.decode("utf-8", "replace")
        brace = text.find("{")
        if brace < 0:
            raise RuntimeClientError(f"invalid deploy response (no JSON object): {text[:200]!r}")
        try:
            result = json.loads(text[brace:])
        except ValueError as exc:
            raise RuntimeClientError(f"invalid deploy response ({exc}): {text[:200]!r}") from exc
        if not isinstance(result, dict) or "valid" not in result:
            raise RuntimeClientError(f"invalid deploy response (no 'valid'): {text[:200]!r}")
        return result

    async def test(self, timeout: float = 60) -> RunResult:  # noqa: ASYNC109 (the seam)
        """Run `<cmd> test` as ya-provider does at start-up (exit 0 = the runtime can serve).

        Warnings are on stderr even when it passes; ya-provider aborts on a non-zero exit.
        """
        returncode, out, err = await self._run_once("test", [*self.command, "test"], timeout)
        return RunResult(returncode, out, redact(err.decode("utf-8", "replace")).encode())

    # ------------------------------------------------------------------------ start

    async def start(self, start_arg: Mapping[str, Any], timeout: float = 120) -> dict[str, Any]:  # noqa: ASYNC109 (the seam)
        """Spawn the service-mode runtime, say hello, and return the parsed start output."""
        if self._proc is not None:
            raise RuntimeClientError("this client has already started a runtime; use a new one")
        self.workdir.mkdir(parents=True, exist_ok=True)
        arg = json.dumps(dict(start_arg), separators=(",", ":"))
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *self._argv("start", arg),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=self.workdir,
                env=self._env,
                start_new_session=True,  # own process group, killed as a whole like exe-unit
                limit=2**20,
            )
        except OSError as exc:
            raise RuntimeClientError(
                f"cannot start the runtime {self.command[0]!r}: {exc}"
            ) from exc
        self._reader_task = asyncio.create_task(self._read_loop())
        self._stderr_task = asyncio.create_task(self._drain_stderr())
        try:
            reply = await self._request(HelloRequest(HELLO_VERSION), timeout, what="start (hello)")
        except RuntimeClientError:
            await self._terminate()
            raise
        if isinstance(reply, ErrorReply):
            await self._wait_exit(1.0)  # the runtime exits non-zero after a failed start
            await self._terminate()
            if "kind" in reply.context:
                error = ServiceError.from_wire(reply.message, reply.context)
            else:  # a runtime that puts the kind only on stderr
                error = ServiceError.from_text(self._fallback_err.decode("utf-8", "replace"))
                error = ServiceError(reply.message, kind=error.kind, context=error.context)
            raise self._error(f"start failed: {reply.message}", error)
        if not isinstance(reply, HelloReply):
            await self._terminate()
            raise self._error(f"invalid hello reply from the runtime: {reply!r}")
        try:
            output = parse_output(self._fallback_out.decode("utf-8", "replace"), "start output")
        except OutputError as exc:
            await self.shutdown()
            raise self._error(f"the runtime started, but {exc}") from exc
        self.start_output = output
        return output

    # -------------------------------------------------------------------------- run

    async def run(self, *argv: str, timeout: float = 30) -> RunResult:  # noqa: ASYNC109 (the seam)
        """One `run` command (e.g. run("status"), run("logs", "50")); waits for its exit code."""
        if not argv or not argv[0]:
            raise RuntimeClientError("run needs a command name, e.g. run('status')")
        self._check_alive("run")
        async with self._run_lock:
            loop = asyncio.get_running_loop()
            pending = _PendingRun(tuple(argv), loop.create_future())
            self._pending_run = pending
            deadline = loop.time() + timeout
            try:
                entry = argv[0]
                reply = await self._request(
                    RunRequest(bin=entry, args=(os.path.basename(entry), *argv[1:])),
                    timeout,
                    what=f"run {argv[0]!r}",
                )
                if isinstance(reply, ErrorReply):
                    raise self._error(f"the runtime refused run {argv[0]!r}: {reply.message}")
                if not isinstance(reply, RunReply):
                    raise self._error(f"invalid reply to run {argv[0]!r}: {reply!r}")
                remaining = max(0.0, deadline - loop.time())
                try:
                    code = await asyncio.wait_for(asyncio.shield(pending.done), remaining)
                except TimeoutError:
                    pid = pending.pid if pending.pid is not None else reply.pid
                    self._abandoned.add(pid)
                    with contextlib.suppress(RuntimeClientError, ConnectionError, OSError):
                        self._send(KillRequest(pid=pid, signal=int(signal.SIGKILL)))
                    raise RuntimeClientError(
                        f"run {argv[0]!r} did not finish within {timeout:g} s (pid {pid} killed)"
                    ) from None
            finally:
                if self._pending_run is pending:
                    self._pending_run = None
                if pending.pid is not None:
                    self._active.pop(pending.pid, None)
            return RunResult(code, bytes(pending.stdout), bytes(pending.stderr))

    async def run_json(self, *argv: str, timeout: float = 30) -> dict[str, Any]:  # noqa: ASYNC109 (the seam)
        """run() whose stdout must be one JSON object; a non-zero exit raises with its stderr."""
        result = await self.run(*argv, timeout=timeout)
        if result.return_code != 0:
            error = ServiceError.from_text(result.stderr.decode("utf-8", "replace"))
            err = error.message
            raise RuntimeClientError(
                f"run {argv[0]!r} failed with exit code {result.return_code}: {err or 'no message'}",
                stderr_tail=err,
                error=error,
            )
        return result.json(f"output of run {argv[0]!r}")

    # --------------------------------------------------------------------- shutdown

    async def shutdown(self, timeout: float = 5) -> None:  # noqa: ASYNC109 (the seam)
        """Ask the runtime to shut down, wait for the reply (bounded), then SIGKILL its group.

        Raises RuntimeClientError (after the process is gone) if the runtime did not answer
        the shutdown in time or answered with an error.
        """
        if self._proc is None or self._shut_down:
            return
        self._shut_down = True
        problem: str | None = None
        if self.running:
            try:
                reply = await self._request(ShutdownRequest(), timeout, what="shutdown")
            except RuntimeClientError as exc:
                problem = str(exc).split("\n", 1)[0]
            else:
                if isinstance(reply, ErrorReply):
                    problem = f"the runtime reported an error on shutdown: {reply.message}"
                elif not isinstance(reply, ShutdownReply):
                    problem = f"invalid reply to shutdown: {reply!r}"
            if problem is None:
                # The runtime exits right after its reply; give it a moment, then kill anyway.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._proc.wait(), 0.5)
        await self._terminate()
        if problem is not None:
            raise RuntimeClientError(problem, stderr_tail=tail_logs(self.workdir))

    async def __aenter__(self) -> RuntimeClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self.shutdown()
        except RuntimeClientError:
            if exc_type is None:
                raise
            log.warning("runtime shutdown failed while handling another error", exc_info=True)

    async def _terminate(self) -> None:
        """Kill the runtime's process group (like exe-unit) and reap it; idempotent."""
        proc = self._proc
        if proc is not None:
            await _kill_group(proc)
            if proc.stdin is not None:
                proc.stdin.close()
                with contextlib.suppress(ConnectionError, OSError):
                    await proc.stdin.wait_closed()
        for task in (self._reader_task, self._stderr_task):
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await asyncio.wait_for(task, 2)
        self._mark_dead(f"the runtime was shut down (exit code {self.returncode})")

    # ------------------------------------------------------------------- internals

    def _check_alive(self, what: str) -> None:
        if self._proc is None:
            raise RuntimeClientError(f"cannot {what}: the runtime is not started (call start())")
        if self._dead is not None:
            raise RuntimeClientError(
                f"cannot {what}: {self._dead}", stderr_tail=self._dead.stderr_tail
            )

    def _send(self, command: RequestCommand) -> int:
        proc = self._proc
        assert proc is not None
        assert proc.stdin is not None
        req_id = self._next_id
        self._next_id += 1
        proc.stdin.write(frame_request(Request(req_id, command)))
        return req_id

    async def _request(
        self, command: RequestCommand, seconds: float, *, what: str
    ) -> ResponseCommand:
        self._check_alive(what)
        proc = self._proc
        assert proc is not None
        assert proc.stdin is not None
        fut: asyncio.Future[ResponseCommand] = asyncio.get_running_loop().create_future()
        try:
            req_id = self._send(command)
            self._replies[req_id] = fut
            await proc.stdin.drain()
        except (ConnectionError, OSError) as exc:
            fut.cancel()
            await self._wait_exit(1.0)
            raise self._error(
                f"{what}: cannot write to the runtime ({exc}); exit code {self.returncode}"
            ) from exc
        try:
            return await asyncio.wait_for(asyncio.shield(fut), seconds)
        except TimeoutError:
            raise self._error(f"{what}: no reply from the runtime within {seconds:g} s") from None
        finally:
            self._replies.pop(req_id, None)

    async def _wait_exit(self, seconds: float) -> None:
        if self._proc is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._proc.wait(), seconds)

    async def _drain_stderr(self) -> None:
        proc = self._proc
        assert proc is not None
        assert proc.stderr is not None
        while True:
            chunk = await proc.stderr.read(65536)
            if not chunk:
                return
            self._stderr.append(chunk)
            self._stderr_size += len(chunk)
            while self._stderr_size > _STDERR_KEEP and len(self._stderr) > 1:
                self._stderr_size -= len(self._stderr.popleft())

    async def _read_loop(self) -> None:
        proc = self._proc
        assert proc is not None
        assert proc.stdout is not None
        decoder = response_decoder()
        reason: str
        try:
            while True:
                chunk = await proc.stdout.read(65536)
                if not chunk:
                    decoder.eof()
                    break
                for response in decoder.feed(chunk):
                    self._route(response)
        except ProtocolError as exc:
            # Like exe-unit: a broken stream ends the read loop and the runtime is killed.
            reason = f"the runtime wrote a malformed frame ({exc}); it was killed"
            log.error(reason)
            signal_group(proc.pid, signal.SIGKILL)
        else:
            reason = ""
        await self._wait_exit(_KILL_WAIT)
        if self._stderr_task is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self._stderr_task), 1.0)
        code = self.returncode
        if not reason:
            reason = (
                f"the runtime was shut down (exit code {code})"
                if self._shut_down
                else f"the runtime exited with code {code}"
            )
        self._mark_dead(reason)

    def _mark_dead(self, reason: str) -> None:
        if self._dead is None:
            self._dead = RuntimeClientError(reason, stderr_tail=self._diagnostics())
        for fut in list(self._replies.values()):
            if not fut.done():
                fut.set_exception(self._dead)
                fut.exception()  # retrieved here: the waiter may have timed out already
        runs = list(self._active.values())
        if self._pending_run is not None:
            runs.append(self._pending_run)
        for run in runs:
            if not run.done.done():
                run.done.set_exception(self._dead)
                run.done.exception()

    def _route(self, response: Response) -> None:
        cmd = response.command
        if not response.event:
            fut = self._replies.get(response.id)
            if cmd is None:
                log.error("reply %d without a command (exe-unit would panic)", response.id)
                if fut is not None and not fut.done():
                    fut.set_exception(self._error("the runtime sent a reply without a command"))
                return
            if fut is None:
                log.warning("reply to unknown request id %d ignored", response.id)
            elif not fut.done():
                fut.set_result(cmd)
            return
        if isinstance(cmd, ProcessStatus):
            self._route_status(cmd)
        elif isinstance(cmd, RuntimeStatus):
            if isinstance(cmd.kind, RuntimeCounter):
                self._counters[cmd.kind.name] = cmd.kind.value
            elif isinstance(cmd.kind, RuntimeState):
                self._states[cmd.kind.name] = cmd.kind.value
        else:
            log.warning("unexpected event from the runtime: %r", cmd)

    def _route_status(self, status: ProcessStatus) -> None:
        run = self._active.get(status.pid)
        if run is None and status.pid in self._abandoned:
            if not status.running:
                self._abandoned.discard(status.pid)
            return
        if run is None and self._pending_run is not None and self._pending_run.pid is None:
            # exe-unit: the first status with an unknown pid binds to the pending run
            run = self._pending_run
            run.pid = status.pid
            self._active[status.pid] = run
        if run is None:
            self._fallback_out += status.stdout
            self._fallback_err += status.stderr
            return
        run.stdout += status.stdout
        run.stderr += status.stderr
        if not status.running:
            self._active.pop(status.pid, None)
            if not run.done.done():
                run.done.set_result(status.return_code)


async def _kill_group(proc: asyncio.subprocess.Process) -> None:
    """SIGKILL the process group of `proc` (it leads its own session) and reap it."""
    # Also after the leader exited: members of its group may still be alive (the pgid cannot be
    # reused while any member exists, so this never hits an unrelated process group).
    signal_group(proc.pid, signal.SIGKILL)
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(proc.wait(), _KILL_WAIT)


def tail_logs(workdir: Path, lines: int = 20) -> str:
    """The last lines of every file under `<workdir>/logs/` (newest first), passwords masked."""
    folder = workdir / LOG_DIR_NAME
    try:
        files = sorted(
            (p for p in folder.iterdir() if p.is_file()),
            key=lambda p: p.stat().st_mtime,
            reverse=True,
        )
    except OSError:
        return ""
    parts: list[str] = []
    for path in files[:3]:
        try:
            tail = "\n".join(tail_lines(path, lines, max_bytes=16384))
        except OSError:
            continue
        if tail.strip():
            parts.append(f"--- {path} ---\n{redact(tail)}")
    return "\n".join(parts)

"""The Runtime API server: what `erigolem-runtime start` speaks to exe-unit over stdin/stdout.

`serve()` is the protocol loop around a `Service` (hello with the start output, run with fresh
pids, kill, shutdown, network refused, usage counters every second). `serve_stdio()` wires it to
the process's real stdin/stdout and makes sure nothing but frames can ever reach fd 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from erigolem_runtime.api import DURATION_COUNTER, ErrorKind, RunOutcome, Service, ServiceError
from erigolem_runtime.config import ConfigError
from erigolem_runtime.logsetup import setup_logging
from erigolem_runtime.protocol import (
    ErrorCode,
    ErrorReply,
    HelloReply,
    HelloRequest,
    KillReply,
    KillRequest,
    NetworkRequest,
    ProcessStatus,
    ProtocolError,
    Request,
    Response,
    ResponseCommand,
    RunReply,
    RunRequest,
    RuntimeCounter,
    RuntimeStatus,
    ShutdownReply,
    ShutdownRequest,
    frame_response,
    request_decoder,
)
from erigolem_runtime.version import runtime_version

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_START_FAILED = 1
EXIT_PROTOCOL_ERROR = 3

SHUTDOWN_TIMEOUT = 4.5
"""Bound on `Service.shutdown()`: exe-unit allows 5 s for the whole stop, then SIGKILLs."""
OUTPUT_CHUNK = 1024 * 1024
"""Run output is sent in events of at most this many bytes (frames stay small)."""
_MAX_MESSAGE = 64 * 1024


class FrameWriter(Protocol):
    """Where frames go: an asyncio StreamWriter or anything with write() + drain()."""

    def write(self, data: bytes) -> None: ...

    async def drain(self) -> None: ...


def _clamp_i32(value: int) -> int:
    return max(-(2**31), min(2**31 - 1, int(value)))


class _Server:
    def __init__(
        self,
        service: Service,
        reader: asyncio.StreamReader,
        writer: FrameWriter,
        *,
        start_args: Sequence[str],
        counter_interval: float,
        shutdown_timeout: float,
    ) -> None:
        self._service = service
        self._reader = reader
        self._writer = writer
        self._start_args = list(start_args)
        self._counter_interval = counter_interval
        self._shutdown_timeout = shutdown_timeout
        self._t0 = time.monotonic()
        self._finished: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._start_task: asyncio.Task[dict[str, Any]] | None = None
        self._start_output_sent = False
        self._counter_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._runs: dict[int, asyncio.Task[None]] = {}
        self._kill_codes: dict[int, int] = {}
        self._next_pid = 1
        self._run_lock = asyncio.Lock()
        self._writer_broken = False
        self._service_stopped = False

    # ------------------------------------------------------------------ lifecycle

    def finish(self, code: int) -> None:
        """End the serve loop with this exit code (the first call wins)."""
        if not self._finished.done():
            self._finished.set_result(code)

    async def run(self) -> int:
        log.info("runtime API server up (pid %d), start args %s", os.getpid(), self._start_args)
        self._start_task = asyncio.create_task(self._service.start(list(self._start_args)))
        reader_task = asyncio.create_task(self._read_loop())
        try:
            code = await self._finished
        finally:
            reader_task.cancel()
            await self._cancel_runs()
            await self._stop_counters()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(reader_task, *self._tasks, return_exceptions=True)
            await self._stop_service()
        log.info("runtime API server exits with code %d", code)
        return code

    async def _stop_service(self) -> None:
        if self._service_stopped:
            return
        self._service_stopped = True
        start = self._start_task
        if start is not None and not start.done():
            log.info("cancelling a start still in progress")
            start.cancel()
            with contextlib.suppress(BaseException):
                await start
        elif start is not None and not start.cancelled() and start.exception() is not None:
            log.info("start had failed: %s", start.exception())
        t = time.monotonic()
        try:
            await asyncio.wait_for(self._service.shutdown(), self._shutdown_timeout)
        except TimeoutError:
            log.error("service shutdown did not finish within %.1f s", self._shutdown_timeout)
        except Exception:
            log.exception("service shutdown failed")
        log.info("service shut down in %.2f s", time.monotonic() - t)

    async def _cancel_runs(self) -> None:
        runs = list(self._runs.values())
        for task in runs:
            task.cancel()
        if runs:
            await asyncio.gather(*runs, return_exceptions=True)

    async def _stop_counters(self) -> None:
        if self._counter_task is not None:
            self._counter_task.cancel()
            await asyncio.gather(self._counter_task, return_exceptions=True)
            self._counter_task = None

    def _spawn(self, coro: Any) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # --------------------------------------------------------------------- output

    async def _send(self, response: Response) -> None:
        if self._writer_broken:
            return
        try:
            data = frame_response(response)
        except ProtocolError:
            log.exception("could not encode a response (dropped)")
            return
        try:
            self._writer.write(data)
            await self._writer.drain()
        except (ConnectionError, OSError, RuntimeError) as exc:
            self._writer_broken = True
            log.warning("stdout closed (%s): the supervisor is gone; shutting down", exc)
            self.finish(EXIT_OK)

    async def _reply(self, request: Request, command: ResponseCommand) -> None:
        await self._send(Response(event=False, id=request.id, command=command))

    async def _error(
        self,
        request: Request,
        code: ErrorCode,
        message: str,
        context: dict[str, str] | None = None,
    ) -> None:
        log.info("request %d refused: %s", request.id, message)
        await self._reply(request, ErrorReply(code, message[:_MAX_MESSAGE], context or {}))

    # ---------------------------------------------------------------------- input

    async def _read_loop(self) -> None:
        decoder = request_decoder()
        while True:
            data = await self._reader.read(65536)
            if not data:
                try:
                    decoder.eof()
                except ProtocolError as exc:
                    log.error("stdin ended inside a frame: %s", exc)
                    self.finish(EXIT_PROTOCOL_ERROR)
                    return
                log.info("stdin closed: the supervisor is gone; shutting down")
                self.finish(EXIT_OK)
                return
            try:
                requests = decoder.feed(data)
            except ProtocolError as exc:
                log.error("malformed frame on stdin, giving up on the stream: %s", exc)
                self.finish(EXIT_PROTOCOL_ERROR)
                return
            for request in requests:
                if await self._dispatch(request):
                    return

    async def _dispatch(self, request: Request) -> bool:
        """Handle one request; True when the loop must stop reading (shutdown)."""
        cmd = request.command
        log.info("request %d: %s", request.id, type(cmd).__name__ if cmd else "no command")
        if isinstance(cmd, HelloRequest):
            self._spawn(self._hello(request))
        elif isinstance(cmd, RunRequest):
            await self._run(request, cmd)
        elif isinstance(cmd, KillRequest):
            await self._kill(request, cmd)
        elif isinstance(cmd, ShutdownRequest):
            await self._cancel_runs()
            await self._stop_counters()
            await self._stop_service()
            await self._reply(request, ShutdownReply())
            self.finish(EXIT_OK)
            return True
        elif isinstance(cmd, NetworkRequest):
            await self._error(
                request, ErrorCode.BAD_REQUEST, "not supported: this runtime has no VPN/INET"
            )
        else:  # missing or unknown: ya-runtime-api's server answers exactly this
            await self._error(request, ErrorCode.INTERNAL, "unknown command")
        return False

    # --------------------------------------------------------------------- hello

    async def _hello(self, request: Request) -> None:
        assert self._start_task is not None
        try:
            output = await asyncio.shield(self._start_task)
            payload = json.dumps(output).encode()
        except ServiceError as exc:
            error = exc if exc.message else ServiceError("start failed", kind=exc.kind)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("start failed with an unexpected error")
            error = ServiceError(
                f"internal error while starting: {type(exc).__name__}: {exc}",
                kind=ErrorKind.INTERNAL,
            )
        else:
            if not self._start_output_sent:
                self._start_output_sent = True
                await self._send(
                    Response(event=True, command=ProcessStatus(pid=0, running=True, stdout=payload))
                )
            await self._reply(request, HelloReply(runtime_version()))
            log.info("started; hello answered")
            if self._counter_task is None:
                self._counter_task = asyncio.create_task(self._counter_loop())
            return
        message = error.message
        log.error("start failed (%s): %s", error.kind.value, message)
        await self._send(
            Response(
                event=True,
                command=ProcessStatus(pid=0, running=True, stderr=error.wire_text().encode()),
            )
        )
        await self._error(request, ErrorCode.INTERNAL, message, error.wire_context())
        self.finish(EXIT_START_FAILED)

    # ----------------------------------------------------------------------- run

    def _started(self) -> bool:
        task = self._start_task
        return (
            task is not None and task.done() and not task.cancelled() and task.exception() is None
        )

    async def _run(self, request: Request, cmd: RunRequest) -> None:
        argv = list(cmd.args) or [os.path.basename(cmd.bin)]
        if not argv or not argv[0]:
            await self._error(request, ErrorCode.BAD_REQUEST, "run request without a command")
            return
        if not self._started():
            await self._error(
                request,
                ErrorCode.BAD_REQUEST,
                "the service is not started (start has not succeeded)",
            )
            return
        pid = self._next_pid
        self._next_pid += 1
        log.info("run pid %d: %s", pid, argv[0])
        await self._reply(request, RunReply(pid))
        task = asyncio.create_task(self._run_process(pid, argv))
        self._runs[pid] = task

    async def _run_process(self, pid: int, argv: list[str]) -> None:
        t = time.monotonic()
        try:
            async with self._run_lock:
                outcome = await self._service.run(argv)
        except ServiceError as exc:
            outcome = RunOutcome.failure(
                exc if exc.message else ServiceError("command failed", kind=exc.kind)
            )
        except asyncio.CancelledError:
            code = self._kill_codes.pop(pid, None)
            if code is None:
                outcome = RunOutcome.error("cancelled: the runtime is shutting down", 143)
            else:
                outcome = RunOutcome.error(f"killed (signal {code})", 128 + code)
        except Exception as exc:
            log.exception("run pid %d failed with an unexpected error", pid)
            outcome = RunOutcome.error(f"internal error: {type(exc).__name__}: {exc}")
        try:
            stdout, stderr = bytes(outcome.stdout), bytes(outcome.stderr)
            first = True
            while first or stdout or stderr:
                first = False
                chunk_out, stdout = stdout[:OUTPUT_CHUNK], stdout[OUTPUT_CHUNK:]
                chunk_err, stderr = stderr[:OUTPUT_CHUNK], stderr[OUTPUT_CHUNK:]
                await self._send(
                    Response(
                        event=True,
                        command=ProcessStatus(
                            pid=pid, running=True, stdout=chunk_out, stderr=chunk_err
                        ),
                    )
                )
            code = _clamp_i32(outcome.return_code)
            await self._send(
                Response(
                    event=True, command=ProcessStatus(pid=pid, running=False, return_code=code)
                )
            )
            log.info("run pid %d finished: code %d in %.2f s", pid, code, time.monotonic() - t)
        finally:
            self._runs.pop(pid, None)

    async def _kill(self, request: Request, cmd: KillRequest) -> None:
        task = self._runs.get(cmd.pid)
        if task is None or task.done():
            await self._error(
                request, ErrorCode.NOT_FOUND, f"no running process with pid {cmd.pid}"
            )
            return
        self._kill_codes[cmd.pid] = cmd.signal or signal.SIGKILL
        task.cancel()
        await self._reply(request, KillReply())

    # ------------------------------------------------------------------ counters

    async def _counter_loop(self) -> None:
        last: dict[str, float] = {}
        failed_once = False
        while True:
            await asyncio.sleep(self._counter_interval)
            try:
                values = {str(k): float(v) for k, v in self._service.counters().items()}
            except Exception:
                if not failed_once:
                    log.exception("reading the service's counters failed")
                    failed_once = True
                values = {}
            values.setdefault(DURATION_COUNTER, time.monotonic() - self._t0)
            for name, value in values.items():
                if name == DURATION_COUNTER or last.get(name) != value:
                    await self._send(
                        Response(event=True, command=RuntimeStatus(RuntimeCounter(name, value)))
                    )
            last = values


async def serve(
    service: Service,
    reader: asyncio.StreamReader,
    writer: FrameWriter,
    *,
    start_args: Sequence[str] = (),
    counter_interval: float = 1.0,
    shutdown_timeout: float = SHUTDOWN_TIMEOUT,
    stop_on_sigterm: bool = False,
) -> int:
    """Serve the Runtime API until shutdown, stdin EOF or a broken frame; return the exit code.

    The service is started with `start_args` at once; its output is sent as the pid-0 status
    event before the hello reply. Exit codes: 0 after shutdown/EOF, 1 when start failed,
    3 after a malformed frame.
    """
    server = _Server(
        service,
        reader,
        writer,
        start_args=start_args,
        counter_interval=counter_interval,
        shutdown_timeout=shutdown_timeout,
    )
    loop = asyncio.get_running_loop()
    if stop_on_sigterm:
        loop.add_signal_handler(signal.SIGTERM, server.finish, EXIT_OK)
    try:
        return await server.run()
    finally:
        if stop_on_sigterm:
            loop.remove_signal_handler(signal.SIGTERM)


# ------------------------------------------------------------------------------- real stdio


class _FailedService:
    """Stands in when the real service cannot even be built: start reports why."""

    def __init__(self, error: ServiceError) -> None:
        self._error = error

    async def start(self, args: list[str]) -> dict[str, Any]:
        raise self._error

    async def run(self, argv: list[str]) -> RunOutcome:
        return RunOutcome.failure(self._error)

    def counters(self) -> dict[str, float]:
        return {}

    async def shutdown(self) -> None:
        return None


class _BlockingWriter:
    """Frame writer for a stdout that is a regular file (debugging): plain blocking writes."""

    def __init__(self, fh: BinaryIO) -> None:
        self._fh = fh

    def write(self, data: bytes) -> None:
        self._fh.write(data)
        self._fh.flush()

    async def drain(self) -> None:
        return None


async def _open_stdio(in_fd: int, out_fd: int) -> tuple[asyncio.StreamReader, FrameWriter]:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**20)
    rfile = os.fdopen(in_fd, "rb", buffering=0)
    try:
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), rfile)
    except ValueError:  # a regular file: pump it from a thread

        def pump() -> None:
            while True:
                chunk = rfile.read(65536)
                if not chunk:
                    loop.call_soon_threadsafe(reader.feed_eof)
                    return
                loop.call_soon_threadsafe(reader.feed_data, chunk)

        threading.Thread(target=pump, name="stdin-pump", daemon=True).start()
    wfile = os.fdopen(out_fd, "wb", buffering=0)
    try:
        transport, protocol = await loop.connect_write_pipe(
            lambda: asyncio.StreamReaderProtocol(asyncio.StreamReader()), wfile
        )
    except ValueError:
        return reader, _BlockingWriter(wfile)
    return reader, asyncio.StreamWriter(transport, protocol, None, loop)


def serve_stdio(
    make_service: Callable[[], Service],
    start_args: Sequence[str],
    workdir: Path,
    *,
    counter_interval: float = 1.0,
) -> int:
    """Run the server on this process's stdin/stdout (the `start` subcommand); return exit code.

    fd 1 is kept privately for frames, then the log file is put on fd 1 (and /dev/null on fd 0),
    so a stray print or a child process inheriting the descriptors cannot corrupt the stream.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    log_file = setup_logging(workdir)
    sys.stdout.flush()
    frames_out = os.dup(1)  # os.dup: not inherited by children
    frames_in = os.dup(0)
    if log_file is not None:
        stray = os.open(log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    else:
        stray = os.open(os.devnull, os.O_WRONLY)
    os.dup2(stray, 1)
    os.close(stray)
    null_in = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null_in, 0)
    os.close(null_in)

    async def main() -> int:
        reader, writer = await _open_stdio(frames_in, frames_out)
        try:
            service = make_service()
        except Exception as exc:
            log.exception("could not set up the service")
            kind = ErrorKind.CONFIG if isinstance(exc, ConfigError) else ErrorKind.INTERNAL
            service = _FailedService(ServiceError(str(exc) or type(exc).__name__, kind=kind))
        return await serve(
            service,
            reader,
            writer,
            start_args=start_args,
            counter_interval=counter_interval,
            stop_on_sigterm=True,
        )

    try:
        return asyncio.run(main())
    finally:
        logging.shutdown()

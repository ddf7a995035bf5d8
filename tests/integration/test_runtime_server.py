"""The Runtime API server over real pipes, driven like exe-unit drives it.

The runtime process is the real CLI (`run_cli` -> `serve_stdio` -> `serve`) serving the test
EchoService (tests/support/echo_service.py) instead of the Ethereum NodeService. Most tests go
through `RuntimeClient`; the wire-level ones speak raw frames to check ordering and errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from erigolem_runtime.api import DURATION_COUNTER, REQUESTS_COUNTER, ErrorKind
from erigolem_runtime.api.client import RuntimeClient, RuntimeClientError
from erigolem_runtime.protocol import (
    ErrorCode,
    ErrorReply,
    HelloReply,
    HelloRequest,
    KillReply,
    KillRequest,
    Network,
    NetworkRequest,
    ProcessStatus,
    Request,
    Response,
    RunReply,
    RunRequest,
    RuntimeStatus,
    ShutdownReply,
    ShutdownRequest,
    frame_request,
    response_decoder,
)

from tests.support.binaries import REPO

ECHO = [sys.executable, "-m", "tests.support.echo_service"]
ENV = {"PYTHONPATH": str(REPO)}

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


@pytest_asyncio.fixture
async def client(tmp_path: Path) -> AsyncIterator[RuntimeClient]:
    c = RuntimeClient(tmp_path / "work", command=ECHO, env=ENV)
    try:
        yield c
    finally:
        with contextlib.suppress(RuntimeClientError):
            await c.shutdown()


class RawRuntime:
    """The echo runtime spoken to frame by frame (no client logic in between)."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.decoder = response_decoder()
        self.buffered: list[Response] = []
        self.next_id = 2

    @classmethod
    async def spawn(cls, workdir: Path, start: dict[str, Any]) -> RawRuntime:
        workdir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 (test setup)
        proc = await asyncio.create_subprocess_exec(
            *ECHO,
            "--workdir",
            str(workdir),
            "start",
            json.dumps(start),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            cwd=workdir,
            env={**os.environ, **ENV},
            start_new_session=True,
        )
        return cls(proc)

    async def send(self, command: Any, req_id: int | None = None) -> int:
        if req_id is None:
            req_id = self.next_id
            self.next_id += 1
        assert self.proc.stdin is not None
        self.proc.stdin.write(frame_request(Request(req_id, command)))
        await self.proc.stdin.drain()
        return req_id

    async def recv(self, limit: float = 10) -> Response:
        assert self.proc.stdout is not None
        while not self.buffered:
            chunk = await asyncio.wait_for(self.proc.stdout.read(65536), limit)
            assert chunk, "runtime closed its stdout"
            self.buffered += self.decoder.feed(chunk)
        return self.buffered.pop(0)

    async def recv_until(self, pred: Any, limit: float = 10) -> list[Response]:
        """Messages up to and including the first one matching pred (counters skipped)."""
        got: list[Response] = []
        while True:
            msg = await self.recv(limit)
            if isinstance(msg.command, RuntimeStatus):
                continue
            got.append(msg)
            if pred(msg):
                return got

    async def hello(self) -> list[Response]:
        req = await self.send(HelloRequest("0.1.0"))
        return await self.recv_until(lambda m: not m.event and m.id == req)

    async def wait(self, limit: float = 10) -> int:
        return await asyncio.wait_for(self.proc.wait(), limit)

    async def close(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.proc.wait(), 5)


@pytest_asyncio.fixture
async def raw_factory(tmp_path: Path) -> AsyncIterator[Any]:
    spawned: list[RawRuntime] = []

    async def make(start: dict[str, Any] | None = None) -> RawRuntime:
        rt = await RawRuntime.spawn(tmp_path / f"raw{len(spawned)}", start or {})
        spawned.append(rt)
        return rt

    try:
        yield make
    finally:
        for rt in spawned:
            await rt.close()


# ------------------------------------------------------------------------------- wire level


@pytest.mark.asyncio
async def test_start_output_comes_before_the_hello_reply(raw_factory: Any) -> None:
    rt = await raw_factory({"chain": "dev"})
    msgs = await rt.hello()
    assert len(msgs) == 2
    event, reply = msgs
    assert event.event
    assert isinstance(event.command, ProcessStatus)
    assert event.command.pid == 0
    assert event.command.running
    assert json.loads(event.command.stdout)["echo"] == {"chain": "dev"}
    assert not reply.event
    assert reply.id == 2
    assert isinstance(reply.command, HelloReply)
    assert reply.command.version


@pytest.mark.asyncio
async def test_pids_are_fresh_and_each_run_ends_exactly_once(raw_factory: Any) -> None:
    rt = await raw_factory()
    await rt.hello()
    seen: dict[int, list[ProcessStatus]] = {}
    pids = []
    for word in ("one", "two", "three"):
        req = await rt.send(RunRequest(bin="echo", args=("echo", word)))
        msgs = await rt.recv_until(
            lambda m: isinstance(m.command, ProcessStatus) and not m.command.running
        )
        replies = [m for m in msgs if not m.event]
        assert len(replies) == 1
        assert replies[0].id == req
        assert isinstance(replies[0].command, RunReply)
        pid = replies[0].command.pid
        pids.append(pid)
        for m in msgs:
            if isinstance(m.command, ProcessStatus):
                seen.setdefault(m.command.pid, []).append(m.command)
    assert pids == [1, 2, 3]
    for pid, word in zip(pids, ("one", "two", "three"), strict=True):
        events = seen[pid]
        assert [e.running for e in events].count(False) == 1
        assert not events[-1].running
        assert events[-1].return_code == 0
        assert b"".join(e.stdout for e in events) == f"{word}\n".encode()
    await rt.send(ShutdownRequest())
    # no late event for a finished pid before the shutdown reply
    msgs = await rt.recv_until(lambda m: isinstance(m.command, ShutdownReply))
    assert all(not isinstance(m.command, ProcessStatus) for m in msgs)
    assert await rt.wait() == 0


@pytest.mark.asyncio
async def test_kill_unknown_pid_network_and_empty_run_are_errors(raw_factory: Any) -> None:
    rt = await raw_factory()
    await rt.hello()
    req = await rt.send(KillRequest(pid=42, signal=9))
    (msg,) = await rt.recv_until(lambda m: not m.event)
    assert msg.id == req
    assert isinstance(msg.command, ErrorReply)
    assert msg.command.code == ErrorCode.NOT_FOUND
    assert "42" in msg.command.message

    req = await rt.send(NetworkRequest(networks=(Network("10.0.0.0", "", "255.0.0.0", ""),)))
    (msg,) = await rt.recv_until(lambda m: not m.event)
    assert msg.id == req
    assert isinstance(msg.command, ErrorReply)
    assert msg.command.code == ErrorCode.BAD_REQUEST
    assert "not supported" in msg.command.message

    req = await rt.send(RunRequest(bin="", args=()))
    (msg,) = await rt.recv_until(lambda m: not m.event)
    assert isinstance(msg.command, ErrorReply)
    assert msg.command.code == ErrorCode.BAD_REQUEST

    req = await rt.send(None)  # a command this runtime does not know
    (msg,) = await rt.recv_until(lambda m: not m.event)
    assert msg.id == req
    assert isinstance(msg.command, ErrorReply)
    # as ya-runtime-api's server answers a request without (or with an unknown) command
    assert msg.command.code == ErrorCode.INTERNAL
    assert msg.command.message == "unknown command"
    # the server is still healthy
    await rt.send(ShutdownRequest())
    await rt.recv_until(lambda m: isinstance(m.command, ShutdownReply))
    assert await rt.wait() == 0


@pytest.mark.asyncio
async def test_kill_of_a_running_process(raw_factory: Any) -> None:
    rt = await raw_factory()
    await rt.hello()
    await rt.send(RunRequest(bin="sleep", args=("sleep", "30")))
    (reply,) = await rt.recv_until(lambda m: not m.event)
    assert isinstance(reply.command, RunReply)
    pid = reply.command.pid
    t = time.monotonic()
    await rt.send(KillRequest(pid=pid, signal=9))
    msgs = await rt.recv_until(
        lambda m: isinstance(m.command, ProcessStatus) and not m.command.running
    )
    assert any(isinstance(m.command, KillReply) for m in msgs)
    final = msgs[-1].command
    assert isinstance(final, ProcessStatus)
    assert final.pid == pid
    assert final.return_code == 137
    assert time.monotonic() - t < 2


@pytest.mark.asyncio
async def test_stdin_eof_shuts_the_service_down_and_exits_zero(
    raw_factory: Any, tmp_path: Path
) -> None:
    marker = tmp_path / "eof-marker"
    rt = await raw_factory({"marker": str(marker)})
    await rt.hello()
    assert rt.proc.stdin is not None
    rt.proc.stdin.close()
    assert await rt.wait() == 0
    assert marker.read_text() == "shut down\n"


@pytest.mark.parametrize(
    "garbage",
    [
        b"\x05\x0f\x00\x00\x00\x00",  # invalid wire type inside a frame
        b"\xff\xff\xff\xff\x0f",  # absurd frame length
        b"Hello, I am not a frame at all, just some text that someone printed\n" * 3,
    ],
)
@pytest.mark.asyncio
async def test_garbage_frame_exits_non_zero_after_clean_shutdown(
    raw_factory: Any, tmp_path: Path, garbage: bytes
) -> None:
    marker = tmp_path / "garbage-marker"
    rt = await raw_factory({"marker": str(marker)})
    await rt.hello()
    assert rt.proc.stdin is not None
    rt.proc.stdin.write(garbage)
    await rt.proc.stdin.drain()
    assert await rt.wait() == 3
    assert marker.read_text() == "shut down\n"


@pytest.mark.asyncio
async def test_truncated_frame_at_eof_exits_non_zero(raw_factory: Any) -> None:
    rt = await raw_factory()
    await rt.hello()
    assert rt.proc.stdin is not None
    rt.proc.stdin.write(frame_request(Request(9, HelloRequest("0.1.0")))[:5])
    rt.proc.stdin.close()
    assert await rt.wait() == 3


@pytest.mark.asyncio
async def test_start_failure_is_a_hello_error_and_a_non_zero_exit(raw_factory: Any) -> None:
    rt = await raw_factory({"fail": "unknown chain 'moon': use one of dev, sepolia"})
    msgs = await rt.hello()
    reply = msgs[-1]
    assert isinstance(reply.command, ErrorReply)
    assert "unknown chain 'moon'" in reply.command.message
    assert await rt.wait() == 1


@pytest.mark.asyncio
async def test_start_failure_carries_its_kind_in_the_error_context(raw_factory: Any) -> None:
    rt = await raw_factory(
        {
            "fail": "no anvil here",
            "fail_kind": "missing_binary",
            "fail_context": {"client": "anvil"},
        }
    )
    reply = (await rt.hello())[-1]
    assert isinstance(reply.command, ErrorReply)
    assert reply.command.message == "no anvil here"
    assert reply.command.context == {"kind": "missing_binary", "client": "anvil"}
    assert await rt.wait() == 1


# ------------------------------------------------------------------------- through the client


@pytest.mark.asyncio
async def test_client_start_run_and_shutdown(client: RuntimeClient, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    out = await client.start({"chain": "dev", "marker": str(marker)}, timeout=20)
    assert out["echo"]["chain"] == "dev"
    assert client.running
    assert client.pid is not None
    res = await client.run("echo", "a", "b")
    assert (res.return_code, res.stdout, res.stderr) == (0, b"a b\n", b"")
    # args[0] is the basename of the entry point, like exe-unit sends it
    assert (await client.run_json("/opt/bin/argv", "x"))["argv"] == ["argv", "x"]
    failed = await client.run("fail", "3")
    assert failed.return_code == 3
    assert b"failing on request" in failed.stderr
    with pytest.raises(RuntimeClientError, match="exit code 3"):
        await client.run_json("fail", "3")
    with pytest.raises(RuntimeClientError, match="not JSON"):
        await client.run_json("echo", "plain")
    oops = await client.run("raise")
    assert oops.return_code == 1
    assert b"internal error" in oops.stderr
    t = time.monotonic()
    await client.shutdown()
    assert time.monotonic() - t < 2
    assert client.returncode == 0
    assert not client.running
    assert marker.read_text() == "shut down\n"
    with pytest.raises(RuntimeClientError, match="was shut down"):
        await client.run("echo")


@pytest.mark.asyncio
async def test_stray_output_of_prints_and_children_never_corrupts_frames(
    client: RuntimeClient,
) -> None:
    await client.start({})  # the echo service print()s during start
    for cmd in ("print", "child", "print"):
        res = await client.run(cmd)
        assert res.return_code == 0
    assert (await client.run("echo", "still", "fine")).stdout == b"still fine\n"
    log = (client.workdir / "logs" / "erigolem-runtime.log").read_text()
    assert "child garbage" in log
    assert "hello from print()" in log


@pytest.mark.asyncio
async def test_big_output_arrives_whole(client: RuntimeClient) -> None:
    await client.start({})
    n = 3 * 1024 * 1024 + 17
    res = await client.run("big", str(n))
    assert len(res.stdout) == n
    assert res.return_code == 0


@pytest.mark.asyncio
async def test_counters_are_reported_every_second(client: RuntimeClient) -> None:
    await client.start({})
    await client.run("count", "5")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and client.counters.get(REQUESTS_COUNTER) != 5.0:  # noqa: ASYNC110
        await asyncio.sleep(0.1)
    assert client.counters[REQUESTS_COUNTER] == 5.0
    first = client.counters[DURATION_COUNTER]
    await asyncio.sleep(1.3)
    assert client.counters[DURATION_COUNTER] > first


@pytest.mark.asyncio
async def test_run_timeout_does_not_confuse_the_next_run(client: RuntimeClient) -> None:
    await client.start({})
    with pytest.raises(RuntimeClientError, match=r"did not finish within 0\.5 s"):
        await client.run("sleep", "3", timeout=0.5)
    res = await client.run("echo", "next")
    assert res.stdout == b"next\n"


@pytest.mark.asyncio
async def test_start_failure_through_the_client(client: RuntimeClient) -> None:
    with pytest.raises(RuntimeClientError, match="start failed: no such chain") as info:
        await client.start({"fail": "no such chain"})
    assert "runtime logs" in str(info.value)
    assert client.returncode == 1
    assert not client.running


@pytest.mark.asyncio
async def test_error_kinds_survive_the_wire_through_the_client(tmp_path: Path) -> None:
    failing = RuntimeClient(tmp_path / "a", command=ECHO, env=ENV)
    with pytest.raises(RuntimeClientError) as info:
        await failing.start({"fail": "chain moon is not offered", "fail_kind": "chain_not_offered"})
    assert info.value.kind is ErrorKind.CHAIN_NOT_OFFERED
    assert info.value.error is not None
    assert info.value.error.message == "chain moon is not offered"
    plain = RuntimeClient(tmp_path / "b", command=ECHO, env=ENV)
    with pytest.raises(RuntimeClientError) as info:
        await plain.start({"fail": "no such chain"})
    assert info.value.kind is ErrorKind.FAILED  # no kind given: the default
    async with RuntimeClient(tmp_path / "c", command=ECHO, env=ENV) as client:
        await client.start({"chain": "dev"}, timeout=20)
        with pytest.raises(RuntimeClientError, match="refused on request") as info:
            await client.run_json("refuse", "nginx")
        assert info.value.kind is ErrorKind.NGINX
        assert info.value.error is not None
        assert info.value.error.context == {"arg": "1"}
        assert "erigolem-error" not in str(info.value).split("\n")[0]


@pytest.mark.asyncio
async def test_runtime_death_completes_the_pending_run_with_its_exit_code(
    client: RuntimeClient,
) -> None:
    await client.start({})
    task = asyncio.create_task(client.run("sleep", "20"))
    await asyncio.sleep(0.5)
    assert client.pid is not None
    os.kill(client.pid, signal.SIGKILL)
    with pytest.raises(RuntimeClientError, match="exited with code -9"):
        await asyncio.wait_for(task, 10)
    assert not client.running
    with pytest.raises(RuntimeClientError, match="exited with code -9"):
        await client.run("echo")


@pytest.mark.asyncio
async def test_shutdown_is_bounded_when_the_service_hangs(
    client: RuntimeClient, tmp_path: Path
) -> None:
    marker = tmp_path / "slow-marker"
    await client.start({"shutdown_delay": 30, "marker": str(marker)})
    t = time.monotonic()
    await client.shutdown(timeout=8)
    elapsed = time.monotonic() - t
    assert 4.0 < elapsed < 5.5  # the server gives up on the service after 4.5 s and replies
    assert not marker.exists()
    assert not client.running


@pytest.mark.asyncio
async def test_logs_never_contain_the_password(client: RuntimeClient) -> None:
    out = await client.start({"chain": "dev"})
    assert out["auth"]["password"] == "p-secret"
    await client.run("echo", "x")
    await client.shutdown()
    text = "".join(p.read_text() for p in (client.workdir / "logs").iterdir())
    assert "runtime API server up" in text
    assert "p-secret" not in text


@pytest.mark.asyncio
async def test_missing_runtime_binary_is_a_clear_error(tmp_path: Path) -> None:
    c = RuntimeClient(tmp_path / "w", command=[str(tmp_path / "no-such-runtime")])
    with pytest.raises(RuntimeClientError, match="cannot start the runtime"):
        await c.start({})
    with pytest.raises(RuntimeClientError, match="deploy"):
        await c.deploy()

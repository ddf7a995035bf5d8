"""`erigolem node …`: start, list, inspect and stop nodes from a terminal or a script.

A local node lives as long as the process that started it. `erigolem node start --local` thus
stays in the foreground and serves the node until Ctrl+C (or SIGTERM/SIGHUP), then stops it
cleanly; `--detach` hands the node to a background process instead and returns once it is
ready. Other commands (`list`, `status`, `stop`, `logs`, `rotate`, `credentials`) work from any
terminal: `stop` and `rotate` ask the owning `node start` process (by signal) to do it. A node
run by `erigolem serve` or the desktop window is never signalled (that would end every node of
that process): the command refuses and says where to stop it instead.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from typing import Any, NoReturn

from erigolem_desktop.cli import common
from erigolem_desktop.core.backends.base import NodeSpec
from erigolem_desktop.core.manager import (
    OWNER_APP,
    OWNER_NODE_START,
    OWNER_SERVE,
    EventKind,
    NodeManager,
    owner_alive,
    owner_unproven,
)
from erigolem_desktop.core.records import NodeRecord
from erigolem_desktop.core.states import NodeState
from erigolem_desktop.core.text import terminal_safe

START_HELP = """\
Start a node and print its URL, user and password once it answers.

Local nodes (--local, the default) run erigolem-runtime on this computer: the dev chain
(anvil) with --chain dev, Erigon for other chains when it is installed. The node lives as long
as this command: it keeps running in the foreground and serves the node until you press Ctrl+C
(or it gets SIGTERM/SIGHUP); then it stops the node cleanly and exits. To get your terminal
back, add --detach: the node is handed to a background process and the command returns once
the node is ready; stop it later with `erigolem node stop ID`.

Golem nodes (--golem) are rented from a provider through your yagna daemon.

Exit codes: 0 ok (stopped by you), 1 the node failed (the reason is printed),
2 bad arguments, 4 no usable keyring, 130 interrupted before the node was ready.
"""

_START_WAIT = 600.0  # seconds --detach waits for the background process to report
_STOP_WAIT = 30.0


# --------------------------------------------------------------------------- plumbing


def _origin(value: str) -> str:
    """argparse type of --allow-origin: one origin the runtime will accept, else a usage error."""
    from erigolem_runtime.host import validate_origins

    try:
        return validate_origins([value])[0] if value != "*" else value
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _run(coro: Coroutine[Any, Any, int]) -> int:
    return asyncio.run(coro)


def open_manager(
    *, golem: bool = False, poll_interval: float = 5.0, owner_kind: str | None = None
) -> NodeManager:
    """The manager of this data directory with the Local backend (and Golem when asked)."""
    from erigolem_desktop.core.app_context import open_manager as build

    return build(golem=golem, poll_interval=poll_interval, owner_kind=owner_kind)


def _credentials(mgr: NodeManager, rec: NodeRecord) -> dict[str, Any]:
    """URL, WebSocket URL (when the runtime reports one), user and password of `rec`."""
    return {
        "url": rec.url,
        "ws_url": rec.ws_url,
        "user": rec.user,
        "password": mgr.password(rec.id),
    }


def _creds_text(creds: dict[str, Any]) -> str:
    """The credential lines every verb prints (WebSocket only when known)."""
    ws = f"WS URL:   {creds['ws_url']}\n" if creds.get("ws_url") else ""
    return (
        f"URL:      {creds['url']}\n{ws}User:     {creds['user']}\nPassword: {creds['password']}\n"
    )


def _age(when: dt.datetime | None) -> str:
    if when is None:
        return "-"
    secs = int((dt.datetime.now(dt.UTC) - when).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= size:
            return f"{secs // size}{unit}"
    return f"{max(secs, 0)}s"


def _sync_text(rec: NodeRecord) -> str:
    status = rec.last_status
    if status is None:
        return "-"
    sync = status.sync
    if sync is not None and sync.highest_block:
        pct = float(sync.progress or 0) * 100
        return f"{sync.current_block}/{sync.highest_block} ({pct:.1f}%)"
    return f"block {status.block}" if status.block is not None else "-"


def _details(mgr: NodeManager, rec: NodeRecord, *, with_password: bool = False) -> str:
    lines = [
        f"Node:     {rec.id} ({rec.name})",
        f"State:    {rec.state.value}" + (f" - {rec.reason}" if rec.reason else ""),
        f"Backend:  {rec.backend}" + (f" ({rec.provider})" if rec.provider else ""),
        f"Chain:    {rec.chain} ({rec.client})",
        f"Mode:     {rec.mode}"
        + (" (an own rpcdaemon on the provider's synced Erigon)" if rec.warm else ""),
    ]
    if rec.url and rec.active:
        lines.append(f"URL:      {rec.url}")
        if rec.ws_url:
            lines.append(f"WS URL:   {rec.ws_url}")
    elif rec.url:
        lines.append(f"URL:      {rec.url} (no longer served)")
    if rec.user:
        lines.append(f"User:     {rec.user}")
    if with_password:
        lines.append(f"Password: {mgr.password(rec.id) or '(not stored)'}")
    if rec.active:
        lines.append(f"Sync:     {_sync_text(rec)}")
    requests = rec.last_status.requests if rec.last_status is not None else None
    if requests is not None:
        lines.append(f"Requests: {requests:,} served")
    if rec.cost is not None:
        lines.append(f"Cost:     {rec.cost} GLM")
    lines.append(f"Created:  {rec.created_at.isoformat(timespec='seconds')}")
    if rec.ready_at:
        lines.append(f"Ready:    {rec.ready_at.isoformat(timespec='seconds')}")
    if rec.stopped_at:
        lines.append(f"Stopped:  {rec.stopped_at.isoformat(timespec='seconds')}")
    return "\n".join(lines)


def _ready_text(mgr: NodeManager, rec: NodeRecord) -> str:
    """The node's state line, then its URL, user and password."""
    creds = _credentials(mgr, rec)
    state = "is ready" if rec.state is NodeState.READY else f"is {rec.state.value}"
    return f"Node {rec.id} ({rec.chain}, {rec.client}) {state}.\n" + _creds_text(creds)


# ------------------------------------------------------------------------------ start


def _cmd_start(args: argparse.Namespace) -> int:
    from erigolem_desktop.core.backends.base import warm_refusal
    from erigolem_desktop.core.chains import resolve_client

    try:  # refuse a typo before a node record exists
        args.client = resolve_client(args.chain, args.client)
    except ValueError as exc:
        raise common.UsageError(str(exc), "see `erigolem node start --help`") from None
    refusal = warm_refusal("golem" if args.golem else "local", args.client) if args.warm else None
    if refusal is not None:
        raise common.UsageError(
            f"--warm: {refusal}",
            "drop --warm, or use e.g. `erigolem node start --golem --chain mainnet --warm`",
        )
    if args.detach and not args.detached_child:
        return _start_detached(args)
    return _run(_serve(args))


async def _serve(args: argparse.Namespace) -> int:
    backend = "golem" if args.golem else "local"
    mgr = open_manager(  # OWNER_NODE_START: `node stop`/`node rotate` may signal this process
        golem=args.golem, poll_interval=args.poll_interval, owner_kind=OWNER_NODE_START
    )
    json_mode = common.json_mode(args)
    loop = asyncio.get_running_loop()
    stop_requested = asyncio.Event()
    rotate_tasks: set[asyncio.Task[Any]] = set()

    def on_rotate() -> None:
        for rec in mgr.list(active_only=True):
            if mgr.holds(rec.id):
                task = loop.create_task(_rotate_quietly(mgr, rec.id))
                rotate_tasks.add(task)
                task.add_done_callback(rotate_tasks.discard)

    handlers = dict.fromkeys(common.STOP_SIGNALS, stop_requested.set)
    with common.signal_handlers({**handlers, "SIGUSR1": on_rotate}):
        queue = mgr.subscribe()
        code = common.EXIT_OK
        try:
            await mgr.recover()
            chain = args.chain
            spec = NodeSpec(
                chain=chain,
                client=args.client,
                name=args.name or "",
                allow_origins=tuple(o for o in args.allow_origin or () if o != "*"),
                warm=args.warm,
            )
            rec = await mgr.start(spec, backend=backend, owner=args.owner)
            if not args.wait:
                common.emit(args, {"node": rec.to_json()}, text=f"Node {rec.id} is starting.")
            elif not json_mode:
                common.note(f"Starting node {rec.id} ({spec.chain}, {spec.client})…")
            announced = False
            while True:
                if not announced and rec.state in (NodeState.READY, NodeState.SYNCING):
                    announced = True
                    if args.wait:
                        payload = {"node": rec.to_json(), "credentials": _credentials(mgr, rec)}
                        common.emit(args, payload, text=_ready_text(mgr, rec))
                    elif not json_mode:  # --no-wait in the foreground: the id came first
                        sys.stdout.write(_ready_text(mgr, rec))
                        sys.stdout.flush()
                    if args.detached_child:
                        _detach_stdout()
                    elif not json_mode:
                        common.note("Serving the node. Press Ctrl+C to stop it.")
                if rec.state is NodeState.FAILED:
                    common.print_error(
                        args, f"Node {rec.id} failed: {rec.reason or 'no reason given'}"
                    )
                    code = common.EXIT_ERROR
                    break
                if rec.state is NodeState.STOPPED:
                    break
                getter = asyncio.ensure_future(queue.get())
                stopper = asyncio.ensure_future(stop_requested.wait())
                done, _ = await asyncio.wait({getter, stopper}, return_when=asyncio.FIRST_COMPLETED)
                for fut in (getter, stopper):
                    if fut not in done:
                        fut.cancel()
                if stopper in done:
                    if not announced:
                        code = common.EXIT_INTERRUPTED
                    if not json_mode and not args.detached_child:
                        common.note(f"Stopping node {rec.id}…")
                    await mgr.stop(rec.id)
                    rec = mgr.resolve(rec.id)
                    break
                event = getter.result()
                if event.node_id != rec.id:
                    continue
                rec = event.record
                if event.kind is EventKind.PROGRESS and not json_mode and not announced:
                    common.note(f"  {rec.progress}")
                elif event.kind is EventKind.STATE and announced and not json_mode:
                    common.note(
                        f"Node {rec.id} is {rec.state.value}"
                        + (f": {rec.reason}" if rec.reason else "")
                    )
            if not json_mode and rec.state is NodeState.STOPPED and not args.detached_child:
                common.note(f"Node {rec.id} stopped.")
        finally:
            mgr.unsubscribe(queue)
            await mgr.close()
    return code


async def _rotate_quietly(mgr: NodeManager, node_id: str) -> None:
    try:
        await mgr.rotate(node_id)
    except Exception as exc:  # reported to whoever asked through the record
        common.note(f"Rotating the credentials of node {node_id} failed: {exc}")


def _detach_stdout() -> None:
    """In the background process: the parent has read our one line; never write to it again."""
    sys.stdout.flush()
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)


def _owner_environment(golem: bool) -> dict[str, str]:
    """The detached owner's environment: the app's settings and keyring access, no passphrase.

    Only an owner that rents on Golem gets yagna's app key.
    """
    from erigolem_runtime.api.process import (
        MARKER_ENV,
        PYTHON_PREFIXES,
        child_environment,
        new_marker,
    )

    return child_environment(
        keep=(
            *(("YAGNA_APPKEY",) if golem else ()),
            *("DBUS_SESSION_BUS_ADDRESS", "DISPLAY", "WAYLAND_DISPLAY"),
        ),
        keep_prefixes=(*PYTHON_PREFIXES, "ERIGOLEM_", "YAGNA_", "KEYRING_", "SSL_CERT_"),
        extra={MARKER_ENV: new_marker()},
    )


def _start_detached(args: argparse.Namespace) -> int:
    """Run `node start` in a new session, wait for its one JSON line, report it, return."""
    from erigolem_desktop.core.paths import data_dir
    from erigolem_desktop.frozen import app_command

    logs = data_dir() / "logs"
    logs.mkdir(parents=True, exist_ok=True, mode=0o700)
    log_path = logs / f"node-start-{int(time.time())}-{os.getpid()}.log"
    argv = [*app_command(), "node", "start", "--json", "--detached-child"]
    argv += ["--golem"] if args.golem else ["--local"]
    argv += ["--chain", args.chain]
    for flag, value in (("--client", args.client), ("--name", args.name), ("--owner", args.owner)):
        if value:
            argv += [flag, value]
    for origin in args.allow_origin or ():
        argv += ["--allow-origin", origin]
    argv += ["--warm"] if args.warm else []
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=fd,
            start_new_session=True,
            close_fds=True,
            env=_owner_environment(bool(args.golem)),
        )
    finally:
        os.close(fd)
    assert proc.stdout is not None
    line = _read_line(proc, _START_WAIT)
    proc.stdout.close()
    if not line:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(1)
        lines = log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
        if proc.poll() is None:
            proc.kill()
        failure = _child_error(lines)
        if failure is not None:  # the child failed and said why (`--json` error on stderr)
            _raise_child_error(failure, log_path)
        detail = " ".join(lines[-5:]) or "no output"
        raise common.CliError(
            f"The background node process did not report a ready node ({detail}).",
            f"See {log_path}.",
        )
    import json

    data = json.loads(line)
    if not isinstance(data, dict) or "credentials" not in data or "node" not in data:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)
        if proc.poll() is None:
            proc.kill()
        _raise_child_error(data, log_path)
    mgr_text = (
        f"Node {data['node']['id']} ({data['node']['chain']}, {data['node']['client']}) is "
        f"{data['node']['state']} (background process {proc.pid}).\n"
        + _creds_text(data["credentials"])
        + f"Stop it with: erigolem node stop {data['node']['id']}"
    )
    data["pid"] = proc.pid
    data["log"] = str(log_path)
    common.emit(args, data, text=mgr_text)
    return common.EXIT_OK


def _child_error(lines: list[str]) -> dict[str, Any] | None:
    """The last `{"error": …}` line the background process wrote to its log, if any."""
    import json

    for text in reversed(lines[-20:]):
        if not text.startswith("{"):
            continue
        try:
            data = json.loads(text)
        except ValueError:
            continue
        if isinstance(data, dict) and isinstance(data.get("error"), str):
            return data
    return None


def _raise_child_error(data: Any, log_path: Any) -> NoReturn:
    """Report the background process's JSON error (`common.print_error`) as our own error."""
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, str) or not error:
        raise common.CliError(
            f"The background node process reported no ready node ({str(data)[:300]}).",
            f"See {log_path}.",
        )
    hint = data.get("hint")
    code = data.get("exit_code")
    raise common.CliError(
        error,
        hint if isinstance(hint, str) and hint else f"See {log_path}.",
        exit_code=code if isinstance(code, int) and code > 0 else common.EXIT_ERROR,
    )


def _is_json(data: bytes) -> bool:
    import json

    try:
        json.loads(data)
    except ValueError:
        return False
    return True


def _read_line(proc: subprocess.Popen[bytes], timeout: float) -> str:
    """The first line the child writes (empty if it exits or times out first)."""
    import selectors

    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    buf = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if not sel.select(max(0.0, deadline - time.monotonic())):
                break
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                break
            buf += chunk
            if buf.endswith(b"\n") and _is_json(buf):
                break  # the child prints one JSON object, then nothing more
    finally:
        sel.close()
    return buf.decode("utf-8", "replace").strip()


# ------------------------------------------------------------------------ other verbs


def _with_manager(
    func: Callable[[NodeManager, argparse.Namespace], Coroutine[Any, Any, int]],
) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        async def main() -> int:
            mgr = open_manager()
            try:
                await mgr.recover()
                return await func(mgr, args)
            finally:
                await mgr.close()

        return _run(main())

    return run


async def _list(mgr: NodeManager, args: argparse.Namespace) -> int:
    records = mgr.list(active_only=not args.all)
    if common.json_mode(args):
        common.emit(args, [r.to_json() for r in records])
        return common.EXIT_OK
    from erigolem_desktop.core.gateway.nodes import gateway_summary, running_gateway

    gateway = running_gateway()
    tail = f"\n{gateway_summary(gateway)}" if gateway is not None else ""
    if not records:
        common.emit(
            args,
            None,
            text=("No nodes." if args.all else "No running nodes (add --all to see stopped ones).")
            + tail,
        )
        return common.EXIT_OK
    header = ("ID", "NAME", "BACKEND", "CHAIN", "STATE", "SYNC", "AGE", "URL / REASON")
    rows = [
        (
            r.id,
            terminal_safe(r.name)[:24],  # sanitized before measuring the column
            r.backend,
            f"{r.chain}/{r.client}" + (" warm" if r.warm else ""),
            r.state.value,
            _sync_text(r) if r.active else "-",
            _age(r.created_at),
            (r.url or "-") if r.active else (r.reason or "-"),
        )
        for r in records
    ]
    widths = [max(len(str(row[i])) for row in (header, *rows)) for i in range(len(header) - 1)]
    lines = []
    for row in (header, *rows):
        cells = [str(c).ljust(w) for c, w in zip(row[:-1], widths, strict=True)]
        lines.append("  ".join([*cells, str(row[-1])]))
    common.emit(args, None, text="\n".join(lines) + tail)
    return common.EXIT_OK


async def _status(mgr: NodeManager, args: argparse.Namespace) -> int:
    rec = mgr.resolve(args.node)
    endpoint: dict[str, Any] | None = None
    if rec.active and rec.url and rec.user and not args.no_check:
        endpoint = await _check_endpoint(mgr, rec)
    if common.json_mode(args):
        out = rec.to_json()
        out["endpoint"] = endpoint
        common.emit(args, out)
        return common.EXIT_OK
    text = _details(mgr, rec)
    if endpoint is not None:
        if endpoint.get("ok"):
            text += f"\nEndpoint: answering (block {endpoint['block']}, {endpoint['elapsed_ms']:.1f} ms)"
        else:
            text += f"\nEndpoint: {endpoint['error']}"
    common.emit(args, None, text=text)
    return common.EXIT_OK


async def _check_endpoint(mgr: NodeManager, rec: NodeRecord) -> dict[str, Any]:
    from erigolem_desktop.core.rpc import JsonRpcClient, RpcError

    assert rec.url is not None
    try:
        async with JsonRpcClient(rec.url, rec.user, mgr.password(rec.id), timeout=5) as rpc:
            res = await rpc.call("eth_blockNumber")
    except RpcError as exc:
        return {"ok": False, "error": str(exc)}
    if res.error is not None:
        return {"ok": False, "error": f"eth_blockNumber failed: {res.error.get('message')}"}
    block = int(res.result, 16) if isinstance(res.result, str) else res.result
    return {"ok": True, "block": block, "elapsed_ms": round(res.elapsed_ms, 3)}


async def _wait_record(
    mgr: NodeManager, node_id: str, done: Callable[[NodeRecord], bool], within_s: float
) -> NodeRecord:
    """Poll the database until `done(record)` (another process is making the change)."""
    deadline = time.monotonic() + within_s
    rec = mgr.resolve(node_id)
    while not done(rec) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        rec = mgr.resolve(node_id)
    return rec


def _signal_target(rec: NodeRecord, verb: str) -> int | None:
    """The pid of the live `node start` process that runs `rec`, to signal; None if none runs it.

    Raises CliError when another kind of process runs it (`serve`, the desktop window) or one
    whose kind is not recorded (older records): signalling it would stop all of its nodes.
    """
    pid = rec.runtime.get("owner_pid")
    if not isinstance(pid, int) or pid == os.getpid() or not owner_alive(rec.runtime):
        return None
    kind = rec.runtime.get("owner_kind")
    if kind == OWNER_NODE_START:
        why = owner_unproven(rec.runtime)
        if why is not None:
            raise common.CliError(
                f"Could not prove that process {pid} is the `erigolem node start` that runs node "
                f"{rec.id} ({why}); nothing was signalled.",
                "Stop the node where it was started (Ctrl+C in its terminal); if that process is "
                "gone, `erigolem node list` settles the record.",
            )
        return pid
    if kind == OWNER_SERVE:
        way = (
            f"stop it through the server's API as the wallet that created it "
            f"(POST /stopInstance/{rec.id}), or stop the server (it stops all its nodes)"
            if verb == "stop"
            else f"the REST API cannot rotate credentials: stop the node (POST "
            f"/stopInstance/{rec.id}) and create a new one"
        )
        raise common.CliError(f"Node {rec.id} is run by `erigolem serve` (pid {pid}).", way)
    if kind == OWNER_APP:
        button = "Stop" if verb == "stop" else "Rotate credentials"
        raise common.CliError(
            f"Node {rec.id} is run by the Erigolem Desktop window (pid {pid}).",
            f"Select it there and use its {button} button.",
        )
    raise common.CliError(
        f"Node {rec.id} is run by another process (pid {pid}) that may run other nodes too, "
        f"so it is not asked to {verb} it by signal.",
        "Do it where the node was started: the Erigolem Desktop window, `erigolem serve`'s API "
        f"(POST /stopInstance/{rec.id}) or the `erigolem node start` terminal (Ctrl+C).",
    )


async def _stop(mgr: NodeManager, args: argparse.Namespace) -> int:
    rec = mgr.resolve(args.node)
    if not rec.active:
        common.emit(args, rec.to_json(), text=f"Node {rec.id} is already {rec.state.value}.")
        return common.EXIT_OK
    pid = _signal_target(rec, "stop")
    if pid is not None:
        os.kill(pid, signal.SIGTERM)  # the owner stops the node cleanly and records it
        rec = await _wait_record(mgr, rec.id, lambda r: not r.active, _STOP_WAIT)
        if rec.active:
            raise common.CliError(
                f"Node {rec.id} is still {rec.state.value} {int(_STOP_WAIT)} s after asking its "
                f"process ({pid}) to stop it.",
                f"Check that process; as a last resort kill it (kill {pid}) and run this again.",
            )
    else:
        rec = await mgr.stop(rec.id)
    if rec.state is NodeState.FAILED:
        common.print_error(args, f"Node {rec.id}: {rec.reason}")
        return common.EXIT_ERROR
    common.emit(args, rec.to_json(), text=f"Node {rec.id} stopped.")
    return common.EXIT_OK


async def _logs(mgr: NodeManager, args: argparse.Namespace) -> int:
    if args.lines <= 0:
        raise common.UsageError("The number of lines must be positive.", "e.g. node logs ID 50")
    rec = mgr.resolve(args.node)
    text = await mgr.logs(rec.id, args.lines)
    if common.json_mode(args):
        common.emit(args, {"id": rec.id, "lines": text.splitlines()})
    else:
        sys.stdout.write(text if text.endswith("\n") or not text else text + "\n")
        if not text:
            common.note(f"Node {rec.id} has no log lines (yet).")
    return common.EXIT_OK


async def _rotate(mgr: NodeManager, args: argparse.Namespace) -> int:
    rec = mgr.resolve(args.node)
    if not rec.active:
        raise common.CliError(f"Node {rec.id} is {rec.state.value}.", "Start a new node.")
    if mgr.holds(rec.id):  # pragma: no cover - a CLI process never holds another's node
        rec = await mgr.rotate(rec.id)
    else:
        pid = _signal_target(rec, "rotate")
        if not hasattr(signal, "SIGUSR1") or pid is None:
            raise common.CliError(
                f"No running process holds node {rec.id}, so its credentials cannot be rotated.",
                "Run `erigolem node list` (it settles nodes whose process is gone).",
            )
        old = mgr.password(rec.id)
        os.kill(pid, signal.SIGUSR1)  # the owner rotates and stores the new password
        deadline = time.monotonic() + 20
        while mgr.password(rec.id) == old and time.monotonic() < deadline:  # noqa: ASYNC110 - another process changes it
            await asyncio.sleep(0.1)
        if mgr.password(rec.id) == old:
            raise common.CliError(
                f"Node {rec.id}'s process ({pid}) did not rotate the credentials within 20 s.",
                "See that terminal's messages.",
            )
        rec = mgr.resolve(rec.id)
    payload = {"node": rec.to_json(), "credentials": _credentials(mgr, rec)}
    common.emit(
        args,
        payload,
        text="New credentials (the old password no longer works):\n" + _ready_text(mgr, rec),
    )
    return common.EXIT_OK


async def _creds(mgr: NodeManager, args: argparse.Namespace) -> int:
    rec = mgr.resolve(args.node)
    if not rec.active or not rec.url:
        raise common.CliError(
            f"Node {rec.id} is {rec.state.value} and has no usable credentials.",
            "Start a node, then ask again.",
        )
    creds = _credentials(mgr, rec)
    common.emit(
        args,
        creds,
        text=_creds_text(creds).rstrip("\n"),
    )
    return common.EXIT_OK


# ----------------------------------------------------------------------------- parser


def register(subparsers: Any) -> None:
    """Add `node` and its verbs to the `erigolem` parser."""
    node = subparsers.add_parser(
        "node", help="start, list, inspect and stop nodes", description=__doc__
    )
    verbs = node.add_subparsers(dest="node_command", metavar="ACTION", required=True)

    p = verbs.add_parser(
        "start",
        help="start a node (local: serves it until Ctrl+C)",
        description=START_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    where = p.add_mutually_exclusive_group()
    where.add_argument("--local", action="store_true", help="run it on this computer (default)")
    where.add_argument("--golem", action="store_true", help="rent it on the Golem network")
    p.add_argument(
        "--chain",
        default="dev",
        help="dev (anvil), mainnet, sepolia, hoodi… (default: dev)",
    )
    p.add_argument("--client", help="anvil or erigon (default: anvil for dev, else erigon)")
    p.add_argument("--name", help="a name to tell your nodes apart")
    p.add_argument("--owner", help=argparse.SUPPRESS)  # wallet address, for the REST server
    p.add_argument(
        "--warm",
        action="store_true",
        help="Golem, Erigon chains: rent an own rpcdaemon on a provider's already synced Erigon "
        "(at chain head in minutes; chain data shared with its other renters, read-only)",
    )
    p.add_argument(
        "--allow-origin",
        action="append",
        type=_origin,
        metavar="ORIGIN",
        help="a browser origin (https://host[:port]) allowed to call the node (repeatable; "
        "default: any origin, since every call still needs the node's password)",
    )
    p.add_argument(
        "--wait",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="print the credentials once the node answers (default); --no-wait prints the id at once",
    )
    p.add_argument(
        "--detach",
        action="store_true",
        help="serve the node from a background process and return once it is ready",
    )
    p.add_argument("--poll-interval", type=float, default=5.0, help=argparse.SUPPRESS)
    p.add_argument("--detached-child", action="store_true", help=argparse.SUPPRESS)
    common.add_json_option(p)
    p.set_defaults(func=common.handle_errors(_cmd_start))

    p = verbs.add_parser("list", help="list running nodes (--all: also stopped ones)")
    p.add_argument("--all", action="store_true", help="include stopped and failed nodes")
    _manager_verb(p, _list)

    p = verbs.add_parser("status", help="a node's details and whether its endpoint answers")
    p.add_argument("node", metavar="ID", help=common.NODE_ID_HELP)
    p.add_argument("--no-check", action="store_true", help="do not call the endpoint")
    _manager_verb(p, _status)

    p = verbs.add_parser("stop", help="stop a node (asks the process that runs it)")
    p.add_argument("node", metavar="ID", help=common.NODE_ID_HELP)
    _manager_verb(p, _stop)

    p = verbs.add_parser("logs", help="the last lines of the node client's log")
    p.add_argument("node", metavar="ID", help=common.NODE_ID_HELP)
    p.add_argument("lines", metavar="N", type=int, nargs="?", default=100, help="default 100")
    _manager_verb(p, _logs)

    p = verbs.add_parser("rotate", help="new password for a node; the old one stops working")
    p.add_argument("node", metavar="ID", help=common.NODE_ID_HELP)
    _manager_verb(p, _rotate)

    p = verbs.add_parser("credentials", help="print a node's URL, user and password")
    p.add_argument("node", metavar="ID", help=common.NODE_ID_HELP)
    _manager_verb(p, _creds)


def _manager_verb(
    parser: argparse.ArgumentParser,
    func: Callable[[NodeManager, argparse.Namespace], Coroutine[Any, Any, int]],
) -> None:
    """Finish a verb that works through the manager: `--json`, then run `func` with errors handled."""
    common.add_json_option(parser)
    parser.set_defaults(func=common.handle_errors(_with_manager(func)))

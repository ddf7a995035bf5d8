"""`erigolem node …` and `erigolem rpc …` end to end, as separate processes, on the real runtime,
nginx and anvil (keyring: the app's own non-prompting choice in a fresh ERIGOLEM_HOME)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from erigolem_runtime.api.process import process_token
from eth_account import Account
from eth_account.messages import encode_defunct

from erigolem_desktop.core.manager import RECOVERED_REASON
from erigolem_desktop.core.records import NodeStore
from tests.support.serve_process import reap, serve_process

pytestmark = pytest.mark.integration

CLI = [sys.executable, "-m", "erigolem_desktop"]
FAST_POLL = ["--json", "--poll-interval", "0.5"]  # status (and the usage count) every ~0.5 s


def erigolem(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def ok_json(*args: str) -> Any:
    proc = erigolem(*args, "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _read_json(stream: Any, deadline: float) -> dict[str, Any]:
    buf = ""
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        buf += line
        try:
            data = json.loads(buf)
        except ValueError:
            continue
        assert isinstance(data, dict)
        return data
    raise AssertionError(f"no JSON object from node start: {buf!r}")


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _alive(pids: list[int]) -> list[int]:
    return [p for p in pids if process_token(p) is not None]


@pytest.fixture
def served(
    erigolem_home: Path, anvil_bin: Path, nginx_bin: Path
) -> Iterator[tuple[subprocess.Popen[str], dict[str, Any]]]:
    """`erigolem node start --local --json` in the foreground, until the node is ready."""
    proc = subprocess.Popen(
        [*CLI, "node", "start", "--local", "--chain", "dev", "--name", "cli node", *FAST_POLL],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        data = _read_json(proc.stdout, time.monotonic() + 60)
        yield proc, data
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()


def test_start_list_status_rpc_rotate_stop(
    served: tuple[subprocess.Popen[str], dict[str, Any]], tmp_path: Path, erigolem_home: Path
) -> None:
    proc, started = served
    node = started["node"]
    creds = started["credentials"]
    assert creds["ws_url"] == "ws://" + creds["url"].removeprefix("http://")
    node_id = node["id"]
    assert node["state"] == "ready"
    assert node["name"] == "cli node"
    assert creds["url"].startswith("http://127.0.0.1:")
    assert creds["user"]
    assert len(creds["password"]) >= 16

    listed = ok_json("node", "list")
    assert [n["id"] for n in listed] == [node_id]
    table = erigolem("node", "list")
    assert node_id in table.stdout
    assert "ready" in table.stdout

    status = ok_json("node", "status", node_id[:6])
    assert status["id"] == node_id
    assert status["endpoint"]["ok"] is True
    assert status["runtime"]["owner_kind"] == "node-start"  # so stop/rotate may signal it
    assert status["runtime"]["owner_pid"] == proc.pid
    assert f"URL:      {creds['url']}\n" in erigolem("node", "status", node_id).stdout
    assert ok_json("node", "credentials", node_id) == creds
    assert f"WS URL:   {creds['ws_url']}\n" in erigolem("node", "credentials", node_id).stdout

    chain = ok_json("rpc", node_id, "eth_chainId")
    assert chain["result"] == "0x7a69"
    path_id = creds["url"].rstrip("/").rsplit("/", 1)[1]
    assert path_id != node_id  # the id in the URL names the node too, as does the URL
    assert ok_json("rpc", path_id, "eth_chainId")["result"] == "0x7a69"
    assert ok_json("node", "status", creds["url"], "--no-check")["id"] == node_id
    assert chain["elapsed_ms"] > 0
    pretty = erigolem(
        "rpc", node_id, "eth_getBalance", "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", "latest"
    )
    assert pretty.returncode == 0, pretty.stderr
    assert int(json.loads(pretty.stdout), 16) > 0
    assert "ms," in pretty.stderr

    bad = erigolem("rpc", node_id, "eth_getBalance", "--json")
    assert bad.returncode == 1
    assert json.loads(bad.stdout)["error"]["code"] == -32602
    text_bad = erigolem("rpc", node_id, "eth_getBalance")
    assert text_bad.returncode == 1
    assert "usage: eth_getBalance(address, block)" in text_bad.stderr

    batch_file = tmp_path / "batch.json"
    batch_file.write_text(json.dumps([{"method": "eth_chainId"}, ["net_version", []]]))
    batch = ok_json("rpc", node_id, "--batch", str(batch_file))
    assert [b["result"] for b in batch] == ["0x7a69", "31337"]

    logs = ok_json("node", "logs", node_id, "5")
    assert isinstance(logs["lines"], list)

    # the usage count (requests served through nginx) reaches `node status` with the next poll
    deadline = time.monotonic() + 15
    while True:
        text = erigolem("node", "status", node_id).stdout
        counts = [line.split()[1] for line in text.splitlines() if line.startswith("Requests:")]
        if counts and int(counts[0].replace(",", "")) >= 4:
            break
        assert time.monotonic() < deadline, text
        time.sleep(0.3)
    assert ok_json("node", "status", node_id)["last_status"]["requests"] >= 4

    rotated = ok_json("node", "rotate", node_id)
    assert rotated["credentials"]["password"] != creds["password"]
    assert ok_json("node", "credentials", node_id) == rotated["credentials"]
    assert ok_json("rpc", node_id, "eth_chainId")["result"] == "0x7a69"  # new password works

    stopped = ok_json("node", "stop", node_id)
    assert stopped["state"] == "stopped"
    assert proc.wait(20) == 0
    again = ok_json("node", "stop", node_id)
    assert again["state"] == "stopped"
    assert ok_json("node", "list") == []
    assert [n["state"] for n in ok_json("node", "list", "--all")] == ["stopped"]
    dead_status = erigolem("node", "status", node_id)
    assert dead_status.returncode == 0, dead_status.stderr
    assert f"URL:      {creds['url']} (no longer served)" in dead_status.stdout
    assert "Endpoint:" not in dead_status.stdout
    gone = erigolem("rpc", node_id, "eth_chainId")
    assert gone.returncode == 1
    assert "is stopped" in gone.stderr
    # no password in plain text anywhere in the data directory (records, runtime files, logs)
    secrets = [creds["password"].encode(), rotated["credentials"]["password"].encode()]
    for path in erigolem_home.rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            assert not any(s in data for s in secrets), path


def test_sigkill_of_the_cli_leaves_no_process_and_recover_settles_it(
    served: tuple[subprocess.Popen[str], dict[str, Any]], erigolem_home: Path
) -> None:
    proc, started = served
    node_id = started["node"]["id"]
    pids = _descendants(proc.pid)
    master = erigolem_home / "runtime" / "nginx" / "logs" / "nginx.pid"
    if master.exists():
        pids.append(int(master.read_text().strip()))
        pids += _descendants(pids[-1])
    assert len(pids) >= 2  # the runtime and its anvil at least
    proc.kill()
    proc.wait(5)
    deadline = time.monotonic() + 15
    while _alive(pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _alive(pids) == [], [Path(f"/proc/{p}/cmdline").read_bytes() for p in _alive(pids)]
    records = ok_json("node", "list", "--all")  # runs recover()
    assert records[0]["id"] == node_id
    assert records[0]["state"] == "stopped"
    assert records[0]["reason"] == (
        f"the `erigolem node start` process that ran it (pid {proc.pid}) ended without "
        "stopping it (killed or crashed); the node was stopped"
    )
    assert records[0]["reason"] != RECOVERED_REASON  # no "the app was closed"
    creds = erigolem("node", "credentials", node_id)
    assert creds.returncode == 1


def test_detach_then_stop(erigolem_home: Path, anvil_bin: Path, nginx_bin: Path) -> None:
    out = ok_json("node", "start", "--local", "--detach")
    pid = out["pid"]
    node_id = out["node"]["id"]
    try:
        assert out["node"]["state"] == "ready"
        assert process_token(pid) is not None
        assert ok_json("rpc", node_id, "eth_chainId")["result"] == "0x7a69"
        assert ok_json("node", "stop", node_id)["state"] == "stopped"
        deadline = time.monotonic() + 10
        while process_token(pid) is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert process_token(pid) is None
    finally:
        if process_token(pid) is not None:
            os.kill(pid, signal.SIGKILL)


def test_sigkill_of_a_detached_node_says_what_happened(
    erigolem_home: Path, anvil_bin: Path, nginx_bin: Path
) -> None:
    """kill -9 of `node start --detach`'s background process: the reason names that process."""
    out = ok_json("node", "start", "--local", "--detach", "--allow-origin", "https://d.example")
    pid = out["pid"]
    pids = [pid, *_descendants(pid)]
    try:
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 15
        while _alive(pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _alive(pids) == []
        (rec,) = ok_json("node", "list", "--all")  # runs recover()
        assert rec["state"] == "stopped"
        assert f"`erigolem node start` process that ran it (pid {pid})" in rec["reason"]
        assert "app was closed" not in rec["reason"]
    finally:
        for p in _alive(pids):
            os.kill(p, signal.SIGKILL)


def test_bad_input_and_failures(erigolem_home: Path, anvil_bin: Path, nginx_bin: Path) -> None:
    missing = erigolem("node", "status", "nope")
    assert missing.returncode == 1
    assert "There is no node 'nope'" in missing.stderr
    # A typo is refused before a record exists, with the valid choices.
    typo = erigolem("node", "start", "--local", "--chain", "sepolai")
    assert typo.returncode == 2
    assert "unknown chain 'sepolai'" in typo.stderr
    assert "sepolia" in typo.stderr.split("unknown chain", 1)[1]
    retired = erigolem("node", "start", "--chain", "goerli", "--detach")
    assert retired.returncode == 2
    assert "has been shut down" in retired.stderr
    mismatch = erigolem("node", "start", "--chain", "mainnet", "--client", "anvil")
    assert mismatch.returncode == 2
    assert "does not serve the chain mainnet; use client erigon" in mismatch.stderr
    assert ok_json("node", "list", "--all") == []
    # A real chain this computer cannot run (no Erigon here) fails with the way out.
    failed = erigolem("node", "start", "--local", "--chain", "mainnet", "--json")
    assert failed.returncode == 1
    err = json.loads(failed.stderr.strip().splitlines()[-1])
    assert "clients.erigon.binary" in err["error"]
    records = ok_json("node", "list", "--all")
    assert [r["state"] for r in records] == ["failed"]
    node_id = records[0]["id"]
    no_method = erigolem("rpc", node_id)
    assert no_method.returncode == 2
    assert erigolem("node", "logs", node_id, "0").returncode == 2
    dead = erigolem("rpc", node_id, "eth_chainId")
    assert dead.returncode == 1
    assert "is failed" in dead.stderr
    usage = erigolem("node", "start", "--local", "--golem")
    assert usage.returncode == 2


def test_no_wait_in_the_foreground_prints_the_id_then_the_credentials(
    erigolem_home: Path, anvil_bin: Path, nginx_bin: Path
) -> None:
    proc = subprocess.Popen(
        [*CLI, "node", "start", "--local", "--no-wait", "--poll-interval", "0.5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("Node "), first
        assert first.endswith(" is starting.\n"), first
        node_id = first.split()[1]
        block = [proc.stdout.readline() for _ in range(5)]
        assert block[0] == f"Node {node_id} (dev, anvil) is ready.\n", block
        creds = ok_json("node", "credentials", node_id)
        assert block[1:] == [
            f"URL:      {creds['url']}\n",
            f"WS URL:   {creds['ws_url']}\n",
            f"User:     {creds['user']}\n",
            f"Password: {creds['password']}\n",
        ]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
        assert proc.stderr is not None
        err = proc.stderr.read()
        assert "Press Ctrl+C to stop it." in err  # how to stop, after the ready block
        assert f"Node {node_id} stopped." in err
    finally:
        reap(proc)


def test_detach_failure_is_reported_as_a_plain_error(
    erigolem_home: Path, anvil_bin: Path, nginx_bin: Path
) -> None:
    """No Erigon here: the background process fails; the parent reports its error, not JSON."""
    failed = erigolem("node", "start", "--local", "--chain", "sepolia", "--detach")
    assert failed.returncode == 1, failed.stderr
    assert failed.stderr.startswith("erigolem: error: Node "), failed.stderr
    assert "failed:" in failed.stderr
    assert "clients.erigon.binary" in failed.stderr
    assert '{"error"' not in failed.stderr
    assert "background node process did not report" not in failed.stderr
    as_json = erigolem("node", "start", "--local", "--chain", "sepolia", "--detach", "--json")
    assert as_json.returncode == 1
    err = json.loads(as_json.stderr.strip().splitlines()[-1])
    assert err["exit_code"] == 1
    assert err["error"].startswith("Node ")
    assert "clients.erigon.binary" in err["error"]
    assert [r["state"] for r in ok_json("node", "list", "--all")] == ["failed", "failed"]


def _http(base: str, path: str, headers: dict[str, str] | None = None, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, headers=headers or {})
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def _create_through_serve(base: str) -> tuple[str, dict[str, str]]:
    """Sign in as a fresh wallet (see server/README.md), create a dev node, wait until ready."""
    acct = Account.create()
    message = _http(base, "/getMessage?address=" + str(acct.address))
    signed = Account.sign_message(encode_defunct(text=message), acct.key)
    headers = {
        "Authorization": f"Bearer {acct.address}",
        "Message": urllib.parse.quote(message, safe=""),
        "Signature": str(signed.signature.to_0x_hex()),
    }
    node = _http(base, "/createInstance", headers, {"params": {"network": "dev"}})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        nodes = _http(base, "/getInstances", headers)
        if nodes[0]["status"] in ("running", "failed"):
            assert nodes[0]["status"] == "running", nodes[0]
            return str(node["id"]), headers
        time.sleep(0.2)
    raise AssertionError("the node did not start within 60 s")


def _set_owner_kind(node_id: str, kind: str | None) -> None:
    store = NodeStore()
    try:
        rec = store.get(node_id)
        assert rec is not None
        runtime = {k: v for k, v in rec.runtime.items() if k != "owner_kind"}
        if kind is not None:
            runtime["owner_kind"] = kind
        store.save(rec.evolve(runtime=runtime))
    finally:
        store.close()


def test_stop_and_rotate_never_signal_a_server_or_window(
    erigolem_home: Path, anvil_bin: Path, nginx_bin: Path
) -> None:
    """A node of the real `erigolem serve`: `node stop`/`rotate` refuse; the server lives on.

    The desktop window's kind and a record from before owner kinds are checked on the same
    record (relabelled), since what matters is that its live owner is never signalled.
    """
    with serve_process("--poll-interval", "0.5") as (proc, info):
        base = info["url"]
        node_id, headers = _create_through_serve(base)
        status = ok_json("node", "status", node_id)
        assert status["runtime"]["owner_kind"] == "serve"
        password = ok_json("node", "credentials", node_id)["password"]

        stop = erigolem("node", "stop", node_id)
        assert stop.returncode == 1
        assert f"Node {node_id} is run by `erigolem serve` (pid {proc.pid})" in stop.stderr
        assert f"POST /stopInstance/{node_id}" in stop.stderr
        rotate = erigolem("node", "rotate", node_id)
        assert rotate.returncode == 1
        assert "`erigolem serve`" in rotate.stderr
        assert "cannot rotate" in rotate.stderr

        _set_owner_kind(node_id, "app")
        stop = erigolem("node", "stop", node_id, "--json")
        assert stop.returncode == 1
        err = json.loads(stop.stderr.strip().splitlines()[-1])
        assert "Erigolem Desktop window" in err["error"]
        assert "Stop button" in err["hint"]
        assert "Rotate credentials button" in erigolem("node", "rotate", node_id).stderr

        _set_owner_kind(node_id, None)  # a record written before owner kinds
        for verb in ("stop", "rotate"):
            legacy = erigolem("node", verb, node_id)
            assert legacy.returncode == 1
            assert f"another process (pid {proc.pid})" in legacy.stderr
            assert "/stopInstance/" in legacy.stderr

        time.sleep(1.0)  # a signal would have been handled by now
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        nodes = _http(base, "/getInstances", headers)
        assert [(n["id"], n["status"]) for n in nodes] == [(node_id, "running")]
        assert ok_json("rpc", node_id, "eth_chainId")["result"] == "0x7a69"
        assert ok_json("node", "credentials", node_id)["password"] == password  # not rotated

        stopped = _http(base, f"/stopInstance/{node_id}", headers, {})
        assert stopped["id"] == node_id
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0

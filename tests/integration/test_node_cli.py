"""`erigolem node …` and `erigolem rpc …` end to end, as separate processes, on the real runtime,
nginx and anvil (keyring: the app's own non-prompting choice in a fresh ERIGOLEM_HOME)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from erigolem_desktop.core.manager import RECOVERED_REASON, process_token

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
    assert ok_json("node", "credentials", node_id) == creds

    chain = ok_json("rpc", node_id, "eth_chainId")
    assert chain["result"] == "0x7a69"
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
    assert records[0]["reason"] == RECOVERED_REASON
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

"""Children get only the environment they need, never a secret (issue 11 item 8).

`erigolem node start --local --detach` runs with the wallet passphrase and other secrets in its
environment; the real children it leaves running (the detached owner, the runtime, anvil, the
private nginx master and its worker) are read through /proc/<pid>/environ.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from erigolem_runtime.api.process import MARKER_ENV, children, environ_value, process_token
from erigolem_runtime.nginx import running_master_pid

pytestmark = pytest.mark.integration

CLI = [sys.executable, "-m", "erigolem_desktop"]
SECRETS = {
    "ERIGOLEM_PASSPHRASE": "passphrase-7f3a9c1d-never-in-a-child",
    "ERIGOLEM_KEYSTORE_PASSWORD": "keystore-password-2b8e-never-in-a-child",
    "YAGNA_APPKEY": "yagna-appkey-91c4-not-for-the-runtime",
    "SOME_API_TOKEN": "api-token-55d0-never-in-a-child",
}


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        for child in children(todo.pop()):
            out.append(child)
            todo.append(child)
    return out


def _environ(pid: int) -> bytes:
    return Path(f"/proc/{pid}/environ").read_bytes()


def _exe(pid: int) -> str:
    return os.readlink(f"/proc/{pid}/exe")


def test_children_never_inherit_secrets(
    erigolem_home: Path, anvil_bin: Path, nginx_bin: Path
) -> None:
    env = {**os.environ, **SECRETS}
    out = subprocess.run(
        [*CLI, "node", "start", "--local", "--detach", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    started = json.loads(out.stdout)
    owner = started["pid"]
    try:
        runtime_side = _descendants(owner)
        master = running_master_pid(erigolem_home / "runtime" / "nginx")
        assert master is not None
        nginx = [master, *children(master)]
        kinds = {pid: _exe(pid) for pid in [owner, *runtime_side, *nginx]}
        assert any("anvil" in exe for exe in kinds.values()), kinds
        assert len(runtime_side) >= 2  # the runtime and its anvil
        assert len(nginx) >= 2  # the master and a worker
        for pid, exe in kinds.items():
            data = _environ(pid)
            for name, value in SECRETS.items():
                assert value.encode() not in data, f"{name} reached {exe} (pid {pid})"
        # what they do need is still there: the data directory, and each one's own marker
        assert environ_value(owner, "ERIGOLEM_HOME") == str(erigolem_home)
        markers = {environ_value(pid, MARKER_ENV) for pid in [owner, *runtime_side]}
        assert None not in markers
        assert len(markers) == len([owner, *runtime_side])  # one per spawned process
        stop = subprocess.run(
            [*CLI, "node", "stop", started["node"]["id"], "--json"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert stop.returncode == 0, stop.stderr
    finally:
        deadline = time.monotonic() + 10
        while process_token(owner) is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        if process_token(owner) is not None:
            os.kill(owner, signal.SIGKILL)

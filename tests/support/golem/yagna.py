"""Real yagna daemons (PyPI golem-node) on loopback in central-net mode (environment.md §2a/§2c).

The first daemon's GSB port is the central-net hub for every daemon; `CENTRAL_NET_HOST` accepts
only ports of at most 4 digits, so GSB ports are probed in 1024-9999.
"""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.binaries import free_port
from tests.support.golem.chain import RPC_ENV, stop_process


def free_short_port() -> int:
    """A free TCP port on 127.0.0.1 with at most 4 digits (1024-9999), probed in random order."""
    candidates = list(range(1024, 10000))
    random.shuffle(candidates)
    for port in candidates[:2000]:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free 4-digit port on 127.0.0.1")


@dataclass
class YagnaDaemon:
    """One running yagna: its REST URL, app key, GSB port and node id."""

    name: str
    datadir: Path
    api_url: str
    gsb_port: int
    appkey: str
    proc: subprocess.Popen[bytes]
    binary: Path
    identity: str = ""

    def request(self, method: str, path: str, body: Any = None, *, timeout: float = 10) -> Any:
        """A synchronous REST call with this daemon's app key (fixtures and checks)."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.api_url + path,
            data,
            method=method,
            headers={"Authorization": f"Bearer {self.appkey}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
        return json.loads(raw) if raw.strip() else None

    def cli(self, *args: str, timeout: float = 30) -> str:
        """Run a `yagna` CLI command against this daemon (over its GSB); its stdout."""
        env = {**os.environ, "GSB_URL": f"tcp://127.0.0.1:{self.gsb_port}"}
        env["YAGNA_DATADIR"] = str(self.datadir)
        out = subprocess.run(
            [str(self.binary), *args], env=env, capture_output=True, text=True, timeout=timeout
        )
        if out.returncode != 0:
            raise RuntimeError(f"yagna {' '.join(args)} failed on {self.name}: {out.stderr}")
        return out.stdout

    def payment_status(self, network: str) -> dict[str, Any]:
        """`yagna payment status --json` for one network (amounts as yagna's strings)."""
        return dict(json.loads(self.cli("payment", "status", "--network", network, "--json")))

    def stop(self) -> None:
        stop_process(self.proc)


def start_yagna(
    yagna: Path,
    name: str,
    root: Path,
    *,
    hub_port: int | None,
    payment_rpc: str,
    appkey: str,
    driver_config: str | None = None,
) -> YagnaDaemon:
    """Start `yagna service run` in its own data dir; `hub_port=None` makes it the hub."""
    datadir = root / name
    datadir.mkdir(parents=True, exist_ok=True)
    if driver_config is not None:  # the erc20 driver's config, read from the data dir
        (datadir / "config-payments.toml").write_text(driver_config)
    gsb_port = free_short_port()
    api_port = free_port()
    hub = hub_port if hub_port is not None else gsb_port
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(datadir),
        "YAGNA_DATADIR": str(datadir),
        "GSB_URL": f"tcp://127.0.0.1:{gsb_port}",
        "YAGNA_API_URL": f"http://127.0.0.1:{api_port}",
        "YA_NET_BIND_URL": "udp://127.0.0.1:0",
        "YA_NET_TYPE": "central",
        "CENTRAL_NET_HOST": f"127.0.0.1:{hub}",
        "YAGNA_AUTOCONF_APPKEY": appkey,
        RPC_ENV: payment_rpc,
        "RUST_LOG": os.environ.get("ERIGOLEM_TEST_YAGNA_LOG", "info"),
    }
    with (root / f"{name}.log").open("wb") as log:
        proc = subprocess.Popen(
            [str(yagna), "service", "run", "--disable-metrics-push"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=datadir,
        )
    api_url = f"http://127.0.0.1:{api_port}"
    daemon = YagnaDaemon(name, datadir, api_url, gsb_port, appkey, proc, yagna)
    deadline = time.monotonic() + 30
    while True:
        try:
            me = daemon.request("GET", "/me", timeout=2)
            daemon.identity = str(me["identity"])
            return daemon
        except (OSError, urllib.error.URLError, KeyError, ValueError):
            if proc.poll() is not None or time.monotonic() > deadline:
                daemon.stop()
                tail = (root / f"{name}.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"yagna {name} did not come up:\n{tail}") from None
            time.sleep(0.1)

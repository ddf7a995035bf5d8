"""Warm mode against real nginx: one rpcdaemon (stand-in) per rental on one warm Erigon (stand-in).

The warm Erigon is started by the test, as the provider would run it (a service of its own);
the runtime only starts and stops the rentals' rpcdaemons.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from erigolem_runtime.api import ErrorKind, ServiceError

from tests.integration.test_runtime_node import (
    Env,
    _post,
    assert_rejected,
    creds,
    env,  # noqa: F401  (the fixture)
    pgid_alive,
    rpc,
    status_of,
    wait_for,
)
from tests.support.binaries import FAKE_ERIGON, fake_rpcdaemon_binary, free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

WARM = json.dumps({"chain": "mainnet", "mode": "warm"})


class WarmErigon:
    """The provider's synced Erigon (stand-in) with its private API on loopback."""

    def __init__(self, tmp_path: Path) -> None:
        self.datadir = tmp_path / "warm-mainnet"
        (self.datadir / "chaindata").mkdir(parents=True)
        self.private_api = f"127.0.0.1:{free_port()}"
        self.start()

    def start(self) -> None:
        """(Re)start it on its datadir and private API address, synced (at chain head)."""
        argv = [sys.executable, str(FAKE_ERIGON), "--chain=mainnet", f"--datadir={self.datadir}",
                "--http.addr=127.0.0.1", f"--http.port={free_port()}",
                f"--private.api.addr={self.private_api}"]  # fmt: skip
        environ = {**os.environ, "FAKE_ERIGON_SYNC_SECONDS": "0"}
        self.log = open(self.datadir.parent / "warm-erigon.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, env=environ)
        deadline = time.monotonic() + 20
        while not self.reachable():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("the warm Erigon stand-in did not open its private API")
            time.sleep(0.05)

    def reachable(self) -> bool:
        host, _, port = self.private_api.rpartition(":")
        try:
            socket.create_connection((host, int(port)), timeout=0.5).close()
        except OSError:
            return False
        return True

    def files(self) -> list[tuple[str, int]]:
        return sorted(
            (str(p.relative_to(self.datadir)), p.stat().st_mtime_ns)
            for p in self.datadir.rglob("*")
        )

    def section(self, rpcdaemon: Path) -> dict[str, Any]:
        return {
            "rpcdaemon": str(rpcdaemon),
            "chains": {"mainnet": {"private_api": self.private_api, "datadir": str(self.datadir)}},
        }

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.log.close()


@pytest.fixture
def warm_erigon(tmp_path: Path) -> Iterator[WarmErigon]:
    node = WarmErigon(tmp_path)
    try:
        yield node
    finally:
        node.stop()


async def call(url: str, auth: tuple[str, str], method: str) -> dict[str, Any]:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": []}).encode()
    status, data = await asyncio.to_thread(_post, url, body, auth)
    assert status == 200, (status, data)
    reply: dict[str, Any] = json.loads(data)
    return reply


def cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")


@pytest.mark.asyncio
async def test_each_rental_gets_its_own_rpcdaemon_on_the_one_warm_erigon(
    env: Env,  # noqa: F811
    warm_erigon: WarmErigon,
    tmp_path: Path,
) -> None:
    cfg = env.make_config(
        chains=["mainnet"], warm=warm_erigon.section(fake_rpcdaemon_binary(tmp_path))
    )
    before = warm_erigon.files()
    one, two = env.service(cfg, "one"), env.service(cfg, "two")
    out1 = await one.start([WARM])
    out2 = await two.start([WARM])
    for out in (out1, out2):  # at chain head at once: the warm node is synced
        assert out["state"] == "ready"
        assert (out["chain"], out["client"], out["mode"]) == ("mainnet", "erigon", "warm")
        assert out["block"] == 1000
        assert out["peers"] == 7
    # own process, own port, own URL and credentials
    assert one.client_pid is not None
    assert two.client_pid is not None
    assert one.client_pid != two.client_pid
    argv1, argv2 = cmdline(one.client_pid), cmdline(two.client_pid)
    assert any("fake_rpcdaemon" in a for a in argv1)
    ports = {a for a in argv1 + argv2 if a.startswith("--http.port=")}
    assert len(ports) == 2
    assert out1["url"] != out2["url"]
    await assert_rejected(out1["url"], creds(out2))
    await assert_rejected(out2["url"], creds(out1))
    assert (await rpc(out1["url"], creds(out1), "eth_chainId"))[1] == hex(1)
    # what the renter may not do: steer the shared node
    denied = await call(out1["url"], creds(out1), "admin_addPeer")
    assert denied["error"]["code"] == -32601
    # stop one: its rpcdaemon is gone, the warm Erigon and the other rental are untouched
    pid1 = one.client_pid
    await one.shutdown()
    await wait_for(lambda: not pgid_alive(pid1), 5, "the stopped rental's rpcdaemon to exit")
    assert warm_erigon.proc.poll() is None
    assert warm_erigon.reachable()
    assert pgid_alive(two.client_pid)
    assert (await rpc(out2["url"], creds(out2), "eth_blockNumber"))[1] == hex(1000)
    assert (await rpc(out1["url"], creds(out1)))[0] != 200
    assert (await status_of(two))["state"] == "ready"
    await two.shutdown()
    assert warm_erigon.proc.poll() is None
    assert warm_erigon.files() == before  # shared chain data read, never written or removed


@pytest.mark.asyncio
async def test_warm_start_without_a_warm_erigon_for_the_chain_is_refused(
    env: Env,  # noqa: F811
    warm_erigon: WarmErigon,
    tmp_path: Path,
) -> None:
    rpcd = fake_rpcdaemon_binary(tmp_path)
    cfg = env.make_config(
        chains=["mainnet", "sepolia"],
        clients={"erigon": {"binary": "/nonexistent/erigon"}},
        warm=warm_erigon.section(rpcd),
    )
    svc = env.service(cfg)
    with pytest.raises(ServiceError, match="no warm Erigon for sepolia") as err:
        await svc.start([json.dumps({"chain": "sepolia", "mode": "warm"})])
    assert err.value.kind is ErrorKind.CHAIN_NOT_OFFERED
    assert svc.instance_id is None
    assert not svc.log_path.exists()  # nothing was started
    no_warm = env.make_config(chains=["mainnet"])
    with pytest.raises(ServiceError, match=r"no warm Erigon for mainnet \(no warm chains\)"):
        await env.service(no_warm).start([WARM])


@pytest.mark.asyncio
async def test_warm_start_refused_when_the_warm_erigon_does_not_answer(
    env: Env,  # noqa: F811
    warm_erigon: WarmErigon,
    tmp_path: Path,
) -> None:
    cfg = env.make_config(
        chains=["mainnet"], warm=warm_erigon.section(fake_rpcdaemon_binary(tmp_path))
    )
    warm_erigon.stop()  # the provider's Erigon is down
    svc = env.service(cfg)
    with pytest.raises(ServiceError, match="does not answer on its private API") as err:
        await svc.start([WARM])
    assert err.value.kind is ErrorKind.CLIENT_NOT_READY
    assert "--private.api.addr=" + warm_erigon.private_api in str(err.value)
    assert svc.instance_id is None
    assert not svc.log_path.exists()  # no rpcdaemon was started


@pytest.mark.asyncio
async def test_warm_start_refused_when_the_warm_datadir_is_missing(
    env: Env,  # noqa: F811
    warm_erigon: WarmErigon,
    tmp_path: Path,
) -> None:
    section = warm_erigon.section(fake_rpcdaemon_binary(tmp_path))
    section["chains"]["mainnet"]["datadir"] = str(tmp_path / "not-there")
    cfg = env.make_config(chains=["mainnet"], warm=section)
    with pytest.raises(ServiceError, match=r"has no chaindata: fix warm\.chains\.mainnet\.datadir"):
        await env.service(cfg).start([WARM])


@pytest.mark.asyncio
async def test_warm_mode_needs_the_rpcdaemon_binary(
    env: Env,  # noqa: F811
    warm_erigon: WarmErigon,
    tmp_path: Path,
) -> None:
    cfg = env.make_config(chains=["mainnet"], warm=warm_erigon.section(tmp_path / "no-rpcdaemon"))
    with pytest.raises(ServiceError, match=r"set warm\.rpcdaemon in the runtime config") as err:
        await env.service(cfg).start([WARM])
    assert err.value.kind is ErrorKind.MISSING_BINARY


@pytest.mark.asyncio
async def test_rental_degrades_while_the_warm_erigon_is_down_and_recovers(
    env: Env,  # noqa: F811
    warm_erigon: WarmErigon,
    tmp_path: Path,
) -> None:
    cfg = env.make_config(
        chains=["mainnet"],
        warm=warm_erigon.section(fake_rpcdaemon_binary(tmp_path)),
        restart={"max_restarts": 3, "backoff_sec": 0.1, "unresponsive_sec": 1},
    )
    svc = env.service(cfg)
    out = await svc.start([WARM])
    pid = svc.client_pid
    warm_erigon.stop()  # the provider restarts its node (or it crashed)
    down = await status_of(svc)
    assert down["state"] == "degraded"
    assert "the provider's warm Erigon behind this endpoint does not answer" in down["reason"]
    await asyncio.sleep(2.5)  # > unresponsive_sec: the watchdog sees error answers, not silence
    assert svc.client_pid == pid  # the rpcdaemon is not the problem: kept, not restarted
    assert svc.restarts == 0
    warm_erigon.start()  # back on the same address
    assert (await status_of(svc))["state"] == "ready"
    assert (await rpc(out["url"], creds(out), "eth_blockNumber"))[1] == hex(1000)


@pytest.mark.asyncio
async def test_warm_rental_through_the_runtime_api(
    env: Env,  # noqa: F811
    warm_erigon: WarmErigon,
    tmp_path: Path,
) -> None:
    """As exe-unit drives it: the runtime executable, the start argument, status on the wire."""
    from erigolem_runtime.api.client import RuntimeClient, RuntimeClientError
    from erigolem_runtime.config import save_config

    cfg = env.make_config(
        chains=["mainnet", "sepolia"], warm=warm_erigon.section(fake_rpcdaemon_binary(tmp_path))
    )
    cfg_path = save_config(cfg, tmp_path / "runtime.json")
    rc = RuntimeClient(tmp_path / "rt-work", config_path=cfg_path)
    try:
        await rc.deploy()
        out = await rc.start({"chain": "mainnet", "mode": "warm"})
        assert (out["state"], out["mode"]) == ("ready", "warm")
        status = await rc.run_json("status")
        assert status["mode"] == "warm"
        assert (await rpc(out["url"], creds(out), "eth_blockNumber"))[1] == hex(1000)
    finally:
        await rc.shutdown()
    assert warm_erigon.proc.poll() is None  # the runtime's end is not the warm node's
    refused = RuntimeClient(tmp_path / "rt-work-2", config_path=cfg_path)
    try:
        await refused.deploy()
        with pytest.raises(RuntimeClientError, match="no warm Erigon for sepolia") as err:
            await refused.start({"chain": "sepolia", "mode": "warm"})
        assert err.value.kind is ErrorKind.CHAIN_NOT_OFFERED  # the kind survives the wire
    finally:
        await refused.shutdown()

"""NodeService against real nginx and real anvil (and the fake_erigon stand-in for Erigon).

Most tests drive `NodeService` in-process (fast); `test_through_runtime_api` drives the
`erigolem-runtime` executable as a subprocess through `RuntimeClient`, exactly as exe-unit would.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import http.client
import json
import os
import random
import signal
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import pytest_asyncio
from erigolem_runtime import nginx as nginx_mod
from erigolem_runtime.api import DURATION_COUNTER, REQUESTS_COUNTER, NodeStatus, ServiceError
from erigolem_runtime.config import RuntimeConfig, parse_config
from erigolem_runtime.instance import NodeService
from erigolem_runtime.ports import allocate_ports, port_is_free

from tests.support.binaries import REPO, fake_erigon_binary, free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

ANVIL = {"chain": "dev", "client": "anvil"}


# ----------------------------------------------------------------------------- helpers


def pick_port_range(n: int = 60) -> tuple[int, int]:
    """A range of n ports free right now, probed from a random base (other tests run too)."""
    for _ in range(200):
        first = random.randrange(20000, 60000 - n)
        if all(port_is_free(p) for p in range(first, first + n)):
            return first, first + n - 1
    raise RuntimeError("no free port range found")


def make_config(
    tmp_path: Path, anvil_bin: Path, nginx_bin: Path, **overrides: Any
) -> RuntimeConfig:
    first, last = pick_port_range()
    listen = free_port()
    data: dict[str, Any] = {
        "public_url": f"http://127.0.0.1:{listen}",
        "nginx": {
            "mode": "private",
            "binary": str(nginx_bin),
            "prefix": str(tmp_path / "nginx"),
            "listen": f"127.0.0.1:{listen}",
        },
        "ports": {"first": first, "last": last},
        "state_dir": str(tmp_path / "state"),
        "data_dir": str(tmp_path / "data"),
        "clients": {"anvil": {"binary": str(anvil_bin)}},
        "chains": ["dev"],
        "max_instances": 8,
        "restart": {"max_restarts": 3, "backoff_sec": 0.1},
    }
    data.update(overrides)
    return parse_config(data, base=tmp_path)


def _post(url: str, body: bytes, auth: tuple[str, str] | None) -> tuple[int, bytes]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    headers = {"Content-Type": "application/json"}
    if auth is not None:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    try:
        conn.request("POST", parts.path or "/", body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


async def rpc(
    url: str, auth: tuple[str, str] | None, method: str = "eth_chainId"
) -> tuple[int, Any]:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": []}).encode()
    try:
        status, data = await asyncio.to_thread(_post, url, body, auth)
    except ConnectionRefusedError:
        return 0, None  # the private nginx master stopped with its last instance
    if status == 200:
        return status, json.loads(data)["result"]
    return status, None


async def assert_rejected(url: str, auth: tuple[str, str] | None) -> None:
    """Never 200; 401 once nginx's old workers (from before the last reload) are gone.

    Right after a reload an old worker may still answer a new connection with the previous
    config (404 for a location it does not know yet), hence the short wait for the 401.
    """
    deadline = time.monotonic() + 3.0
    while True:
        status, _ = await rpc(url, auth)
        assert status != 200, f"{url} opened with foreign credentials"
        if status == 401 or time.monotonic() > deadline:
            assert status == 401
            return
        await asyncio.sleep(0.05)


def creds(out: dict[str, Any]) -> tuple[str, str]:
    return out["auth"]["user"], out["auth"]["password"]


def pgid_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie leader still counts for killpg; check the pid's state
    try:
        with open(f"/proc/{pgid}/stat") as fh:
            return fh.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


async def wait_for(cond: Callable[[], Any], limit: float, what: str) -> Any:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        value = cond()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def status_of(svc: NodeService) -> dict[str, Any]:
    out = await svc.run(["status"])
    assert out.return_code == 0, out.stderr
    value: dict[str, Any] = json.loads(out.stdout)
    return value


def nginx_leftovers(config: RuntimeConfig, instance: str) -> list[Path]:
    roots = [config.nginx.resolved_include_dir(), config.nginx.resolved_htpasswd_dir()]
    return [p for r in roots if r.exists() for p in r.rglob("*") if instance in p.name]


class Env:
    """Services started by one test, all shut down (and the private nginx stopped) at the end."""

    def __init__(self, tmp_path: Path, anvil_bin: Path, nginx_bin: Path) -> None:
        self.tmp_path = tmp_path
        self.anvil_bin = anvil_bin
        self.nginx_bin = nginx_bin
        self.services: list[NodeService] = []
        self.configs: list[RuntimeConfig] = []
        self._default: RuntimeConfig | None = None

    @property
    def config(self) -> RuntimeConfig:
        if self._default is None:
            self._default = self.make_config()
        return self._default

    def make_config(self, **overrides: Any) -> RuntimeConfig:
        cfg = make_config(self.tmp_path, self.anvil_bin, self.nginx_bin, **overrides)
        self.configs.append(cfg)
        return cfg

    def service(self, config: RuntimeConfig | None = None, name: str = "w") -> NodeService:
        svc = NodeService(
            config or self.config, self.tmp_path / f"work-{len(self.services)}-{name}"
        )
        self.services.append(svc)
        return svc

    async def close(self) -> None:
        for svc in self.services:
            with contextlib.suppress(Exception):
                await svc.shutdown()
        for cfg in self.configs:
            with contextlib.suppress(Exception):
                await stop_private_nginx(cfg)


async def stop_private_nginx(config: RuntimeConfig) -> None:
    """Stop the private nginx master of `config`, if one is still up."""
    if config.nginx.prefix is not None:
        await asyncio.to_thread(nginx_mod.stop_private_nginx, config.nginx.prefix)


@pytest_asyncio.fixture
async def env(tmp_path: Path, anvil_bin: Path, nginx_bin: Path) -> AsyncIterator[Env]:
    e = Env(tmp_path, anvil_bin, nginx_bin)
    try:
        yield e
    finally:
        await e.close()


# ----------------------------------------------------------------------------- happy path


@pytest.mark.asyncio
async def test_start_access_rotate_counters_shutdown(env: Env) -> None:
    svc = env.service()
    out = await svc.start([json.dumps(ANVIL)])
    assert out["url"].startswith(env.config.public_url)
    assert out["url"].endswith(f"/{out['instance']}/")
    assert out["chain"] == out["network"] == "dev"
    assert out["client"] == "anvil"
    assert out["state"] == "ready"
    assert out["restarts"] == 0
    assert out["reason"] is None
    assert out["sync"] is None  # anvil is never syncing
    assert out["block"] == 0
    user, password = creds(out)
    assert len(password) >= 22

    assert await rpc(out["url"], (user, password)) == (200, "0x7a69")
    assert (await rpc(out["url"], None))[0] == 401
    assert (await rpc(out["url"], (user, password + "x")))[0] == 401
    assert (await rpc(out["url"], ("someone", password)))[0] == 401

    # counters: duration grows, requests count what went through nginx
    before = svc.counters()
    for _ in range(5):
        assert (await rpc(out["url"], (user, password), "eth_blockNumber"))[0] == 200
    await wait_for(
        lambda: svc.counters()[REQUESTS_COUNTER] >= before[REQUESTS_COUNTER] + 5, 5, "request count"
    )
    assert svc.counters()[DURATION_COUNTER] > before[DURATION_COUNTER]
    # the status shows the same usage count the requestor is billed on (401s left out)
    shown = json.loads((await svc.run(["status"])).stdout)
    served = shown["requests"]
    assert served == int(svc.counters()[REQUESTS_COUNTER]) >= before[REQUESTS_COUNTER] + 5
    # the same requests over time (issue 14 usage view), from the same log lines
    usage = NodeStatus.from_json(shown).usage
    assert usage is not None
    assert usage.requests == served
    assert usage.statuses["200"] == served
    assert (await rpc(out["url"], None))[0] == 401
    assert json.loads((await svc.run(["status"])).stdout)["requests"] == served

    # rotate: the old password stops working at once, the new one works
    rotated = await svc.run(["rotate-credentials"])
    assert rotated.return_code == 0, rotated.stderr
    new = json.loads(rotated.stdout)
    assert new["auth"]["password"] != password
    assert (await rpc(out["url"], (user, password)))[0] == 401
    assert (await rpc(out["url"], creds(new)))[0] == 200

    status = await status_of(svc)
    assert status["state"] == "ready"
    assert status["auth"] == new["auth"]

    logs = await svc.run(["logs", "5"])
    assert logs.return_code == 0
    assert 0 < len(logs.stdout.decode().splitlines()) <= 5

    pid = svc.client_pid
    assert pid is not None
    assert pgid_alive(pid)
    datadir = env.config.data_dir / out["instance"]
    assert datadir.is_dir()
    t0 = time.monotonic()
    await svc.shutdown()
    assert time.monotonic() - t0 < 4.0
    assert (await rpc(out["url"], creds(new)))[0] in (0, 401, 404)
    assert not pgid_alive(pid)
    assert not datadir.exists()
    assert nginx_leftovers(env.config, out["instance"]) == []
    frozen = svc.counters()
    await asyncio.sleep(0.1)
    assert svc.counters() == frozen  # duration stops at shutdown
    # every port of the range is free again
    lease = allocate_ports(env.config, len(env.config.ports) - 5, "check")
    lease.release()


@pytest.mark.asyncio
async def test_instances_are_isolated(env: Env) -> None:
    a, b = env.service(name="a"), env.service(name="b")
    out_a = await a.start([json.dumps(ANVIL)])
    out_b = await b.start([json.dumps(ANVIL)])
    assert out_a["url"] != out_b["url"]
    assert (await rpc(out_a["url"], creds(out_a)))[0] == 200
    assert (await rpc(out_b["url"], creds(out_b)))[0] == 200
    await assert_rejected(out_b["url"], creds(out_a))
    await assert_rejected(out_a["url"], creds(out_b))
    assert a.client_pid != b.client_pid
    await a.shutdown()
    assert (await rpc(out_b["url"], creds(out_b)))[0] == 200  # B unaffected by A's shutdown


# ----------------------------------------------------------------------------- supervision


@pytest.mark.asyncio
async def test_killed_client_is_restarted(env: Env) -> None:
    svc = env.service()
    out = await svc.start([json.dumps(ANVIL)])
    first_pid = svc.client_pid
    assert first_pid is not None
    os.kill(first_pid, signal.SIGKILL)

    seen: list[dict[str, Any]] = []

    async def degraded() -> bool:
        st = await status_of(svc)
        seen.append(st)
        return bool(st["restarts"] >= 1)

    await wait_for(degraded, 10, "restart to show")
    assert seen[-1]["restarts"] == 1
    assert seen[-1]["state"] in ("degraded", "starting", "ready")

    async def ready_again() -> bool:
        return bool((await status_of(svc))["state"] == "ready")

    await wait_for(ready_again, 15, "ready after restart")
    st = await status_of(svc)
    assert st["restarts"] == 1
    assert svc.client_pid != first_pid
    assert not pgid_alive(first_pid)
    assert (await rpc(out["url"], creds(out)))[0] == 200  # same URL and credentials


@pytest.mark.asyncio
async def test_degraded_then_failed_after_max_restarts(env: Env) -> None:
    cfg = env.make_config(restart={"max_restarts": 1, "backoff_sec": 0.5})
    svc = env.service(cfg)
    await svc.start([json.dumps(ANVIL)])
    pid = svc.client_pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)

    async def is_degraded() -> dict[str, Any] | None:
        st = await status_of(svc)
        return st if st["state"] == "degraded" and st["restarts"] == 1 else None

    st = await wait_for(is_degraded, 5, "degraded")
    assert st["restarts"] == 1
    assert "exited" in st["reason"]

    async def is_ready() -> bool:
        return bool((await status_of(svc))["state"] == "ready")

    await wait_for(is_ready, 15, "ready after the restart")
    pid2 = svc.client_pid
    assert pid2 is not None
    assert pid2 != pid
    os.kill(pid2, signal.SIGKILL)

    async def is_failed() -> dict[str, Any] | None:
        st = await status_of(svc)
        return st if st["state"] == "failed" else None

    st = await wait_for(is_failed, 10, "failed")
    assert "gave up after 1 restart" in st["reason"]
    assert "keeps crashing" in st["reason"]  # plain words: the config knobs go to the log
    assert "restart.max_restarts" not in st["reason"]


# ----------------------------------------------------------------------------- bad input


def assert_nothing_left(config: RuntimeConfig) -> None:
    data = config.data_dir
    assert not data.exists() or list(data.iterdir()) == []
    lease = allocate_ports(config, len(config.ports) - 5, "check")  # nothing still leased
    lease.release()
    inst = config.state_dir / "instances"
    assert not inst.exists() or [p for p in inst.glob("*.lock")] == []
    for root in (config.nginx.resolved_include_dir(), config.nginx.resolved_htpasswd_dir()):
        assert not root.exists() or [p for p in root.rglob("*") if p.is_file()] == []


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{not json"], "not valid JSON"),
        (["[1, 2]"], "must be a JSON object"),
        ([], "exactly one JSON argument"),
        (['{"chain": "dev"}', "x"], "exactly one JSON argument"),
        (['{"chain": "goerli", "client": "anvil"}'], "choose one of dev"),
        (['{"chain": "dev", "client": "geth"}'], "choose one of erigon, anvil"),
        (['{"chain": "sepolia", "client": "erigon"}'], "does not offer chain 'sepolia'"),
        (['{"chain": "dev", "client": "anvil", "evil": 1}'], "unknown start argument key"),
        (['{"client": "anvil"}'], "names no chain"),
        (['{"chain": "../../etc", "client": "anvil"}'], "invalid chain"),
        (['{"chain": "dev", "allow_origins": ["https://a.example/x"]}'], "invalid origin"),
        (['{"chain": "dev", "allow_origins": 5}'], "allow_origins must be"),
    ],
)
async def test_bad_start_arguments(env: Env, args: list[str], message: str) -> None:
    svc = env.service()
    with pytest.raises(ServiceError, match=message):
        await svc.start(args)
    assert_nothing_left(env.config)


@pytest.mark.asyncio
async def test_missing_binary_names_config_key(env: Env, tmp_path: Path) -> None:
    cfg = env.make_config(clients={"anvil": {"binary": str(tmp_path / "nope" / "anvil")}})
    with pytest.raises(ServiceError, match=r"clients\.anvil\.binary"):
        await env.service(cfg).start([json.dumps(ANVIL)])
    assert_nothing_left(cfg)
    cfg2 = env.make_config(chains=["dev", "sepolia"])
    with pytest.raises(ServiceError, match=r"clients\.erigon\.binary"):
        await env.service(cfg2).start(['{"chain": "sepolia"}'])


@pytest.mark.asyncio
async def test_exhausted_port_range(env: Env) -> None:
    cfg = env.config
    hog = allocate_ports(cfg, len(cfg.ports), "hog")
    try:
        with pytest.raises(ServiceError, match="not enough free ports"):
            await env.service().start([json.dumps(ANVIL)])
        data = cfg.data_dir
        assert not data.exists() or list(data.iterdir()) == []
    finally:
        hog.release()
    assert_nothing_left(cfg)


@pytest.mark.asyncio
async def test_max_instances(env: Env) -> None:
    cfg = env.make_config(max_instances=1)
    await env.service(cfg, "one").start([json.dumps(ANVIL)])
    with pytest.raises(ServiceError, match="max_instances"):
        await env.service(cfg, "two").start([json.dumps(ANVIL)])


@pytest.mark.asyncio
async def test_client_that_dies_at_start(env: Env, tmp_path: Path) -> None:
    bad = tmp_path / "bin" / "anvil-broken"
    bad.parent.mkdir(parents=True, exist_ok=True)
    bad.write_text("#!/bin/sh\necho 'cannot open database' >&2\nexit 7\n")
    bad.chmod(0o755)
    cfg = env.make_config(clients={"anvil": {"binary": str(bad)}})
    with pytest.raises(ServiceError, match="cannot open database"):
        await env.service(cfg).start([json.dumps(ANVIL)])
    assert_nothing_left(cfg)


@pytest.mark.asyncio
async def test_run_commands_bad_input(env: Env) -> None:
    svc = env.service()
    early = await svc.run(["status"])
    assert early.return_code != 0
    assert b"start" in early.stderr
    await svc.start([json.dumps(ANVIL)])
    unknown = await svc.run(["reboot"])
    assert unknown.return_code == 2
    assert b"status, rotate-credentials, logs" in unknown.stderr
    bad_n = await svc.run(["logs", "-5"])
    assert bad_n.return_code == 2
    assert (await svc.run(["logs"])).return_code == 0
    assert (await svc.run(["STATUS"])).return_code == 0  # the original Erigolem's spelling
    with pytest.raises(ServiceError, match="already started"):
        await svc.start([json.dumps(ANVIL)])


# ----------------------------------------------------------------------------- erigon profile


@pytest.mark.asyncio
async def test_erigon_profile_with_stand_in_shows_stages(env: Env, tmp_path: Path) -> None:
    erigon = fake_erigon_binary(tmp_path)
    cfg = env.make_config(
        clients={"anvil": {"binary": str(env.anvil_bin)}, "erigon": {"binary": str(erigon)}},
        chains=["dev", "sepolia"],
    )
    svc = env.service(cfg)
    out = await svc.start(['{"chain": "sepolia"}'])  # client defaults to erigon
    assert out["client"] == "erigon"
    assert out["state"] == "syncing"
    assert out["peers"] == 7
    sync = out["sync"]
    assert sync["highest_block"] == 1000
    assert [s["name"] for s in sync["stages"]][:3] == ["Snapshots", "Headers", "BlockHashes"]
    assert 0.0 <= sync["progress"] <= 1.0
    assert (await rpc(out["url"], creds(out)))[0] == 200
    assert (await rpc(out["url"], creds(out)))[1] == hex(11155111)
    logs = (await svc.run(["logs", "50"])).stdout.decode()
    assert "--chain=sepolia" not in logs  # the log is the client's own output
    assert "Starting Erigon (fake) chain=sepolia" in logs


@pytest.mark.asyncio
async def test_kept_datadir_is_reused_and_kept(env: Env, tmp_path: Path) -> None:
    erigon = fake_erigon_binary(tmp_path)
    kept = tmp_path / "synced-sepolia"
    kept.mkdir()
    (kept / "chaindata").mkdir()
    cfg = env.make_config(
        clients={"erigon": {"binary": str(erigon)}},
        chains=["sepolia"],
        keep_datadirs={"sepolia": str(kept)},
    )
    svc = env.service(cfg, "one")
    await svc.start(['{"chain": "sepolia"}'])
    with pytest.raises(ServiceError, match="in use by another instance"):
        await env.service(cfg, "two").start(['{"chain": "sepolia"}'])
    await svc.shutdown()
    assert (kept / "chaindata").is_dir()  # a kept datadir survives shutdown


@pytest.mark.asyncio
async def test_erigon_dev_chain_starts_sealing_and_takes_the_providers_nat(
    env: Env, tmp_path: Path
) -> None:
    """Erigon's --chain=dev exits without --miner.etherbase; --nat comes from clients.erigon.nat."""
    erigon = fake_erigon_binary(tmp_path)
    cfg = env.make_config(
        clients={"erigon": {"binary": str(erigon), "nat": "extip:203.0.113.7"}},
        chains=["dev"],
    )
    svc = env.service(cfg)
    out = await svc.start(['{"chain": "dev", "client": "erigon"}'])
    assert out["client"] == "erigon"
    assert (await rpc(out["url"], creds(out)))[1] == hex(1337)
    [cmd] = [
        _cmdline(int(p))
        for p in os.listdir("/proc")
        if p.isdigit() and _ppid(int(p)) == os.getpid() and "fake_erigon" in _cmdline(int(p))
    ]
    assert "--chain=dev" in cmd
    assert "--mine " in cmd
    assert "--nat=extip:203.0.113.7" in cmd
    await svc.shutdown()


@pytest.mark.asyncio
async def test_prune_mode_blocks_on_erigon_3_0_is_refused_at_start(
    env: Env, tmp_path: Path
) -> None:
    erigon = fake_erigon_binary(tmp_path, "3.0.9")
    cfg = env.make_config(
        clients={"erigon": {"binary": str(erigon), "prune_mode": "blocks"}}, chains=["sepolia"]
    )
    with pytest.raises(ServiceError, match=r"Erigon 3\.0\.9 does not know --prune\.mode=blocks"):
        await env.service(cfg).start(['{"chain": "sepolia"}'])
    assert_nothing_left(cfg)


# ----------------------------------------------------------------------------- via Runtime API


@pytest.mark.asyncio
async def test_through_runtime_api(env: Env, tmp_path: Path) -> None:
    client_mod = pytest.importorskip("erigolem_runtime.api.client")
    if not (REPO / "runtime" / "erigolem_runtime" / "cli.py").exists():
        pytest.skip("erigolem_runtime.cli not there yet")
    from erigolem_runtime.config import save_config

    cfg_path = save_config(env.config, tmp_path / "runtime.json")
    rc = client_mod.RuntimeClient(tmp_path / "rt-work", config_path=cfg_path)
    try:
        deployed = await rc.deploy()
        assert deployed["startMode"] == "blocking"
        out = await rc.start(ANVIL)
        assert out["state"] == "ready"
        assert (await rpc(out["url"], creds(out)))[0] == 200
        bad = await rc.run("reboot")
        assert bad.return_code == 2
        status = await rc.run_json("status")
        assert status["instance"] == out["instance"]
        pids = [
            int(p)
            for p in os.listdir("/proc")
            if p.isdigit()
            and _cmdline(int(p)).startswith(str(env.anvil_bin))
            and f"{out['url']}"
            and _ppid(int(p)) == rc.pid
        ]
        assert len(pids) == 1
    finally:
        await rc.shutdown()
    assert (await rpc(out["url"], creds(out)))[0] in (0, 401, 404)
    await wait_for(lambda: not pgid_alive(pids[0]), 5, "client gone")


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _ppid(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return int(fh.read().split(") ", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


@pytest.mark.asyncio
async def test_client_dies_with_a_killed_runtime(env: Env, tmp_path: Path) -> None:
    """SIGKILL of the runtime (no cleanup possible): PR_SET_PDEATHSIG takes the client along."""
    from erigolem_runtime.api.client import RuntimeClient, RuntimeClientError
    from erigolem_runtime.config import save_config

    cfg_path = save_config(env.config, tmp_path / "runtime.json")
    rc = RuntimeClient(tmp_path / "rt-kill", config_path=cfg_path)
    try:
        await rc.deploy()
        out = await rc.start(ANVIL)
        runtime_pid = rc.pid
        assert runtime_pid is not None
        children = [
            int(p)
            for p in os.listdir("/proc")
            if p.isdigit() and _ppid(int(p)) == runtime_pid and "anvil" in _cmdline(int(p))
        ]
        assert len(children) == 1
        os.kill(runtime_pid, signal.SIGKILL)
        await wait_for(lambda: not pgid_alive(children[0]), 5, "anvil to die with the runtime")
        assert (await rpc(out["url"], creds(out)))[0] != 200
    finally:
        with contextlib.suppress(RuntimeClientError):
            await rc.shutdown()


# ----------------------------------------------------------------------------- stop budget


def kept_sepolia(env: Env, tmp_path: Path, stop_seconds: float) -> tuple[RuntimeConfig, Path]:
    erigon = fake_erigon_binary(tmp_path, stop_seconds=stop_seconds)
    kept = tmp_path / "synced-sepolia"
    kept.mkdir()
    cfg = env.make_config(
        clients={"erigon": {"binary": str(erigon)}},
        chains=["sepolia"],
        keep_datadirs={"sepolia": str(kept)},
    )
    return cfg, kept


@pytest.mark.asyncio
async def test_kept_datadir_client_stops_cleanly_within_the_budget(
    env: Env, tmp_path: Path
) -> None:
    """A kept datadir gets SIGINT (Erigon's clean stop) and the time to close its database."""
    cfg, _kept = kept_sepolia(env, tmp_path, stop_seconds=2.0)
    svc = env.service(cfg)
    await svc.start(['{"chain": "sepolia"}'])
    pid = svc.client_pid
    assert pid is not None
    t0 = time.monotonic()
    await svc.shutdown()
    took = time.monotonic() - t0
    assert not pgid_alive(pid)
    text = svc.log_path.read_text(errors="replace")
    assert "Databases closed cleanly after SIGINT" in text, text[-2000:]
    print(f"kept-datadir shutdown with a 2 s clean stop: {took:.2f} s (budget 4.5 s)")


@pytest.mark.asyncio
async def test_slow_clean_stop_outlives_the_runtime_and_keeps_the_datadir_locked(
    env: Env, tmp_path: Path
) -> None:
    """Past the budget the client is left to finish (never SIGKILLed mid-write); until it
    exits the kept datadir stays locked, so the next rental cannot open it half-closed."""
    cfg, _kept = kept_sepolia(env, tmp_path, stop_seconds=5.0)
    svc = env.service(cfg, "one")
    await svc.start(['{"chain": "sepolia"}'])
    pid = svc.client_pid
    assert pid is not None
    t0 = time.monotonic()
    await svc.shutdown()
    assert time.monotonic() - t0 < 4.5  # inside exe-unit's 5 s stop budget
    assert pgid_alive(pid)  # still closing its database
    with pytest.raises(ServiceError, match="still closing it cleanly"):
        await env.service(cfg, "two").start(['{"chain": "sepolia"}'])
    await wait_for(lambda: not pgid_alive(pid), 10, "the clean stop to finish")
    again = env.service(cfg, "three")
    await again.start(['{"chain": "sepolia"}'])
    third = again.client_pid
    assert third is not None
    await again.shutdown()
    await wait_for(lambda: not pgid_alive(third), 10, "the second clean stop to finish")
    await asyncio.sleep(0.2)  # the runtime reaps the client it left closing


@pytest.mark.asyncio
async def test_fresh_datadir_client_gets_a_short_grace(env: Env, tmp_path: Path) -> None:
    """A fresh datadir is deleted anyway: SIGTERM, then SIGKILL after STOP_GRACE (1 s)."""
    erigon = fake_erigon_binary(tmp_path, stop_seconds=30.0)
    cfg = env.make_config(clients={"erigon": {"binary": str(erigon)}}, chains=["sepolia"])
    svc = env.service(cfg)
    await svc.start(['{"chain": "sepolia"}'])
    pid = svc.client_pid
    assert pid is not None
    t0 = time.monotonic()
    await svc.shutdown()
    took = time.monotonic() - t0
    assert not pgid_alive(pid)
    assert took < 3.0, took

"""Supervision of the client beyond deaths: hangs, the renewing restart budget, stale nginx.

Real anvil and real nginx. A hang is made with SIGSTOP (the process stays alive, its RPC port
accepts connections but never answers); every stopped process is continued and killed in the
fixture's cleanup, so a failing test leaves nothing frozen behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from erigolem_runtime import nginx as nginx_mod
from erigolem_runtime.api.process import pid_alive
from erigolem_runtime.config import ConfigError, RuntimeConfig, parse_config, save_config
from erigolem_runtime.instance import NodeService
from erigolem_runtime.nginx import NginxFront

from tests.integration.test_runtime_node import (
    ANVIL,
    Env,
    creds,
    pgid_alive,
    rpc,
    status_of,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]


class SupEnv(Env):
    """Env that also remembers the process groups a test froze, to thaw and kill them."""

    def __init__(self, tmp_path: Path, anvil_bin: Path, nginx_bin: Path) -> None:
        super().__init__(tmp_path, anvil_bin, nginx_bin)
        self.frozen: list[int] = []

    async def freeze(self, pgid: int) -> None:
        """SIGSTOP the group and wait until its leader is really stopped (delivery is async)."""
        self.frozen.append(pgid)
        os.killpg(pgid, signal.SIGSTOP)
        await wait_for(lambda: _proc_state(pgid) == "T", 5, f"{pgid} to stop")

    async def close(self) -> None:
        for pgid in self.frozen:
            if _is_anvil(pgid):  # only ours: never signal a pid reused by someone else
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pgid, signal.SIGKILL)
                    os.killpg(pgid, signal.SIGCONT)
        await super().close()


def _is_anvil(pid: int) -> bool:
    try:
        return b"anvil" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _proc_state(pid: int) -> str | None:
    """The one-letter state of /proc/<pid>/stat (R, S, T = stopped, Z = zombie), None if gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]
    except (OSError, IndexError):
        return None


@pytest_asyncio.fixture
async def env(tmp_path: Path, anvil_bin: Path, nginx_bin: Path) -> AsyncIterator[SupEnv]:
    e = SupEnv(tmp_path, anvil_bin, nginx_bin)
    try:
        yield e
    finally:
        await e.close()


def restart_cfg(env: SupEnv, **restart: Any) -> RuntimeConfig:
    policy: dict[str, Any] = {"max_restarts": 3, "backoff_sec": 0.1, **restart}
    return env.make_config(restart=policy)


async def wait_state(svc: NodeService, state: str, limit: float) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        st = await status_of(svc)
        return st if st["state"] == state else None

    result: dict[str, Any] = await wait_for(check, limit, f"state {state}")
    return result


# ----------------------------------------------------------------------------- config keys


def test_restart_keys_defaults_and_validation(tmp_path: Path) -> None:
    base: dict[str, Any] = {
        "public_url": "http://127.0.0.1:8545",
        "nginx": {"mode": "private", "prefix": "nginx", "listen": "127.0.0.1:8545"},
        "ports": {"first": 30000, "last": 30100},
        "state_dir": "state",
        "data_dir": "data",
    }
    cfg = parse_config(base, base=tmp_path)
    assert cfg.restart.unresponsive_sec == 60.0
    assert cfg.restart.stable_sec == 600.0
    short = parse_config(
        {**base, "restart": {"unresponsive_sec": 1, "stable_sec": 1.5}}, base=tmp_path
    )
    assert (short.restart.unresponsive_sec, short.restart.stable_sec) == (1.0, 1.5)
    assert parse_config(short.to_json(), base=tmp_path).restart == short.restart
    off = parse_config({**base, "restart": {"unresponsive_sec": 0}}, base=tmp_path)
    assert off.restart.unresponsive_sec == 0.0
    bad = [
        ({"unresponsive_sec": 0.5}, "'restart.unresponsive_sec' is 0.5, must be 0"),
        ({"unresponsive_sec": -1}, "'restart.unresponsive_sec' is -1"),
        ({"unresponsive_sec": "60s"}, "'restart.unresponsive_sec' must be a number"),
        ({"stable_sec": 0}, "'restart.stable_sec' is 0"),
        ({"stable_sec": True}, "'restart.stable_sec' must be a number"),
        ({"stable_secs": 5}, "'restart.stable_secs' is not a known key"),
    ]
    for restart, message in bad:
        with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
            parse_config({**base, "restart": restart}, base=tmp_path)


# ----------------------------------------------------------------------------- hangs


@pytest.mark.asyncio
async def test_frozen_client_is_detected_and_restarted(env: SupEnv) -> None:
    svc = env.service(restart_cfg(env, unresponsive_sec=1.5, backoff_sec=1.0))
    out = await svc.start([json.dumps(ANVIL)])
    old = svc.client_pid
    assert old is not None
    frozen_at = time.monotonic()
    await env.freeze(old)

    # the watchdog kills it after ~1.5 s of silence; during the 1 s backoff status says why
    await wait_for(lambda: svc.restarts == 1, 15, "the watchdog to kill the frozen client")
    detected = time.monotonic() - frozen_at
    st = await status_of(svc)
    assert st["state"] == "degraded", st
    assert st["reason"] is not None
    assert "the client stopped answering JSON-RPC for" in st["reason"]
    assert "; restarted (restart 1 of 3)" in st["reason"]
    assert st["restarts"] == st["restarts_recent"] == 1
    assert 1.0 <= detected < 8, detected  # silence counts from the last answer, <= freeze
    await wait_for(lambda: _proc_state(old) is None, 5, "the frozen client to be gone")

    st = await wait_state(svc, "ready", 20)
    assert st["reason"] is None
    assert st["restarts"] == 1
    assert svc.client_pid not in (None, old)
    status, chain_id = await rpc(out["url"], creds(out))
    assert (status, chain_id) == (200, "0x7a69")

    # it keeps answering: no further restart while healthy (the watchdog probes every ~0.4 s)
    await asyncio.sleep(2.0)
    st = await status_of(svc)
    assert (st["state"], st["restarts"]) == ("ready", 1)


@pytest.mark.asyncio
async def test_frozen_client_is_left_alone_when_hang_detection_is_off(env: SupEnv) -> None:
    svc = env.service(restart_cfg(env, unresponsive_sec=0))
    out = await svc.start([json.dumps(ANVIL)])
    pid = svc.client_pid
    assert pid is not None
    await env.freeze(pid)
    await asyncio.sleep(2.0)
    assert svc.client_pid == pid
    assert svc.restarts == 0
    assert _proc_state(pid) == "T"
    os.killpg(pid, signal.SIGCONT)
    st = await wait_state(svc, "ready", 10)
    assert st["restarts"] == 0
    assert (await rpc(out["url"], creds(out)))[0] == 200


@pytest.mark.asyncio
async def test_stopped_client_is_killed_at_shutdown(env: SupEnv) -> None:
    """Shutdown of a frozen client: SIGTERM + SIGCONT lets it exit, nothing stays stopped."""
    svc = env.service(restart_cfg(env, unresponsive_sec=0))
    await svc.start([json.dumps(ANVIL)])
    pid = svc.client_pid
    assert pid is not None
    await env.freeze(pid)
    t0 = time.monotonic()
    await svc.shutdown()
    assert time.monotonic() - t0 < 4.0
    assert not pgid_alive(pid)


# ----------------------------------------------------------------------------- budget


async def _kill_and_wait(svc: NodeService, expect_restarts: int) -> dict[str, Any]:
    pid = svc.client_pid
    assert pid is not None
    os.killpg(pid, signal.SIGKILL)
    await wait_for(lambda: svc.restarts == expect_restarts, 10, f"restart {expect_restarts}")
    return await wait_state(svc, "ready", 20)


@pytest.mark.asyncio
async def test_restart_budget_renews_after_stable_period(env: SupEnv) -> None:
    svc = env.service(restart_cfg(env, max_restarts=1, stable_sec=2.0))
    await svc.start([json.dumps(ANVIL)])
    st = await _kill_and_wait(svc, 1)
    assert (st["restarts"], st["restarts_recent"]) == (1, 1)

    await asyncio.sleep(2.3)  # healthy for longer than stable_sec: the budget starts over
    st = await status_of(svc)
    assert (st["state"], st["restarts"], st["restarts_recent"]) == ("ready", 1, 0)

    st = await _kill_and_wait(svc, 2)  # allowed again although max_restarts = 1
    assert (st["restarts"], st["restarts_recent"]) == (2, 1)

    # dying again before it ran stable exhausts the budget: failed, and says how to get more
    pid = svc.client_pid
    assert pid is not None
    os.killpg(pid, signal.SIGKILL)
    st = await wait_state(svc, "failed", 10)
    assert st["restarts"] == 2
    assert st["restarts_recent"] == 1
    assert "gave up after 1 restart(s)" in st["reason"]
    assert "keeps crashing" in st["reason"]
    assert "stable_sec" not in st["reason"]  # the knobs are for the operator's log


# ----------------------------------------------------------------------------- stale nginx


async def _runtime_killed_with_an_instance(
    env: SupEnv, cfg_path: Path, name: str
) -> tuple[dict[str, Any], int]:
    """Start an instance through a real runtime process, SIGKILL the runtime; (start, master)."""
    from erigolem_runtime.api.client import RuntimeClient

    rc = RuntimeClient(env.tmp_path / name, config_path=cfg_path)
    try:
        await rc.deploy()
        out = await rc.start(ANVIL)
        runtime_pid = rc.pid
        assert runtime_pid is not None
        master = NginxFront(env.config).master_pid()
        assert master is not None
        os.kill(runtime_pid, signal.SIGKILL)
        await wait_for(lambda: not pid_alive(runtime_pid), 5, "the runtime to die")
    finally:
        with contextlib.suppress(Exception):
            await rc.shutdown()
    await asyncio.sleep(0.2)
    assert pid_alive(master), "the master should outlive its killed owner until a reap"
    return out, master


@pytest.mark.asyncio
async def test_killed_runtimes_nginx_master_is_reaped_by_next_deploy(env: SupEnv) -> None:
    from erigolem_runtime.api.client import RuntimeClient

    cfg_path = save_config(env.config, env.tmp_path / "runtime.json")
    out, master = await _runtime_killed_with_an_instance(env, cfg_path, "rt-1")
    front = NginxFront(env.config)
    assert front.layout.record_file(out["instance"]).exists()  # the dead owner's registration
    assert out["instance"] not in front.active_instances()

    rc = RuntimeClient(env.tmp_path / "rt-2", config_path=cfg_path)
    t0 = time.monotonic()
    deployed = await rc.deploy()
    reaping = time.monotonic() - t0
    assert deployed["startMode"] == "blocking"
    assert not pid_alive(master)
    assert front.master_pid() is None
    assert not front.layout.record_file(out["instance"]).exists()
    assert not front.layout.location_file(out["instance"]).exists()
    assert not front.layout.htpasswd_file(out["instance"]).exists()

    t0 = time.monotonic()
    await rc.deploy()  # nothing left to reap
    idle = time.monotonic() - t0
    print(
        f"deploy: {reaping:.3f} s while reaping a stale master, {idle:.3f} s with nothing to reap"
    )
    assert idle < 3.0
    assert reaping < 8.0


@pytest.mark.asyncio
async def test_killed_runtimes_nginx_is_reaped_by_next_start(env: SupEnv) -> None:
    cfg_path = save_config(env.config, env.tmp_path / "runtime.json")
    out, master = await _runtime_killed_with_an_instance(env, cfg_path, "rt-1")
    front = NginxFront(env.config)

    svc = env.service()
    new = await svc.start([json.dumps(ANVIL)])
    assert not pid_alive(master)  # reaped (stopped: no live instance), then a fresh master
    assert front.master_pid() not in (None, master)
    assert not front.layout.location_file(out["instance"]).exists()
    assert not front.layout.record_file(out["instance"]).exists()
    assert front.active_instances() == [new["instance"]]
    assert (await rpc(new["url"], creds(new)))[0] == 200
    assert (await rpc(out["url"], creds(out)))[0] != 200


@pytest.mark.asyncio
async def test_reap_at_start_leaves_live_instances_alone(env: SupEnv) -> None:
    """Another runtime's live instance keeps its location and master when a new one starts."""
    a = env.service(name="a")
    out_a = await a.start([json.dumps(ANVIL)])
    master = NginxFront(env.config).master_pid()
    b = env.service(name="b")
    out_b = await b.start([json.dumps(ANVIL)])
    assert NginxFront(env.config).master_pid() == master
    assert (await rpc(out_a["url"], creds(out_a)))[0] == 200
    assert (await rpc(out_b["url"], creds(out_b)))[0] == 200


@pytest.mark.asyncio
async def test_deploy_on_a_fresh_host_creates_no_nginx_dirs(env: SupEnv) -> None:
    from erigolem_runtime.api.client import RuntimeClient

    cfg_path = save_config(env.config, env.tmp_path / "runtime.json")
    await RuntimeClient(env.tmp_path / "rt", config_path=cfg_path).deploy()
    assert env.config.nginx.prefix is not None
    assert not (env.config.nginx.prefix / "registry").exists()
    assert nginx_mod.running_master_pid(env.config.nginx.prefix) is None


# ----------------------------------------------------------------------------- dead datadirs


def fresh_datadirs(cfg: RuntimeConfig) -> list[str]:
    """Names of the fresh (per-instance) datadirs under data_dir."""
    return sorted(p.name for p in cfg.data_dir.iterdir() if re.fullmatch(r"[0-9a-f]{16}", p.name))


@pytest.mark.asyncio
async def test_killed_runtimes_datadirs_are_reaped_never_a_kept_or_live_one(
    env: SupEnv,
) -> None:
    """exe-unit SIGKILLs runtimes; their datadirs used to stay forever (21 left after 30 kills).

    The next deploy moves them aside, the next start removes them; a provider-kept datadir
    (even one inside data_dir with an instance-like name), a live instance's datadir and
    anything else in data_dir stay.
    """
    data_dir = env.tmp_path / "data"
    kept = data_dir / "0123456789abcdef"
    kept.mkdir(parents=True)
    (kept / "chaindata").write_text("synced")
    (data_dir / "notes").mkdir()
    cfg = env.make_config(keep_datadirs={"sepolia": str(kept)})
    cfg_path = save_config(cfg, env.tmp_path / "runtime.json")
    env._default = cfg
    live = env.service(cfg, name="live")
    out_live = await live.start([json.dumps(ANVIL)])
    killed = []
    for i in range(3):
        out, _master = await _runtime_killed_with_an_instance(env, cfg_path, f"rt-{i}")
        killed.append(out["instance"])
    left = fresh_datadirs(cfg)
    assert killed[-1] in left  # what the last kill left behind
    assert not set(killed[:-1]) & set(left), left  # each later start reaped the ones before

    from erigolem_runtime.api.client import RuntimeClient

    await RuntimeClient(env.tmp_path / "rt-deploy", config_path=cfg_path).deploy()
    assert killed[-1] not in fresh_datadirs(cfg)  # moved aside at once
    assert killed[-1] in [p.name for p in (data_dir / ".reaping").iterdir()]

    svc = env.service(cfg, name="next")
    out = await svc.start([json.dumps(ANVIL)])
    await wait_for(
        lambda: not any((data_dir / ".reaping").iterdir()), 20, "the dead datadirs to go"
    )
    remaining = fresh_datadirs(cfg)
    assert not set(killed) & set(remaining)
    assert out_live["instance"] in remaining
    assert out["instance"] in remaining
    assert kept.name in remaining
    assert (kept / "chaindata").read_text() == "synced"
    assert (data_dir / "notes").is_dir()
    assert (await rpc(out_live["url"], creds(out_live)))[0] == 200

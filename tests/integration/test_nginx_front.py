"""NginxFront against a real nginx (private master and "system" mode) and real anvil nodes."""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from erigolem_runtime.api.process import pid_alive
from erigolem_runtime.config import RuntimeConfig, load_config, parse_config
from erigolem_runtime.credentials import new_password, new_user
from erigolem_runtime.nginx import (
    NginxError,
    NginxFront,
    hash_password,
    stop_private_nginx,
)

from tests.support.binaries import REPO, free_port
from tests.support.runtime_env import make_local_config

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

CHAIN_ID = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}


def _wait_port(port: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise AssertionError(f"nothing listens on {port}")


@pytest.fixture
def anvils(anvil_bin: Path) -> Iterator[list[int]]:
    """Two real anvil dev nodes on loopback (ports), killed afterwards."""
    procs: list[subprocess.Popen[bytes]] = []
    ports: list[int] = []
    try:
        for _ in range(2):
            port = free_port()
            procs.append(
                subprocess.Popen(
                    [str(anvil_bin), "--host", "127.0.0.1", "--port", str(port)],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
            ports.append(port)
        for port in ports:
            _wait_port(port)
        yield ports
    finally:
        for p in procs:
            p.kill()
            p.wait(5)


@pytest.fixture
def config(tmp_path: Path, nginx_bin: Path) -> Iterator[RuntimeConfig]:
    """A local config (private nginx under tmp_path); any master it started is stopped."""
    cfg = load_config(make_local_config(tmp_path / "rt"))
    cfg = replace(cfg, nginx=replace(cfg.nginx, binary=str(nginx_bin)))
    try:
        yield cfg
    finally:
        assert cfg.nginx.prefix is not None
        stop_private_nginx(cfg.nginx.prefix)


def _post(url: str, auth: tuple[str, str] | None, body: object = CHAIN_ID) -> tuple[int, str]:
    """One JSON-RPC POST on a fresh connection: (status, body text)."""
    rest = url.split("://", 1)[1]
    hostport, path = rest.split("/", 1)
    conn = http.client.HTTPConnection(hostport, timeout=10)
    headers = {"Content-Type": "application/json"}
    if auth:
        headers["Authorization"] = "Basic " + base64.b64encode(":".join(auth).encode()).decode()
    try:
        conn.request("POST", "/" + path, json.dumps(body), headers)
        resp = conn.getresponse()
        return resp.status, resp.read().decode()
    finally:
        conn.close()


def _served(front: NginxFront, iid: str, expected: int) -> int:
    """requests_served once nginx has written its log lines (written just after the reply)."""
    deadline = time.monotonic() + 5
    while (n := front.requests_served(iid)) < expected and time.monotonic() < deadline:
        time.sleep(0.01)
    return n


def _oversize(url: str, auth: tuple[str, str] | None) -> int:
    """A POST announcing a 17 MB body (over client_max_body_size): nginx's status."""
    rest = url.split("://", 1)[1]
    hostport, path = rest.split("/", 1)
    conn = http.client.HTTPConnection(hostport, timeout=10)
    try:
        conn.putrequest("POST", "/" + path)
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Content-Length", str(17 * 1024 * 1024))
        if auth:
            token = base64.b64encode(":".join(auth).encode()).decode()
            conn.putheader("Authorization", "Basic " + token)
        conn.endheaders()
        return conn.getresponse().status
    finally:
        conn.close()


async def test_only_authenticated_requests_are_billed(
    config: RuntimeConfig, anvils: list[int]
) -> None:
    """Issue 11 item 5: 100 unauthenticated oversize POSTs (413 before auth) bill nothing."""
    front = NginxFront(config)
    user, password = new_user(), new_password()
    url = await front.add_instance("node-bill", anvils[0], user, password)
    try:
        statuses = [_oversize(url, None) for _ in range(100)]
        statuses += [_oversize(url, (user, "x" * 24)) for _ in range(10)]  # wrong password
        statuses += [_post(url, None)[0] for _ in range(10)]
        assert set(statuses[:110]) == {413}
        assert set(statuses[110:]) == {401}
        assert _post(url, (user, password))[0] == 200
        assert _served(front, "node-bill", 1) == 1
        await asyncio.sleep(0.3)  # any late log line would show up now
        assert front.requests_served("node-bill") == 1
        print("\n[billing] 120 unauthenticated answers (110 x 413, 10 x 401) + 1 served: billed 1")
    finally:
        await front.remove_instance("node-bill")


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()} if root.exists() else set()


async def test_auth_isolation_counting_and_master_lifecycle(
    config: RuntimeConfig, anvils: list[int]
) -> None:
    front = NginxFront(config)
    user = new_user()
    pw_a, pw_b = new_password(), new_password()
    url_a = await front.add_instance("node-a", anvils[0], user, pw_a)
    master = front.master_pid()
    assert master is not None
    url_b = await front.add_instance("node-b", anvils[1], user, pw_b)
    assert front.master_pid() == master  # one master serves both
    assert url_a == config.public_url + "/node-a/"
    assert front.active_instances() == ["node-a", "node-b"]

    status, body = _post(url_a, None)
    assert status == 401
    assert "wrong or missing credentials" in body
    assert _post(url_a, (user, "x" * 24))[0] == 401
    assert _post(url_a, ("other", pw_a))[0] == 401
    status, body = _post(url_a, (user, pw_a))
    assert status == 200
    assert json.loads(body)["result"] == "0x7a69"
    assert _post(url_b, (user, pw_a))[0] == 401  # A's credentials never open B
    assert _post(url_b, (user, pw_b))[0] == 200
    assert _post(config.public_url + "/nobody/", (user, pw_a))[0] == 404
    assert _post(url_a.rstrip("/"), (user, pw_a))[0] == 200  # no trailing slash: same node

    assert _served(front, "node-a", 2) == 2  # the 401s are not billed
    for _ in range(3):
        _post(url_a, (user, pw_a))
    assert _served(front, "node-a", 5) == 5
    assert _served(front, "node-b", 1) == 1

    ht = front.layout.htpasswd_file("node-a")
    assert stat.S_IMODE(ht.stat().st_mode) == 0o600
    line = ht.read_text()
    assert line.startswith(f"{user}:{{SSHA}}")  # the default scheme
    assert len(base64.b64decode(line.strip().split("{SSHA}", 1)[1])) == 20 + 16  # 16-byte salt
    assert pw_a not in line

    await front.remove_instance("node-a")
    assert _post(url_a, (user, pw_a))[0] == 404  # gone at once
    assert not ht.exists()
    assert not front.layout.location_file("node-a").exists()
    assert not front.layout.upstream_file("node-a").exists()
    assert not front.layout.log_file("node-a").exists()
    assert front.requests_served("node-a") == 5  # final count stays readable
    assert _post(url_b, (user, pw_b))[0] == 200
    assert front.master_pid() == master

    await front.remove_instance("node-b")  # the last one: the master goes too
    assert not pid_alive(master)
    assert front.master_pid() is None
    await front.remove_instance("node-b")  # idempotent


async def test_rotation_is_immediate(config: RuntimeConfig, anvils: list[int]) -> None:
    front = NginxFront(config)
    old, new = new_password(), new_password()
    url = await front.add_instance("rot-node", anvils[0], "erigolem", old)
    assert _post(url, ("erigolem", old))[0] == 200
    await front.set_password("rot-node", "erigolem", new)
    assert _post(url, ("erigolem", old))[0] == 401
    assert _post(url, ("erigolem", new))[0] == 200
    with pytest.raises(NginxError, match="no instance"):
        await front.set_password("not-there", "erigolem", new)
    await front.remove_instance("rot-node")


async def test_failed_nginx_test_rolls_back(config: RuntimeConfig, anvils: list[int]) -> None:
    front = NginxFront(config)
    pw = new_password()
    url = await front.add_instance("good-one", anvils[0], "erigolem", pw)
    bad = front.layout.server_dir / "X_broken.conf"  # someone else's broken file
    bad.write_text("this is not nginx config;\n")
    before = _files(front.layout.include_dir) | _files(front.layout.htpasswd_dir)
    with pytest.raises(NginxError, match="unknown directive"):
        await front.add_instance("second", anvils[1], "erigolem", new_password())
    after = _files(front.layout.include_dir) | _files(front.layout.htpasswd_dir)
    assert after == before
    assert front.active_instances() == ["good-one"]
    assert _post(url, ("erigolem", pw))[0] == 200  # the running config is untouched
    bad.unlink()
    await front.remove_instance("good-one")


HOSTILE = ["../x", "a;b", "a b", "ab\ncd", "abc\n", "$host", "x" * 300, "A-B-C", "", "a}b{"]


async def test_hostile_ids_never_reach_a_file(config: RuntimeConfig, tmp_path: Path) -> None:
    front = NginxFront(config)
    before = _files(tmp_path)
    for bad in HOSTILE:
        with pytest.raises(ValueError, match="invalid instance id"):
            await front.add_instance(bad, 30000, "erigolem", new_password())
        with pytest.raises(ValueError):
            await front.set_password(bad, "erigolem", new_password())
        with pytest.raises(ValueError):
            await front.remove_instance(bad)
        with pytest.raises(ValueError):
            front.requests_served(bad)
    with pytest.raises(ValueError, match="invalid user"):
        await front.add_instance("fine-id", 30000, "a:b", new_password())
    with pytest.raises(ValueError, match="invalid password"):
        await front.add_instance("fine-id", 30000, "erigolem", "short")
    with pytest.raises(ValueError, match="upstream port"):
        await front.add_instance("fine-id", 70000, "erigolem", new_password())
    assert _files(tmp_path) == before
    assert front.master_pid() is None


STALE_OWNER = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from dataclasses import replace
    from erigolem_runtime.config import load_config
    from erigolem_runtime.nginx import NginxFront
    cfg = load_config(Path(sys.argv[1]))
    cfg = replace(cfg, nginx=replace(cfg.nginx, binary=sys.argv[3]))
    asyncio.run(NginxFront(cfg).add_instance("stale-one", int(sys.argv[2]), "erigolem", "p" * 24))
    print("ready", flush=True)
    sys.stdin.read()
    """
)


def _owner_adds_and_dies(config: RuntimeConfig, anvil_port: int) -> None:
    """Another runtime process adds `stale-one`, then is SIGKILLed without removing it."""
    assert config.source is not None
    owner = subprocess.Popen(
        [
            sys.executable,
            "-c",
            STALE_OWNER,
            str(config.source),
            str(anvil_port),
            config.nginx.binary,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=REPO,
    )
    try:
        assert owner.stdout is not None
        assert owner.stdout.readline().strip() == b"ready"
        stale_url = config.instance_url("stale-one")
        assert _post(stale_url, ("erigolem", "p" * 24))[0] == 200
        owner.send_signal(signal.SIGKILL)  # dies without removing its instance
        owner.wait(5)
    finally:
        owner.kill()
        owner.wait(5)
        for f in (owner.stdin, owner.stdout):
            if f:
                f.close()


async def test_instance_of_a_dead_owner_is_reaped(
    config: RuntimeConfig, anvils: list[int], tmp_path: Path
) -> None:
    _owner_adds_and_dies(config, anvils[0])
    front = NginxFront(config)
    master = front.master_pid()
    assert master is not None  # still up: its owner never said goodbye
    assert await front.reap_stale() == ["stale-one"]
    assert not pid_alive(master)  # nothing live left: no orphaned nginx
    assert not front.layout.htpasswd_file("stale-one").exists()
    assert not front.layout.record_file("stale-one").exists()

    # and an add reaps too, while the master keeps serving the live instance
    front.layout.record_file("ghost-node").parent.mkdir(parents=True, exist_ok=True)
    front.layout.record_file("ghost-node").write_text(json.dumps({"pid": 2**22 + 1, "port": 1}))
    url = await front.add_instance("live-node", anvils[1], "erigolem", "q" * 24)
    assert front.active_instances() == ["live-node"]
    assert not front.layout.record_file("ghost-node").exists()
    assert _post(url, ("erigolem", "q" * 24))[0] == 200
    await front.remove_instance("live-node")


async def test_master_with_no_registration_left_is_stopped(
    config: RuntimeConfig, anvils: list[int]
) -> None:
    """An owner that died between unregistering and stopping the master leaves it idle."""
    _owner_adds_and_dies(config, anvils[0])
    front = NginxFront(config)
    master = front.master_pid()
    assert master is not None
    # Its registration and files are gone (it removed them), but it died before stopping
    # the master: nothing names the master any more except the prefix's pid file.
    for path in (
        front.layout.record_file("stale-one"),
        front.layout.location_file("stale-one"),
        front.layout.upstream_file("stale-one"),
    ):
        path.unlink()
    await front.reap_stale()
    assert not pid_alive(master)  # no orphaned nginx, even without a registration


async def test_listen_port_taken_gives_a_clear_error(
    config: RuntimeConfig, anvils: list[int]
) -> None:
    front = NginxFront(config)
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", config.nginx.listen_port))
        squatter.listen()
        with pytest.raises(NginxError, match=r"nginx\.listen"):
            await front.add_instance("blocked", anvils[0], "erigolem", new_password())
    assert front.active_instances() == []
    assert not front.layout.location_file("blocked").exists()


async def test_missing_nginx_binary_names_the_key(config: RuntimeConfig, tmp_path: Path) -> None:
    cfg = replace(config, nginx=replace(config.nginx, binary=str(tmp_path / "no-nginx")))
    with pytest.raises(NginxError, match=r"nginx\.binary"):
        await NginxFront(cfg).add_instance("nobin", 30000, "erigolem", new_password())
    cfg = replace(config, nginx=replace(config.nginx, binary="no-such-nginx-anywhere"))
    with pytest.raises(NginxError, match=r"nginx\.binary"):
        await NginxFront(cfg).add_instance("nobin", 30000, "erigolem", new_password())


@pytest.fixture
def system_nginx(tmp_path: Path, nginx_bin: Path) -> Iterator[tuple[list[str], int, Path]]:
    """Plays the provider's system nginx: a real master whose main config includes our dirs.

    Yields (control argv, its port, the include dir); the master is stopped afterwards.
    """
    sysng = tmp_path / "sysnginx"
    include = tmp_path / "erigolem-include"
    for d in ("conf", "logs", "tmp"):
        (sysng / d).mkdir(parents=True)
    port = free_port()
    user = "user root root;" if os.geteuid() == 0 else ""
    (sysng / "conf/nginx.conf").write_text(
        f"""worker_processes 1; pid logs/nginx.pid; error_log logs/error.log; {user}
events {{ worker_connections 64; }}
http {{ access_log off; client_body_temp_path tmp/b; proxy_temp_path tmp/p;
  fastcgi_temp_path tmp/f; uwsgi_temp_path tmp/u; scgi_temp_path tmp/s;
  include {include}/http/*.conf;
  server {{ listen 127.0.0.1:{port}; location / {{ return 404; }}
           include {include}/server/*.conf; }} }}
"""
    )
    ctl = [str(nginx_bin), "-p", f"{sysng}/", "-c", "conf/nginx.conf", "-e", "logs/error.log"]
    (include / "http").mkdir(parents=True)
    (include / "server").mkdir()
    subprocess.run(ctl, check=True)
    try:
        yield ctl, port, include
    finally:
        # A system nginx is stopped through its own control command, as a provider would: the
        # runtime's stop_private_nginx signals only masters it recorded starting itself.
        subprocess.run([*ctl, "-s", "stop"], check=False, capture_output=True, timeout=10)
        pid_file = sysng / "logs/nginx.pid"
        deadline = time.monotonic() + 10
        while pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not pid_file.exists(), "the test's system nginx did not stop"


async def test_system_mode_against_a_running_nginx(
    tmp_path: Path,
    nginx_bin: Path,
    anvils: list[int],
    system_nginx: tuple[list[str], int, Path],
) -> None:
    ctl, port, include = system_nginx
    ctl_prefix = Path(ctl[2])
    cfg = parse_config(
        {
            "public_url": f"http://127.0.0.1:{port}",
            "nginx": {
                "mode": "system",
                "binary": str(nginx_bin),
                "include_dir": str(include),
                "htpasswd_dir": str(tmp_path / "htpasswd"),
                "reload_command": [*ctl, "-s", "reload"],
                "test_command": [*ctl, "-t", "-q"],
                "check_url": f"http://127.0.0.1:{port}",
                "pid_file": str(ctl_prefix / "logs/nginx.pid"),
                "hash_scheme": "apr1",
            },
            "ports": {"first": 30000, "last": 30010},
            "state_dir": str(tmp_path / "state"),
            "data_dir": str(tmp_path / "data"),
        }
    )
    front = NginxFront(cfg)
    pw = new_password()
    url = await front.add_instance("sys-node", anvils[0], "erigolem", pw)
    assert front.layout.htpasswd_file("sys-node").read_text().startswith("erigolem:$apr1$")
    assert _post(url, ("erigolem", pw))[0] == 200
    assert _post(url, ("erigolem", "y" * 24))[0] == 401
    assert _served(front, "sys-node", 1) == 1
    await front.remove_instance("sys-node")
    assert _post(url, ("erigolem", pw))[0] == 404
    assert _files(include) == {include / "http/_erigolem.conf", include / "server/_erigolem.conf"}


async def test_hash_password_refuses_an_unknown_scheme() -> None:
    with pytest.raises(ValueError, match="unknown hash scheme 'bcrypt'"):
        hash_password("x" * 24, "bcrypt")


async def test_counter_reads_a_log_bigger_than_one_chunk_in_one_call(
    config: RuntimeConfig,
) -> None:
    """A busy node's log grows by MBs between reads; every complete line counts at once."""
    front = NginxFront(config)
    log = front.layout.log_file("busy-node")
    log.parent.mkdir(parents=True, exist_ok=True)
    line = b"1700000000.123 200 250 300\n"
    with log.open("wb") as fh:
        fh.write(line * 100_000)  # 2.7 MB: several of the reader's 1 MiB chunks
        fh.write(line[:10])  # a line nginx is still writing
    assert front.requests_served("busy-node") == 100_000
    with log.open("ab") as fh:
        fh.write(line[10:] + line)
    assert front.requests_served("busy-node") == 100_002
    log.write_bytes(line)  # replaced (rotated): counted afresh
    assert front.requests_served("busy-node") == 1


async def test_usage_counts_authenticated_requests_over_time_with_errors_and_latency(
    config: RuntimeConfig, anvils: list[int]
) -> None:
    """Issue 14 usage view: nginx's log gives requests per bucket, errors and latency; 401s and
    preflights are not there, and no request body reaches the log."""
    front = NginxFront(config)
    user, password = new_user(), new_password()
    url = await front.add_instance("node-use", anvils[0], user, password)
    secret = {"jsonrpc": "2.0", "id": 1, "method": "eth_call", "params": ["SECRET-PARAM"]}
    try:
        assert {_post(url, None)[0] for _ in range(5)} == {401}
        assert {_post(url, (user, password))[0] for _ in range(6)} == {200}
        assert _post(url, (user, password), secret)[0] == 200
        # an error the node answers with an HTTP status: GET on anvil's JSON-RPC root
        rest = url.split("://", 1)[1]
        hostport, path = rest.split("/", 1)
        conn = http.client.HTTPConnection(hostport, timeout=10)
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        conn.request("GET", "/" + path, headers={"Authorization": "Basic " + token})
        get_status = conn.getresponse().status
        conn.close()
        assert _served(front, "node-use", 8) == 8
        usage = front.usage("node-use")
        assert usage.requests == 8  # the 5 x 401 are not in it
        assert usage.statuses.get("200") == 7
        assert usage.errors == (1 if get_status >= 400 else 0)
        assert usage.statuses.get(str(get_status), 0) >= 1
        assert all(b.start % usage.bucket_sec == 0 for b in usage.buckets)
        assert usage.buckets[-1].start <= time.time() < usage.buckets[-1].start + 3600
        assert 0 <= usage.p50_ms <= usage.p95_ms < 5000
        log_text = front.layout.log_file("node-use").read_text()
        assert "SECRET-PARAM" not in log_text
        assert "eth_call" not in log_text
        # every line carries $request_time now (five fields)
        assert {len(line.split()) for line in log_text.splitlines()} == {5}
        print(f"\n[usage] 8 served ({get_status=}), p50 {usage.p50_ms} ms, p95 {usage.p95_ms} ms")
    finally:
        await front.remove_instance("node-use")

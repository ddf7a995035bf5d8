"""Port leases: distinct across processes, skip busy ports, clear error when exhausted."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from erigolem_runtime.config import RuntimeConfig, parse_config
from erigolem_runtime.ports import PortLease, PortRangeExhausted, allocate_ports, port_is_free

from tests.support.binaries import REPO


def _free_block(size: int) -> int:
    """Find `size` consecutive free ports below the ephemeral range (probing)."""
    import random

    for _ in range(200):
        first = random.randint(20000, 32000 - size)
        if all(port_is_free(p) for p in range(first, first + size)):
            return first
    raise RuntimeError("no free port block found")


def _config(tmp_path: Path, first: int, last: int) -> RuntimeConfig:
    return parse_config(
        {
            "public_url": "http://127.0.0.1:1",
            "nginx": {"mode": "private", "prefix": "ng", "listen": "127.0.0.1:1025"},
            "ports": {"first": first, "last": last},
            "state_dir": "state",
            "data_dir": "data",
        },
        base=tmp_path,
    )


def test_leases_are_distinct_and_released(tmp_path: Path) -> None:
    first = _free_block(10)
    cfg = _config(tmp_path, first, first + 9)
    a = allocate_ports(cfg, 4, "a")
    b = allocate_ports(cfg, 4, "b")
    assert len(set(a.ports) | set(b.ports)) == 8
    assert all(first <= p <= first + 9 for p in a.ports + b.ports)
    with pytest.raises(PortRangeExhausted) as info:
        allocate_ports(cfg, 3, "c")
    msg = str(info.value)
    assert "ports.first" in msg
    assert "needed 3, found 2" in msg
    assert "8 leased" in msg
    a.release()
    a.release()  # idempotent
    with allocate_ports(cfg, 3, "c") as c:
        assert set(c.ports) <= set(range(first, first + 10)) - set(b.ports)
    assert not c.held
    b.release()


def test_busy_port_is_skipped_and_counted(tmp_path: Path) -> None:
    first = _free_block(3)
    cfg = _config(tmp_path, first, first + 2)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", first + 1))
        squatter.listen()
        lease = allocate_ports(cfg, 2, "x")
        assert lease.ports == [first, first + 2]
        lease.release()
        with pytest.raises(PortRangeExhausted, match="1 in use by other programs"):
            allocate_ports(cfg, 3, "y")


def test_bad_count_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least one port"):
        allocate_ports(_config(tmp_path, 30000, 30001), 0, "z")


CHILD = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from erigolem_runtime.config import load_config
    from erigolem_runtime.ports import allocate_ports, PortRangeExhausted
    cfg = load_config(Path(sys.argv[1]))
    got = []
    leases = []
    go = Path(sys.argv[2])
    while not go.exists():
        time.sleep(0.005)
    for i in range(15):
        try:
            lease = allocate_ports(cfg, 2, f"{sys.argv[3]}-{i}")
        except PortRangeExhausted:
            break
        leases.append(lease)
        got.extend(lease.ports)
    print(json.dumps(got), flush=True)
    sys.stdin.read()  # hold the leases until the parent closes stdin
    """
)


def test_two_processes_never_collide_and_dead_leases_return(tmp_path: Path) -> None:
    first = _free_block(40)
    cfg_path = tmp_path / "cfg.json"
    cfg = _config(tmp_path, first, first + 39)
    cfg_path.write_text(json.dumps(cfg.to_json()))
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, str(cfg_path), str(go), name],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=REPO,
            text=True,
        )
        for name in ("p1", "p2")
    ]
    try:
        go.touch()
        results = [json.loads(p.stdout.readline()) for p in procs if p.stdout]
        both = results[0] + results[1]
        assert len(both) == len(set(both)), "two processes leased the same port"
        # The range was shared out (other programs running tests may squat a port or two).
        assert len(both) >= 34
        # What is left for a third party is only what neither child holds. A port another
        # program squatted while the children leased may be free again now, so take single
        # ports until the range is exhausted instead of assuming none are left.
        rest: list[PortLease] = []
        exhausted = False
        for i in range(41):
            try:
                rest.append(allocate_ports(cfg, 1, f"parent-{i}"))
            except PortRangeExhausted:
                exhausted = True
                break
        assert exhausted, "a 40-port range gave out more than 40 leases"
        taken = [p for lease in rest for p in lease.ports]
        assert not set(taken) & set(both), "a port held by a live child was leased again"
        assert len(taken) <= 40 - len(both)
        for lease in rest:
            lease.release()
        procs[0].kill()  # a dead owner's leases come back
        procs[0].wait(5)
        lease = allocate_ports(cfg, len(results[0]), "parent")
        assert not set(lease.ports) & set(results[1])  # p2's leases still hold
        lease.release()
    finally:
        for p in procs:
            p.kill()
            p.wait(5)
            if p.stdin:
                p.stdin.close()
            if p.stdout:
                p.stdout.close()

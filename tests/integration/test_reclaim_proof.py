"""Settling leftover node records fails closed (issue 11 item 1), through the real CLI.

`erigolem node list` settles records whose owner is gone and kills what is left of their
runtime, but only a process it proves it started (start time, executable, command line and the
project's spawn marker). Each record below names a process the test started itself; the ones
that cannot be proven must survive, their records stopped with the reason, nothing signalled.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from erigolem_runtime.api.process import MARKER_ENV, identify, new_marker, process_token

from erigolem_desktop.core.records import NodeRecord, NodeStore
from erigolem_desktop.core.states import NodeState

pytestmark = pytest.mark.integration

CLI = [sys.executable, "-m", "erigolem_desktop"]
NOTHING = "nothing was signalled"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=60, check=False)


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


@pytest.fixture
def spawn() -> Iterator[Any]:
    """Start `sleep 60` (optionally with the project's marker); all are killed at the end."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(marker: str | None = None) -> subprocess.Popen[bytes]:
        env = dict(os.environ)
        if marker is not None:
            env[MARKER_ENV] = marker
        proc = subprocess.Popen(["sleep", "60"], env=env, start_new_session=True)
        deadline = time.monotonic() + 5
        # until the exec is complete: the new program, its argv and environment all visible
        while (
            (ident := identify(proc.pid)) is None
            or not ident["exe"].endswith("sleep")
            or ident["marker"] != (marker or "")
        ):
            assert time.monotonic() < deadline, "sleep did not start"
            time.sleep(0.01)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        proc.kill()
        proc.wait()


def _record(node_id: str, runtime: dict[str, Any], **extra: Any) -> NodeRecord:
    base: dict[str, Any] = {"owner_pid": _dead_pid(), "owner_token": "1", "owner_kind": "app"}
    return NodeRecord(
        id=node_id,
        name=node_id,
        backend="local",
        chain="dev",
        client="anvil",
        state=NodeState.READY,
        runtime={**base, **runtime},
        **extra,
    )


def _settle(records: list[NodeRecord]) -> dict[str, dict[str, Any]]:
    store = NodeStore()
    for rec in records:
        store.add(rec)
    store.close()
    listed = _cli("node", "list", "--all", "--json")
    assert listed.returncode == 0, listed.stderr
    return {n["id"]: n for n in json.loads(listed.stdout)}


def _alive(proc: subprocess.Popen[bytes]) -> bool:
    return proc.poll() is None and process_token(proc.pid) is not None


def test_pid_1_with_no_token_is_never_signalled(erigolem_home: Path) -> None:
    """The record that once made `node list` SIGTERM/SIGKILL process group 1."""
    nodes = _settle(
        [
            _record("pidone1", {"runtime_pid": 1, "runtime_token": ""}),
            _record("pidone2", {"runtime_pid": 1}),
            _record("pidzero", {"runtime_pid": 0, "runtime_token": None}),
        ]
    )
    assert process_token(1) is not None  # still here, and so are we
    for node_id in ("pidone1", "pidone2"):
        assert nodes[node_id]["state"] == "stopped"
        reason = nodes[node_id]["reason"]
        assert "could not prove the runtime process (pid 1) was ours" in reason
        assert NOTHING in reason
    assert nodes["pidzero"]["state"] == "stopped"
    assert NOTHING in nodes["pidzero"]["reason"]


def test_unrelated_and_reused_pids_survive(erigolem_home: Path, spawn: Any) -> None:
    """A live process the project did not start survives, even with its right start token."""
    stranger = spawn()  # no marker: not ours
    reused = spawn()  # a stranger now holds the pid a marked process of ours had
    time.sleep(0.05)  # start times are in clock ticks (10 ms): let the two differ
    ours_before = spawn(new_marker())
    ours_identity = identify(ours_before.pid)
    stranger_identity = identify(stranger.pid)
    assert ours_identity is not None
    assert stranger_identity is not None
    nodes = _settle(
        [
            # the correct token of an unrelated process, and the old token-only record shape
            _record(
                "stranger1",
                {"runtime_pid": stranger.pid, "runtime_token": process_token(stranger.pid)},
            ),
            # its full identity, but it lacks the marker, so a forged marker cannot match
            _record(
                "stranger2",
                {
                    "runtime_pid": stranger.pid,
                    "runtime_token": stranger_identity["token"],
                    "runtime_identity": {**stranger_identity, "marker": new_marker()},
                },
            ),
            # a good identity of one of ours, but the pid names another process now
            _record(
                "reused01",
                {
                    "runtime_pid": reused.pid,
                    "runtime_token": ours_identity["token"],
                    "runtime_identity": ours_identity,
                },
            ),
        ]
    )
    assert _alive(stranger)
    assert _alive(reused)
    assert _alive(ours_before)
    for node_id in ("stranger1", "stranger2", "reused01"):
        assert nodes[node_id]["state"] == "stopped", node_id
        assert NOTHING in nodes[node_id]["reason"], nodes[node_id]["reason"]
    assert "holds no start time" in nodes["stranger1"]["reason"]
    assert f"does not carry the project's marker ({MARKER_ENV})" in nodes["stranger2"]["reason"]
    assert "start time differs" in nodes["reused01"]["reason"]


def test_a_proven_runtime_is_killed_and_gone_ones_are_just_settled(
    erigolem_home: Path, spawn: Any
) -> None:
    """The other side: a leftover the project provably started is ended, group and all."""
    ours = spawn(new_marker())
    identity = identify(ours.pid)
    assert identity is not None
    nodes = _settle(
        [
            _record(
                "oursnode",
                {
                    "runtime_pid": ours.pid,
                    "runtime_token": identity["token"],
                    "runtime_identity": identity,
                },
            ),
            _record("gonenode", {"runtime_pid": _dead_pid(), "runtime_token": "123"}),
        ]
    )
    assert nodes["oursnode"]["state"] == "stopped"
    assert NOTHING not in nodes["oursnode"]["reason"], nodes["oursnode"]["reason"]
    ours.wait(10)
    assert (
        nodes["oursnode"]["reason"]
        == "the app was closed while the node was running; it was stopped"
    )
    assert nodes["gonenode"]["state"] == "stopped"
    assert NOTHING not in nodes["gonenode"]["reason"]


def test_node_stop_never_signals_an_unproven_owner(erigolem_home: Path, spawn: Any) -> None:
    """`node stop` asks a `node start` owner to stop by SIGTERM, only an owner it can prove."""
    stranger = spawn()
    rec = _record(
        "ownednode",
        {"runtime_pid": _dead_pid()},
    )
    rec = rec.evolve(
        runtime={
            **rec.runtime,
            "owner_pid": stranger.pid,
            "owner_token": process_token(stranger.pid),
            "owner_kind": "node-start",
        }
    )
    store = NodeStore()
    store.add(rec)
    store.close()
    stop = _cli("node", "stop", "ownednode")
    assert stop.returncode == 1, stop.stderr
    assert f"Could not prove that process {stranger.pid}" in stop.stderr
    assert NOTHING in stop.stderr
    time.sleep(0.2)
    assert _alive(stranger)

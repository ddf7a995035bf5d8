"""The runtime API's types: status round trips, error kinds on the wire, process helpers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from erigolem_runtime.api import (
    Auth,
    ErrorKind,
    NodeStatus,
    RunOutcome,
    RuntimeState,
    ServiceError,
    SyncInfo,
    SyncStage,
)
from erigolem_runtime.api.paths import CONFIG_ENV, IncludeLayout, default_config_path
from erigolem_runtime.api.process import pid_alive, process_token, start_time

WIRE: dict[str, Any] = {
    "url": "http://127.0.0.1:8080/abc/",
    "ws_url": "ws://127.0.0.1:8080/abc/",
    "auth": {"user": "erigolem", "password": "p" * 24},
    "chain": "sepolia",
    "network": "sepolia",
    "client": "erigon",
    "client_version": "erigon/3.0",
    "state": "syncing",
    "instance": "abc",
    "sync": {
        "current_block": 5,
        "highest_block": 100,
        "stages": [{"name": "Headers", "block": 100}, {"name": "Bodies", "block": 5}],
        "progress": 0.525,
    },
    "peers": 7,
    "block": 5,
    "restarts": 1,
    "restarts_recent": 0,
    "reason": None,
    "requests": 42,
}


def test_the_runtime_status_json_round_trips_exactly() -> None:
    status = NodeStatus.from_json(WIRE)
    assert status.state is RuntimeState.SYNCING
    assert status.auth == Auth("erigolem", "p" * 24)
    assert status.sync == SyncInfo(
        5, 100, (SyncStage("Headers", 100), SyncStage("Bodies", 5)), 0.525
    )
    assert status.to_json() == WIRE
    assert json.loads(json.dumps(status.to_json())) == WIRE


def test_reading_is_tolerant_of_newer_and_odd_runtimes() -> None:
    newer = {
        **WIRE,
        "state": "hibernating",
        "grpc_url": "grpc://x/",
        "peers": "many",
        "block": "0x1f",
    }
    status = NodeStatus.from_json(newer)
    assert status.state is RuntimeState.STARTING  # an unknown state reads as starting
    assert status.peers is None
    assert status.block == 31
    assert status.extra == {"grpc_url": "grpc://x/"}
    assert status.to_json()["grpc_url"] == "grpc://x/"  # kept for whoever knows it
    original = NodeStatus.from_json({"network": "mainnet", "state": "ready"})
    assert original.chain == "mainnet"
    assert NodeStatus.from_json({}) == NodeStatus()


def test_public_status_drops_the_password_only() -> None:
    public = NodeStatus.from_json({**WIRE, "password": "legacy"}).public()
    assert public.auth == Auth("erigolem", None)
    assert public.to_json()["auth"] == {"user": "erigolem"}
    assert "password" not in public.to_json()
    assert public.requests == 42


@pytest.mark.parametrize("kind", list(ErrorKind))
def test_error_kind_and_context_survive_stderr_and_the_error_reply(kind: ErrorKind) -> None:
    err = ServiceError("it broke: do X", kind=kind, context={"client": "anvil", "n": "1"})
    back = ServiceError.from_text(err.wire_text())
    assert (back.message, back.kind, back.context) == (err.message, kind, err.context)
    reply = ServiceError.from_wire(err.message, err.wire_context())
    assert (reply.message, reply.kind, reply.context) == (err.message, kind, err.context)
    outcome = RunOutcome.failure(err)
    assert outcome.return_code == 1
    assert ServiceError.from_text(outcome.stderr.decode()).kind is kind


def test_text_without_a_trailer_or_with_an_unknown_kind_is_a_plain_failure() -> None:
    plain = ServiceError.from_text("something failed\n")
    assert (plain.message, plain.kind, plain.context) == ("something failed", ErrorKind.FAILED, {})
    newer = ServiceError.from_text('x\nerigolem-error: {"kind": "quantum", "context": {}}\n')
    assert (newer.message, newer.kind) == ("x", ErrorKind.FAILED)
    broken = ServiceError.from_text("x\nerigolem-error: {not json\n")
    assert broken.kind is ErrorKind.FAILED


def test_config_path_and_include_layout(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    env = {"XDG_DATA_HOME": str(tmp_path / "xdg")}
    assert default_config_path(env=env) == tmp_path / "xdg/erigolem-runtime/erigolem-runtime.json"
    assert default_config_path(tmp_path, env={}) == (
        tmp_path / ".local/share/erigolem-runtime/erigolem-runtime.json"
    )
    assert default_config_path(env={CONFIG_ENV: str(tmp_path / "c.json")}) == tmp_path / "c.json"
    lay = IncludeLayout(tmp_path / "inc")
    assert lay.location_file("ab12") == tmp_path / "inc/server/ab12.conf"
    assert lay.upstream_file("ab12") == tmp_path / "inc/http/ab12.conf"
    assert lay.http_common.name == lay.server_common.name == "_erigolem.conf"


def test_process_tokens_tell_a_live_process_from_a_gone_one() -> None:
    me = os.getpid()
    token = process_token(me)
    assert token is not None
    assert pid_alive(me, start_time(me))
    assert not pid_alive(me, (start_time(me) or 0) + 1)  # same pid, other start: not ours
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert process_token(child.pid) is None
    assert not pid_alive(child.pid)
    assert process_token(0) is None
    assert not pid_alive(-1)

"""The original's instance object from NodeRecords (server/instances.py): every state, names."""

from __future__ import annotations

import json

import pytest
from erigolem_runtime.api import NodeStatus

from erigolem_desktop.core.records import NodeRecord, utcnow
from erigolem_desktop.core.states import NodeState
from erigolem_desktop.server import instances

ORIGINAL_STATUSES = {"pending", "starting", "running", "stopping", "stopped", "failed"}


def record(state: NodeState, **kw: object) -> NodeRecord:
    base = NodeRecord(id="abc123def456", name="n", backend="local", chain="dev", client="anvil")
    return base.evolve(state=state, **kw)


@pytest.mark.parametrize("state", list(NodeState))
def test_every_state_maps_to_the_original_vocabulary(state: NodeState) -> None:
    rec = record(
        state,
        url="http://127.0.0.1:1/abc123def456/",
        user="erigolem",
        stopped_at=None if state.active else utcnow(),
        last_status=NodeStatus.from_json(
            {"state": "ready", "network": "dev", "sync": None, "block": 3}
        ),
    )
    obj = instances.instance(rec, "pw", {"network": "dev"})
    assert obj["status"] in ORIGINAL_STATUSES
    assert obj["state"] == state.value
    assert obj["init_params"] == {"network": "dev"}
    json.dumps(obj)  # JSON-ready
    running = state in (NodeState.SYNCING, NodeState.READY)
    assert obj["status"] == "running" if running else obj["status"] == state.value
    assert ("url" in obj) is running
    assert ("auth" in obj) is running
    assert ("stopped_at" in obj) is (not state.active)
    if running:
        assert obj["auth"] == {"user": "erigolem", "password": "pw"}
        assert obj["network"] == "dev"
        assert obj["block"] == 3


def test_init_params_fall_back_to_the_network() -> None:
    assert instances.instance(record(NodeState.PENDING), None)["init_params"] == {"network": "dev"}


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("My node", "My node"),
        ("  a\n\tb\x00c\x1b[31m ", "a bc[31m"),
        ("x" * 100, "x" * 64),
        ("e\u0301\u202etxt", "\u00e9txt"),  # NFC; the bidi override (a format char) goes
        ("", ""),
    ],
)
def test_names_are_display_text_only(raw: str, clean: str) -> None:
    assert instances.clean_name(raw) == clean


def test_name_must_be_a_string() -> None:
    with pytest.raises(instances.InputError, match="'name' should be a string"):
        instances.clean_name(5)


def test_create_takes_the_renters_allowed_origins() -> None:
    """`params.allow_origins` reaches the node's spec (CORS of its endpoint); bad ones are a 400."""
    kw = {
        "networks": {"anvil": ("dev",)},
        "default_client": {"dev": "anvil"},
        "backends": ("local",),
        "default_backend": "local",
    }
    body = {"params": {"network": "dev", "allow_origins": ["https://my-dapp.example"]}}
    req = instances.parse_create(body, **kw)  # type: ignore[arg-type]
    assert req.allow_origins == ("https://my-dapp.example",)
    assert instances.parse_create({"params": {"network": "dev"}}, **kw).allow_origins == ()  # type: ignore[arg-type]
    bad = {"params": {"network": "dev", "allow_origins": ["https://x.example/path"]}}
    with pytest.raises(instances.InputError, match=r"params\.allow_origins: invalid origin"):
        instances.parse_create(bad, **kw)  # type: ignore[arg-type]

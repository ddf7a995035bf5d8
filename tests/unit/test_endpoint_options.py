"""The renter's endpoint options: CORS origins from the CLI to the runtime's start argument."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from erigolem_runtime.credentials import validate_origins
from erigolem_runtime.nginx.templates import ERRORS, error_body

from erigolem_desktop.core.backends.base import NodeSpec
from tests.unit.test_rpc_cli import _erigolem


def test_start_argument_sends_origins_only_when_set() -> None:
    assert NodeSpec("dev", "anvil", "n").start_argument() == {"chain": "dev", "client": "anvil"}
    spec = NodeSpec("dev", "anvil", "n", allow_origins=("https://a.example",))
    assert spec.start_argument()["allow_origins"] == ["https://a.example"]


def test_origins_are_validated_strictly() -> None:
    assert validate_origins(None) == ()
    assert validate_origins("*") == ()
    assert validate_origins(["https://A.example:8443", "https://a.example:8443"]) == (
        "https://a.example:8443",
    )
    assert validate_origins(["http://localhost:3000", "*"]) == ()  # "*" anywhere: any origin
    for bad in ("https://a.example/", 'https://a"b', "ftp://a.example", "https://", "a.example"):
        with pytest.raises(ValueError, match="scheme://host"):
            validate_origins([bad])
    with pytest.raises(ValueError, match="non-empty list"):
        validate_origins([])


def test_error_bodies_are_json_rpc_errors_in_the_server_range() -> None:
    for status in ERRORS:
        obj = json.loads(error_body(status))
        assert obj["jsonrpc"] == "2.0"
        assert obj["id"] is None
        assert -32099 <= obj["error"]["code"] <= -32000


def test_cli_refuses_a_bad_origin_before_starting(erigolem_home: Path) -> None:
    out = _erigolem(erigolem_home, "node", "start", "--allow-origin", "https://a.example/path")
    assert out.returncode == 2, out.stderr
    assert "invalid origin" in out.stderr

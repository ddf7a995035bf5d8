"""Header hashes recomputed for every fork layout a chain uses: real anvil, one per hardfork."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from erigolem_desktop.core.gateway.verify import (
    VerificationError,
    check_account,
    check_header,
    header_fork,
)
from tests.support.binaries import free_port

pytestmark = pytest.mark.integration
FUNDED = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"


def _call(port: int, method: str, params: list[Any]) -> Any:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/", body, {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.load(resp)["result"]


@pytest.mark.parametrize(
    ("hardfork", "layout"),
    [("london", "london"), ("shanghai", "shanghai"), ("cancun", "cancun"), ("prague", "prague")],
)
def test_header_hash_and_proof_for_each_fork(anvil_bin: Path, hardfork: str, layout: str) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [
            str(anvil_bin),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--hardfork",
            hardfork,
            "--silent",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                _call(port, "evm_mine", [])
                break
            except OSError:
                time.sleep(0.05)
        block = _call(port, "eth_getBlockByNumber", ["latest", False])
        assert header_fork(block) == layout
        header = check_header(block)
        assert header.number == 1
        account = check_account(
            header.state_root, FUNDED, _call(port, "eth_getProof", [FUNDED, [], "latest"])
        )
        assert account.balance == int(_call(port, "eth_getBalance", [FUNDED, "latest"]), 16)
        # One changed field (any of the layout's) changes the hash: caught.
        for field in ("stateRoot", "timestamp", "baseFeePerGas"):
            tampered = dict(block)
            tampered[field] = hex(int(tampered[field], 16) ^ 1)
            if field == "stateRoot":
                tampered[field] = "0x" + tampered[field][2:].rjust(64, "0")
            with pytest.raises(VerificationError, match="not the hash of its header"):
                check_header(tampered)
    finally:
        proc.terminate()
        proc.wait(10)

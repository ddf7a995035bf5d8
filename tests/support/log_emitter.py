"""Fill a real anvil chain with event logs, so `eth_getLogs` gives a large, realistic answer.

A tiny hand-assembled contract emits `per_call` LOG1 events (topic = a counter, 32 bytes of
data) on every call; `fill_logs` deploys it and calls it until the chain holds `count` logs.
Used by the gzip test and tests/bench/bench_gzip.py (an 18.8 MB `eth_getLogs` answer is what
users reported; ~44k of these logs make one that size).
"""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

ANVIL_ACCOUNT = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"  # anvil's first, unlocked


def _runtime_code(per_call: int) -> bytes:
    """Loop `per_call` times: h = keccak256(i); log1(data = h, topic = h); then stop.

    Hashes, not counters, so the answer compresses like real logs (random-looking words).
    """
    if not 1 <= per_call <= 0xFFFF:
        raise ValueError("per_call must be 1..65535")
    return bytes(
        [
            *(0x61, per_call >> 8, per_call & 0xFF),  # PUSH2 n
            0x5B,  # 3: JUMPDEST
            *(0x80, 0x60, 0x00, 0x52),  # DUP1 PUSH1 0 MSTORE: mem[0] = i
            *(0x60, 0x20, 0x60, 0x00, 0x20),  # PUSH1 32 PUSH1 0 SHA3: h
            *(0x80, 0x60, 0x00, 0x52),  # DUP1 PUSH1 0 MSTORE: mem[0] = h
            *(0x60, 0x20, 0x60, 0x00, 0xA1),  # PUSH1 32 PUSH1 0 LOG1 (topic h)
            *(0x60, 0x01, 0x90, 0x03),  # PUSH1 1 SWAP1 SUB
            *(0x80, 0x60, 0x03, 0x57),  # DUP1 PUSH1 3 JUMPI
            0x00,  # STOP
        ]
    )


def _init_code(runtime: bytes) -> bytes:
    """Constructor returning `runtime`: codecopy(0, 11, len); return(0, len)."""
    n = len(runtime)
    return bytes([0x60, n, 0x80, 0x60, 0x0B, 0x60, 0x00, 0x39, 0x60, 0x00, 0xF3]) + runtime


def call(url: str, method: str, params: list[Any]) -> Any:
    """One JSON-RPC call straight to the node (no auth); raises on a JSON-RPC error."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    req = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        data = json.loads(resp.read())
    if "error" in data:
        raise RuntimeError(f"{method}: {data['error']}")
    return data["result"]


def _receipt(url: str, tx: str) -> dict[str, Any]:
    for _ in range(500):
        receipt = call(url, "eth_getTransactionReceipt", [tx])
        if receipt is not None:
            if receipt["status"] != "0x1":
                raise RuntimeError(f"transaction {tx} failed")
            return dict(receipt)
        time.sleep(0.01)
    raise RuntimeError(f"no receipt for {tx}")


def fill_logs(url: str, count: int, per_call: int = 200) -> str:
    """Deploy the emitter on the anvil at `url` and emit `count` logs, `per_call` per
    transaction (one block each, so block and transaction hashes vary as in real answers);
    returns the emitter's address."""
    per_call = min(per_call, count)
    deploy = call(
        url,
        "eth_sendTransaction",
        [{"from": ANVIL_ACCOUNT, "data": "0x" + _init_code(_runtime_code(per_call)).hex()}],
    )
    address = str(_receipt(url, deploy)["contractAddress"])
    for _ in range(-(-count // per_call)):
        tx = call(
            url,
            "eth_sendTransaction",
            [{"from": ANVIL_ACCOUNT, "to": address, "gas": hex(25_000 + 1_200 * per_call)}],
        )
        _receipt(url, tx)
    return address


def get_logs_request(address: str) -> bytes:
    """The `eth_getLogs` request body for every log the emitter wrote."""
    params = [{"fromBlock": "0x0", "toBlock": "latest", "address": address}]
    return json.dumps(
        {"jsonrpc": "2.0", "id": 1, "method": "eth_getLogs", "params": params}
    ).encode()

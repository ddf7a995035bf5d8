"""anvil as the hoodi payment chain for yagna's erc20 driver (set as its chain's RPC URL).

yagna reads balances through the "wrapper contract"'s `callWithDetails`; anvil gets a stub at
that address (via `anvil_setCode`) that answers chain id, block, time, 10 ETH and 1000 GLM.
The driver drops an endpoint whose head block is over 120 s old, so anvil runs with a block time.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.binaries import free_port

PAYMENT_NETWORK = "hoodi"  # yagna 0.17.6's default testnet (holesky was shut down in 2025)
PAYMENT_CHAIN_ID = 560048  # [chain.hoodi] chain-id in yagna's embedded config
RPC_ENV = "HOODI_GETH_ADDR"  # the erc20 driver's RPC override for the network
WRAPPER_CONTRACT = "0x7E69E00E00293D80F0f3E7e0Db5eab6D5d4E0EfF"  # [chain.hoodi] wrapper-contract
WRAPPER_STUB_CODE = (
    "0x6020600052466020524360405242606052678ac7230489e8000060805260a060a052602060c052"
    "683635c9adc5dea0000060e0526101006000f3"
)
TEN_ETH = hex(10 * 10**18)


def rpc(url: str, method: str, params: list[Any]) -> Any:
    """One JSON-RPC call over plain HTTP (synchronous: fixtures only)."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    req = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        reply = json.loads(resp.read())
    if "error" in reply:
        raise RuntimeError(f"{method}: {reply['error']}")
    return reply.get("result")


@dataclass
class PaymentChain:
    """A running anvil standing in for hoodi (chain id 560048, a block every second)."""

    url: str
    proc: subprocess.Popen[bytes]

    def fund(self, address: str) -> None:
        """Give `address` gas money (the stub already reports 1000 GLM for everyone)."""
        rpc(self.url, "anvil_setBalance", [address, TEN_ETH])

    def stop(self) -> None:
        stop_process(self.proc)


def start_payment_chain(anvil: Path, log_dir: Path) -> PaymentChain:
    port = free_port()
    with (log_dir / "anvil.log").open("wb") as log:
        proc = subprocess.Popen(
            [
                str(anvil),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--chain-id",
                str(PAYMENT_CHAIN_ID),
                "--block-time",
                "1",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while True:
        try:
            rpc(url, "eth_chainId", [])
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                stop_process(proc)
                raise RuntimeError(f"anvil did not start; see {log_dir / 'anvil.log'}") from None
            time.sleep(0.05)
    rpc(url, "anvil_setCode", [WRAPPER_CONTRACT, WRAPPER_STUB_CODE])
    return PaymentChain(url, proc)


def stop_process(proc: subprocess.Popen[bytes], grace: float = 8.0) -> None:
    """SIGTERM, wait up to `grace` seconds, then SIGKILL; always reaps the child."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

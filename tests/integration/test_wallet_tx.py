"""A wallet account signs an EIP-1559 transaction that a real anvil accepts and mines.

Straight to anvil on loopback (the through-a-rented-node path is covered with the node manager).
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from erigolem_desktop.core.wallet import Wallet
from tests.support.binaries import free_port
from tests.support.memkeyring import MemoryKeyring

pytestmark = pytest.mark.integration

RECIPIENT = "0x000000000000000000000000000000000000dEaD"


class Rpc:
    """A minimal JSON-RPC caller (stdlib only) so the test depends on nothing under test."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.ids = 0

    def __call__(self, method: str, *params: Any) -> Any:
        self.ids += 1
        body = json.dumps(
            {"jsonrpc": "2.0", "id": self.ids, "method": method, "params": list(params)}
        )
        req = urllib.request.Request(
            self.url, data=body.encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            reply = json.loads(resp.read())
        if "error" in reply:
            raise AssertionError(f"{method} failed: {reply['error']}")
        return reply["result"]


@pytest.fixture
def anvil(anvil_bin: Path, tmp_path: Path) -> Iterator[Rpc]:
    for _attempt in range(3):  # another test may grab the port between probe and bind
        port = free_port()
        log = (tmp_path / f"anvil-{port}.log").open("wb")
        proc = subprocess.Popen(
            [str(anvil_bin), "--host", "127.0.0.1", "--port", str(port), "--silent"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        rpc = Rpc(f"http://127.0.0.1:{port}")
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    rpc("eth_chainId")
                    break
                except OSError:
                    time.sleep(0.05)
            else:
                continue
            yield rpc
            return
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()
    pytest.fail("anvil did not start on a free loopback port (see anvil-*.log)")


def test_signed_eip1559_tx_is_mined(
    anvil: Rpc, memory_keyring: MemoryKeyring, erigolem_home: Path
) -> None:
    wallet = Wallet.open(scrypt_n=2**12)
    account, _phrase = wallet.create("tx passphrase", label="spender")
    anvil("anvil_setBalance", account.address, hex(10**18))
    wallet.unlock(account.address, "tx passphrase")

    chain_id = int(anvil("eth_chainId"), 16)
    nonce = int(anvil("eth_getTransactionCount", account.address, "pending"), 16)
    base_fee = int(anvil("eth_getBlockByNumber", "latest", False)["baseFeePerGas"], 16)
    tip = 10**9
    raw = wallet.sign_transaction(
        {
            "chainId": chain_id,
            "nonce": nonce,
            "to": RECIPIENT,
            "value": 12345,
            "gas": 21000,
            "maxFeePerGas": 2 * base_fee + tip,
            "maxPriorityFeePerGas": tip,
        }
    )
    tx_hash = anvil("eth_sendRawTransaction", raw)

    receipt = None
    deadline = time.monotonic() + 15  # automine is asynchronous: poll for the receipt
    while receipt is None and time.monotonic() < deadline:
        receipt = anvil("eth_getTransactionReceipt", tx_hash)
        if receipt is None:
            time.sleep(0.1)
    assert receipt is not None, "anvil never mined the transaction"
    assert receipt["status"] == "0x1"
    assert receipt["type"] == "0x2"
    assert receipt["from"].lower() == account.address.lower()
    assert int(anvil("eth_getBalance", RECIPIENT, "latest"), 16) == 12345

    # a second transaction with the same nonce is a replay: the node refuses it
    with pytest.raises(AssertionError, match="nonce"):
        anvil("eth_sendRawTransaction", raw)

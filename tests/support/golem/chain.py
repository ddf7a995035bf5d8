"""anvil as the hoodi payment chain for yagna's erc20 driver, with real payment contracts on it.

The contracts in `contracts/PaymentChain.sol` (the project's own, from the ABIs yagna embeds) are
compiled with npm `solc` (the devDependency in package.json), deployed from anvil's first dev
account, and their runtime code (immutables filled in) is copied with `anvil_setCode` to the
addresses of yagna's built-in `[chain.hoodi]` config (`strings yagna | grep -A25 '^\\[chain.hoodi\\]'`),
so the driver runs unchanged: balances through the wrapper's `callWithDetails`, the allowance of
the multi-transfer contract, `approve`, and the payment as an ERC-20 `Transfer`.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from eth_abi.abi import decode, encode
from eth_utils.crypto import keccak

from tests.support.binaries import free_port

PAYMENT_NETWORK = "hoodi"  # yagna 0.17.6's default testnet (holesky was shut down in 2025)
PAYMENT_CHAIN_ID = 560048  # [chain.hoodi] chain-id in yagna's embedded config
RPC_ENV = "HOODI_GETH_ADDR"  # the erc20 driver's RPC override for the network
# [chain.hoodi] in yagna 0.17.6's embedded config
TOKEN_CONTRACT = "0x55555555555556AcFf9C332Ed151758858bd7a26"
MULTI_CONTRACT = "0x222222222220C9269Cfb43eD434888F604d1dC21"
WRAPPER_CONTRACT = "0x7E69E00E00293D80F0f3E7e0Db5eab6D5d4E0EfF"
DEPLOYER = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"  # anvil's first dev account (unlocked)
TEN_ETH = hex(10 * 10**18)
GLM = 10**18  # token units per GLM (18 decimals)
SOURCE = Path(__file__).with_name("contracts") / "PaymentChain.sol"
TRANSFER_TOPIC = "0x" + keccak(text="Transfer(address,address,uint256)").hex()


def rpc(url: str, method: str, params: list[Any]) -> Any:
    """One JSON-RPC call over plain HTTP (synchronous: fixtures only)."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    req = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        reply = json.loads(resp.read())
    if "error" in reply:
        raise RuntimeError(f"{method}: {reply['error']}")
    return reply.get("result")


def compile_solidity(source: Path) -> dict[str, Any]:
    """A Solidity file compiled by npm solc: {"version", "contracts": {name: {abi, bytecode}}}."""
    script = SOURCE.with_name("compile.cjs")
    out = subprocess.run(
        ["node", str(script), str(source)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(
            f"solc failed (is npm's solc installed? run scripts/bootstrap --dev):\n{out.stderr}"
        )
    return dict(json.loads(out.stdout))


@cache
def compiled() -> dict[str, Any]:
    """PaymentChain.sol compiled by npm solc."""
    return compile_solidity(SOURCE)


def call_data(signature: str, types: list[str], args: list[Any]) -> str:
    """ABI-encoded call: 4-byte selector of `signature` + its arguments."""
    return "0x" + (keccak(text=signature)[:4] + encode(types, args)).hex()


@dataclass(frozen=True)
class Transfer:
    """One ERC-20 Transfer event of the token."""

    sender: str
    receiver: str
    amount: int
    tx_hash: str
    block: int

    @property
    def glm(self) -> Decimal:
        return Decimal(self.amount) / GLM


@dataclass
class PaymentChain:
    """A running anvil standing in for hoodi (chain id 560048, a block every second)."""

    url: str
    proc: subprocess.Popen[bytes]
    contracts: dict[str, str] = field(default_factory=dict)  # name -> address on the chain

    def fund(self, address: str, glm: int = 0) -> None:
        """Give `address` gas money and `glm` tGLM (minted by the deployer)."""
        rpc(self.url, "anvil_setBalance", [address, TEN_ETH])
        if glm:
            data = call_data("mint(address,uint256)", ["address", "uint256"], [address, glm * GLM])
            self.transact(TOKEN_CONTRACT, data)

    def transact(self, to: str | None, data: str) -> dict[str, Any]:
        """Send a transaction from the deployer and wait for its receipt (status 1)."""
        return self.receipt(self.send(to, data))

    def send(self, to: str | None, data: str) -> str:
        """Send a transaction from the deployer (anvil signs it); its hash."""
        tx: dict[str, Any] = {"from": DEPLOYER, "data": data}
        if to is not None:
            tx["to"] = to
        return str(rpc(self.url, "eth_sendTransaction", [tx]))

    def receipt(self, tx_hash: str) -> dict[str, Any]:
        """Wait for a transaction's receipt; it must have succeeded (status 1)."""
        deadline = time.monotonic() + 30
        while (receipt := rpc(self.url, "eth_getTransactionReceipt", [tx_hash])) is None:
            if time.monotonic() > deadline:
                raise RuntimeError(f"transaction {tx_hash} was not mined in 30 s")
            time.sleep(0.1)
        if int(receipt["status"], 16) != 1:
            raise RuntimeError(f"transaction {tx_hash} reverted: {receipt}")
        return dict(receipt)

    def token_balance(self, address: str) -> int:
        data = call_data("balanceOf(address)", ["address"], [address])
        out = rpc(self.url, "eth_call", [{"to": TOKEN_CONTRACT, "data": data}, "latest"])
        return int(out, 16)

    def allowance(self, owner: str, spender: str) -> int:
        data = call_data("allowance(address,address)", ["address", "address"], [owner, spender])
        out = rpc(self.url, "eth_call", [{"to": TOKEN_CONTRACT, "data": data}, "latest"])
        return int(out, 16)

    def block_number(self) -> int:
        return int(rpc(self.url, "eth_blockNumber", []), 16)

    def transfers(
        self, sender: str | None = None, receiver: str | None = None, *, since_block: int = 0
    ) -> list[Transfer]:
        """The token's Transfer events from `since_block`, optionally only between these two."""
        topics: list[Any] = [TRANSFER_TOPIC, None, None]
        if sender is not None:
            topics[1] = "0x" + encode(["address"], [sender]).hex()
        if receiver is not None:
            topics[2] = "0x" + encode(["address"], [receiver]).hex()
        logs = rpc(
            self.url,
            "eth_getLogs",
            [
                {
                    "fromBlock": hex(since_block),
                    "toBlock": "latest",
                    "address": TOKEN_CONTRACT,
                    "topics": topics,
                }
            ],
        )
        found = []
        for entry in logs:
            (amount,) = decode(["uint256"], bytes.fromhex(entry["data"][2:]))
            found.append(
                Transfer(
                    sender="0x" + entry["topics"][1][-40:],
                    receiver="0x" + entry["topics"][2][-40:],
                    amount=int(amount),
                    tx_hash=entry["transactionHash"],
                    block=int(entry["blockNumber"], 16),
                )
            )
        return found

    def stop(self) -> None:
        stop_process(self.proc)


def driver_config(rpc_url: str) -> str:
    """A `config-payments.toml` for yagna's erc20 driver: hoodi only, on this chain, fast cycles.

    yagna reads it from its data dir instead of its built-in config (erc20 driver Readme: "can be
    overridden by placing a config-payments.toml file in yagna data directory"). The addresses are
    the built-in hoodi ones; only the engine's intervals are shortened (defaults: a payment
    gathered every 60 s, a receipt looked for 30 s after sending) so a test sees the Transfer
    confirmed within seconds.
    """
    return f"""\
[engine]
process-interval = 1
process-interval-after-send = 2
process-interval-after-error = 2
process-interval-after-no-gas-or-token-start = 2
process-interval-after-no-gas-or-token-max = 10
process-interval-after-no-gas-or-token-increase = 1.5
report-alive-interval = 5
gather-interval = 1
gather-at-start = true
automatic-recover = false
ignore-deadlines = false

[chain.{PAYMENT_NETWORK}]
chain-name = "Hoodi (anvil)"
chain-id = {PAYMENT_CHAIN_ID}
currency-symbol = "tETH"
priority-fee = 0.000001
max-fee-per-gas = 20.0
transaction-timeout = 100
confirmation-blocks = 0
wrapper-contract = {{ address = "{WRAPPER_CONTRACT}" }}
token = {{ address = "{TOKEN_CONTRACT}", symbol = "tGLM" }}
multi-contract = {{ address = "{MULTI_CONTRACT}", max-at-once = 10 }}

[[chain.{PAYMENT_NETWORK}.rpc-endpoints]]
names = "anvil"
endpoints = "{rpc_url}"
"""


def install_contracts(chain: PaymentChain) -> None:
    """Deploy the compiled contracts, then copy their runtime code to yagna's hoodi addresses."""
    built = compiled()["contracts"]
    plan = [
        ("TestGLM", TOKEN_CONTRACT, ""),
        ("MultiTransfer", MULTI_CONTRACT, encode(["address"], [TOKEN_CONTRACT]).hex()),
        ("WrapperCall", WRAPPER_CONTRACT, ""),
    ]
    sent = [chain.send(None, built[name]["bytecode"] + args) for name, _, args in plan]
    for (name, target, _), tx_hash in zip(plan, sent, strict=True):  # mined in one block
        receipt = chain.receipt(tx_hash)
        code = rpc(chain.url, "eth_getCode", [receipt["contractAddress"], "latest"])
        rpc(chain.url, "anvil_setCode", [target, code])
        chain.contracts[name] = target


def start_anvil(
    anvil: Path, log_dir: Path, *args: str, log_name: str = "anvil.log"
) -> tuple[str, subprocess.Popen[bytes]]:
    """Start anvil on a free loopback port with `args`; its URL and process once it answers."""
    port = free_port()
    with (log_dir / log_name).open("wb") as log:
        proc = subprocess.Popen(
            [str(anvil), "--host", "127.0.0.1", "--port", str(port), *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while True:
        try:
            rpc(url, "eth_chainId", [])
            return url, proc
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                stop_process(proc)
                raise RuntimeError(f"anvil did not start; see {log_dir / log_name}") from None
            time.sleep(0.05)


def start_payment_chain(anvil: Path, log_dir: Path) -> PaymentChain:
    url, proc = start_anvil(
        anvil, log_dir, "--chain-id", str(PAYMENT_CHAIN_ID), "--block-time", "1"
    )
    chain = PaymentChain(url, proc)
    try:
        install_contracts(chain)
    except BaseException:
        chain.stop()
        raise
    return chain


def stop_process(proc: subprocess.Popen[bytes], grace: float = 8.0) -> None:
    """SIGTERM, wait up to `grace` seconds, then SIGKILL; always reaps the child."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

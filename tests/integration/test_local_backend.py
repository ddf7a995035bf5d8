"""The Local backend end to end: NodeManager + LocalBackend + the real erigolem-runtime, nginx
and anvil on loopback, the real keyring API (in-memory backend), the real wallet."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from erigolem_desktop.core.backends.base import NodeSpec
from erigolem_desktop.core.backends.local import LocalBackend
from erigolem_desktop.core.chains import default_client
from erigolem_desktop.core.manager import NodeManager
from erigolem_desktop.core.records import NodeStore
from erigolem_desktop.core.rpc import JsonRpcClient, RpcAuthError, RpcError
from erigolem_desktop.core.secrets import SecretStore
from erigolem_desktop.core.states import NodeState
from tests.support.memkeyring import MemoryKeyring

pytestmark = pytest.mark.integration

ANVIL_KEY0 = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
DEV = NodeSpec(chain="dev", client="anvil", name="dev node")


@pytest_asyncio.fixture
async def manager(
    erigolem_home: Path, memory_keyring: MemoryKeyring, anvil_bin: Path, nginx_bin: Path
) -> AsyncIterator[NodeManager]:
    mgr = NodeManager(
        NodeStore(),
        {"local": LocalBackend(erigolem_home)},
        SecretStore(choose_backend=False),
        poll_interval=0.2,
    )
    try:
        yield mgr
    finally:
        await asyncio.wait_for(mgr.close(), 20)


def _pids_alive(pids: list[int]) -> list[int]:
    from erigolem_runtime.api.process import process_token

    return [p for p in pids if process_token(p) is not None]


@pytest.mark.asyncio
async def test_dev_node_start_rpc_rotate_stop(manager: NodeManager, erigolem_home: Path) -> None:
    rec = await asyncio.wait_for(manager.start(DEV, wait=True), 60)
    assert rec.state is NodeState.READY, rec.reason
    assert rec.url is not None
    assert rec.url.startswith("http://127.0.0.1:")
    assert rec.user
    assert rec.runtime["workdir"] == str(erigolem_home / "nodes" / rec.id)
    runtime_pid = rec.runtime["runtime_pid"]
    assert _pids_alive([runtime_pid]) == [runtime_pid]
    password = manager.password(rec.id)
    assert password

    async with JsonRpcClient(rec.url, rec.user, password) as rpc:
        chain_id = (await rpc.call("eth_chainId")).unwrap()
        assert int(chain_id, 16) > 0
        assert (await rpc.call("web3_clientVersion")).unwrap().startswith("anvil/")
    async with JsonRpcClient(rec.url, rec.user, "wrong-password") as bad:
        with pytest.raises(RpcAuthError):
            await bad.call("eth_chainId")

    logs = await manager.logs(rec.id, 20)
    assert isinstance(logs, str)

    # rotate: the old password stops working at once, the new one works
    rotated = await manager.rotate(rec.id)
    new_password = manager.password(rotated.id)
    assert new_password
    assert new_password != password
    async with JsonRpcClient(rec.url, rec.user, password) as old:
        with pytest.raises(RpcAuthError):
            await old.call("eth_chainId")
    async with JsonRpcClient(rec.url, rotated.user, new_password) as new:
        assert (await new.call("eth_chainId")).unwrap() == chain_id

    # polling keeps the status fresh
    refreshed = await manager.refresh(rec.id)
    assert refreshed.last_status is not None
    assert refreshed.last_status.to_json()["state"] == "ready"

    stopped = await asyncio.wait_for(manager.stop(rec.id), 20)
    assert stopped.state is NodeState.STOPPED
    assert manager.password(rec.id) is None
    async with JsonRpcClient(rec.url, rec.user, new_password, timeout=5) as gone:
        with pytest.raises(RpcError):  # 401/404 if other nodes keep nginx up, else refused
            (await gone.call("eth_chainId")).unwrap()
    for _ in range(50):
        if not _pids_alive([runtime_pid]):
            break
        await asyncio.sleep(0.1)
    assert _pids_alive([runtime_pid]) == []


@pytest.mark.asyncio
async def test_signed_transaction_through_the_node(
    manager: NodeManager, erigolem_home: Path
) -> None:
    """A wallet account (anvil's funded key #0, imported) signs an EIP-1559 transfer that goes
    through nginx to anvil; the receipt is read back the same way."""
    from erigolem_desktop.core.wallet import Wallet

    rec = await asyncio.wait_for(manager.start(DEV, wait=True), 60)
    assert rec.state is NodeState.READY, rec.reason
    assert rec.url is not None
    wallet = Wallet.open(erigolem_home, scrypt_n=2**12)
    account = wallet.import_private_key(ANVIL_KEY0, "a passphrase for tests")
    wallet.unlock(account.address, "a passphrase for tests")
    recipient = "0x000000000000000000000000000000000000bEEF"
    async with JsonRpcClient(rec.url, rec.user, manager.password(rec.id)) as rpc:
        chain_id, nonce, base = (
            r.unwrap()
            for r in await rpc.batch(
                [
                    ("eth_chainId", []),
                    ("eth_getTransactionCount", [account.address, "pending"]),
                    ("eth_gasPrice", []),
                ]
            )
        )
        raw = wallet.sign_transaction(
            {
                "chainId": int(chain_id, 16),
                "nonce": int(nonce, 16),
                "to": recipient,
                "value": 10**15,
                "gas": 21000,
                "maxFeePerGas": int(base, 16) * 2 + 10**9,
                "maxPriorityFeePerGas": 10**9,
            }
        )
        tx_hash = (await rpc.call("eth_sendRawTransaction", [raw])).unwrap()
        receipt = None
        for _ in range(100):  # anvil mines asynchronously
            receipt = (await rpc.call("eth_getTransactionReceipt", [tx_hash])).unwrap()
            if receipt is not None:
                break
            await asyncio.sleep(0.05)
        assert receipt is not None
        assert receipt["status"] == "0x1"
        assert receipt["from"].lower() == account.address.lower()
        balance = (await rpc.call("eth_getBalance", [recipient, "latest"])).unwrap()
        assert int(balance, 16) == 10**15


@pytest.mark.asyncio
async def test_unknown_chain_and_missing_erigon_fail_cleanly(manager: NodeManager) -> None:
    bad = await asyncio.wait_for(manager.start(NodeSpec("nochain", "anvil", "bad"), wait=True), 30)
    assert bad.state is NodeState.FAILED
    assert bad.reason is not None
    assert "nochain" in bad.reason
    erigon = await asyncio.wait_for(
        manager.start(NodeSpec("mainnet", default_client("mainnet"), "main"), wait=True), 30
    )
    assert erigon.state is NodeState.FAILED
    assert erigon.reason is not None
    assert "Erigon is not set up on this computer" in erigon.reason
    assert "clients.erigon.binary" in erigon.reason
    assert "the local runtime runs only dev" in erigon.reason
    assert "provider" not in erigon.reason  # this computer is not a provider
    assert manager.password(erigon.id) is None
    assert not any(b.is_running(erigon.id) for b in manager.backends.values())


@pytest.mark.asyncio
async def test_reclaim_kills_a_runtime_whose_owner_is_gone(
    erigolem_home: Path, memory_keyring: MemoryKeyring, anvil_bin: Path, nginx_bin: Path
) -> None:
    """A hard crash where the runtime outlived its owner: a fresh backend's reclaim() (what
    recover() calls) kills the runtime group and its client, and drops its nginx location."""
    from erigolem_runtime.api.process import process_token

    first = LocalBackend(erigolem_home)
    node = await asyncio.wait_for(first.start("crashed1", DEV, lambda _m: None), 60)
    info = first.runtime_info("crashed1")
    runtime_pid = info["runtime_pid"]
    client = first._clients["crashed1"]
    try:
        async with JsonRpcClient(node.url, node.user, node.password) as rpc:
            assert (await rpc.call("eth_chainId")).ok
        second = LocalBackend(erigolem_home)  # "the next start of the app"
        await asyncio.wait_for(second.reclaim("crashed1", info), 20)
        assert process_token(runtime_pid) is None
        async with JsonRpcClient(node.url, node.user, node.password, timeout=5) as rpc:
            with pytest.raises(RpcError):
                (await rpc.call("eth_chainId")).unwrap()
    finally:
        from erigolem_runtime.api.client import RuntimeClientError

        with contextlib.suppress(RuntimeClientError):
            await client.shutdown()  # reaps the killed process and closes its pipes
        first._clients.clear()

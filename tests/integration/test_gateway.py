"""The local gateway end to end: real dev nodes (erigolem-runtime + nginx + anvil) behind one
loopback endpoint; failover when a node's client is killed, lies caught by proof checks, a real
client library (web3.py) making MetaMask's calls, bad input answered with JSON-RPC errors."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from erigolem_desktop.core.backends.base import NodeSpec
from erigolem_desktop.core.backends.local import LocalBackend
from erigolem_desktop.core.gateway import (
    ChainRoute,
    Checkpoint,
    GatewayPolicy,
    GatewayService,
    UpstreamSpec,
    VerifyMode,
    WriteMode,
)
from erigolem_desktop.core.manager import NodeManager
from erigolem_desktop.core.records import NodeRecord, NodeStore
from erigolem_desktop.core.secrets import SecretStore
from erigolem_desktop.core.states import NodeState
from tests.support.gateway_nodes import (
    client_pid,
    kill_client,
    mine_first_block,
    use_same_genesis_anvil,
)
from tests.support.lying_node import MODES, LyingNode
from tests.support.memkeyring import MemoryKeyring

pytestmark = pytest.mark.integration

FUNDED = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"  # anvil's account #0
BEEF = "0x000000000000000000000000000000000000bEEF"
ANVIL_KEY0 = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
# Health probes get 2 s: on a loaded 2-core CI box a 0.5 s probe of a live node can time out.
FAST = GatewayPolicy(health_interval=0.2, health_timeout=2, request_timeout=5, rejoin_after=2)


@dataclass
class Nodes:
    manager: NodeManager
    a: NodeRecord
    b: NodeRecord

    def spec(self, rec: NodeRecord, name: str | None = None) -> UpstreamSpec:
        assert rec.url is not None
        return UpstreamSpec(
            name or rec.name, rec.url, rec.user, self.manager.password(rec.id), rec.id
        )


@pytest_asyncio.fixture
async def nodes(
    erigolem_home: Path,
    memory_keyring: MemoryKeyring,
    anvil_bin: Path,
    nginx_bin: Path,
    tmp_path: Path,
) -> AsyncIterator[Nodes]:
    backend = LocalBackend(erigolem_home)
    use_same_genesis_anvil(backend, anvil_bin, tmp_path)
    mgr = NodeManager(
        NodeStore(), {"local": backend}, SecretStore(choose_backend=False), poll_interval=0.5
    )
    try:
        a, b = await asyncio.gather(
            mgr.start(NodeSpec("dev", "anvil", "node-a"), wait=True),
            mgr.start(NodeSpec("dev", "anvil", "node-b"), wait=True),
        )
        assert a.state is NodeState.READY, a.reason
        assert b.state is NodeState.READY, b.reason
        for rec in (a, b):
            assert rec.url is not None
            await mine_first_block(rec.url, rec.user, mgr.password(rec.id))
        yield Nodes(mgr, a, b)
    finally:
        await asyncio.wait_for(mgr.close(), 30)


async def rpc(
    session: aiohttp.ClientSession,
    url: str,
    method: str,
    params: list[Any] | None = None,
    **kw: Any,
) -> dict[str, Any]:
    body = {"jsonrpc": "2.0", "id": 7, "method": method, "params": params or []}
    async with session.post(url, json=body, **kw) as resp:
        return dict(await resp.json(content_type=None))


async def direct(nodes: Nodes, rec: NodeRecord, method: str, params: list[Any]) -> Any:
    assert rec.url is not None
    auth = aiohttp.encode_basic_auth(rec.user or "", nodes.manager.password(rec.id) or "")
    async with aiohttp.ClientSession(headers={"Authorization": auth}) as s:
        return (await rpc(s, rec.url, method, params))["result"]


def node_status(service: GatewayService, name: str) -> dict[str, Any]:
    for chain in service.status()["chains"]:
        for node in chain["nodes"]:
            if node["name"] == name:
                return dict(node)
    raise AssertionError(f"no node {name}")


async def until(predicate: Any, timeout: float, what: str) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


@pytest.mark.asyncio
async def test_failover_when_a_client_dies_and_back_when_healthy(nodes: Nodes) -> None:
    route = ChainRoute("dev", (nodes.spec(nodes.a), nodes.spec(nodes.b)))
    service = GatewayService([route], FAST)
    await service.start()
    try:
        url = service.url("dev")
        assert node_status(service, "node-a")["in"]
        assert node_status(service, "node-b")["in"]
        async with aiohttp.ClientSession() as s:
            before = await rpc(s, url, "eth_getBalance", [FUNDED, "latest"])
            assert int(before["result"], 16) > 0
            assert before["erigolem"]["verified"] is True, before
            assert before["erigolem"]["node"] == "node-a"  # the preferred node

            kill_client(nodes.a.runtime["runtime_pid"])
            # Calls keep being answered, each within 1 s (the client's own limit), by node-b.
            served_by: set[str] = set()
            for _ in range(30):
                reply = await rpc(
                    s,
                    url,
                    "eth_getBalance",
                    [FUNDED, "latest"],
                    timeout=aiohttp.ClientTimeout(total=1),
                )
                assert reply.get("result") == before["result"], reply
                served_by.add(reply["erigolem"]["node"])
                chain_id = await rpc(s, url, "eth_chainId", timeout=aiohttp.ClientTimeout(total=1))
                assert chain_id["result"] == "0x7a69"
                await asyncio.sleep(0.03)
            assert "node-b" in served_by
            out = node_status(service, "node-a")
            assert out["in"] is False
            assert out["lied"] is False
            notices = [n for n in service.status()["chains"][0]["notices"] if n["node"] == "node-a"]
            assert any(n["kind"] == "out" for n in notices), notices

            # The runtime restarts the client (same genesis); once it mined the same block 1
            # (what a restarted provider node does by syncing), node-a comes back in.
            for _ in range(100):
                try:
                    await mine_first_block(
                        nodes.a.url or "", nodes.a.user, nodes.manager.password(nodes.a.id)
                    )
                    break
                except (AssertionError, aiohttp.ClientError, ValueError):
                    await asyncio.sleep(0.2)
            await until(lambda: node_status(service, "node-a")["in"], 40, "node-a back in")
            assert node_status(service, "node-a")["reason"] == "healthy"
            again = await rpc(s, url, "eth_getBalance", [FUNDED, "latest"])
            assert again["erigolem"] == {**again["erigolem"], "verified": True, "node": "node-a"}
        stats = service.status()["stats"]["methods"]
        assert stats["eth_getBalance"]["calls"] >= 32
        assert stats["eth_getBalance"]["verified"] >= 32
        assert stats["eth_chainId"]["errors"] == 0
    finally:
        await service.close()


@pytest.mark.asyncio
@pytest.mark.parametrize("mode", MODES)
async def test_a_lying_node_is_caught_on_every_verified_call(nodes: Nodes, mode: str) -> None:
    a_spec = nodes.spec(nodes.a)
    contract_free = "0x000000000000000000000000000000000000bEEF"
    calls: list[tuple[str, list[Any]]] = [
        ("eth_getBalance", [FUNDED, "latest"]),
        ("eth_getTransactionCount", [FUNDED, "latest"]),
        ("eth_getCode", [contract_free, "latest"]),
        ("eth_getStorageAt", [FUNDED, "0x0", "latest"]),
        ("eth_getBalance", [FUNDED, "0x1"]),
    ]
    async with LyingNode(a_spec.url, a_spec.user, a_spec.password, mode) as liar:
        for method, params in calls:
            truth = await direct(nodes, nodes.b, method, params)
            # A fresh gateway per call, the liar first in line: each verified call meets it.
            route = ChainRoute("dev", (UpstreamSpec("liar", liar.url), a_spec, nodes.spec(nodes.b)))
            service = GatewayService([route], FAST)
            await service.start()
            try:
                async with aiohttp.ClientSession() as s:
                    reply = await rpc(s, service.url("dev"), method, params)
                assert reply.get("result") == truth, (method, reply)
                assert reply["erigolem"]["verified"] is True, reply
                assert reply["erigolem"]["node"] != "liar"
                caught = node_status(service, "liar")
                assert caught["in"] is False
                if mode != "forge":  # a forgery is only outvoted, not proven a lie by itself
                    assert caught["lied"] is True, caught
                notices = service.status()["chains"][0]["notices"]
                said = [n["message"] for n in notices if n["node"] == "liar"]
                assert said, "the user is told which node"
                expect = {
                    "balance": "proof proves",
                    "proof": "does not prove",
                    "blockhash": "is not the hash of its header",
                    "forge": "differs from 2 other node",
                }[mode]
                assert any(expect in m for m in said), said
            finally:
                await service.close()
        assert liar.lies_told > 0


@pytest.mark.asyncio
async def test_forged_state_alone_with_one_honest_node_is_not_passed_as_verified(
    nodes: Nodes,
) -> None:
    """One honest node and one consistent forger: a tie, so nothing is called verified; with
    the refuse policy the forged balance is not returned at all."""
    a_spec = nodes.spec(nodes.a)
    async with LyingNode(a_spec.url, a_spec.user, a_spec.password, "forge") as liar:
        for verify in (VerifyMode.MARK, VerifyMode.REFUSE):
            route = ChainRoute("dev", (UpstreamSpec("liar", liar.url), nodes.spec(nodes.b)))
            policy = GatewayPolicy(health_interval=30, health_timeout=1, verify=verify)
            service = GatewayService([route], policy)
            await service.start()
            try:
                async with aiohttp.ClientSession() as s:
                    reply = await rpc(s, service.url("dev"), "eth_getBalance", [FUNDED, "latest"])
                if verify is VerifyMode.MARK:
                    assert reply["erigolem"]["verified"] is False, reply
                else:
                    assert reply["error"]["code"] == -32003, reply
                    assert "could not be verified" in reply["error"]["message"]
                disagreement = service.status()["chains"][0]["disagreement"]
                assert disagreement is not None
                assert "disagree" in disagreement
            finally:
                await service.close()


@pytest.mark.asyncio
async def test_single_node_verification_policy_and_checkpoint(nodes: Nodes) -> None:
    genesis = await direct(nodes, nodes.a, "eth_getBlockByNumber", ["0x0", False])
    route = ChainRoute("dev", (nodes.spec(nodes.a),))
    for policy, expect in (
        (GatewayPolicy(verify=VerifyMode.MARK), "unverified"),
        (GatewayPolicy(verify=VerifyMode.REFUSE), "refused"),
        (
            GatewayPolicy(verify=VerifyMode.REFUSE, checkpoint=Checkpoint(0, genesis["hash"])),
            "verified",
        ),
        (
            GatewayPolicy(verify=VerifyMode.REFUSE, checkpoint=Checkpoint(0, "0x" + "11" * 32)),
            "lie",
        ),
        (GatewayPolicy(verify=VerifyMode.OFF), "plain"),
    ):
        service = GatewayService([route], policy)
        await service.start()
        try:
            async with aiohttp.ClientSession() as s:
                reply = await rpc(s, service.url("dev"), "eth_getBalance", [FUNDED, "latest"])
                pending = await rpc(s, service.url("dev"), "eth_getBalance", [FUNDED, "pending"])
            if expect == "unverified":
                assert reply["erigolem"]["verified"] is False
                assert "only one node" in reply["erigolem"]["reason"]
                assert pending["erigolem"]["verified"] is False
                assert "pending" in pending["erigolem"]["reason"]
            elif expect == "refused":
                assert reply["error"]["code"] == -32003
                assert pending["error"]["code"] == -32003
            elif expect == "verified":
                assert reply["erigolem"]["verified"] is True
                assert "checkpoint" in reply["erigolem"]["reason"]
            elif expect == "lie":
                assert reply["error"]["code"] == -32004, reply
                assert "checkpoint" in reply["error"]["message"]
            else:
                assert "erigolem" not in reply
                assert int(reply["result"], 16) > 0
        finally:
            await service.close()


@pytest.mark.asyncio
async def test_a_read_waiting_on_a_hung_node_moves_on_when_the_node_is_taken_out(
    nodes: Nodes,
) -> None:
    # node-a's anvil is stopped (SIGSTOP): nginx keeps the request open and nothing answers.
    # The read must not wait out its 30 s request timeout: the health probe (2 s) takes node-a
    # out, and the read goes on to node-b at once.
    policy = dataclasses.replace(FAST, request_timeout=30)
    route = ChainRoute("dev", (nodes.spec(nodes.a), nodes.spec(nodes.b)))
    service = GatewayService([route], policy)
    await service.start()
    pid = client_pid(nodes.a.runtime["runtime_pid"])
    assert pid is not None
    try:
        async with aiohttp.ClientSession() as s:
            os.kill(pid, signal.SIGSTOP)
            started = time.monotonic()
            reply = await rpc(
                s, service.url("dev"), "eth_blockNumber", timeout=aiohttp.ClientTimeout(total=15)
            )
            waited = time.monotonic() - started
        assert reply["result"] == "0x1", reply
        assert waited < 15
        # node-a was taken out (a notice says so); by now the runtime's own watchdog may have
        # restarted the stopped client and the pool put node-a back in, so its current state
        # is not asserted, only that it went out and why
        notices = [n for n in service.status()["chains"][0]["notices"] if n["node"] == "node-a"]
        assert any(n["kind"] == "out" for n in notices), notices
        a = node_status(service, "node-a")
        assert "taken out while" not in (a["reason"] or ""), a
        stats = service.status()["stats"]["methods"]["eth_blockNumber"]
        assert stats["retries"] == 1
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)
        await service.close()


@pytest.mark.asyncio
async def test_a_dev_chain_genesis_is_unverifiable_not_a_lie(nodes: Nodes) -> None:
    # anvil's block 0 commits to an empty state root although its accounts are funded: a read
    # there is marked (or refused) with that reason, and the honest nodes stay in.
    route = ChainRoute("dev", (nodes.spec(nodes.a), nodes.spec(nodes.b)))
    for verify in (VerifyMode.MARK, VerifyMode.REFUSE):
        service = GatewayService([route], dataclasses.replace(FAST, verify=verify))
        await service.start()
        try:
            async with aiohttp.ClientSession() as s:
                reply = await rpc(s, service.url("dev"), "eth_getBalance", [FUNDED, "0x0"])
                later = await rpc(s, service.url("dev"), "eth_getBalance", [FUNDED, "latest"])
            if verify is VerifyMode.MARK:
                assert int(reply["result"], 16) > 0, reply
                assert reply["erigolem"]["verified"] is False
                assert "block 0" in reply["erigolem"]["reason"]
                assert "evm_mine" in reply["erigolem"]["reason"]
            else:
                assert reply["error"]["code"] == -32003, reply
                assert "block 0" in reply["error"]["message"]
            for name in ("node-a", "node-b"):
                node = node_status(service, name)
                assert node["in"], node
                assert not node["lied"]
            assert later["erigolem"]["verified"] is True, later  # block 1 on: checked
        finally:
            await service.close()


@pytest.mark.asyncio
async def test_metamask_calls_through_the_gateway_with_web3(nodes: Nodes) -> None:
    """web3.py (a real client library) makes the calls MetaMask makes, including a transfer."""
    from eth_account import Account
    from web3 import AsyncHTTPProvider, AsyncWeb3

    genesis = await direct(nodes, nodes.a, "eth_getBlockByNumber", ["0x0", False])
    route = ChainRoute("dev", (nodes.spec(nodes.a),))
    policy = GatewayPolicy(checkpoint=Checkpoint(0, genesis["hash"]), writes=WriteMode.ONCE)
    service = GatewayService([route], policy)
    await service.start()
    try:
        w3 = AsyncWeb3(AsyncHTTPProvider(service.url("dev")))
        try:
            chain_id = await w3.eth.chain_id
            assert chain_id == 31337
            assert await w3.net.version == "31337"
            start_block = await w3.eth.block_number
            funded = AsyncWeb3.to_checksum_address(FUNDED)
            balance = await w3.eth.get_balance(funded)
            assert balance == int(
                await direct(nodes, nodes.a, "eth_getBalance", [FUNDED, "latest"]), 16
            )
            to = "0x000000000000000000000000000000000000bEEF"
            tx: dict[str, Any] = {"from": FUNDED, "to": to, "value": 10**15}
            gas = await w3.eth.estimate_gas(tx)  # type: ignore[arg-type]
            assert gas == 21000
            fees = await w3.eth.gas_price
            signed = Account.sign_transaction(
                {
                    **tx,
                    "gas": gas,
                    "gasPrice": fees * 2,
                    "nonce": await w3.eth.get_transaction_count(funded),
                    "chainId": chain_id,
                },
                ANVIL_KEY0,
            )
            tx_hash = await w3.eth.send_raw_transaction(signed.raw_transaction)
            receipt = await w3.eth.wait_for_transaction_receipt(
                tx_hash, timeout=20, poll_latency=0.1
            )
            assert receipt["status"] == 1
            assert await w3.eth.block_number > start_block
            assert await w3.eth.get_balance(AsyncWeb3.to_checksum_address(to)) == 10**15
        finally:
            await w3.provider.disconnect()
        stats = service.status()["stats"]["methods"]
        assert stats["eth_sendRawTransaction"]["calls"] == 1  # sent once
        assert stats["eth_getBalance"]["verified"] >= 2  # checked against the checkpoint
    finally:
        await service.close()


@pytest.mark.asyncio
async def test_bad_input_gets_json_rpc_errors_and_the_gateway_keeps_serving(nodes: Nodes) -> None:
    wrong = UpstreamSpec("wrong-creds", nodes.spec(nodes.a).url, nodes.a.user, "not-the-password")
    route = ChainRoute("dev", (wrong, nodes.spec(nodes.b)))
    token = "local-token-for-tests-0123"
    policy = GatewayPolicy(health_interval=0.2, max_batch=10, max_body=64 * 1024, token=token)
    service = GatewayService([route], policy)
    await service.start()
    try:
        url = service.url("dev")
        bare = service.url("dev", with_token=False)
        async with aiohttp.ClientSession() as s:
            creds = node_status(service, "wrong-creds")
            assert creds["in"] is False
            assert "credentials" in creds["reason"]

            async def post(data: bytes, where: str = url) -> tuple[int, Any]:
                async with s.post(
                    where, data=data, headers={"Content-Type": "application/json"}
                ) as r:
                    return r.status, await r.json(content_type=None)

            status, body = await post(b'{"jsonrpc":"2.0","id":1,"method":')
            assert body["error"]["code"] == -32700
            assert "not valid JSON" in body["error"]["message"]
            batch = [
                {"jsonrpc": "2.0", "id": i, "method": "eth_chainId", "params": []}
                for i in range(11)
            ]
            status, body = await post(json.dumps(batch).encode())
            assert body["error"]["code"] == -32005
            assert "limit of 10" in body["error"]["message"]
            status, body = await post(b"[]")
            assert body["error"]["code"] == -32600
            status, body = await post(
                json.dumps({"jsonrpc": "2.0", "id": 1, "method": "rm -rf"}).encode()
            )
            assert body["error"]["code"] == -32601
            assert "unknown method" in body["error"]["message"]
            status, body = await post(
                json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_noSuchMethod"}).encode()
            )
            assert body["error"]["code"] == -32601  # the node's own answer, passed on
            status, body = await post(json.dumps({"id": 1, "method": "eth_chainId"}).encode())
            assert body["error"]["code"] == -32600
            assert "2.0" in body["error"]["message"]
            status, body = await post(
                json.dumps(
                    {
                        "jsonrpc": "2.0",
                        "id": 1,
                        "method": "eth_getBalance",
                        "params": ["0x12", "latest"],
                    }
                ).encode()
            )
            assert body["error"]["code"] == -32602
            assert "address" in body["error"]["message"]
            status, body = await post(
                b'{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":["'
                + b"x" * 70000
                + b'"]}'
            )
            assert status == 413
            assert body["error"]["code"] == -32005
            status, body = await post(b'{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}', bare)
            assert status == 401
            assert body["error"]["code"] == -32001
            status, body = await post(
                b'{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}', bare + "/wrong-token-000000000"
            )
            assert status == 401
            status, body = await post(
                b'{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}',
                f"http://127.0.0.1:{service.port}/nochain/{token}",
            )
            assert status == 404
            assert "/dev" in body["error"]["message"]
            # still serving, with the Bearer header too, and a mixed batch answered item by item
            async with s.post(
                bare,
                json={"jsonrpc": "2.0", "id": 3, "method": "eth_chainId"},
                headers={"Authorization": f"Bearer {token}"},
            ) as r:
                assert (await r.json())["result"] == "0x7a69"
            mixed = [
                {"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []},
                {"jsonrpc": "2.0", "id": 2, "method": "nope"},
                {
                    "jsonrpc": "2.0",
                    "id": 3,
                    "method": "eth_getBalance",
                    "params": [FUNDED, "latest"],
                },
            ]
            status, body = await post(json.dumps(mixed).encode())
            assert [item["id"] for item in body] == [1, 2, 3]
            assert "result" in body[0]
            assert body[1]["error"]["code"] == -32601
            assert "result" in body[2]
    finally:
        await service.close()


@pytest.mark.asyncio
async def test_subscription_survives_failover_with_a_notice(nodes: Nodes) -> None:
    route = ChainRoute("dev", (nodes.spec(nodes.a), nodes.spec(nodes.b)))
    service = GatewayService([route], FAST)
    await service.start()
    try:
        async with aiohttp.ClientSession() as s, s.ws_connect(service.ws_url("dev")) as ws:
            await ws.send_json(
                {"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe", "params": ["newHeads"]}
            )
            sub_id = (await asyncio.wait_for(ws.receive_json(), 5))["result"]
            await ws.send_json({"jsonrpc": "2.0", "id": 2, "method": "eth_chainId", "params": []})
            assert (await asyncio.wait_for(ws.receive_json(), 5))["result"] == "0x7a69"

            kill_client(nodes.a.runtime["runtime_pid"])
            notice = await asyncio.wait_for(ws.receive_json(), 10)
            assert notice["method"] == "erigolem_subscriptionNotice", notice
            assert notice["params"]["subscription"] == sub_id
            assert notice["params"]["resubscribed"] is True
            assert "re-subscribed on node-b" in notice["params"]["message"]

            await direct(nodes, nodes.b, "evm_mine", [])
            event = await asyncio.wait_for(ws.receive_json(), 10)
            assert event["method"] == "eth_subscription"
            assert event["params"]["subscription"] == sub_id
            assert event["params"]["result"]["number"] == "0x2"  # block 1 came with the fixture
    finally:
        await service.close()

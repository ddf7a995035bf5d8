"""The gateway's pure parts: header layouts, proof checks on a trie built here, settings, stats,
request checks, and the CLI's answers when no gateway runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import rlp
from eth_hash.auto import keccak
from trie.hexary import HexaryTrie

from erigolem_desktop.core.gateway import Checkpoint, GatewayConfigError, GatewayPolicy
from erigolem_desktop.core.gateway.checked import BadParams, _block_ref, _split
from erigolem_desktop.core.gateway.config import ChainRoute, UpstreamSpec
from erigolem_desktop.core.gateway.dispatch import ChainGateway, is_read
from erigolem_desktop.core.gateway.stats import GatewayStats, percentile
from erigolem_desktop.core.gateway.verify import (
    EMPTY_CODE_HASH,
    EMPTY_TRIE_ROOT,
    VerificationError,
    check_account,
    check_code,
    check_header,
    check_storage,
    header_fork,
    header_hash,
)

ADDR = "0x" + "ab" * 20


def _block(**extra: Any) -> dict[str, Any]:
    block: dict[str, Any] = {
        "parentHash": "0x" + "11" * 32,
        "sha3Uncles": "0x" + "22" * 32,
        "miner": "0x" + "33" * 20,
        "stateRoot": "0x" + EMPTY_TRIE_ROOT.hex(),
        "transactionsRoot": "0x" + "44" * 32,
        "receiptsRoot": "0x" + "55" * 32,
        "logsBloom": "0x" + "00" * 256,
        "difficulty": "0x0",
        "number": "0x10",
        "gasLimit": "0x1c9c380",
        "gasUsed": "0x0",
        "timestamp": "0x6553f100",
        "extraData": "0x",
        "mixHash": "0x" + "66" * 32,
        "nonce": "0x0000000000000000",
        **extra,
    }
    block["hash"] = "0x" + header_hash(block).hex()
    return block


def test_fork_layouts_are_told_apart_and_hashed_as_their_fork() -> None:
    london = _block(baseFeePerGas="0x7")
    shanghai = _block(baseFeePerGas="0x7", withdrawalsRoot="0x" + "77" * 32)
    frontier = _block()
    assert header_fork(frontier) == "frontier"
    assert header_fork(london) == "london"
    assert header_fork(shanghai) == "shanghai"
    assert len({london["hash"], shanghai["hash"], frontier["hash"]}) == 3
    for block in (frontier, london, shanghai):
        assert check_header(block).hash == block["hash"]
    with pytest.raises(VerificationError, match="only some of the cancun"):
        header_fork({**shanghai, "blobGasUsed": "0x0"})
    with pytest.raises(VerificationError, match="newer fork"):
        header_fork({**frontier, "withdrawalsRoot": "0x" + "77" * 32})
    with pytest.raises(VerificationError, match="not the hash"):
        check_header({**london, "gasUsed": "0x1"})
    with pytest.raises(VerificationError, match="has 31 bytes"):
        check_header({**london, "stateRoot": "0x" + "00" * 31})
    with pytest.raises(VerificationError, match="no block header"):
        check_header(None)


def _state(accounts: dict[str, tuple[int, int]]) -> HexaryTrie:
    trie = HexaryTrie({})
    for address, (nonce, balance) in accounts.items():
        trie[keccak(bytes.fromhex(address[2:]))] = rlp.encode(
            [nonce, balance, EMPTY_TRIE_ROOT, EMPTY_CODE_HASH]
        )
    return trie


def _proof(trie: HexaryTrie, address: str) -> list[str]:
    key = keccak(bytes.fromhex(address[2:]))
    return ["0x" + rlp.encode(n).hex() for n in trie.get_proof(key)]  # type: ignore[no-untyped-call]


def test_account_proofs_prove_values_and_catch_tampering() -> None:
    other = "0x" + "cd" * 20
    trie = _state({ADDR: (3, 10**18), other: (0, 5)})
    answer = {"accountProof": _proof(trie, ADDR), "balance": hex(10**18), "nonce": "0x3"}
    account = check_account(trie.root_hash, ADDR, answer)
    assert (account.nonce, account.balance) == (3, 10**18)
    with pytest.raises(VerificationError, match="states balance"):
        check_account(trie.root_hash, ADDR, {**answer, "balance": hex(10**18 + 1)})
    with pytest.raises(VerificationError, match="does not prove"):
        check_account(keccak(b"another root"), ADDR, answer)
    absent = "0x" + "ef" * 20
    nothing = check_account(trie.root_hash, absent, {"accountProof": _proof(trie, absent)})
    assert nothing.balance == 0
    assert check_code(nothing, "0x") == "0x"
    with pytest.raises(VerificationError, match="code hash"):
        check_code(nothing, "0x6000")
    assert check_storage(nothing, "0x0", {"storageProof": [{"value": "0x0", "proof": []}]}) == 0
    with pytest.raises(VerificationError, match="not a 20-byte"):
        check_account(trie.root_hash, "0x1234", answer)


def test_params_and_block_references() -> None:
    assert _split("eth_getBalance", [ADDR]) == (ADDR, None, None)
    assert _split("eth_getStorageAt", [ADDR, "0x1", "latest"])[1] == "0x" + "00" * 31 + "01"
    with pytest.raises(BadParams, match="address"):
        _split("eth_getBalance", ["0x12"])
    with pytest.raises(BadParams, match="takes"):
        _split("eth_getBalance", [ADDR, "latest", "extra"])
    assert _block_ref(None) == ("eth_getBlockByNumber", ["latest", False])
    assert _block_ref({"blockHash": "0x" + "aa" * 32})[0] == "eth_getBlockByHash"
    with pytest.raises(LookupError, match="pending"):
        _block_ref("pending")
    with pytest.raises(BadParams, match="not a tag"):
        _block_ref("yesterday")


def test_settings_refuse_what_cannot_work() -> None:
    assert Checkpoint.parse("12:0x" + "AB" * 32) == Checkpoint(12, "0x" + "ab" * 32)
    with pytest.raises(GatewayConfigError, match="NUMBER:0xHASH"):
        Checkpoint.parse("12:0xabc")
    with pytest.raises(GatewayConfigError, match="token"):
        GatewayPolicy(token="short")
    with pytest.raises(GatewayConfigError, match="max_batch"):
        GatewayPolicy(max_batch=0)
    assert "secret-token-value" not in repr(GatewayPolicy(token="secret-token-value-123"))
    assert "pw" not in repr(UpstreamSpec("a", "http://x", "u", "pw"))
    with pytest.raises(GatewayConfigError, match="URL path"):
        ChainRoute("Dev/../x", (UpstreamSpec("a", "http://x"),))
    with pytest.raises(GatewayConfigError, match="no node backs"):
        ChainRoute("dev", ())
    with pytest.raises(GatewayConfigError, match="same name"):
        ChainRoute("dev", (UpstreamSpec("a", "http://x"), UpstreamSpec("a", "http://y")))


def test_stats_percentiles_and_bounded_method_table() -> None:
    assert percentile([], 0.5) == 0.0
    assert percentile([1.0, 2.0, 3.0], 0.5) == 2.0
    stats = GatewayStats()
    for i in range(10):
        stats.record("eth_call", float(i), error=i == 0, node="a", verified=None)
    stats.record("eth_getBalance", 1.0, verified=True, node="b")
    stats.record("eth_getBalance", 1.0, verified=False, node="b")
    out = stats.to_json()
    assert out["methods"]["eth_call"]["calls"] == 10
    assert out["methods"]["eth_call"]["errors"] == 1
    assert out["methods"]["eth_call"]["p50_ms"] in (4.0, 5.0)
    assert out["methods"]["eth_getBalance"]["verified"] == 1
    assert out["by_node"] == {"a": 10, "b": 2}
    for i in range(600):
        stats.record(f"junk_{i}", 0.1)
    assert len(stats.methods) <= 513
    assert stats.methods["(other)"].calls > 0


def test_request_checks_and_method_classes() -> None:
    check = ChainGateway.check_request
    fake: Any = object()
    assert check(fake, {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}) is None
    assert check(fake, [])["error"]["code"] == -32600  # type: ignore[index]
    assert check(fake, {"jsonrpc": "1.0", "method": "eth_chainId"})["error"]["code"] == -32600  # type: ignore[index]
    assert check(fake, {"jsonrpc": "2.0", "method": "DROP TABLE"})["error"]["code"] == -32601  # type: ignore[index]
    bad_params = check(fake, {"jsonrpc": "2.0", "method": "eth_call", "params": "x"})
    assert bad_params is not None
    assert bad_params["error"]["code"] == -32602
    assert is_read("eth_getLogs")
    assert is_read("eth_chainId")
    assert is_read("net_version")
    assert not is_read("eth_sendRawTransaction")
    assert not is_read("eth_getFilterChanges")
    assert not is_read("anvil_mine")


def test_gateway_status_without_a_gateway_says_how_to_start_one(erigolem_home: Path) -> None:
    env = {**os.environ, "ERIGOLEM_HOME": str(erigolem_home)}
    out = subprocess.run(
        [sys.executable, "-m", "erigolem_desktop", "--json", "gateway", "status"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert out.returncode == 1
    err = json.loads(out.stderr.strip().splitlines()[-1])
    assert "no gateway is running" in err["error"]
    assert "gateway serve" in err["hint"]
    bad = subprocess.run(
        [sys.executable, "-m", "erigolem_desktop", "gateway", "serve", "--checkpoint", "x"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert bad.returncode != 0
    assert "NUMBER:0xHASH" in bad.stderr


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("gateway_port", 0, "not a TCP port"),
        ("gateway_port", 70000, "not a TCP port"),
        ("gateway_verify", "maybe", "Unknown gateway verification"),
    ],
)
def test_bad_gateway_settings_are_refused_with_what_to_pick(
    field: str, value: Any, message: str
) -> None:
    from erigolem_desktop.core.settings import Settings, SettingsError

    settings = Settings()
    settings.validate()
    setattr(settings, field, value)
    with pytest.raises(SettingsError, match=message) as info:
        settings.validate()
    assert info.value.hint


@pytest.mark.asyncio
async def test_node_list_shows_the_running_gateway_and_not_a_stale_run_file(
    erigolem_home: Path,
) -> None:
    import asyncio

    from erigolem_desktop.core.gateway import GatewayService
    from erigolem_desktop.core.gateway.nodes import remove_run_file, write_run_file

    env = {**os.environ, "ERIGOLEM_HOME": str(erigolem_home)}

    async def node_list() -> str:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "erigolem_desktop",
            "node",
            "list",
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, err
        return out.decode()

    service = GatewayService([], GatewayPolicy())  # a real gateway, no chain yet
    port = await service.start()
    try:
        write_run_file(port, {"dev": ["n1"], "sepolia": ["n2"]}, token=False)
        text = await node_list()
        assert "No running nodes" in text
        assert f"Gateway on 127.0.0.1:{port}: dev: http://127.0.0.1:{port}/dev, " in text
        assert f"sepolia: http://127.0.0.1:{port}/sepolia" in text
    finally:
        await service.close()
    # it ended without removing its file (a kill): node list does not claim a gateway
    assert "Gateway" not in await node_list()
    remove_run_file(port)

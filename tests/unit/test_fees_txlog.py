"""Fee suggestions from eth_feeHistory and the sent-transaction log (file, receipt, explorer)."""

from __future__ import annotations

import stat
from pathlib import Path

from erigolem_desktop.core.fees import FALLBACK_TIP, suggest
from erigolem_desktop.core.txlog import MINED, PENDING, REVERTED, SentTx, TxLog, explorer_url

GWEI = 10**9


def test_suggest_uses_next_base_fee_and_median_tips_per_percentile() -> None:
    history = {
        "oldestBlock": "0x10",
        "baseFeePerGas": [hex(10 * GWEI), hex(11 * GWEI), hex(12 * GWEI)],  # last = next block
        "reward": [
            [hex(1 * GWEI), hex(2 * GWEI), hex(5 * GWEI)],
            [hex(3 * GWEI), hex(4 * GWEI), hex(9 * GWEI)],
        ],
    }
    got = suggest(history)
    assert got.base_fee == 12 * GWEI
    assert got.by_speed["slow"].tip == 2 * GWEI
    assert got.by_speed["normal"].tip == 3 * GWEI
    assert got.by_speed["fast"].tip == 7 * GWEI
    assert got.by_speed["fast"].max_fee == 24 * GWEI + 7 * GWEI
    assert got.by_speed["slow"].tip < got.by_speed["normal"].tip < got.by_speed["fast"].tip


def test_suggest_falls_back_when_blocks_were_empty() -> None:
    history = {"baseFeePerGas": ["0x7", "0x8"], "reward": [["0x0", "0x0", "0x0"]]}
    got = suggest(history, fallback_tip=5)
    assert got.by_speed["normal"].tip == 5
    assert got.by_speed["normal"].max_fee == 2 * 8 + 5
    assert suggest({}).by_speed["fast"].tip == FALLBACK_TIP


def _tx(h: str, at: float, sender: str = "0xAbC") -> SentTx:
    return SentTx(h, sender, "0xdef", 10**30, "sepolia", 11155111, "n1", 0, at)


def test_txlog_keeps_big_values_newest_first_private(tmp_path: Path) -> None:
    log = TxLog(tmp_path / "tx.json")
    assert log.load() == []
    log.add(_tx("0x01", 1.0))
    log.add(_tx("0x02", 2.0))
    log.add(_tx("0x03", 3.0, sender="0xother"))
    assert stat.S_IMODE((tmp_path / "tx.json").stat().st_mode) == 0o600
    assert [t.hash for t in log.for_account("0xabc")] == ["0x02", "0x01"]
    assert log.load()[0].value == 10**30  # not rounded through a JSON float
    mined = log.load()[1].with_receipt(
        {"status": "0x1", "blockNumber": "0x5", "gasUsed": hex(21000), "effectiveGasPrice": "0x2"}
    )
    log.update(mined)
    again = {t.hash: t for t in log.load()}
    assert again["0x02"].status == MINED
    assert again["0x02"].fee_paid == 42000
    assert again["0x02"].block == 5
    assert again["0x01"].status == PENDING
    reverted = _tx("0x04", 4.0).with_receipt({"status": "0x0", "gasUsed": "0x1"})
    assert reverted.status == REVERTED


def test_txlog_survives_a_damaged_file(tmp_path: Path) -> None:
    path = tmp_path / "tx.json"
    path.write_text("{not json")
    assert TxLog(path).load() == []
    path.write_text('[{"hash": "0x1"}, ' + _tx_json() + "]")
    assert [t.hash for t in TxLog(path).load()] == ["0x09"]


def _tx_json() -> str:
    import json

    return json.dumps(_tx("0x09", 9.0).to_json())


def test_explorer_links_only_for_public_chains() -> None:
    assert explorer_url("mainnet", "0xab") == "https://etherscan.io/tx/0xab"
    assert explorer_url("sepolia", "0xab") == "https://sepolia.etherscan.io/tx/0xab"
    assert explorer_url("dev", "0xab") is None

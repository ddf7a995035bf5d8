"""The transactions sent from the app: kept per account, with status, receipt and gas paid.

A wallet home needs "what did I send, did it go through, what did it cost" without a block
explorer (a dev chain has none). The log is a small JSON file under data_dir() (0600): hashes,
addresses and amounts only, nothing secret. Explorer links exist for public chains.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from erigolem_runtime.api.files import atomic_write

from erigolem_desktop.core import units
from erigolem_desktop.core.paths import data_dir

log = logging.getLogger(__name__)

FILE_NAME = "transactions.json"
MAX_KEPT = 500  # the oldest entries go beyond this: it is a history, not an archive

#: Block explorers of the public chains (transaction page prefix); dev chains have none.
EXPLORERS = {
    "mainnet": "https://etherscan.io/tx/",
    "sepolia": "https://sepolia.etherscan.io/tx/",
    "hoodi": "https://hoodi.etherscan.io/tx/",
    "gnosis": "https://gnosisscan.io/tx/",
}

PENDING, MINED, REVERTED = "pending", "mined", "reverted"


def explorer_url(chain: str, tx_hash: str) -> str | None:
    """The explorer page of `tx_hash` on `chain`, None for chains without a public explorer."""
    prefix = EXPLORERS.get(chain)
    return prefix + tx_hash if prefix else None


@dataclass(frozen=True)
class SentTx:
    """One transaction the app sent. Amounts are in wei (as decimal strings in the file)."""

    hash: str
    sender: str
    to: str
    value: int
    chain: str
    chain_id: int
    node_id: str
    nonce: int
    sent_at: float
    status: str = PENDING
    block: int | None = None
    gas_used: int | None = None
    fee_paid: int | None = None  # gasUsed * effectiveGasPrice, wei

    @property
    def explorer(self) -> str | None:
        return explorer_url(self.chain, self.hash)

    def with_receipt(self, receipt: dict[str, Any]) -> SentTx:
        """This transaction once mined: status, block, gas used and the fee actually paid."""
        gas = units.from_hex(str(receipt.get("gasUsed", "0x0")))
        price = units.from_hex(str(receipt.get("effectiveGasPrice", "0x0")))
        ok = receipt.get("status") in ("0x1", 1)
        return replace(
            self,
            status=MINED if ok else REVERTED,
            block=units.from_hex(str(receipt.get("blockNumber", "0x0"))),
            gas_used=gas,
            fee_paid=gas * price,
        )

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("value", "fee_paid"):
            if out[key] is not None:
                out[key] = str(out[key])  # wei exceeds what JSON readers keep exactly
        return out

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> SentTx:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in raw.items() if k in known}
        for key in ("value", "fee_paid"):
            if values.get(key) is not None:
                values[key] = int(values[key])
        return cls(**values)


class TxLog:
    """Loads and saves the sent transactions; newest first."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or data_dir() / FILE_NAME
        self._lock = threading.Lock()  # add/update run in the executor: one writer at a time

    def load(self) -> list[SentTx]:
        """Every kept transaction, newest first (an unreadable file is logged and skipped)."""
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            log.warning("transaction log %s unreadable (%s); starting empty", self.path, exc)
            return []
        out: list[SentTx] = []
        for item in raw if isinstance(raw, list) else []:
            try:
                out.append(SentTx.from_json(item))
            except (TypeError, ValueError) as exc:
                log.warning("skipping a damaged transaction entry: %s", exc)
        return sorted(out, key=lambda t: t.sent_at, reverse=True)

    def for_account(self, address: str) -> list[SentTx]:
        return [t for t in self.load() if t.sender.lower() == address.lower()]

    def save(self, txs: list[SentTx]) -> None:
        kept = sorted(txs, key=lambda t: t.sent_at, reverse=True)[:MAX_KEPT]
        text = json.dumps([t.to_json() for t in kept], indent=1)
        atomic_write(self.path, text, mode=0o600)

    def add(self, tx: SentTx) -> None:
        """Record a transaction just sent (replacing one with the same hash)."""
        with self._lock:
            self.save([tx, *(t for t in self.load() if t.hash != tx.hash)])

    def update(self, tx: SentTx) -> None:
        """Store the new state of a recorded transaction (e.g. with its receipt)."""
        self.add(tx)


def sent_now(tx: dict[str, Any], tx_hash: str, sender: str, chain: str, node_id: str) -> SentTx:
    """The log entry of the signed EIP-1559 dict `tx`, sent a moment ago as `tx_hash`."""
    return SentTx(
        hash=tx_hash,
        sender=sender,
        to=str(tx["to"]),
        value=int(tx["value"]),
        chain=chain,
        chain_id=int(tx["chainId"]),
        node_id=node_id,
        nonce=int(tx["nonce"]),
        sent_at=time.time(),
    )

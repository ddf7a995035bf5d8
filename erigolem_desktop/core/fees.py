"""EIP-1559 fee suggestions from the node's `eth_feeHistory`, as wallets show them (slow,
normal, fast), so the user edits a sensible starting point instead of a fixed 3/1 gwei."""

from __future__ import annotations

from dataclasses import dataclass
from statistics import median
from typing import TYPE_CHECKING, Any

from erigolem_desktop.core import units

if TYPE_CHECKING:
    from erigolem_desktop.core.rpc import JsonRpcClient

HISTORY_BLOCKS = 10
PERCENTILES = (10, 50, 90)  # slow, normal, fast: the tips paid in recent blocks
SPEEDS = ("slow", "normal", "fast")
FALLBACK_TIP = 10**9  # 1 gwei when neither the history nor eth_maxPriorityFeePerGas helps


@dataclass(frozen=True)
class Fee:
    """A fee choice per gas, in wei: the most the sender pays and the tip to the block builder."""

    max_fee: int
    tip: int


@dataclass(frozen=True)
class FeeSuggestions:
    """What the next block's base fee will be and a fee per speed."""

    base_fee: int
    by_speed: dict[str, Fee]


def suggest(history: dict[str, Any], fallback_tip: int = FALLBACK_TIP) -> FeeSuggestions:
    """Fees from an `eth_feeHistory` answer asked with PERCENTILES.

    The next block's base fee is the answer's last `baseFeePerGas`. The tip per speed is the
    median over the blocks of that percentile's reward (blocks without transactions give 0 and
    are left out); the max fee is twice the base fee plus the tip, so it holds through six full
    blocks of base-fee rises.
    """
    bases = [units.from_hex(str(b)) for b in history.get("baseFeePerGas") or []]
    base = bases[-1] if bases else 0
    rewards = history.get("reward") or []
    by_speed: dict[str, Fee] = {}
    for i, speed in enumerate(SPEEDS):
        seen = [units.from_hex(str(r[i])) for r in rewards if len(r) > i]
        paid = [t for t in seen if t > 0]
        tip = int(median(paid)) if paid else fallback_tip
        by_speed[speed] = Fee(max_fee=2 * base + tip, tip=tip)
    return FeeSuggestions(base_fee=base, by_speed=by_speed)


async def fee_suggestions(client: JsonRpcClient) -> FeeSuggestions:
    """Ask the node for its recent fee history and turn it into suggestions.

    A node without `eth_feeHistory` (or a chain without EIP-1559) gets the latest block's base
    fee and the node's `eth_maxPriorityFeePerGas` for every speed.
    """
    tip_answer = await client.call("eth_maxPriorityFeePerGas", [])
    fallback = (
        units.from_hex(tip_answer.result)
        if tip_answer.ok and isinstance(tip_answer.result, str)
        else FALLBACK_TIP
    )
    answer = await client.call(
        "eth_feeHistory", [units.to_hex(HISTORY_BLOCKS), "latest", list(PERCENTILES)]
    )
    if answer.ok and isinstance(answer.result, dict):
        return suggest(answer.result, fallback)
    block = await client.call("eth_getBlockByNumber", ["latest", False])
    base = 0
    if block.ok and isinstance(block.result, dict):
        base = units.from_hex(str(block.result.get("baseFeePerGas", "0x0")))
    fee = Fee(max_fee=2 * base + fallback, tip=fallback)
    return FeeSuggestions(base_fee=base, by_speed=dict.fromkeys(SPEEDS, fee))

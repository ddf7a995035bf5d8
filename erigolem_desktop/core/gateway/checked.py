"""Verified state reads: eth_getBalance, eth_getTransactionCount, eth_getCode, eth_getStorageAt.

The answer is computed from an `eth_getProof` checked against the `stateRoot` of a header whose
hash was recomputed from its fields, and whose hash another node agrees on (or that links back
to the user's trusted checkpoint). A node whose answer does not check out is taken out as a
liar and the call goes to the next node; an answer that cannot be agreed is marked unverified
or refused, per the policy.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from erigolem_desktop.core.gateway.pool import UpstreamPool
from erigolem_desktop.core.gateway.upstream import Upstream, UpstreamFailure, UpstreamRpcError
from erigolem_desktop.core.gateway.verify import (
    EMPTY_TRIE_ROOT,
    Header,
    VerificationError,
    check_account,
    check_code,
    check_header,
    check_storage,
    slot_hex,
)

VERIFIED_METHODS = frozenset(
    {"eth_getBalance", "eth_getTransactionCount", "eth_getCode", "eth_getStorageAt"}
)
_TAGS = frozenset({"latest", "earliest", "safe", "finalized"})
# A fresh dev chain (anvil) has a genesis header whose stateRoot is the empty trie's root although
# its accounts are funded: nothing can be proven there, and that is not the node lying.
GENESIS_EMPTY_STATE = (
    "block 0 of this chain commits to an empty state (a fresh dev chain's genesis), so its "
    "state cannot be proven; answers are checked from block 1 on (mine a block: evm_mine)"
)


class BadParams(Exception):
    """The call's parameters are not what the method takes (-32602 to the caller)."""


class AllLied(Exception):
    """Every node that answered failed verification."""


@dataclass(frozen=True)
class Checked:
    """A state read's value and how far it could be trusted."""

    result: Any
    verified: bool
    node: str
    block: int | None
    reason: str  # why it is (not) verified
    extra_requests: int


def _block_ref(value: Any) -> tuple[str, list[Any]]:
    """(getBlock method, its params) for a block parameter; BadParams if it is none."""
    if value is None:
        value = "latest"
    if isinstance(value, dict):  # EIP-1898
        if isinstance(value.get("blockHash"), str):
            return "eth_getBlockByHash", [value["blockHash"], False]
        if isinstance(value.get("blockNumber"), str):
            value = value["blockNumber"]
        else:
            raise BadParams("a block object needs blockHash or blockNumber")
    if not isinstance(value, str):
        raise BadParams(f"block {value!r} is not a tag or 0x-hex number")
    if value == "pending":
        raise LookupError("pending state has no header to check it against")
    if value in _TAGS:
        return "eth_getBlockByNumber", [value, False]
    if value.startswith("0x"):
        try:
            int(value, 16)
        except ValueError:
            raise BadParams(f"block {value!r} is not a hex number") from None
        return "eth_getBlockByNumber", [value, False]
    raise BadParams(f"block {value!r} is not a tag or 0x-hex number")


def _split(method: str, params: Sequence[Any]) -> tuple[str, str | None, Any]:
    """(address, storage slot or None, block parameter)."""
    want = 3 if method == "eth_getStorageAt" else 2
    if not isinstance(params, list) or not 1 <= len(params) <= want:
        raise BadParams(f"{method} takes [address{', slot' if want == 3 else ''}, block]")
    address = params[0]
    if not isinstance(address, str) or len(address) != 42 or not address.startswith("0x"):
        raise BadParams(f"{address!r} is not a 0x-prefixed 20-byte address")
    if want == 3:
        if len(params) < 2 or not isinstance(params[1], str) or not params[1].startswith("0x"):
            raise BadParams("the storage slot must be 0x-hex")
        try:
            return address, slot_hex(params[1]), params[2] if len(params) > 2 else None
        except VerificationError as exc:
            raise BadParams(str(exc)) from None
    return address, None, params[1] if len(params) > 1 else None


class StateChecker:
    """Runs verified state reads against one chain's pool."""

    def __init__(self, pool: UpstreamPool) -> None:
        self.pool = pool

    async def read(self, method: str, params: Sequence[Any]) -> Checked:
        """The checked value; LookupError if it cannot be checked at all (e.g. 'pending'),
        AllLied if every node's answer failed, UpstreamRpcError for a node's error answer."""
        address, slot, block_param = _split(method, list(params))
        block_call = _block_ref(block_param)
        timeout = self.pool.policy.request_timeout
        last_error: Exception | None = None
        lied: list[str] = []
        for up in self.pool.candidates():
            try:
                return await self._read_on(up, method, address, slot, block_call, timeout)
            except VerificationError as exc:
                lied.append(f"{up.name}: {exc}")
                self.pool.mark_out(up, f"failed verification on {method}: {exc}", lied=True)
            except UpstreamFailure as exc:
                last_error = exc
                self.pool.mark_out(up, f"failed {method}: {exc}")
        if lied:
            raise AllLied("; ".join(lied))
        raise last_error or UpstreamFailure("no node to ask")

    async def _read_on(
        self,
        up: Upstream,
        method: str,
        address: str,
        slot: str | None,
        block_call: tuple[str, list[Any]],
        timeout: float,  # noqa: ASYNC109
    ) -> Checked:
        requests = 1
        tag = block_call[1][0]
        want_code = method == "eth_getCode"
        header, proof, code = await self._fetch(
            up, address, slot, block_call, tag, want_code, timeout
        )
        try:
            account = check_account(header.state_root, address, proof)
        except VerificationError:
            if header.number == 0 and header.state_root == EMPTY_TRIE_ROOT:
                raise LookupError(GENESIS_EMPTY_STATE) from None
            if block_call[0] != "eth_getBlockByNumber" or not tag or tag.startswith("0x"):
                raise
            # A new block may have come between the header and the proof: pin the number.
            requests += 1
            pinned = ("eth_getBlockByNumber", [hex(header.number), False])
            header, proof, code = await self._fetch(
                up, address, slot, pinned, hex(header.number), want_code, timeout
            )
            account = check_account(header.state_root, address, proof)
        result: Any
        if method == "eth_getBalance":
            result = hex(account.balance)
        elif method == "eth_getTransactionCount":
            result = hex(account.nonce)
        elif method == "eth_getCode":
            result = check_code(account, code)
        else:
            assert slot is not None
            result = "0x" + check_storage(account, slot, proof).to_bytes(32, "big").hex()
        verified, reason, extra = await self._anchor(up, header)
        return Checked(result, verified, up.name, header.number, reason, requests + extra)

    async def _fetch(
        self,
        up: Upstream,
        address: str,
        slot: str | None,
        block_call: tuple[str, list[Any]],
        proof_block: str,
        want_code: bool,
        timeout: float,  # noqa: ASYNC109
    ) -> tuple[Header, Any, Any]:
        calls: list[tuple[str, Sequence[Any]]] = [
            block_call,
            ("eth_getProof", [address, [slot] if slot else [], proof_block]),
        ]
        if block_call[0] == "eth_getBlockByHash":
            calls[1] = (
                "eth_getProof",
                [address, [slot] if slot else [], {"blockHash": proof_block}],
            )
        if want_code:
            calls.append(("eth_getCode", [address, calls[1][1][2]]))
        answers = await up.batch(calls, timeout)
        for answer in answers:
            if isinstance(answer, UpstreamRpcError):
                raise answer
        header = check_header(answers[0])
        if block_call[0] == "eth_getBlockByHash" and header.hash != str(proof_block).lower():
            raise VerificationError("the node sent a different block than the hash asked for")
        return header, answers[1], answers[2] if want_code else None

    async def _anchor(self, source: Upstream, header: Header) -> tuple[bool, str, int]:
        """(verified, why, extra requests): is this header the chain's, not just the node's?"""
        known = self.pool.trusted.get(header.number)
        if known == header.hash:
            return True, f"block {header.number} agreed across nodes", 0
        others = [u for u in self.pool.healthy() if u is not source]
        if others:
            return await self._agree(source, header, others)
        cp = self.pool.policy.checkpoint
        if cp is not None:
            return await self._walk_to_checkpoint(source, header)
        return (
            False,
            "only one node answers for this chain, so its block cannot be agreed; add a second "
            "node or a trusted checkpoint",
            0,
        )

    async def _agree(
        self, source: Upstream, header: Header, others: list[Upstream]
    ) -> tuple[bool, str, int]:
        timeout = self.pool.policy.health_timeout * 2

        async def hash_from(up: Upstream) -> str | None:
            try:
                return check_header(
                    await up.call("eth_getBlockByNumber", [hex(header.number), False], timeout)
                ).hash
            except (UpstreamFailure, UpstreamRpcError, VerificationError):
                return None

        hashes = await asyncio.gather(*(hash_from(u) for u in others))
        agree = sum(1 for h in hashes if h == header.hash)
        differ = [h for h in hashes if h is not None and h != header.hash]
        if agree and agree >= len(differ):
            self.pool.trust(header.number, header.hash)
            return True, f"block {header.number} agreed by {agree + 1} nodes", len(others)
        if differ and len(differ) > agree + 1:
            raise VerificationError(
                f"its block {header.number} hash differs from {len(differ)} other nodes'"
            )
        if differ:
            return False, f"nodes disagree on block {header.number}", len(others)
        return False, f"no other node could confirm block {header.number}", len(others)

    async def _walk_to_checkpoint(self, source: Upstream, header: Header) -> tuple[bool, str, int]:
        cp = self.pool.policy.checkpoint
        assert cp is not None
        if header.number < cp.number:
            return False, f"block {header.number} is older than the checkpoint", 0
        distance = header.number - cp.number
        if distance > self.pool.policy.max_walk:
            return (
                False,
                f"block {header.number} is {distance} blocks past the checkpoint "
                f"(walk limit {self.pool.policy.max_walk}); set a newer checkpoint",
                0,
            )
        chain = [header]
        if distance:
            numbers = range(header.number - 1, cp.number - 1, -1)
            answers = await source.batch(
                [("eth_getBlockByNumber", [hex(n), False]) for n in numbers],
                self.pool.policy.request_timeout,
            )
            for answer in answers:
                if isinstance(answer, UpstreamRpcError):
                    return False, f"could not walk back to the checkpoint: {answer}", 1
                parent = check_header(answer)
                if chain[-1].parent_hash != parent.hash:
                    raise VerificationError(
                        f"block {chain[-1].number}'s parent hash does not match block {parent.number}"
                    )
                chain.append(parent)
        if chain[-1].hash != cp.hash:
            raise VerificationError(
                f"its block {cp.number} is not the trusted checkpoint ({chain[-1].hash[:12]}… "
                f"vs {cp.hash[:12]}…)"
            )
        for h in chain:
            self.pool.trust(h.number, h.hash)
        return True, f"block {header.number} links to the trusted checkpoint", 1 if distance else 0

"""Checks on a node's answers: block header hashes and Merkle-Patricia state proofs.

Nothing here trusts the node: a header's hash is recomputed (keccak of the RLP of its fields,
in the layout of the fork the fields say it belongs to), and an `eth_getProof` answer is
checked against that header's `stateRoot` with py-trie's `HexaryTrie.get_from_proof`. The
values handed back to the caller (balance, nonce, code hash, storage value) are the ones the
proof proves, not the ones the node wrote next to it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import rlp
from eth_hash.auto import keccak
from trie.exceptions import BadTrieProof, ValidationError
from trie.hexary import HexaryTrie

EMPTY_TRIE_ROOT = bytes.fromhex("56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421")
EMPTY_CODE_HASH = keccak(b"")

# The header's fields in RLP order. Each fork appends fields; a header carries a prefix of the
# optional ones (London: baseFee; Shanghai: +withdrawalsRoot; Cancun: +blob gas and the beacon
# root; Prague: +requestsHash).
_BASE_FIELDS: tuple[tuple[str, str], ...] = (
    ("parentHash", "b32"),
    ("sha3Uncles", "b32"),
    ("miner", "b20"),
    ("stateRoot", "b32"),
    ("transactionsRoot", "b32"),
    ("receiptsRoot", "b32"),
    ("logsBloom", "bytes"),
    ("difficulty", "int"),
    ("number", "int"),
    ("gasLimit", "int"),
    ("gasUsed", "int"),
    ("timestamp", "int"),
    ("extraData", "bytes"),
    ("mixHash", "b32"),
    ("nonce", "b8"),
)
_FORK_FIELDS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("london", (("baseFeePerGas", "int"),)),
    ("shanghai", (("withdrawalsRoot", "b32"),)),
    (
        "cancun",
        (("blobGasUsed", "int"), ("excessBlobGas", "int"), ("parentBeaconBlockRoot", "b32")),
    ),
    ("prague", (("requestsHash", "b32"),)),
)
_SIZES = {"b32": 32, "b20": 20, "b8": 8}


class VerificationError(Exception):
    """A node's answer does not check out: `str(exc)` says what was wrong."""


@dataclass(frozen=True)
class Header:
    """A block header whose hash was recomputed from its fields and matched the claimed one."""

    number: int
    hash: str  # 0x-prefixed, lower case
    parent_hash: str
    state_root: bytes
    fork: str


@dataclass(frozen=True)
class Account:
    """An account's state as proven against a state root."""

    nonce: int
    balance: int
    storage_root: bytes
    code_hash: bytes


def _hex_bytes(value: Any, name: str) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise VerificationError(f"header field {name} is not a 0x-hex string: {value!r}")
    digits = value[2:]
    if len(digits) % 2:
        digits = "0" + digits
    try:
        return bytes.fromhex(digits)
    except ValueError:
        raise VerificationError(f"header field {name} is not hex: {value!r}") from None


def _quantity(value: Any, name: str) -> int:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise VerificationError(f"{name} is not a 0x-hex quantity: {value!r}")
    try:
        return int(value, 16)
    except ValueError:
        raise VerificationError(f"{name} is not a hex quantity: {value!r}") from None


def _field(block: Mapping[str, Any], name: str, kind: str) -> int | bytes:
    if name not in block:
        raise VerificationError(f"the header has no {name}")
    value = block[name]
    if kind == "int":
        return _quantity(value, name)
    raw = _hex_bytes(value, name)
    size = _SIZES.get(kind)
    if size is not None and len(raw) != size:
        raise VerificationError(f"header field {name} has {len(raw)} bytes, not {size}")
    return raw


def header_fork(block: Mapping[str, Any]) -> str:
    """The newest fork whose header fields the block carries ('frontier' for none)."""
    fork = "frontier"
    for name, fields in _FORK_FIELDS:
        present = [f in block and block[f] is not None for f, _ in fields]
        if all(present):
            fork = name
            continue
        if any(present):
            raise VerificationError(f"the header has only some of the {name} fields")
        break
    # A later fork's field after a missing earlier one is a layout no chain uses.
    seen_gap = False
    for _name, fields in _FORK_FIELDS:
        has = all(f in block and block[f] is not None for f, _ in fields)
        if not has:
            seen_gap = True
        elif seen_gap:
            raise VerificationError(
                "the header carries a newer fork's fields without an older one's"
            )
    return fork


def header_hash(block: Mapping[str, Any]) -> bytes:
    """keccak256 of the RLP of the header's fields, in the layout of its fork."""
    fields = list(_BASE_FIELDS)
    fork = header_fork(block)
    for name, extra in _FORK_FIELDS:
        fields.extend(extra)
        if name == fork:
            break
    else:
        fields = list(_BASE_FIELDS)
    values = [_field(block, name, kind) for name, kind in fields]
    return bytes(keccak(rlp.encode(values)))


def check_header(block: Any) -> Header:
    """The block's header, after checking that its claimed hash is the hash of its fields."""
    if not isinstance(block, Mapping):
        raise VerificationError(f"the node sent no block header (got {type(block).__name__})")
    claimed = block.get("hash")
    if not isinstance(claimed, str):
        raise VerificationError("the block has no hash")
    computed = "0x" + header_hash(block).hex()
    if computed != claimed.lower():
        raise VerificationError(
            f"block {block.get('number')}'s hash {claimed} is not the hash of its header "
            f"fields ({computed})"
        )
    return Header(
        number=_quantity(block.get("number"), "number"),
        hash=computed,
        parent_hash=str(block.get("parentHash", "")).lower(),
        state_root=bytes(_field(block, "stateRoot", "b32")),
        fork=header_fork(block),
    )


def _proof_nodes(proof: Any, what: str) -> list[bytes]:
    if not isinstance(proof, Sequence) or isinstance(proof, str):
        raise VerificationError(f"the {what} is not a list of trie nodes")
    return [_hex_bytes(node, what) for node in proof]


def _proven(root: bytes, key: bytes, proof: list[bytes], what: str) -> bytes:
    try:
        nodes = tuple(rlp.decode(node) for node in proof)  # get_from_proof takes decoded nodes
        return bytes(HexaryTrie.get_from_proof(root, key, nodes))  # type: ignore[no-untyped-call]
    except (
        BadTrieProof,
        ValidationError,
        rlp.exceptions.DecodingError,
        ValueError,
        IndexError,
        KeyError,
        TypeError,
    ) as exc:
        raise VerificationError(
            f"the {what} does not prove anything under the state root ({exc})"
        ) from None


def check_account(state_root: bytes, address: str, answer: Any) -> Account:
    """The account proven by an `eth_getProof` answer under `state_root`.

    Raises VerificationError when the proof does not match the root, or when the values the
    node stated next to the proof differ from the proven ones.
    """
    if not isinstance(answer, Mapping):
        raise VerificationError("eth_getProof returned no proof object")
    addr = _address(address)
    nodes = _proof_nodes(answer.get("accountProof"), "account proof")
    encoded = _proven(state_root, keccak(addr), nodes, "account proof")
    if encoded == b"":
        account = Account(0, 0, EMPTY_TRIE_ROOT, EMPTY_CODE_HASH)
    else:
        try:
            nonce, balance, storage_root, code_hash = rlp.decode(encoded)
        except (rlp.exceptions.DecodingError, ValueError):
            raise VerificationError("the proven account is not an RLP account record") from None
        account = Account(
            int.from_bytes(nonce, "big"),
            int.from_bytes(balance, "big"),
            bytes(storage_root),
            bytes(code_hash),
        )
    stated = {
        "balance": (answer.get("balance"), account.balance),
        "nonce": (answer.get("nonce"), account.nonce),
    }
    for name, (claim, proven) in stated.items():
        if claim is not None and _quantity(claim, name) != proven:
            raise VerificationError(
                f"the node states {name} {claim} but its proof proves {hex(proven)}"
            )
    return account


def check_storage(account: Account, slot: str, answer: Mapping[str, Any]) -> int:
    """The value of storage `slot` proven under the account's storage root."""
    entries = answer.get("storageProof")
    if (
        not isinstance(entries, Sequence)
        or len(entries) != 1
        or not isinstance(entries[0], Mapping)
    ):
        raise VerificationError("eth_getProof returned no storage proof for the slot")
    entry = entries[0]
    key = _slot(slot)
    if account.storage_root == EMPTY_TRIE_ROOT:
        value = 0
    else:
        nodes = _proof_nodes(entry.get("proof"), "storage proof")
        encoded = _proven(account.storage_root, keccak(key), nodes, "storage proof")
        try:
            value = int.from_bytes(rlp.decode(encoded), "big") if encoded else 0
        except (rlp.exceptions.DecodingError, ValueError):
            raise VerificationError("the proven storage value is not RLP") from None
    claim = entry.get("value")
    if claim is not None and _quantity(claim, "storage value") != value:
        raise VerificationError(
            f"the node states storage value {claim} but its proof proves {hex(value)}"
        )
    return value


def check_code(account: Account, code: Any) -> str:
    """The code, after checking its keccak against the proven code hash."""
    raw = _hex_bytes(code, "code")
    if keccak(raw) != account.code_hash:
        raise VerificationError("the code the node sent does not hash to the proven code hash")
    return "0x" + raw.hex()


def _address(value: str) -> bytes:
    raw = _hex_bytes(value, "address")
    if len(raw) != 20:
        raise VerificationError(f"{value!r} is not a 20-byte address")
    return raw


def _slot(value: str) -> bytes:
    raw = _hex_bytes(value, "storage slot")
    if len(raw) > 32:
        raise VerificationError(f"storage slot {value!r} is longer than 32 bytes")
    return raw.rjust(32, b"\0")


def slot_hex(value: str) -> str:
    """A storage slot as the 32-byte 0x-hex that eth_getProof expects (nodes reject odd hex)."""
    return "0x" + _slot(value).hex()

"""ENS names (vitalik.eth) to addresses, through a node: registry resolver(), then addr().

Only mainnet has the ENS registry this app reads (`REGISTRY`, the same address on every chain
ENS is deployed to, but the app resolves on mainnet nodes only). The name is hashed with EIP-137
`namehash` (keccak from eth-hash). Normalisation follows a documented subset of ENSIP-15: ASCII
names are lower-cased and must use a-z, 0-9, '-' and '_' (a leading run only), with no empty
label and no '--' in the third and fourth place (punycode and other label extensions). Names
with any non-ASCII letter are refused with a message, as full ENSIP-15 (Unicode, emoji,
confusables) needs a normaliser this app does not ship; the user can paste the address.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from erigolem_desktop.core.errors import HintedError

if TYPE_CHECKING:
    from erigolem_desktop.core.rpc import JsonRpcClient

REGISTRY = "0x00000000000C2E074eC69A0dFb2997BA6C7d2e1e"  # ENS registry (with fallback)
RESOLVER_SELECTOR = "0178b8bf"  # resolver(bytes32)
ADDR_SELECTOR = "3b3b57de"  # addr(bytes32)
ENS_CHAINS = ("mainnet",)
_LABEL_RE = re.compile(r"^_*[a-z0-9-]+$")
_HEX_ADDRESS_RE = re.compile(r"^(0x)?[0-9a-fA-F]{40}$")
_PASTE = "Paste the recipient's 0x address instead."


class EnsError(HintedError):
    """An ENS name that cannot be used or resolved; `hint` says what to do."""


def looks_like_name(text: str) -> bool:
    """Whether a typed recipient is meant as an ENS name (has a dot, is not a 0x address)."""
    text = text.strip()
    return "." in text and not _HEX_ADDRESS_RE.match(text)


def normalize(name: str) -> str:
    """The name in the form ENS hashes (ASCII subset of ENSIP-15, module doc); EnsError if not."""
    text = name.strip()
    if not text.isascii():
        raise EnsError(
            f"The name {text!r} has non-ASCII characters; this app checks only ASCII ENS names "
            "(full ENSIP-15 normalisation of Unicode names is not built in).",
            _PASTE,
        )
    text = text.lower().removesuffix(".")
    labels = text.split(".")
    for label in labels:
        if not label:
            raise EnsError(f"The name {name.strip()!r} has an empty part between dots.", _PASTE)
        if not _LABEL_RE.match(label):
            raise EnsError(
                f"The part {label!r} of {name.strip()!r} is not a valid ENS label: use a-z, "
                "0-9, '-' (and '_' only at the start).",
                _PASTE,
            )
        if len(label) >= 4 and label[2:4] == "--":
            raise EnsError(
                f"The part {label!r} has '--' in the third and fourth place (punycode or "
                "another label extension), which ENSIP-15 refuses.",
                _PASTE,
            )
    return text


def namehash(name: str) -> bytes:
    """EIP-137 namehash of an already normalised name ('' is the root: 32 zero bytes)."""
    from eth_hash.auto import keccak

    node = b"\0" * 32
    if name:
        for label in reversed(name.split(".")):
            node = keccak(node + keccak(label.encode("ascii")))
    return node


def _address_word(result: Any, what: str) -> str:
    """The address in the low 20 bytes of a 32-byte eth_call result ('' when it is zero)."""
    if not isinstance(result, str) or not re.fullmatch(r"0x[0-9a-fA-F]{64}", result):
        raise EnsError(
            f"The node's answer to {what} is not an address ({str(result)[:80]!r}).",
            "Check that the node is a synced mainnet node.",
        )
    word = result[-40:]
    return "" if int(word, 16) == 0 else "0x" + word


async def _eth_call(client: JsonRpcClient, to: str, data: str, what: str) -> Any:
    result = await client.call("eth_call", [{"to": to, "data": data}, "latest"])
    if result.error is not None:
        raise EnsError(
            f"The node refused {what}: {result.error.get('message', result.error)}.",
            "Check that the node is a synced mainnet node.",
        )
    return result.result


async def resolve(client: JsonRpcClient, name: str) -> str:
    """The EIP-55 address `name` points to, asked of the node (registry, then its resolver)."""
    from erigolem_desktop.core.wallet import checksum_address

    normal = normalize(name)
    node = namehash(normal).hex()
    resolver = _address_word(
        await _eth_call(client, REGISTRY, "0x" + RESOLVER_SELECTOR + node, "the ENS registry"),
        "the ENS registry",
    )
    if not resolver:
        raise EnsError(
            f"{normal} is not an ENS name with a resolver (not registered, or no resolver set).",
            "Check the spelling, or paste the 0x address.",
        )
    address = _address_word(
        await _eth_call(client, resolver, "0x" + ADDR_SELECTOR + node, "the name's resolver"),
        "the name's resolver",
    )
    if not address:
        raise EnsError(
            f"{normal} has no Ethereum address set.", "Ask its owner for the 0x address."
        )
    return checksum_address(address)

"""EIP-191 message signatures and EIP-1559 transaction signing with a private key in memory."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from erigolem_desktop.core.wallet_errors import WalletError

_TX_REQUIRED = ("chainId", "nonce", "gas", "maxFeePerGas", "maxPriorityFeePerGas")
_TX_ALLOWED = {*_TX_REQUIRED, "type", "to", "value", "data", "accessList", "from"}


def _hex(raw: bytes) -> str:
    return "0x" + bytes(raw).hex()


def sign_message(private_key: bytes, text: str) -> str:
    """The EIP-191 (`personal_sign`) signature of `text`: 65 bytes as 0x-hex (r, s, v)."""
    from eth_account import Account
    from eth_account.messages import encode_defunct

    signed = Account.sign_message(encode_defunct(text=text), private_key=private_key)
    return _hex(signed.signature)


SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def is_canonical_signature(sig: bytes) -> bool:
    """True for a 65-byte (r, s, v) signature in the one form Ethereum signers produce.

    Refused: s in the upper half of the curve order (the malleated twin of a valid signature,
    EIP-2), v other than 27/28 (0/1 is the raw recovery id some tools emit; accepting both
    makes two texts of one signature), and r or s outside 1..n-1.
    """
    if len(sig) != 65:
        return False
    r = int.from_bytes(sig[:32], "big")
    s = int.from_bytes(sig[32:64], "big")
    return 0 < r < SECP256K1_N and 0 < s <= SECP256K1_N // 2 and sig[64] in (27, 28)


def recover_message_signer(text: str, signature: str) -> str | None:
    """The checksum address that signed `text` (EIP-191), or None for a malformed signature.

    Only canonical signatures count (`is_canonical_signature`).
    """
    from eth_account import Account
    from eth_account.messages import encode_defunct

    try:
        sig = bytes.fromhex(signature.removeprefix("0x").removeprefix("0X"))
        if not is_canonical_signature(sig):
            return None
        return str(Account.recover_message(encode_defunct(text=text), signature=sig))
    except Exception:  # eth-keys raises BadSignature/ValidationError/ValueError
        return None


def verify_message(text: str, signature: str, address: str) -> bool:
    """True when `signature` is `address`'s EIP-191 signature of `text` (case-insensitive)."""
    signer = recover_message_signer(text, signature)
    return signer is not None and signer.lower() == address.strip().lower()


def check_transaction(tx: Mapping[str, Any], sender: str) -> dict[str, Any]:
    """A validated copy of an EIP-1559 (type 2) transaction dict, ready for eth-account.

    Raises WalletError naming the field when something is missing, unknown or of the wrong type.
    """
    unknown = set(tx) - _TX_ALLOWED
    if "gasPrice" in unknown:
        raise WalletError(
            "The transaction has gasPrice: that is a legacy transaction.",
            "Use maxFeePerGas and maxPriorityFeePerGas (EIP-1559) instead of gasPrice.",
        )
    if unknown:
        raise WalletError(f"Unknown transaction field(s): {', '.join(sorted(unknown))}.", "")
    missing = [f for f in _TX_REQUIRED if f not in tx]
    if missing:
        raise WalletError(
            f"The transaction lacks {', '.join(missing)}.",
            "Fill them in (e.g. from eth_chainId, eth_getTransactionCount, eth_estimateGas, "
            "eth_maxPriorityFeePerGas).",
        )
    out = dict(tx)
    if out.setdefault("type", 2) not in (2, "0x2", "0x02"):
        raise WalletError(
            f"Only EIP-1559 (type 2) transactions are signed, not type {out['type']}.", ""
        )
    out["type"] = 2
    sender_field = out.pop("from", None)
    if sender_field is not None and str(sender_field).lower() != sender.lower():
        raise WalletError(
            f"The transaction is from {sender_field}, but the unlocked account is {sender}.",
            "Unlock the account the transaction is from.",
        )
    for field in ("chainId", "nonce", "gas", "maxFeePerGas", "maxPriorityFeePerGas", "value"):
        if field in out:
            value = out[field]
            if isinstance(value, str) and value.startswith("0x"):
                value = int(value, 16)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise WalletError(
                    f"The transaction field {field} must be a non-negative integer.", ""
                )
            out[field] = value
    if out["maxPriorityFeePerGas"] > out["maxFeePerGas"]:
        raise WalletError("maxPriorityFeePerGas is higher than maxFeePerGas.", "Lower the tip.")
    out.setdefault("value", 0)
    out.setdefault("data", "0x")
    out.setdefault("accessList", [])
    return out


def sign_transaction(private_key: bytes, tx: Mapping[str, Any], sender: str) -> str:
    """The signed raw transaction as 0x-hex, for `eth_sendRawTransaction`."""
    from eth_account import Account

    checked = check_transaction(tx, sender)
    try:
        signed = Account.sign_transaction(checked, private_key)
    except (TypeError, ValueError) as exc:
        raise WalletError(f"The transaction cannot be signed: {exc}", "Check its fields.") from None
    return _hex(signed.raw_transaction)

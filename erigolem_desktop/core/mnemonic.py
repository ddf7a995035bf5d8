"""BIP-39 mnemonics and BIP-32/44 derivation paths, through eth-account's HD wallet support."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from erigolem_desktop.core.wallet_errors import WalletError

DEFAULT_PATH = "m/44'/60'/0'/0/0"  # BIP-44, Ethereum, first account (MetaMask, Ledger Live)
_PATH_RE = re.compile(r"^m(/[0-9]{1,10}'?){1,10}$")
_VALID_WORD_COUNTS = (12, 15, 18, 21, 24)


def _hd() -> Any:
    from eth_account import Account

    # eth-account labels its BIP-39/BIP-32 code "unaudited"; it is the reference Python
    # implementation and is what web3.py uses. Enabling it only unlocks these functions.
    Account.enable_unaudited_hdwallet_features()
    return Account


def normalize_phrase(phrase: str) -> str:
    """Words separated by single spaces, NFKD, lower case (how BIP-39 compares phrases)."""
    return " ".join(unicodedata.normalize("NFKD", phrase).lower().split())


def validate_path(path: str) -> str:
    """A BIP-32 path like m/44'/60'/0'/0/0; WalletError when it is not one."""
    path = path.strip()
    if not _PATH_RE.match(path):
        raise WalletError(
            f"{path!r} is not a derivation path.",
            f"Use the form m/44'/60'/0'/0/N (the default is {DEFAULT_PATH}).",
        )
    for part in path[2:].split("/"):
        if int(part.rstrip("'")) >= 2**31:
            raise WalletError(f"The derivation path {path} has an index out of range.", "")
    return path


def new_account(num_words: int = 12, path: str = DEFAULT_PATH) -> tuple[bytes, str]:
    """A fresh random key and the BIP-39 phrase it derives from (show it to the user once)."""
    account, phrase = _hd().create_with_mnemonic(num_words=num_words, account_path=path)
    return bytes(account.key), str(phrase)


def key_from_mnemonic(phrase: str, path: str = DEFAULT_PATH) -> bytes:
    """The private key at `path` of a BIP-39 phrase; WalletError for a bad phrase or path."""
    path = validate_path(path)
    words = normalize_phrase(phrase)
    count = len(words.split())
    if count not in _VALID_WORD_COUNTS:
        raise WalletError(
            f"A recovery phrase has 12, 15, 18, 21 or 24 words; this one has {count}.",
            "Check that the whole phrase was pasted, one space between words.",
        )
    try:
        account = _hd().from_mnemonic(words, account_path=path)
    except Exception:  # eth-account raises ValidationError/ValueError for bad words/checksum
        raise WalletError(
            "The recovery phrase is not valid (an unknown word or a wrong checksum).",
            "Check the spelling and the order of the words.",
        ) from None  # the chained error would quote the words
    return bytes(account.key)

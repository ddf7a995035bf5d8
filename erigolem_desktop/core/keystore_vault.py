"""Keystore v3 (scrypt) encryption of private keys, and their storage in the OS keyring.

What goes into the keyring, and why:

- One entry per account: service `erigolem-wallet`, username = the EIP-55 checksum address,
  value = the account's **keystore v3 JSON** (scrypt + AES-128-CTR + keccak MAC), serialized
  compactly (~490 characters). Never the raw key: a keyring that is read by someone else (an
  unlocked Secret Service answers any process of the user; a plain-file fallback can be copied)
  still does not reveal the key without the user's passphrase, and the keystore is the same
  portable format geth/MetaMask import, so export is just handing it out.
- The keyring, rather than a file of our own, because it is the platform's place for secrets
  (the user's login protects it; backups and sync of the data dir do not carry keys along).
- Size: Windows' Credential Manager caps an entry at 2,560 bytes stored as UTF-16, i.e. about
  1,280 characters; larger blobs fail with the obscure `CredWrite 1783 "stub received bad data"`.
  A compact scrypt keystore fits, but a future KDF with longer params, or a keystore imported
  with extra fields, might not. So values longer than `CHUNK_CHARS` are split defensively: the
  main entry holds `erigolem-chunks:<n>:<sha256>` and the parts live under `<address>#1..n`;
  reassembly checks the digest, so a half-written set reads as corrupt, never as a wrong key.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
from typing import Any

import keyring
from keyring.errors import KeyringError, PasswordDeleteError

from erigolem_desktop.core.signing import SECP256K1_N
from erigolem_desktop.core.wallet_errors import (
    KeyringUnavailable,
    KeystoreCorrupt,
    WalletError,
    WrongPassphrase,
)

log = logging.getLogger(__name__)

SERVICE = "erigolem-wallet"
CHUNK_CHARS = 1000  # well under Windows' ~1,280 UTF-16 characters per credential
_CHUNK_PREFIX = "erigolem-chunks:"
DEFAULT_SCRYPT_N = 2**18  # eth-account's default (geth's "standard"): ~0.5-1 s per unlock
IMPORT_HINT = (
    "Choose a keystore v3 JSON file (as saved by geth, MetaMask or `erigolem wallet export`). "
    "Nothing was changed."
)


# --- keystore v3 -----------------------------------------------------------------------------


def encrypt_key(private_key: bytes, passphrase: str, scrypt_n: int = DEFAULT_SCRYPT_N) -> str:
    """The keystore v3 JSON (compact) of `private_key` under `passphrase`, scrypt KDF."""
    from eth_account import Account

    if not passphrase:
        raise WalletError("The passphrase is empty.", "Choose a passphrase to protect the key.")
    keystore = Account.encrypt(private_key, passphrase, kdf="scrypt", iterations=scrypt_n)
    return json.dumps(keystore, separators=(",", ":"))


# Bounds on what a keystore may ask the KDF for, checked before deriving anything. geth writes
# scrypt n=2**18 r=8 p=1 ("standard") or n=2**12 p=6 ("light"), MetaMask/ethers n=2**17 r=8
# p=1, eth-account pbkdf2 c=10**6; all with dklen 32. The bounds leave headroom above those (4x
# geth's memory, ~10x its work) and refuse what would take gigabytes or minutes.
SCRYPT_MAX_MEMORY = 2**30  # bytes: scrypt uses 128 * r * n
SCRYPT_MAX_WORK = 2**23  # n * r * p (geth standard: 2**21)
SCRYPT_MAX_R = 32
SCRYPT_MAX_P = 16
PBKDF2_MAX_C = 10_000_000
DKLEN_RANGE = (32, 64)
MAX_KEYSTORE_CHARS = 64 * 1024
CIPHER = "aes-128-ctr"
_KDF_HINT = (
    "The keystore asks for key-derivation parameters far beyond what geth or MetaMask write; "
    "it is damaged or made to stall this computer. Export it again from the wallet it came from."
)


def _kdf_int(params: dict[str, Any], name: str, low: int, high: int) -> int:
    value = params.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise KeystoreCorrupt(
            f"The keystore's crypto.kdfparams.{name} is {str(value)[:40]!r}, not a whole number.",
            IMPORT_HINT,
        )
    if not low <= value <= high:
        raise KeystoreCorrupt(
            f"The keystore's crypto.kdfparams.{name} = {value} is outside {low}..{high}.",
            _KDF_HINT,
        )
    return value


def check_crypto_params(crypto: dict[str, Any]) -> None:
    """KeystoreCorrupt unless cipher and KDF parameters are ones geth/MetaMask could have written.

    Cheap (no derivation): run before the KDF so a hostile file cannot use gigabytes or minutes.
    """
    if crypto.get("cipher") != CIPHER:
        raise KeystoreCorrupt(
            f"The keystore's cipher {str(crypto.get('cipher'))[:40]!r} is not supported "
            f"(only {CIPHER}, as geth and MetaMask write).",
            IMPORT_HINT,
        )
    cipherparams = crypto.get("cipherparams")
    iv = cipherparams.get("iv") if isinstance(cipherparams, dict) else None
    if not isinstance(iv, str) or not re.fullmatch(r"[0-9a-fA-F]{32}", iv):
        raise KeystoreCorrupt("The keystore's crypto.cipherparams.iv is not 16 bytes of hex.")
    ciphertext = crypto.get("ciphertext")
    if not isinstance(ciphertext, str) or not re.fullmatch(r"(?:[0-9a-fA-F]{2}){1,64}", ciphertext):
        raise KeystoreCorrupt("The keystore's crypto.ciphertext is not hex of a key's length.")
    params = crypto.get("kdfparams")
    if not isinstance(params, dict):
        raise KeystoreCorrupt("The keystore's crypto.kdfparams is not an object.")
    salt = params.get("salt")
    if not isinstance(salt, str) or not re.fullmatch(r"(?:[0-9a-fA-F]{2}){0,256}", salt):
        raise KeystoreCorrupt("The keystore's crypto.kdfparams.salt is not hex (up to 256 bytes).")
    _kdf_int(params, "dklen", *DKLEN_RANGE)
    kdf = crypto.get("kdf")
    if kdf == "scrypt":
        n = _kdf_int(params, "n", 2, 2**20)
        if n & (n - 1):
            raise KeystoreCorrupt(
                f"The keystore's crypto.kdfparams.n = {n} is not a power of two.", IMPORT_HINT
            )
        r = _kdf_int(params, "r", 1, SCRYPT_MAX_R)
        p = _kdf_int(params, "p", 1, SCRYPT_MAX_P)
        if 128 * r * n > SCRYPT_MAX_MEMORY or n * r * p > SCRYPT_MAX_WORK:
            raise KeystoreCorrupt(
                f"The keystore's scrypt parameters (n={n}, r={r}, p={p}) would need "
                f"{128 * r * n // 2**20} MiB and {n * r * p} rounds; the limit is "
                f"{SCRYPT_MAX_MEMORY // 2**20} MiB and {SCRYPT_MAX_WORK} rounds.",
                _KDF_HINT,
            )
    elif kdf == "pbkdf2":
        if params.get("prf") != "hmac-sha256":
            raise KeystoreCorrupt(
                f"The keystore's pbkdf2 prf {str(params.get('prf'))[:40]!r} is not supported "
                "(only hmac-sha256).",
                IMPORT_HINT,
            )
        _kdf_int(params, "c", 1, PBKDF2_MAX_C)
    else:
        raise KeystoreCorrupt(
            f"The keystore's KDF {str(kdf)[:40]!r} is not supported (scrypt or pbkdf2).",
            IMPORT_HINT,
        )


def parse_keystore(json_text: str) -> dict[str, Any]:
    """Check that `json_text` is a keystore v3 document; KeystoreCorrupt says what is wrong.

    Checks the cipher and bounds the KDF parameters too (`check_crypto_params`), so everything
    that passes can be decrypted in bounded time and memory.
    """
    if len(json_text) > MAX_KEYSTORE_CHARS:
        raise KeystoreCorrupt(
            f"The keystore is {len(json_text)} characters long; a keystore is under "
            f"{MAX_KEYSTORE_CHARS}.",
            IMPORT_HINT,
        )
    try:
        data = json.loads(json_text)
    except json.JSONDecodeError as exc:
        raise KeystoreCorrupt(f"The keystore is not valid JSON ({exc.msg}).") from None
    except RecursionError:
        raise KeystoreCorrupt("The keystore is not a keystore (JSON nested too deeply).") from None
    if not isinstance(data, dict):
        raise KeystoreCorrupt("The keystore is not a JSON object.")
    crypto = data.get("crypto", data.get("Crypto"))
    if data.get("version") != 3 or not isinstance(crypto, dict):
        raise KeystoreCorrupt("The keystore is not a version 3 keystore (no 'crypto' section).")
    for field in ("cipher", "ciphertext", "cipherparams", "kdf", "kdfparams", "mac"):
        if field not in crypto:
            raise KeystoreCorrupt(f"The keystore is missing crypto.{field}.")
    check_crypto_params(crypto)
    named = data.get("address")
    if named is not None and (
        not isinstance(named, str) or not re.fullmatch(r"(0x)?[0-9a-fA-F]{40}", named)
    ):
        raise KeystoreCorrupt(f"The keystore's address {str(named)[:60]!r} is not an address.")
    return data


def decrypt_keystore(
    json_text: str,
    passphrase: str,
    *,
    expected_address: str | None = None,
    wrong: WrongPassphrase | None = None,
) -> bytes:
    """The private key (32 bytes) inside a keystore v3 JSON.

    The decrypted key must belong to `expected_address` when given, and to the address the file
    names when it names one (as geth checks: "key content mismatch"); the v3 MAC covers the
    ciphertext only, so a damaged iv would otherwise decrypt to another account silently. Keys
    stored shorter than 32 bytes (geth's 31/30-byte vectors: leading zero bytes dropped) are
    left-padded. Raises WrongPassphrase (`wrong` when given) on a MAC mismatch, KeystoreCorrupt
    when the document is damaged or holds the key of another address.
    """
    from eth_account import Account
    from eth_keyfile.exceptions import EthKeyfileValueError

    data = parse_keystore(json_text)
    try:
        key = bytes(Account.decrypt(data, passphrase))
    except EthKeyfileValueError as exc:
        if "MAC mismatch" in str(exc):
            raise (wrong or WrongPassphrase()) from None
        raise KeystoreCorrupt(f"The keystore cannot be decrypted ({exc}).") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise KeystoreCorrupt(
            f"The keystore cannot be decrypted ({type(exc).__name__}: {exc})."
        ) from None
    if len(key) < 32:
        key = key.rjust(32, b"\0")
    if len(key) != 32 or not 0 < int.from_bytes(key, "big") < SECP256K1_N:
        raise KeystoreCorrupt("The keystore decrypts to something that is not a private key.")
    actual = str(Account.from_key(key).address)
    named = data.get("address")
    for wanted, what in ((expected_address, "the account"), (named, "the file's address")):
        if wanted is not None and actual.lower() != "0x" + wanted.lower().removeprefix("0x"):
            raise KeystoreCorrupt(
                f"The keystore decrypts to the key of {actual}, not of {what} "
                f"{wanted if wanted.startswith('0x') else '0x' + wanted}: it is damaged "
                "(key content mismatch).",
            )
    return key


# --- keyring storage -------------------------------------------------------------------------


def keyring_call(what: str, func: Any, *args: str) -> Any:
    """Call a keyring method; backend failures become KeyringUnavailable (deletes of absent
    entries keep raising PasswordDeleteError for the caller to ignore)."""
    try:
        return func(*args)
    except PasswordDeleteError:
        raise
    except KeyringError as exc:
        raise KeyringUnavailable(
            f"The keyring refused to {what} ({type(exc).__name__}: {exc}). Nothing was changed."
        ) from exc
    except (RuntimeError, OSError, EOFError) as exc:  # D-Bus errors, a prompting backend
        raise KeyringUnavailable(
            f"The keyring failed to {what} ({type(exc).__name__}: {exc}). Nothing was changed."
        ) from exc


class KeyringVault:
    """Keystore JSON per address in the keyring, chunked when too long for Windows."""

    def __init__(self, service: str = SERVICE, chunk_chars: int = CHUNK_CHARS) -> None:
        self.service = service
        self.chunk_chars = chunk_chars

    def put(self, address: str, keystore_json: str) -> None:
        """Store (or replace) the keystore of `address`."""
        kr = keyring.get_keyring()
        old = self._chunk_count(address)
        if len(keystore_json) <= self.chunk_chars:
            keyring_call(
                "store the keystore", kr.set_password, self.service, address, keystore_json
            )
        else:
            parts = [
                keystore_json[i : i + self.chunk_chars]
                for i in range(0, len(keystore_json), self.chunk_chars)
            ]
            for n, part in enumerate(parts, start=1):
                keyring_call(
                    "store the keystore", kr.set_password, self.service, f"{address}#{n}", part
                )
            digest = hashlib.sha256(keystore_json.encode()).hexdigest()
            head = f"{_CHUNK_PREFIX}{len(parts)}:{digest}"
            keyring_call("store the keystore", kr.set_password, self.service, address, head)
            self._delete_parts(address, len(parts) + 1, old)
            return
        self._delete_parts(address, 1, old)

    def get(self, address: str) -> str | None:
        """The stored keystore JSON, or None when the keyring has no entry for `address`."""
        kr = keyring.get_keyring()
        head = keyring_call("read the keystore", kr.get_password, self.service, address)
        if head is None or not head.startswith(_CHUNK_PREFIX):
            return head if head is None else str(head)
        try:
            count_text, digest = head[len(_CHUNK_PREFIX) :].split(":", 1)
            count = int(count_text)
        except ValueError:
            raise KeystoreCorrupt(f"The keyring entry of {address} is damaged.") from None
        parts = []
        for n in range(1, count + 1):
            part = keyring_call(
                "read the keystore", kr.get_password, self.service, f"{address}#{n}"
            )
            if part is None:
                raise KeystoreCorrupt(
                    f"Part {n} of {count} of the keystore of {address} is missing."
                )
            parts.append(part)
        text = "".join(parts)
        if hashlib.sha256(text.encode()).hexdigest() != digest:
            raise KeystoreCorrupt(f"The parts of the keystore of {address} do not fit together.")
        return text

    def delete(self, address: str) -> None:
        """Remove the keystore of `address` (all its parts); no error when absent."""
        kr = keyring.get_keyring()
        count = self._chunk_count(address)
        with contextlib.suppress(PasswordDeleteError):
            keyring_call("delete the keystore", kr.delete_password, self.service, address)
        self._delete_parts(address, 1, count)

    def _chunk_count(self, address: str) -> int:
        kr = keyring.get_keyring()
        head = keyring_call("read the keystore", kr.get_password, self.service, address)
        if head and head.startswith(_CHUNK_PREFIX):
            try:
                return int(head[len(_CHUNK_PREFIX) :].split(":", 1)[0])
            except ValueError:
                return 0
        return 0

    def _delete_parts(self, address: str, first: int, last: int) -> None:
        kr = keyring.get_keyring()
        for n in range(first, last + 1):
            with contextlib.suppress(PasswordDeleteError):
                keyring_call(
                    "delete the keystore", kr.delete_password, self.service, f"{address}#{n}"
                )


# --- other secrets in the keystore v3 envelope ------------------------------------------------


def encrypt_secret(secret: bytes, passphrase: str, scrypt_n: int = DEFAULT_SCRYPT_N) -> str:
    """`secret` (any length: a recovery phrase) in a keystore v3 envelope under `passphrase`.

    The same scrypt + AES-128-CTR + keccak MAC as a key's keystore, so `decrypt_secret`
    (eth-keyfile's decoder) reads it; written here because eth-keyfile's encoder only takes
    32-byte private keys.
    """
    import os

    from Crypto.Cipher import AES
    from Crypto.Util import Counter
    from eth_hash.auto import keccak

    if not passphrase:
        raise WalletError("The passphrase is empty.", "Choose a passphrase to protect the key.")
    salt, iv = os.urandom(16), os.urandom(16)
    derived = hashlib.scrypt(
        passphrase.encode("utf-8"),
        salt=salt,
        n=scrypt_n,
        r=8,
        p=1,
        maxmem=SCRYPT_MAX_MEMORY + 2**20,
        dklen=32,
    )  # releases the GIL while it works
    counter = Counter.new(128, initial_value=int.from_bytes(iv, "big"), allow_wraparound=True)
    ciphertext = AES.new(derived[:16], AES.MODE_CTR, counter=counter).encrypt(secret)
    envelope = {
        "version": 3,
        "crypto": {
            "cipher": CIPHER,
            "cipherparams": {"iv": iv.hex()},
            "ciphertext": ciphertext.hex(),
            "kdf": "scrypt",
            "kdfparams": {"dklen": 32, "n": scrypt_n, "p": 1, "r": 8, "salt": salt.hex()},
            "mac": keccak(derived[16:32] + ciphertext).hex(),
        },
    }
    return json.dumps(envelope, separators=(",", ":"))


def decrypt_secret(json_text: str, passphrase: str) -> bytes:
    """The secret inside an `encrypt_secret` envelope; WrongPassphrase on a MAC mismatch."""
    from eth_keyfile.exceptions import EthKeyfileValueError
    from eth_keyfile.keyfile import decode_keyfile_json

    try:
        data = json.loads(json_text)
        return bytes(decode_keyfile_json(data, passphrase.encode("utf-8")))
    except EthKeyfileValueError as exc:
        if "MAC mismatch" in str(exc):
            raise WrongPassphrase() from None
        raise KeystoreCorrupt(f"The stored secret cannot be decrypted ({exc}).") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise KeystoreCorrupt(
            f"The stored secret cannot be decrypted ({type(exc).__name__})."
        ) from None

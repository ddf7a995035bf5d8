"""The wallet: several Ethereum accounts, one active, keys at rest only as keystores in the keyring.

- Metadata (address, label, created_at, which one is active) is a small JSON file,
  `data_dir()/wallet.json` (0600, atomic writes). It holds no secret.
- Each private key is a keystore v3 (scrypt) under the user's passphrase, kept in the OS keyring
  (keystore_vault.py explains what goes in there and why).
- The recovery phrase of a created or phrase-imported account is kept too, under
  `<address>#phrase` in the keyring, in the same scrypt envelope under the same passphrase
  (`recovery_phrase()` reveals it; a passphrase change re-encrypts it). Accounts imported from a
  private key or a keystore have none (`no_phrase_reason()`).
- `unlock()` decrypts one account's key into memory; `lock()` drops it. The wallet also locks
  itself after `auto_lock_seconds` without use (checked lazily on every call; `seconds_until_lock()`
  tells a GUI when to schedule its own check; `touch()` counts as use). Python cannot wipe memory
  for sure, so "dropped" means no reference is kept; the key never reaches a log, a repr or disk.
- CPU-heavy calls (create, import, unlock, export, recovery_phrase, change_passphrase: scrypt) are synchronous;
  GUI callers run them in an executor.

Several processes (the app, `erigolem wallet …`) may change the wallet at once. Every change is
a read-modify-write of `wallet.json` under an inter-process lock (`wallet.lock` beside it:
flock on POSIX, msvcrt on Windows), re-reading the file once the lock is held; readers need no
lock since writes are atomic.

Steps that touch both the keyring and the account list are made crash-safe by writing the
intent first: an entry is saved with `"pending": "add" | "remove" | "passwd"`, then the keyring
is changed, then the entry is completed, all under the lock. A pending entry found later (at
`open()` or at the start of any change, when no other process can be mid-step) is a crash's
leftover and is settled: an add whose keystore is in the keyring is completed, one whose
keystore is missing or torn is dropped; a remove is finished; a passphrase change keeps the
main keystore if it is readable, else restores the new one from its staged copy. So the keyring
(which cannot be listed) never keeps a key the account list does not know about.

Key-derivation cost: new keystores use scrypt n = 2**18 (`DEFAULT_SCRYPT_N`).
`ERIGOLEM_WALLET_SCRYPT_N` may raise it. A value below the shipped cost (test suites: n = 4096,
milliseconds instead of ~1 s) is honoured only when `ERIGOLEM_WALLET_INSECURE_TEST_KDF=1` is set
too; alone it is refused with an error, so a stray variable can never weaken a user's new keys.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from erigolem_runtime.api.files import atomic_write, locked

from erigolem_desktop.core import mnemonic as bip39
from erigolem_desktop.core import signing
from erigolem_desktop.core.keyring_setup import ensure_keyring
from erigolem_desktop.core.keystore_vault import (
    DEFAULT_SCRYPT_N,
    IMPORT_HINT,
    KeyringVault,
    decrypt_keystore,
    decrypt_secret,
    encrypt_key,
    encrypt_secret,
    parse_keystore,
)
from erigolem_desktop.core.paths import data_dir as default_data_dir
from erigolem_desktop.core.signing import SECP256K1_N
from erigolem_desktop.core.siwe import SiweMessage
from erigolem_desktop.core.wallet_errors import (
    KeyringUnavailable,
    KeystoreCorrupt,
    UnknownAccount,
    WalletError,
    WalletLocked,
    WrongPassphrase,
)

__all__ = [
    "AccountInfo",
    "KeyringUnavailable",
    "KeystoreCorrupt",
    "RecoveryPhrase",
    "UnknownAccount",
    "Wallet",
    "WalletError",
    "WalletLocked",
    "WrongPassphrase",
]

log = logging.getLogger(__name__)

METADATA_FILE = "wallet.json"
DEFAULT_AUTO_LOCK_SECONDS = 900.0
LOCK_FILE = "wallet.lock"
LOCK_TIMEOUT_SECONDS = 30.0
SCRYPT_N_ENV = "ERIGOLEM_WALLET_SCRYPT_N"  # a higher KDF cost for new keys
INSECURE_KDF_ENV = "ERIGOLEM_WALLET_INSECURE_TEST_KDF"  # =1: tests may lower it (module doc)
STAGED_SUFFIX = "#staged"  # keyring username of a new keystore while the passphrase changes
PHRASE_SUFFIX = "#phrase"  # keyring username of an account's encrypted recovery phrase
_MIN_SCRYPT_N = 2**12
_ADDRESS_RE = re.compile(r"^(0x)?[0-9a-fA-F]{40}$")
_KEY_RE = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")


@dataclass(frozen=True)
class RecoveryPhrase:
    """An account's BIP-39 phrase and derivation path; the repr never shows the words."""

    phrase: str
    path: str

    def __repr__(self) -> str:
        return f"<recovery phrase, {len(self.phrase.split())} words, {self.path}>"


# Where an account's key came from (`source` in wallet.json); says why there is no phrase.
NO_PHRASE_REASONS = {
    "private_key": "This account was imported from a private key, so it has no recovery "
    "phrase. Back it up by exporting its keystore.",
    "keystore": "This account was imported from a keystore file, so it has no recovery "
    "phrase here. Back it up by exporting its keystore.",
    "": "This account's recovery phrase was shown once when it was made and was not kept "
    "(accounts made before this version). Back it up by exporting its keystore.",
}


@dataclass(frozen=True)
class AccountInfo:
    """One account as the UI lists it (no secret here)."""

    address: str
    label: str
    created_at: str  # ISO 8601, UTC
    active: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _HeldKey:
    """The decrypted key while unlocked; its repr never shows the bytes (tracebacks, debuggers)."""

    __slots__ = ("address", "key")

    def __init__(self, address: str, key: bytes) -> None:
        self.address = address
        self.key = key

    def __repr__(self) -> str:
        return f"<unlocked key of {self.address}>"


def checksum_address(address: str) -> str:
    """EIP-55 form of `address`; WalletError when it is not 20 bytes of hex.

    Computed here from keccak (eth-hash) rather than with eth_utils: the wallet file's
    addresses are checked at start-up, before the first window, and importing eth_utils took
    longer than everything else before that paint.
    """
    from eth_hash.auto import keccak

    text = address.strip()
    if not _ADDRESS_RE.match(text):
        raise WalletError(
            f"{address!r} is not an Ethereum address.", "An address is 0x and 40 hex digits."
        )
    lower = text.removeprefix("0x").removeprefix("0X").lower()
    digest = keccak(lower.encode("ascii")).hex()
    return "0x" + "".join(
        c.upper() if int(d, 16) >= 8 else c for c, d in zip(lower, digest[:40], strict=True)
    )


def recipient_address(address: str) -> str:
    """The EIP-55 form of a typed recipient, refusing a mistyped one (as MetaMask does).

    All-lower and all-upper hex carry no checksum and are accepted; mixed case is an EIP-55
    checksum and must match, else one letter's case (or a digit) was probably mistyped.
    """
    checked = checksum_address(address)
    body = address.strip().removeprefix("0x")
    if body not in (body.lower(), body.upper()) and "0x" + body != checked:
        raise WalletError(
            f"The address {address.strip()} fails its EIP-55 checksum: it was probably mistyped.",
            "Copy it again from its source. (All-lower-case addresses carry no checksum.)",
        )
    return checked


def _scrypt_n_from_env() -> int:
    raw = os.environ.get(SCRYPT_N_ENV)
    if not raw:
        return DEFAULT_SCRYPT_N
    try:
        n = int(raw)
    except ValueError:
        n = 0
    if n < _MIN_SCRYPT_N or n & (n - 1):
        raise WalletError(
            f"{SCRYPT_N_ENV}={raw} is not a power of two >= {_MIN_SCRYPT_N}.",
            f"Unset it to use the default ({DEFAULT_SCRYPT_N}).",
        )
    if n < DEFAULT_SCRYPT_N:
        if os.environ.get(INSECURE_KDF_ENV) != "1":
            raise WalletError(
                f"{SCRYPT_N_ENV}={raw} is below the shipped key-derivation cost "
                f"({DEFAULT_SCRYPT_N}): new keys would be much cheaper to brute-force.",
                f"Unset {SCRYPT_N_ENV} (only values >= {DEFAULT_SCRYPT_N} are accepted). Test "
                f"suites that want a cheap KDF also set {INSECURE_KDF_ENV}=1.",
            )
        log.info("wallet: TEST MODE, new keys use the cheap scrypt n=%d", n)
    return n


@contextlib.contextmanager
def file_lock(path: Path, timeout: float = LOCK_TIMEOUT_SECONDS) -> Iterator[None]:
    """Hold an exclusive inter-process lock on `path` (created 0600) for the `with` block.

    Polls (no blocking call has a timeout on every platform); after `timeout` seconds raises
    WalletError naming the lock file. A crashed holder releases it (the OS closes its file).
    """

    def busy() -> WalletError:
        return WalletError(
            f"Another Erigolem program has been changing the wallet for over "
            f"{timeout:.0f} s (lock file {path}).",
            "Wait for it to finish or close it, then try again.",
        )

    with locked(path, timeout, busy):
        yield


def _check_passphrase(passphrase: str) -> None:
    if not passphrase:
        raise WalletError("The passphrase is empty.", "Choose a passphrase to protect the key.")


def _now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _well_formed(entry: Any) -> bool:
    """An account entry the wallet can use: an object with a checksummable address.

    Mixed case is the EIP-55 form the wallet itself writes and is kept as it is; only an
    all-lower or all-upper address (an older or hand-made file) is checksummed here. So
    opening the wallet before the first window needs no keccak (pycryptodome's import).
    """
    if not isinstance(entry, dict) or not isinstance(entry.get("address"), str):
        return False
    address = entry["address"].strip()
    if not _ADDRESS_RE.match(address):
        return False
    digits = address.removeprefix("0x")
    if digits.lower() == digits or digits.upper() == digits:
        entry["address"] = checksum_address(address)
    else:
        entry["address"] = "0x" + digits
    return True


def _listed(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The entries that are accounts (not being added or removed)."""
    return [e for e in data["accounts"] if e.get("pending") not in ("add", "remove")]


def _entry(data: Mapping[str, Any], address: str) -> dict[str, Any]:
    """The listed entry of checksummed `address`; UnknownAccount when there is none."""
    for entry in _listed(data):
        if entry["address"] == address:
            return entry
    raise UnknownAccount(address)


def _fix_active(data: dict[str, Any]) -> None:
    """Point `active` at a listed account (the first one) when it names none."""
    listed = [e["address"] for e in _listed(data)]
    if data.get("active") not in listed:
        data["active"] = listed[0] if listed else None


def _refuse_duplicate(data: Mapping[str, Any], address: str) -> None:
    if any(e["address"] == address for e in _listed(data)):
        raise WalletError(
            f"The account {address} is already in this wallet.",
            "Use it as it is, or remove it first to import it again.",
        )


def _check_keystore_address(json_text: str, address: str) -> None:
    """KeystoreCorrupt unless `json_text` is a keystore v3 naming `address` (when it names one)."""
    named = str(parse_keystore(json_text).get("address", address)).lower().removeprefix("0x")
    if named != address.lower().removeprefix("0x"):
        raise KeystoreCorrupt(f"The stored keystore is not that of {address}.")


IMPORT_KEYSTORE_HINT = IMPORT_HINT


def _import_hint(exc: KeystoreCorrupt) -> str:
    """The hint for a refused import: the specific one when there is one, else the generic."""
    return exc.hint if exc.hint != KeystoreCorrupt.DEFAULT_HINT else IMPORT_KEYSTORE_HINT


def check_keystore_file(json_text: str) -> None:
    """Refuse a file to import that is not a keystore v3, before its password is asked for."""
    try:
        parse_keystore(json_text)
    except KeystoreCorrupt as exc:
        raise KeystoreCorrupt(exc.message, _import_hint(exc)) from None


class Wallet:
    """Accounts, their encrypted keys in the keyring, and the one unlocked key in memory."""

    def __init__(
        self,
        data_dir: Path,
        *,
        clock: Callable[[], float] = time.monotonic,
        scrypt_n: int = DEFAULT_SCRYPT_N,
        vault: KeyringVault | None = None,
        auto_lock_seconds: float | None = DEFAULT_AUTO_LOCK_SECONDS,
    ) -> None:
        self.data_dir = data_dir
        self.metadata_path = data_dir / METADATA_FILE
        self.lock_path = data_dir / LOCK_FILE
        self.scrypt_n = scrypt_n
        self.vault = vault or KeyringVault()
        self.auto_lock_seconds = auto_lock_seconds  # None or 0: never auto-lock
        self._clock = clock
        self._held: _HeldKey | None = None
        self._last_used = 0.0

    @classmethod
    def open(
        cls,
        data_dir: Path | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        scrypt_n: int | None = None,
        auto_lock_seconds: float | None = DEFAULT_AUTO_LOCK_SECONDS,
    ) -> Wallet:
        """The wallet of `data_dir` (default: the app's data dir), keyring backend chosen.

        Raises KeyringUnavailable when no keyring can be used (see keyring_setup).
        """
        ensure_keyring()
        directory = data_dir if data_dir is not None else default_data_dir()
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        wallet = cls(
            directory,
            clock=clock,
            scrypt_n=scrypt_n if scrypt_n is not None else _scrypt_n_from_env(),
            auto_lock_seconds=auto_lock_seconds,
        )
        data = wallet._load()  # a damaged metadata file is reported now, not at the first click
        if any("pending" in e for e in data["accounts"]):
            with wallet._transaction():  # settles a crash's leftovers (module doc)
                pass
        return wallet

    # --- metadata --------------------------------------------------------------------------

    def _load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.metadata_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"version": 1, "active": None, "accounts": []}
        except (OSError, ValueError) as exc:
            raise WalletError(
                f"The wallet's account list {self.metadata_path} cannot be read ({exc}).",
                "The keys are still in the keyring: restore the file from a backup, or move it "
                "away and import the accounts again.",
            ) from None
        if not isinstance(data, dict) or not isinstance(data.get("accounts"), list):
            raise WalletError(
                f"The wallet's account list {self.metadata_path} is damaged.",
                "Restore it from a backup, or move it away and import the accounts again.",
            )
        bad = [e for e in data["accounts"] if not _well_formed(e)]
        if bad:  # set aside in the same file (kept, never listed) instead of failing every call
            data["accounts"] = [e for e in data["accounts"] if _well_formed(e)]
            aside = data.get("set_aside")
            data["set_aside"] = [*(aside if isinstance(aside, list) else []), *bad]
            log.warning(
                "wallet: %d damaged entr%s of %s set aside (under 'set_aside'): no address",
                len(bad),
                "y" if len(bad) == 1 else "ies",
                self.metadata_path,
            )
        return data

    def _save(self, data: Mapping[str, Any]) -> None:
        atomic_write(self.metadata_path, json.dumps(data, indent=2) + "\n")

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[dict[str, Any]]:
        """The account list under the inter-process lock: re-read, crash leftovers settled.

        Callers change the yielded dict and `_save` it (once per step of a multi-step change).
        """
        with file_lock(self.lock_path):
            data = self._load()
            pending = [e for e in data["accounts"] if "pending" in e]
            for entry in pending:  # under the lock nobody is mid-step: these are a crash's
                self._settle(data, entry)
            if pending:
                self._save(data)
            yield data

    def _settle(self, data: dict[str, Any], entry: dict[str, Any]) -> None:
        """Finish or undo the step `entry` was in when its process died (module doc)."""
        address = str(entry["address"])
        step = entry.pop("pending")
        if step == "add":
            try:
                stored = self.vault.get(address)
                if stored is not None:
                    _check_keystore_address(stored, address)
            except KeystoreCorrupt:
                stored = None
            if stored is None:
                self.vault.delete(address)
                self.vault.delete(address + PHRASE_SUFFIX)
                data["accounts"].remove(entry)
                log.warning(
                    "wallet: dropped %s, its add was cut off before the key was stored", address
                )
            else:
                data["active"] = data.get("active") or address
                log.warning(
                    "wallet: completed the add of %s, cut off after the key was stored", address
                )
        elif step == "remove":
            self.vault.delete(address)
            self.vault.delete(address + PHRASE_SUFFIX)
            data["accounts"].remove(entry)
            log.warning("wallet: finished removing %s", address)
        elif step == "passwd":
            staged = address + STAGED_SUFFIX
            try:
                main = self.vault.get(address)
                if main is not None:
                    _check_keystore_address(main, address)
            except KeystoreCorrupt:
                main = None
            if main is None:
                new = self.vault.get(staged)
                if new is not None:
                    self.vault.put(address, new)
                    log.warning("wallet: restored the re-encrypted keystore of %s", address)
            self.vault.delete(staged)
        _fix_active(data)

    def _info(self, entry: Mapping[str, Any], active: str | None) -> AccountInfo:
        return AccountInfo(
            address=str(entry["address"]),
            label=str(entry.get("label", "")),
            created_at=str(entry.get("created_at", "")),
            active=entry["address"] == active,
        )

    def accounts(self) -> list[AccountInfo]:
        """All accounts, in the order they were added (not those being added or removed)."""
        data = self._load()
        return [self._info(e, data.get("active")) for e in _listed(data)]

    def get(self, address: str) -> AccountInfo:
        """The account with `address` (any case); UnknownAccount when there is none."""
        wanted = checksum_address(address)
        for info in self.accounts():
            if info.address == wanted:
                return info
        raise UnknownAccount(wanted)

    @property
    def active(self) -> AccountInfo | None:
        """The account used by default for signing, or None when the wallet is empty."""
        return next((a for a in self.accounts() if a.active), None)

    def set_active(self, address: str) -> AccountInfo:
        """Make `address` the active account."""
        wanted = checksum_address(address)
        with self._transaction() as data:
            entry = _entry(data, wanted)
            data["active"] = wanted
            self._save(data)
        log.info("wallet: active account is now %s", wanted)
        return self._info(entry, wanted)

    def set_label(self, address: str, label: str) -> None:
        """Rename an account (labels are for humans only)."""
        wanted = checksum_address(address)
        with self._transaction() as data:
            _entry(data, wanted)["label"] = label.strip()
            self._save(data)

    # --- adding and removing accounts ------------------------------------------------------

    def _add(
        self,
        key: bytes,
        passphrase: str,
        label: str,
        source: str,
        phrase: RecoveryPhrase | None = None,
    ) -> AccountInfo:
        from eth_account import Account

        _check_passphrase(passphrase)
        address = str(Account.from_key(key).address)
        _refuse_duplicate(self._load(), address)  # early: before the slow scrypt
        keystore = encrypt_key(key, passphrase, self.scrypt_n)
        sealed = None if phrase is None else self._seal_phrase(phrase, passphrase)
        with self._transaction() as data:
            _refuse_duplicate(data, address)  # another process may have added it meanwhile
            entry: dict[str, Any] = {
                "address": address,
                "label": label.strip(),
                "created_at": _now_iso(),
                "source": source,
                "pending": "add",
            }
            data["accounts"].append(entry)
            self._save(data)  # 1. the intent: a crash from here on is settled later
            try:
                self.vault.put(address, keystore)  # 2. the key (and its phrase)
                if sealed is not None:
                    self.vault.put(address + PHRASE_SUFFIX, sealed)
            except Exception:
                with contextlib.suppress(Exception):
                    self.vault.delete(address)
                    self.vault.delete(address + PHRASE_SUFFIX)
                    data["accounts"].remove(entry)
                    self._save(data)
                raise
            del entry["pending"]
            data["active"] = data.get("active") or address
            self._save(data)  # 3. listed
        log.info("wallet: added account %s", address)
        return self._info(entry, data["active"])

    def create(self, passphrase: str, label: str = "") -> tuple[AccountInfo, str]:
        """A new random account and its BIP-39 recovery phrase (kept encrypted, see backup)."""
        _check_passphrase(passphrase)
        key, phrase = bip39.new_account()
        kept = RecoveryPhrase(phrase, bip39.DEFAULT_PATH)
        return self._add(key, passphrase, label, "created", kept), phrase

    def import_private_key(
        self, private_key_hex: str, passphrase: str, label: str = ""
    ) -> AccountInfo:
        """Add an account from its raw private key (64 hex digits, 0x optional)."""
        text = private_key_hex.strip()
        if not _KEY_RE.match(text):
            raise WalletError(
                "That is not a private key.", "A private key is 64 hex digits, with or without 0x."
            )
        key = bytes.fromhex(text.removeprefix("0x"))
        if not 0 < int.from_bytes(key, "big") < SECP256K1_N:
            raise WalletError(
                "That private key is out of range.", "Check that it was copied whole."
            )
        try:
            return self._add(key, passphrase, label, "private_key")
        except ValueError as exc:  # eth-keys: a key outside the curve order
            raise WalletError(f"That private key is not valid ({exc}).", "") from None

    def import_mnemonic(
        self, phrase: str, passphrase: str, path: str = bip39.DEFAULT_PATH, label: str = ""
    ) -> AccountInfo:
        """Add the account at `path` of a BIP-39 recovery phrase."""
        _check_passphrase(passphrase)
        key = bip39.key_from_mnemonic(phrase, path)
        kept = RecoveryPhrase(bip39.normalize_phrase(phrase), bip39.validate_path(path))
        return self._add(key, passphrase, label, "mnemonic", kept)

    def import_keystore(
        self, json_text: str, keystore_password: str, passphrase: str, label: str = ""
    ) -> AccountInfo:
        """Add the account of a keystore v3 file (geth, MetaMask…), re-encrypted with `passphrase`."""
        _check_passphrase(passphrase)
        check_keystore_file(json_text)
        try:
            key = decrypt_keystore(
                json_text,
                keystore_password,
                wrong=WrongPassphrase(
                    "The keystore file's password is wrong; nothing was changed.",
                    "Use the password the keystore file was saved with.",
                ),
            )
        except KeystoreCorrupt as exc:
            raise KeystoreCorrupt(exc.message, _import_hint(exc)) from None
        return self._add(key, passphrase, label, "keystore")

    def export_keystore(self, address: str, passphrase: str) -> str:
        """The account's keystore v3 JSON (encrypted with the wallet passphrase), for a backup."""
        info = self.get(address)
        stored = self._stored_keystore(info.address)
        decrypt_keystore(stored, passphrase, expected_address=info.address)  # proves the passphrase
        log.info("wallet: exported the keystore of %s", info.address)
        return json.dumps(json.loads(stored), indent=2)

    def _seal_phrase(self, phrase: RecoveryPhrase, passphrase: str) -> str:
        payload = json.dumps({"phrase": phrase.phrase, "path": phrase.path}).encode("utf-8")
        return encrypt_secret(payload, passphrase, self.scrypt_n)

    def _open_phrase(self, address: str, passphrase: str) -> RecoveryPhrase | None:
        sealed = self.vault.get(address + PHRASE_SUFFIX)
        if sealed is None:
            return None
        try:
            payload = json.loads(decrypt_secret(sealed, passphrase))
            return RecoveryPhrase(str(payload["phrase"]), str(payload["path"]))
        except WrongPassphrase:
            raise KeystoreCorrupt(
                f"The recovery phrase kept for {address} does not open with the passphrase "
                "that opens its key (a passphrase change was cut off).",
                "Try the passphrase used before the change; the keystore export still works.",
            ) from None
        except (ValueError, KeyError, TypeError):
            raise KeystoreCorrupt(f"The recovery phrase kept for {address} is damaged.") from None

    def recovery_phrase(self, address: str, passphrase: str) -> RecoveryPhrase | None:
        """The account's recovery phrase once `passphrase` opens its key; None when none is kept.

        WrongPassphrase (nothing revealed) when the passphrase is wrong; `no_phrase_reason`
        says why an account has none. The phrase is never logged.
        """
        info = self.get(address)
        decrypt_keystore(
            self._stored_keystore(info.address), passphrase, expected_address=info.address
        )
        return self._open_phrase(info.address, passphrase)

    def no_phrase_reason(self, address: str) -> str:
        """Why `address` has no recovery phrase here (from where its key came)."""
        wanted = checksum_address(address)
        source = str(_entry(self._load(), wanted).get("source", ""))
        return NO_PHRASE_REASONS.get(source, NO_PHRASE_REASONS[""])

    def remove(self, address: str) -> None:
        """Forget an account and delete its keystore from the keyring (export it first!)."""
        wanted = checksum_address(address)
        with self._transaction() as data:
            entry = _entry(data, wanted)
            entry["pending"] = "remove"
            _fix_active(data)
            self._save(data)  # 1. unlisted, the intent recorded
            self.vault.delete(wanted)  # 2. the key and its phrase
            self.vault.delete(wanted + PHRASE_SUFFIX)
            data["accounts"].remove(entry)
            self._save(data)  # 3. gone
        if self._held is not None and self._held.address == wanted:
            self.lock()
        log.info("wallet: removed account %s", wanted)

    def change_passphrase(self, address: str, old: str, new: str) -> AccountInfo:
        """Re-encrypt the keystore of `address` under `new`.

        A wrong `old` raises WrongPassphrase and changes nothing. The new keystore is first
        stored under a staged name, then replaces the main entry, so at every moment (a crash
        included) the old or the new keystore can be read back (module doc).
        """
        _check_passphrase(new)
        info = self.get(address)
        stored = self._stored_keystore(info.address)
        key = decrypt_keystore(stored, old, expected_address=info.address)
        keystore = encrypt_key(key, new, self.scrypt_n)
        try:
            phrase = self._open_phrase(info.address, old)
        except KeystoreCorrupt:
            phrase = None  # left as it is (it says so when revealed)
        sealed = None if phrase is None else self._seal_phrase(phrase, new)
        staged = info.address + STAGED_SUFFIX
        with self._transaction() as data:
            entry = _entry(data, info.address)
            if self.vault.get(info.address) != stored:
                raise WalletError(
                    f"The keystore of {info.address} was changed by another program meanwhile. "
                    "Nothing was changed here.",
                    "Try again.",
                )
            entry["pending"] = "passwd"
            self._save(data)  # 1. the intent
            try:
                self.vault.put(staged, keystore)  # 2. the new keystore, beside the old one
                if self.vault.get(staged) != keystore:
                    raise KeystoreCorrupt(
                        f"The keyring did not keep the new keystore of {info.address}. "
                        "Nothing was changed: the old passphrase still works.",
                        "Check the keyring backend, then try again.",
                    )
                self.vault.put(info.address, keystore)  # 3. replaces the old one
                if self.vault.get(info.address) != keystore:
                    raise KeystoreCorrupt(
                        f"The keyring did not keep the new keystore of {info.address}.",
                        "Try the old and the new passphrase; then check the keyring backend.",
                    )
            except Exception:
                with contextlib.suppress(Exception):
                    entry["pending"] = "passwd"
                    self._settle(data, entry)  # keep whichever keystore is readable
                    self._save(data)
                raise
            if sealed is not None:  # a crash before this leaves the phrase under `old`
                self.vault.put(info.address + PHRASE_SUFFIX, sealed)
            self.vault.delete(staged)
            del entry["pending"]
            self._save(data)  # 4. done
        log.info("wallet: changed the passphrase of %s", info.address)
        return info

    def _stored_keystore(self, address: str) -> str:
        stored = self.vault.get(address)
        if stored is None:
            import keyring

            raise KeystoreCorrupt(
                f"The keystore of {address} is missing from the keyring "
                f"({type(keyring.get_keyring()).__name__}).",
                "If the keyring backend was changed (PYTHON_KEYRING_BACKEND), change it back; "
                "otherwise remove the account and import it again from its recovery phrase or "
                "a keystore backup.",
            )
        return stored

    # --- lock / unlock ---------------------------------------------------------------------

    def unlock(self, address: str | None, passphrase: str) -> AccountInfo:
        """Decrypt the key of `address` (None: the active account) and hold it in memory.

        A wrong passphrase raises WrongPassphrase and changes nothing (an account unlocked
        before stays unlocked).
        """
        info = self.get(address) if address else self.active
        if info is None:
            raise WalletError("The wallet has no accounts.", "Create or import an account first.")
        key = decrypt_keystore(
            self._stored_keystore(info.address), passphrase, expected_address=info.address
        )
        self._held = _HeldKey(info.address, key)
        self._last_used = self._clock()
        log.info("wallet: unlocked %s", info.address)
        return info

    def lock(self) -> None:
        """Drop the decrypted key."""
        if self._held is not None:
            log.info("wallet: locked %s", self._held.address)
        self._held = None

    def _check_idle(self) -> None:
        if self._held is None or not self.auto_lock_seconds:
            return
        if self._clock() - self._last_used >= self.auto_lock_seconds:
            log.info("wallet: auto-locked after %.0f s idle", self.auto_lock_seconds)
            self.lock()

    @property
    def is_unlocked(self) -> bool:
        self._check_idle()
        return self._held is not None

    @property
    def unlocked_address(self) -> str | None:
        self._check_idle()
        return self._held.address if self._held else None

    def touch(self) -> None:
        """Count as use: restart the idle timer (no effect when locked)."""
        self._check_idle()
        if self._held is not None:
            self._last_used = self._clock()

    def seconds_until_lock(self) -> float | None:
        """Seconds left before the auto-lock, None when locked or auto-lock is off."""
        self._check_idle()
        if self._held is None or not self.auto_lock_seconds:
            return None
        return max(0.0, self.auto_lock_seconds - (self._clock() - self._last_used))

    def _key(self) -> _HeldKey:
        self._check_idle()
        if self._held is None:
            raise WalletLocked()
        self._last_used = self._clock()
        return self._held

    # --- signing ---------------------------------------------------------------------------

    def sign_message(self, text: str) -> str:
        """EIP-191 signature (0x-hex) of `text` by the unlocked account."""
        held = self._key()
        return signing.sign_message(held.key, text)

    def sign_siwe(self, message: SiweMessage) -> tuple[str, str]:
        """Sign a Sign-In with Ethereum message; returns (exact text, signature)."""
        held = self._key()
        if message.address.lower() != held.address.lower():
            raise WalletError(
                f"The sign-in message names {message.address}, but {held.address} is unlocked.",
                "Build the message for the unlocked account, or unlock the one it names.",
            )
        text = message.to_text()
        return text, signing.sign_message(held.key, text)

    def sign_transaction(self, tx: Mapping[str, Any]) -> str:
        """Sign an EIP-1559 transaction dict; returns the raw transaction as 0x-hex."""
        held = self._key()
        return signing.sign_transaction(held.key, tx, held.address)

    @staticmethod
    def verify_message(text: str, signature: str, address: str) -> bool:
        """True when `signature` is `address`'s EIP-191 signature of `text`."""
        return signing.verify_message(text, signature, address)

"""Wallet core against the real keyring API (in-memory backend chosen explicitly)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import keyring
import pytest
from eth_account import Account
from keyring.backends import fail
from keyring.errors import KeyringLocked

from erigolem_desktop.core import keyring_setup
from erigolem_desktop.core.keyring_setup import DataDirKeyring, ensure_keyring
from erigolem_desktop.core.keystore_vault import SERVICE, KeyringVault, encrypt_key
from erigolem_desktop.core.secrets import SecretStore
from erigolem_desktop.core.wallet import (
    KeyringUnavailable,
    KeystoreCorrupt,
    UnknownAccount,
    Wallet,
    WalletError,
    WalletLocked,
    WrongPassphrase,
)
from tests.support.memkeyring import MemoryKeyring

PASS = "correct horse battery staple"
TEST_MNEMONIC = "test test test test test test test test test test test junk"
ANVIL0_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
ANVIL0 = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
ANVIL1 = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
FAST_N = 2**12


class FakeClock:
    """An injectable monotonic clock so auto-lock is tested without sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def wallet(memory_keyring: MemoryKeyring, erigolem_home: Path, clock: FakeClock) -> Wallet:
    return Wallet.open(clock=clock, scrypt_n=FAST_N)


def test_create_lists_and_unlocks(wallet: Wallet, memory_keyring: MemoryKeyring) -> None:
    info, phrase = wallet.create(PASS, label="main")
    assert len(phrase.split()) == 12
    assert info.active
    assert info.label == "main"
    assert [a.address for a in wallet.accounts()] == [info.address]
    # the keyring holds an encrypted keystore, not the key
    stored = json.loads(memory_keyring.store[(SERVICE, info.address)])
    assert stored["version"] == 3
    assert stored["crypto"]["kdf"] == "scrypt"
    assert not wallet.is_unlocked
    wallet.unlock(info.address, PASS)
    assert wallet.unlocked_address == info.address
    # the phrase shown once really recovers this account
    again = Wallet(wallet.data_dir, scrypt_n=FAST_N)
    again.remove(info.address)
    assert again.import_mnemonic(phrase, PASS).address == info.address


def test_metadata_file_is_private_and_secret_free(wallet: Wallet) -> None:
    wallet.import_private_key(ANVIL0_KEY, PASS, label="anvil")
    meta = wallet.metadata_path
    assert stat.S_IMODE(meta.stat().st_mode) == 0o600
    text = meta.read_text()
    assert ANVIL0 in text
    assert ANVIL0_KEY[2:] not in text
    assert PASS not in text


def test_import_key_mnemonic_paths_and_keystore(wallet: Wallet) -> None:
    assert wallet.import_private_key(ANVIL0_KEY[2:], PASS).address == ANVIL0
    assert wallet.import_mnemonic(TEST_MNEMONIC, PASS, path="m/44'/60'/0'/0/1").address == ANVIL1
    with pytest.raises(WalletError, match="already in this wallet"):
        wallet.import_mnemonic(
            "  TEST test test test test test test test test test test junk ", PASS
        )
    keystore = json.dumps(Account.encrypt(bytes(range(1, 33)), "other", iterations=FAST_N))
    info = wallet.import_keystore(keystore, "other", PASS, label="ks")
    assert info.address == Account.from_key(bytes(range(1, 33))).address
    wallet.unlock(info.address, PASS)  # re-encrypted under the wallet passphrase
    assert len(wallet.accounts()) == 3
    assert wallet.active is not None
    assert wallet.active.address == ANVIL0


def test_bad_imports_are_rejected_and_nothing_stored(
    wallet: Wallet, memory_keyring: MemoryKeyring
) -> None:
    with pytest.raises(WalletError, match="not a private key"):
        wallet.import_private_key("0x1234", PASS)
    with pytest.raises(WalletError, match="out of range"):
        wallet.import_private_key("0x" + "00" * 32, PASS)
    with pytest.raises(WalletError, match="12, 15, 18, 21 or 24 words"):
        wallet.import_mnemonic("test test test", PASS)
    with pytest.raises(WalletError, match="not valid"):
        wallet.import_mnemonic(" ".join(["test"] * 12), PASS)
    with pytest.raises(WalletError, match="derivation path"):
        wallet.import_mnemonic(TEST_MNEMONIC, PASS, path="m/44'/60'/x")
    with pytest.raises(WalletError, match="empty"):
        wallet.import_private_key(ANVIL0_KEY, "")
    ks = json.dumps(Account.encrypt(bytes(range(1, 33)), "other", iterations=FAST_N))
    with pytest.raises(WrongPassphrase, match="keystore file's password"):
        wallet.import_keystore(ks, "nope", PASS)
    with pytest.raises(KeystoreCorrupt, match="not valid JSON") as bad:
        wallet.import_keystore("{not json", "other", PASS)
    assert "Choose a keystore v3 JSON file" in bad.value.hint  # not "remove the account"
    tampered = json.loads(ks)
    tampered["crypto"]["kdf"] = "bogus"
    with pytest.raises(KeystoreCorrupt, match="KDF 'bogus' is not supported") as bogus:
        wallet.import_keystore(json.dumps(tampered), "other", PASS)
    assert "Choose a keystore v3 JSON file" in bogus.value.hint
    assert wallet.accounts() == []
    assert memory_keyring.store == {}


def test_export_round_trip_and_wrong_passphrase(wallet: Wallet) -> None:
    info = wallet.import_private_key(ANVIL0_KEY, PASS)
    exported = wallet.export_keystore(info.address.lower(), PASS)
    assert Account.decrypt(json.loads(exported), PASS).hex() == ANVIL0_KEY[2:]
    with pytest.raises(WrongPassphrase):
        wallet.export_keystore(info.address, "wrong")
    # round trip: remove, import the exported file, same address
    wallet.remove(info.address)
    assert wallet.import_keystore(exported, PASS, PASS).address == ANVIL0


def test_wrong_passphrase_loses_nothing(wallet: Wallet, memory_keyring: MemoryKeyring) -> None:
    a = wallet.import_private_key(ANVIL0_KEY, PASS)
    b = wallet.import_mnemonic(TEST_MNEMONIC, PASS, path="m/44'/60'/0'/0/1")
    wallet.unlock(a.address, PASS)
    before = dict(memory_keyring.store)
    meta = wallet.metadata_path.read_bytes()
    with pytest.raises(WrongPassphrase) as err:
        wallet.unlock(b.address, "wrong passphrase")
    assert "nothing was changed" in str(err.value)
    assert err.value.exit_code == 3
    assert memory_keyring.store == before
    assert wallet.metadata_path.read_bytes() == meta
    assert wallet.unlocked_address == a.address  # the earlier unlock stays
    wallet.unlock(b.address, PASS)
    assert wallet.unlocked_address == b.address


def test_corrupt_and_missing_keystore(wallet: Wallet, memory_keyring: MemoryKeyring) -> None:
    info = wallet.import_private_key(ANVIL0_KEY, PASS)
    memory_keyring.store[(SERVICE, info.address)] = '{"version": 3, "crypto": {"cipher"'
    with pytest.raises(KeystoreCorrupt) as err:
        wallet.unlock(info.address, PASS)
    assert "mnemonic" in err.value.hint
    assert "keystore backup" in err.value.hint
    # a valid keystore of another key stored under this address
    other = encrypt_key(bytes(range(1, 33)), PASS, FAST_N)
    memory_keyring.store[(SERVICE, info.address)] = other
    with pytest.raises(KeystoreCorrupt, match="not of"):
        wallet.unlock(info.address, PASS)
    # a damaged ciphertext section
    ks = json.loads(encrypt_key(bytes.fromhex(ANVIL0_KEY[2:]), PASS, FAST_N))
    ks["crypto"]["kdfparams"] = {"n": 4096}
    memory_keyring.store[(SERVICE, info.address)] = json.dumps(ks)
    with pytest.raises(KeystoreCorrupt):
        wallet.unlock(info.address, PASS)
    del memory_keyring.store[(SERVICE, info.address)]
    with pytest.raises(KeystoreCorrupt, match="missing from the keyring"):
        wallet.unlock(info.address, PASS)
    assert not wallet.is_unlocked


def test_auto_lock_with_injected_clock(wallet: Wallet, clock: FakeClock) -> None:
    info = wallet.import_private_key(ANVIL0_KEY, PASS)
    assert wallet.auto_lock_seconds == 900
    wallet.unlock(info.address, PASS)
    clock.now += 600
    assert wallet.seconds_until_lock() == pytest.approx(300)
    wallet.sign_message("activity resets the idle timer")
    clock.now += 600
    assert wallet.is_unlocked
    wallet.touch()
    assert wallet.seconds_until_lock() == pytest.approx(900)
    clock.now += 900
    assert not wallet.is_unlocked
    assert wallet.seconds_until_lock() is None
    with pytest.raises(WalletLocked):
        wallet.sign_message("locked now")
    wallet.auto_lock_seconds = None
    wallet.unlock(None, PASS)
    clock.now += 10**6
    assert wallet.is_unlocked
    assert wallet.seconds_until_lock() is None
    wallet.lock()
    assert wallet.unlocked_address is None


def test_sign_and_verify_message(wallet: Wallet) -> None:
    info = wallet.import_private_key(ANVIL0_KEY, PASS)
    with pytest.raises(WalletLocked):
        wallet.sign_message("hi")
    wallet.unlock(info.address, PASS)
    sig = wallet.sign_message("hello erigolem")
    assert Wallet.verify_message("hello erigolem", sig, ANVIL0)
    assert Wallet.verify_message("hello erigolem", sig, ANVIL0.lower())
    assert not Wallet.verify_message("hello erigolem!", sig, ANVIL0)
    assert not Wallet.verify_message("hello erigolem", sig, ANVIL1)
    assert not Wallet.verify_message("hello erigolem", "0x1234", ANVIL0)
    assert not Wallet.verify_message("hello erigolem", "zz" * 65, ANVIL0)


def test_sign_transaction_validation(wallet: Wallet) -> None:
    wallet.import_private_key(ANVIL0_KEY, PASS)
    wallet.unlock(None, PASS)
    tx = {
        "chainId": 31337,
        "nonce": 0,
        "to": ANVIL1,
        "value": 1,
        "gas": 21000,
        "maxFeePerGas": 2 * 10**9,
        "maxPriorityFeePerGas": 10**9,
    }
    raw = wallet.sign_transaction(tx)
    assert raw.startswith("0x02")
    decoded = Account.recover_transaction(raw)
    assert decoded == ANVIL0
    with pytest.raises(WalletError, match="legacy"):
        wallet.sign_transaction({**tx, "gasPrice": 1})
    with pytest.raises(WalletError, match="lacks nonce"):
        wallet.sign_transaction({k: v for k, v in tx.items() if k != "nonce"})
    with pytest.raises(WalletError, match="from"):
        wallet.sign_transaction({**tx, "from": ANVIL1})
    with pytest.raises(WalletError, match="non-negative"):
        wallet.sign_transaction({**tx, "value": -1})
    with pytest.raises(WalletError, match="higher than maxFeePerGas"):
        wallet.sign_transaction({**tx, "maxPriorityFeePerGas": 3 * 10**9})


def test_accounts_active_remove_and_unknown(wallet: Wallet, memory_keyring: MemoryKeyring) -> None:
    a = wallet.import_private_key(ANVIL0_KEY, PASS, label="zero")
    b = wallet.import_mnemonic(TEST_MNEMONIC, PASS, path="m/44'/60'/0'/0/1", label="one")
    assert wallet.active is not None
    assert wallet.active.address == a.address
    wallet.set_active(b.address.lower())
    assert Wallet.open(scrypt_n=FAST_N).active == wallet.get(b.address)  # persisted
    wallet.set_label(a.address, "renamed")
    assert wallet.get(a.address).label == "renamed"
    wallet.unlock(b.address, PASS)
    wallet.remove(b.address)
    assert not wallet.is_unlocked
    assert (SERVICE, b.address) not in memory_keyring.store
    assert wallet.active is not None
    assert wallet.active.address == a.address
    with pytest.raises(UnknownAccount):
        wallet.get(b.address)
    with pytest.raises(WalletError, match="not an Ethereum address"):
        wallet.set_active("0x123")


def test_damaged_metadata_is_reported(wallet: Wallet) -> None:
    wallet.metadata_path.write_text("{broken")
    with pytest.raises(WalletError, match="cannot be read") as err:
        wallet.accounts()
    assert "keyring" in err.value.hint


def test_chunked_keystore_round_trip(memory_keyring: MemoryKeyring) -> None:
    vault = KeyringVault(chunk_chars=100)
    ks = encrypt_key(bytes.fromhex(ANVIL0_KEY[2:]), PASS, FAST_N)
    vault.put(ANVIL0, ks)
    assert all(len(v) <= 100 for v in memory_keyring.store.values())
    assert vault.get(ANVIL0) == ks
    memory_keyring.store[(SERVICE, f"{ANVIL0}#2")] = "x" * 100
    with pytest.raises(KeystoreCorrupt, match="do not fit"):
        vault.get(ANVIL0)
    vault.put(ANVIL0, "{}")  # short again: the parts are removed
    assert set(memory_keyring.store) == {(SERVICE, ANVIL0)}
    vault.delete(ANVIL0)
    assert memory_keyring.store == {}


class LockedKeyring(MemoryKeyring):
    """Stands in for a Secret Service that stays locked (the user dismissed the unlock prompt)."""

    def get_password(self, service: str, username: str) -> str | None:
        raise KeyringLocked("collection is locked")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise KeyringLocked("collection is locked")


def test_keyring_errors_become_keyring_unavailable(erigolem_home: Path) -> None:
    previous = keyring.get_keyring()
    keyring.set_keyring(LockedKeyring())
    try:
        w = Wallet.open(scrypt_n=FAST_N)
        with pytest.raises(KeyringUnavailable) as err:
            w.import_private_key(ANVIL0_KEY, PASS)
        assert err.value.exit_code == 4
        assert "Secret Service" in err.value.hint
        assert w.accounts() == []
    finally:
        keyring.set_keyring(previous)


def test_explicit_fail_backend_is_unavailable(
    erigolem_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    previous = keyring.get_keyring()
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    keyring.set_keyring(fail.Keyring())  # type: ignore[no-untyped-call]
    try:
        with pytest.raises(KeyringUnavailable, match="cannot store keys") as err:
            Wallet.open()
        assert "PYTHON_KEYRING_BACKEND" in err.value.hint
        monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "no.such.Backend")
        keyring.core._keyring_backend = None
        with pytest.raises(KeyringUnavailable, match="cannot be loaded"):
            ensure_keyring()
    finally:
        keyring.set_keyring(previous)


def test_default_fail_backend_falls_back_to_data_dir_file(
    erigolem_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    previous = keyring.get_keyring()
    monkeypatch.delenv("PYTHON_KEYRING_BACKEND", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(erigolem_home / "xdg"))  # no keyringrc.cfg
    keyring.set_keyring(fail.Keyring())  # type: ignore[no-untyped-call]
    try:
        name = ensure_keyring()
        assert name.endswith("keyring_setup.DataDirKeyring")
        w = Wallet.open(scrypt_n=FAST_N)
        info = w.import_private_key(ANVIL0_KEY, PASS)
        store = SecretStore()
        store.set("node-1", "s3cret-node-password")
        path = erigolem_home / "keyring" / "keyring.json"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        text = path.read_text()
        assert "s3cret-node-password" not in text
        assert "erigolem-sealed:v1:" in text
        assert ANVIL0_KEY[2:] not in text
        # a second process would read the same file
        keyring.set_keyring(DataDirKeyring())
        assert Wallet.open(scrypt_n=FAST_N).unlock(info.address, PASS).address == ANVIL0
        assert SecretStore().get("node-1") == "s3cret-node-password"
        SecretStore().delete("node-1")
        SecretStore().delete("node-1")  # absent: no error
        assert SecretStore().get("node-1") is None
        # with the fallback disabled there is no way but the error
        keyring.set_keyring(fail.Keyring())  # type: ignore[no-untyped-call]
        monkeypatch.setenv(keyring_setup.FALLBACK_ENV, "0")
        with pytest.raises(KeyringUnavailable, match="fallback is disabled"):
            ensure_keyring()
    finally:
        keyring.set_keyring(previous)


def test_chainer_prefers_platform_store_and_skips_prompting(
    erigolem_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from keyring.backends.chainer import ChainerBackend
    from keyrings.alt.file import EncryptedKeyring

    previous = keyring.get_keyring()
    monkeypatch.delenv("PYTHON_KEYRING_BACKEND", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(erigolem_home / "xdg"))
    chainer = ChainerBackend()  # type: ignore[no-untyped-call]
    monkeypatch.setattr(ChainerBackend, "backends", property(lambda self: [EncryptedKeyring()]))
    keyring.set_keyring(chainer)
    try:
        assert ensure_keyring().endswith("DataDirKeyring")  # never the prompting one
    finally:
        keyring.set_keyring(previous)


def test_secret_store_in_memory_keyring(memory_keyring: MemoryKeyring) -> None:
    store = SecretStore()
    store.set("abc_1", "pw")
    assert memory_keyring.store[("erigolem-node", "abc_1")] == "pw"  # a real keyring: as is
    assert store.get("abc_1") == "pw"
    store.delete("abc_1")
    assert store.get("abc_1") is None
    with pytest.raises(WalletError, match="not a valid node id"):
        store.set("../etc", "x")


def test_default_scrypt_cost_unlocks(wallet: Wallet, memory_keyring: MemoryKeyring) -> None:
    """The production KDF cost (n=2**18) works end to end (about a second here)."""
    w = Wallet.open()
    assert w.scrypt_n == 2**18
    info = w.import_private_key(ANVIL0_KEY, PASS)
    assert (
        json.loads(memory_keyring.store[(SERVICE, info.address)])["crypto"]["kdfparams"]["n"]
        == 2**18
    )
    w.unlock(info.address, PASS)
    assert w.is_unlocked


def test_recipient_address_checks_eip55_like_metamask() -> None:
    """Mixed case is a checksum and must match; all-lower / all-upper carry none."""
    from erigolem_desktop.core.wallet import recipient_address

    good = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
    assert recipient_address(good) == good
    assert recipient_address(good.lower()) == good
    assert recipient_address("0x" + good[2:].upper()) == good
    assert recipient_address(f"  {good} ") == good
    with pytest.raises(WalletError, match="EIP-55 checksum") as bad:
        recipient_address("0x70997970c51812DC3A010C7d01b50e0d17dc79C8")  # the typo
    assert "Copy it again" in bad.value.hint
    with pytest.raises(WalletError, match="not an Ethereum address"):
        recipient_address("0x1234")


def test_checksum_address_matches_eth_utils() -> None:
    """The wallet's own EIP-55 (keccak from eth-hash) against eth_utils, the reference."""
    import os

    from eth_utils.address import to_checksum_address

    from erigolem_desktop.core.wallet import checksum_address

    for _ in range(300):
        raw = "0x" + os.urandom(20).hex()
        assert checksum_address(raw) == to_checksum_address(raw)
        assert checksum_address(raw.upper()[2:]) == to_checksum_address(raw)

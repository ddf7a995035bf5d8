"""Recovery phrase kept encrypted beside the keystore: reveal, wrong passphrase, passwd, remove."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from eth_keyfile.keyfile import decode_keyfile_json

from erigolem_desktop.core.keystore_vault import SERVICE, decrypt_secret, encrypt_secret
from erigolem_desktop.core.wallet import (
    PHRASE_SUFFIX,
    Wallet,
    WrongPassphrase,
)
from tests.support.memkeyring import MemoryKeyring

PASS = "correct horse battery staple"
NEW = "purple elephant dances quietly"
TEST_MNEMONIC = "test test test test test test test test test test test junk"
ANVIL0 = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
ANVIL0_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"


@pytest.fixture
def wallet(memory_keyring: MemoryKeyring, tmp_path: Path) -> Wallet:
    return Wallet(tmp_path, scrypt_n=2**12)


def test_the_envelope_is_keystore_v3_that_eth_keyfile_decodes() -> None:
    sealed = encrypt_secret(
        b"a secret longer than a private key, 64 bytes or more" * 2, PASS, 2**12
    )
    data = json.loads(sealed)
    assert data["version"] == 3
    assert data["crypto"]["kdf"] == "scrypt"
    assert decode_keyfile_json(data, PASS.encode()) == decrypt_secret(sealed, PASS)
    assert decrypt_secret(sealed, PASS).startswith(b"a secret")
    with pytest.raises(WrongPassphrase):
        decrypt_secret(sealed, "not it")


def test_a_created_account_reveals_its_phrase_only_with_the_passphrase(
    wallet: Wallet, memory_keyring: MemoryKeyring, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    info, phrase = wallet.create(PASS)
    stored = memory_keyring.get_password(SERVICE, info.address + PHRASE_SUFFIX)
    assert stored is not None
    assert phrase.split()[0] not in stored
    with pytest.raises(WrongPassphrase):
        wallet.recovery_phrase(info.address, "wrong")
    kept = wallet.recovery_phrase(info.address, PASS)
    assert kept is not None
    assert kept.phrase == phrase
    assert kept.path == "m/44'/60'/0'/0/0"
    assert phrase not in repr(kept)
    assert phrase not in caplog.text
    assert phrase.split()[0] + " " + phrase.split()[1] not in caplog.text


def test_a_phrase_import_keeps_its_phrase_and_path(wallet: Wallet) -> None:
    info = wallet.import_mnemonic(
        "  Test TEST test test test test test test test test test junk ", PASS
    )
    assert info.address == ANVIL0
    kept = wallet.recovery_phrase(ANVIL0, PASS)
    assert kept is not None
    assert kept.phrase == TEST_MNEMONIC


def test_key_and_keystore_imports_have_no_phrase_and_say_why(wallet: Wallet) -> None:
    wallet.import_private_key(ANVIL0_KEY, PASS)
    assert wallet.recovery_phrase(ANVIL0, PASS) is None
    assert "private key" in wallet.no_phrase_reason(ANVIL0)
    with pytest.raises(WrongPassphrase):  # no phrase, but the passphrase is still checked
        wallet.recovery_phrase(ANVIL0, "wrong")
    exported = wallet.export_keystore(ANVIL0, PASS)
    wallet.remove(ANVIL0)
    wallet.import_keystore(exported, PASS, PASS)
    assert wallet.recovery_phrase(ANVIL0, PASS) is None
    assert "keystore file" in wallet.no_phrase_reason(ANVIL0)


def test_passwd_re_encrypts_the_phrase_and_remove_deletes_it(
    wallet: Wallet, memory_keyring: MemoryKeyring
) -> None:
    info, phrase = wallet.create(PASS)
    wallet.change_passphrase(info.address, PASS, NEW)
    kept = wallet.recovery_phrase(info.address, NEW)
    assert kept is not None
    assert kept.phrase == phrase
    wallet.remove(info.address)
    assert memory_keyring.get_password(SERVICE, info.address + PHRASE_SUFFIX) is None

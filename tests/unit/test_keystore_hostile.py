"""Issue 11: keystores that are damaged, hostile or unusual; key stores that are damaged.

Keystores are built here byte by byte (scrypt or pbkdf2, AES-128-CTR, keccak MAC, as the v3
format defines), so each field can be bent one at a time.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import keyring
import pytest
from Crypto.Cipher import AES
from eth_account import Account
from eth_utils.crypto import keccak

from erigolem_desktop.core import signing
from erigolem_desktop.core.keyring_setup import DataDirKeyring, ensure_keyring
from erigolem_desktop.core.keystore_vault import decrypt_keystore
from erigolem_desktop.core.wallet import KeyringUnavailable, KeystoreCorrupt, Wallet
from tests.support.memkeyring import MemoryKeyring

PASS = "correct horse battery staple"
FAST_N = 2**12
ANVIL0_KEY = bytes.fromhex("ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80")


def make_keystore(
    key: bytes,
    password: str,
    *,
    kdf: str = "scrypt",
    kdfparams: dict[str, Any] | None = None,
    iv: bytes | None = None,
    address: str | None = "auto",
    cipher: str = "aes-128-ctr",
) -> dict[str, Any]:
    """A keystore v3 of `key` (any length) with the given parameters."""
    salt = os.urandom(32)
    if kdf == "scrypt":
        params: dict[str, Any] = {"n": 16, "r": 8, "p": 1, "dklen": 32, "salt": salt.hex()}
        params.update(kdfparams or {})
        dk = hashlib.scrypt(
            password.encode(), salt=salt, n=params["n"], r=params["r"], p=params["p"], dklen=32
        )
    else:
        params = {"c": 10, "prf": "hmac-sha256", "dklen": 32, "salt": salt.hex()}
        params.update(kdfparams or {})
        dk = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, 10, 32)
    iv = iv if iv is not None else os.urandom(16)
    ciphertext = AES.new(dk[:16], AES.MODE_CTR, nonce=b"", initial_value=iv).encrypt(key)
    out: dict[str, Any] = {
        "version": 3,
        "id": "3198bc9c-6672-5ab3-d995-4942343ae5b6",
        "crypto": {
            "cipher": cipher,
            "cipherparams": {"iv": iv.hex()},
            "ciphertext": ciphertext.hex(),
            "kdf": kdf,
            "kdfparams": params,
            "mac": keccak(dk[16:32] + ciphertext).hex(),
        },
    }
    if address == "auto":
        out["address"] = Account.from_key(key.rjust(32, b"\0")).address[2:].lower()
    elif address is not None:
        out["address"] = address
    return out


@pytest.fixture
def wallet(memory_keyring: MemoryKeyring, erigolem_home: Path) -> Wallet:
    return Wallet.open(scrypt_n=FAST_N)


# --- item 3: the decrypted key must be the file's account ------------------------------------


def test_a_flipped_iv_nibble_is_refused_not_imported_as_another_account(wallet: Wallet) -> None:
    iv = bytearray(os.urandom(16))
    good = make_keystore(ANVIL0_KEY, "pw", iv=bytes(iv))
    iv[3] ^= 0x10  # not covered by the v3 MAC: decrypts to another key
    damaged = dict(good, crypto=dict(good["crypto"], cipherparams={"iv": bytes(iv).hex()}))
    with pytest.raises(KeystoreCorrupt, match="key content mismatch"):
        wallet.import_keystore(json.dumps(damaged), "pw", PASS)
    assert wallet.accounts() == []
    wallet.import_keystore(json.dumps(good), "pw", PASS)
    assert [a.address for a in wallet.accounts()] == [Account.from_key(ANVIL0_KEY).address]


def test_a_file_naming_another_address_is_refused(wallet: Wallet) -> None:
    other = Account.create().address[2:].lower()
    with pytest.raises(KeystoreCorrupt, match="not of the file's address"):
        wallet.import_keystore(
            json.dumps(make_keystore(ANVIL0_KEY, "pw", address=other)), "pw", PASS
        )
    assert wallet.accounts() == []


# --- item 4: KDF bounds, refused before deriving ---------------------------------------------


@pytest.mark.parametrize(
    ("kdf", "params", "what"),
    [
        ("scrypt", {"n": 2**21}, "n = 2097152 is outside"),
        ("scrypt", {"p": 2**20}, "p = 1048576"),
        ("scrypt", {"dklen": 2**30}, "dklen"),
        ("scrypt", {"n": 2**20, "r": 8, "p": 16}, "rounds"),
        ("scrypt", {"n": 1.5}, "not a whole number"),
        ("scrypt", {"n": 1000}, "power of two"),
        ("pbkdf2", {"c": 2**31 - 1}, "c = 2147483647"),
        ("pbkdf2", {"prf": "hmac-md5"}, "prf"),
    ],
)
def test_kdf_parameters_beyond_geth_are_refused_fast(
    wallet: Wallet, kdf: str, params: dict[str, Any], what: str
) -> None:
    hostile = make_keystore(ANVIL0_KEY, "pw", kdf=kdf)
    hostile["crypto"]["kdfparams"].update(params)
    started = time.perf_counter()
    with pytest.raises(KeystoreCorrupt, match=what) as caught:
        wallet.import_keystore(json.dumps(hostile), "pw", PASS)
    elapsed = time.perf_counter() - started
    print(f"KDF bound {kdf} {params}: refused in {elapsed * 1000:.1f} ms")
    assert caught.value.hint  # says what to do
    assert wallet.accounts() == []


def test_geth_and_metamask_parameters_still_import(wallet: Wallet) -> None:
    light = make_keystore(ANVIL0_KEY, "pw", kdfparams={"n": 2**12, "p": 6})
    wallet.import_keystore(json.dumps(light), "pw", PASS)
    pb = make_keystore(Account.create().key, "pw", kdf="pbkdf2")
    wallet.import_keystore(json.dumps(pb), "pw", PASS)
    assert len(wallet.accounts()) == 2


# --- item 13 (keystore parts) and 17 (cipher) ------------------------------------------------


@pytest.mark.parametrize("zeros", [1, 2])
def test_31_and_30_byte_keys_import_like_geth(wallet: Wallet, zeros: int) -> None:
    while True:
        key = Account.create().key
        if key[0] != 0:
            break
    short = b"\0" * zeros + key[zeros:]  # a key whose leading bytes are zero
    keystore = make_keystore(short[zeros:], "foo")  # stored without them, as geth's vectors
    info = wallet.import_keystore(json.dumps(keystore), "foo", PASS)
    assert info.address == Account.from_key(short).address
    assert decrypt_keystore(json.dumps(keystore), "foo") == short


def test_deeply_nested_json_is_a_clear_error(wallet: Wallet) -> None:
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(2000)  # the interpreter's default (pytest may run with more)
    try:
        with pytest.raises(KeystoreCorrupt, match="nested too deeply") as caught:
            wallet.import_keystore('{"crypto": ' + "[" * 20_000 + "]" * 20_000 + "}", "pw", PASS)
    finally:
        sys.setrecursionlimit(limit)
    assert caught.value.hint


def test_an_unknown_cipher_is_refused(wallet: Wallet) -> None:
    keystore = make_keystore(ANVIL0_KEY, "pw", cipher="aes-256-cbc")
    with pytest.raises(KeystoreCorrupt, match="cipher 'aes-256-cbc' is not supported"):
        wallet.import_keystore(json.dumps(keystore), "pw", PASS)


def test_a_wallet_entry_without_address_is_set_aside(wallet: Wallet) -> None:
    wallet.import_keystore(json.dumps(make_keystore(ANVIL0_KEY, "pw")), "pw", PASS)
    data = json.loads(wallet.metadata_path.read_text())
    data["accounts"].append({"label": "broken", "created_at": "x"})
    wallet.metadata_path.write_text(json.dumps(data))
    reopened = Wallet.open(scrypt_n=FAST_N)
    assert [a.address for a in reopened.accounts()] == [Account.from_key(ANVIL0_KEY).address]
    reopened.set_label(reopened.accounts()[0].address, "kept")  # a write keeps the bad entry
    saved = json.loads(wallet.metadata_path.read_text())
    assert saved["set_aside"] == [{"label": "broken", "created_at": "x"}]
    reopened.unlock(None, PASS)


# --- item 12: non-canonical signatures -------------------------------------------------------


def test_high_s_and_raw_v_signatures_are_refused() -> None:
    acct = Account.create()
    sig = bytes.fromhex(signing.sign_message(acct.key, "hello")[2:])
    assert signing.verify_message("hello", "0x" + sig.hex(), acct.address)
    r, s, v = sig[:32], int.from_bytes(sig[32:64], "big"), sig[64]
    high = r + (signing.SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - v])  # same signer
    raw_v = sig[:64] + bytes([v - 27])
    for bad in (high, raw_v):
        assert not signing.verify_message("hello", "0x" + bad.hex(), acct.address)


# --- items 2, 10, 13: the keyring backends ---------------------------------------------------


def test_backends_that_rewrite_in_place_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from keyrings.alt.file import EncryptedKeyring, PlaintextKeyring

    previous = keyring.get_keyring()
    try:
        for cls in (PlaintextKeyring, EncryptedKeyring):
            monkeypatch.setenv("PYTHON_KEYRING_BACKEND", f"{cls.__module__}.{cls.__qualname__}")
            keyring.set_keyring(cls())
            with pytest.raises(KeyringUnavailable, match="rewrites its file in place") as caught:
                ensure_keyring()
            assert "DataDirKeyring" in caught.value.message
    finally:
        keyring.set_keyring(previous)


@pytest.fixture
def data_dir_keyring(erigolem_home: Path) -> Any:
    previous = keyring.get_keyring()
    kr = DataDirKeyring()
    keyring.set_keyring(kr)
    yield kr
    keyring.set_keyring(previous)


def test_stale_temp_copies_are_removed_at_open(data_dir_keyring: DataDirKeyring) -> None:
    data_dir_keyring.set_password("svc", "user", "value")
    stale = data_dir_keyring.file_path.parent / ".keyring.json.abc123.tmp"
    stale.write_text('{"erigolem-wallet": {"0x": "keystore"}}')
    other = data_dir_keyring.file_path.parent / "unrelated.tmp"
    other.write_text("x")
    Wallet.open(scrypt_n=FAST_N)
    assert not stale.exists()
    assert other.exists()
    assert data_dir_keyring.get_password("svc", "user") == "value"


def test_a_keyring_service_that_is_not_an_object_is_set_aside(
    data_dir_keyring: DataDirKeyring,
) -> None:
    data_dir_keyring.set_password("erigolem-wallet", "a", "keystore-a")
    path = data_dir_keyring.file_path
    data = json.loads(path.read_text())
    data["erigolem-node"] = "not an object"
    path.write_text(json.dumps(data))
    assert data_dir_keyring.get_password("erigolem-node", "n1") is None  # no AttributeError
    assert data_dir_keyring.get_password("erigolem-wallet", "a") == "keystore-a"
    data_dir_keyring.set_password("erigolem-node", "n1", "sealed")
    assert data_dir_keyring.get_password("erigolem-node", "n1") == "sealed"
    aside = json.loads(data_dir_keyring.set_aside_path.read_text())
    assert list(aside.values()) == ["not an object"]
    assert oct(data_dir_keyring.set_aside_path.stat().st_mode & 0o777) == "0o600"

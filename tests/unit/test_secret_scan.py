"""After a full session of wallet use, no secret sits in plain text in the data dir or the logs.

The session uses the app's file keyring fallback under the data dir (so the keyring file is
scanned too), the API and the CLI (in-process, so its logging is captured), with every logger at
DEBUG writing to a file under the data dir. Then every file there is searched for the private
keys (hex with and without 0x, either case, base64), the recovery phrases, the passphrase and a
node password.
"""

from __future__ import annotations

import base64
import logging
import os
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import keyring
import pytest

from erigolem_desktop.cli import main as cli_main
from erigolem_desktop.core import mnemonic as bip39
from erigolem_desktop.core.keyring_setup import DataDirKeyring
from erigolem_desktop.core.secrets import SecretStore
from erigolem_desktop.core.siwe import SiweMessage
from erigolem_desktop.core.wallet import Wallet, WrongPassphrase

PASSPHRASE = "Unique-Passphrase-7f3a9c"
NODE_PASSWORD = "node-password-b81d2e6c0a"


@pytest.fixture
def debug_log(erigolem_home: Path) -> Iterator[Path]:
    path = erigolem_home / "logs" / "session.log"
    path.parent.mkdir()
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield path
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        handler.close()


@pytest.fixture
def file_keyring(monkeypatch: pytest.MonkeyPatch) -> Iterator[DataDirKeyring]:
    previous = keyring.get_keyring()
    monkeypatch.setenv(
        "PYTHON_KEYRING_BACKEND", "erigolem_desktop.core.keyring_setup.DataDirKeyring"
    )
    kr = DataDirKeyring()
    keyring.set_keyring(kr)
    try:
        yield kr
    finally:
        keyring.set_keyring(previous)


def forbidden_patterns(keys: list[bytes], phrases: list[str]) -> dict[str, re.Pattern[str]]:
    patterns: dict[str, re.Pattern[str]] = {}
    for i, key in enumerate(keys):
        patterns[f"key{i} hex"] = re.compile(re.escape(key.hex()), re.IGNORECASE)  # also covers 0x…
        patterns[f"key{i} base64"] = re.compile(re.escape(base64.b64encode(key).decode()))
    for i, phrase in enumerate(phrases):
        words = phrase.split()
        patterns[f"phrase{i}"] = re.compile(r"\W+".join(map(re.escape, words)), re.IGNORECASE)
    patterns["passphrase"] = re.compile(re.escape(PASSPHRASE))
    patterns["passphrase b64"] = re.compile(
        re.escape(base64.b64encode(PASSPHRASE.encode()).decode())
    )
    patterns["node password"] = re.compile(re.escape(NODE_PASSWORD))
    return patterns


def test_no_secret_in_data_dir_or_logs_after_a_session(
    erigolem_home: Path,
    debug_log: Path,
    file_keyring: DataDirKeyring,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    log = logging.getLogger("tests.secret_scan")
    wallet = Wallet.open(scrypt_n=2**12)

    # create (API): the phrase is returned once, never stored
    created, created_phrase = wallet.create(PASSPHRASE, label="created")
    keys = [bip39.key_from_mnemonic(created_phrase)]
    # import a raw key and a recovery phrase (API)
    raw_key = os.urandom(32)
    keys.append(raw_key)
    wallet.import_private_key("0x" + raw_key.hex(), PASSPHRASE, label="raw")
    import_key, import_phrase = bip39.new_account()
    path = "m/44'/60'/0'/0/3"
    keys += [import_key, bip39.key_from_mnemonic(import_phrase, path)]
    wallet.import_mnemonic(import_phrase, PASSPHRASE, path=path, label="phrase")

    # unlock, a wrong passphrase logged with its traceback, sign everything
    try:
        wallet.unlock(created.address, PASSPHRASE + "-wrong")
    except WrongPassphrase:
        log.exception("unlock failed (expected in this test)")
    wallet.unlock(created.address, PASSPHRASE)
    wallet.sign_message("hello")
    wallet.sign_siwe(
        SiweMessage.create(
            domain="erigolem.local",
            address=created.address,
            uri="http://erigolem.local",
            expires_in=timedelta(minutes=5),
        )
    )
    wallet.sign_transaction(
        {
            "chainId": 1,
            "nonce": 0,
            "to": created.address,
            "gas": 21000,
            "maxFeePerGas": 2,
            "maxPriorityFeePerGas": 1,
        }
    )
    exports = erigolem_home / "exports"
    exports.mkdir()
    (exports / "api.json").write_text(wallet.export_keystore(created.address, PASSPHRASE))
    wallet.lock()
    SecretStore().set("node-1", NODE_PASSWORD)
    assert SecretStore().get("node-1") == NODE_PASSWORD

    # the CLI, in this process so its logging goes to the same DEBUG file
    monkeypatch.setenv("ERIGOLEM_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("ERIGOLEM_WALLET_SCRYPT_N", "4096")
    monkeypatch.setenv("ERIGOLEM_WALLET_INSECURE_TEST_KDF", "1")
    assert cli_main(["--json", "wallet", "create", "--label", "cli"]) == 0
    cli_out = capsys.readouterr().out
    cli_phrase = re.search(r'"mnemonic": "([a-z ]+)"', cli_out)
    assert cli_phrase is not None
    keys.append(bip39.key_from_mnemonic(cli_phrase.group(1)))
    cli_key = os.urandom(32)
    keys.append(cli_key)
    key_file = tmp_path / "cli-key.txt"  # the user's own file, outside the data dir
    key_file.write_text(cli_key.hex())
    assert cli_main(["wallet", "import", "--key-file", str(key_file)]) == 0
    assert cli_main(["wallet", "sign", "from the cli"]) == 0
    assert cli_main(["wallet", "export", created.address, "--out", str(exports / "cli.json")]) == 0
    monkeypatch.setenv("ERIGOLEM_PASSPHRASE", "wrong one")
    assert cli_main(["wallet", "sign", "x"]) == 3
    capsys.readouterr()

    for handler in logging.getLogger().handlers:
        handler.flush()

    patterns = forbidden_patterns(keys, [created_phrase, import_phrase, cli_phrase.group(1)])
    scanned = 0
    hits: list[str] = []
    for file in sorted(p for p in erigolem_home.rglob("*") if p.is_file()):
        text = file.read_bytes().decode("utf-8", errors="replace")
        scanned += 1
        hits += [
            f"{name} in {file.relative_to(erigolem_home)}"
            for name, pat in patterns.items()
            if pat.search(text)
        ]
    assert not hits, hits
    # the scan looked at the right things: the log has the session, the keyring its entries
    log_text = debug_log.read_text()
    assert "unlocked" in log_text
    assert "unlock failed" in log_text
    assert "erigolem-wallet" in (erigolem_home / "keyring" / "keyring.json").read_text()
    assert scanned >= 5

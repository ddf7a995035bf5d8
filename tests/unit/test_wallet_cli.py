"""`erigolem wallet …` end to end in real subprocesses, plus cli/common.py's input/output rules.

The subprocesses share one keyring across processes: the app's own file backend
(`DataDirKeyring` under ERIGOLEM_HOME), selected explicitly with PYTHON_KEYRING_BACKEND.
"""

from __future__ import annotations

import argparse
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from eth_account import Account

from erigolem_desktop.cli import common

ANVIL0_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
ANVIL0 = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
ANVIL1 = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
TEST_MNEMONIC = "test test test test test test test test test test test junk"
PASS = "cli passphrase 42"


@pytest.fixture
def cli_env(erigolem_home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        ERIGOLEM_HOME=str(erigolem_home),
        PYTHON_KEYRING_BACKEND="erigolem_desktop.core.keyring_setup.DataDirKeyring",
        ERIGOLEM_WALLET_SCRYPT_N="4096",
        ERIGOLEM_WALLET_INSECURE_TEST_KDF="1",
        ERIGOLEM_PASSPHRASE=PASS,
    )
    env.pop("ERIGOLEM_KEYSTORE_PASSWORD", None)
    return env


def run(
    env: dict[str, str], *argv: str, stdin: str = "", **extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "erigolem_desktop", *argv],
        input=stdin,
        capture_output=True,
        text=True,
        env={**env, **extra},
        timeout=60,
        check=False,
    )


def test_wallet_cli_end_to_end(cli_env: dict[str, str], tmp_path: Path) -> None:
    created = run(cli_env, "--json", "wallet", "create", "--label", "first")
    assert created.returncode == 0, created.stderr
    info = json.loads(created.stdout)
    assert len(info["mnemonic"].split()) == 12
    assert "shown ONCE" in created.stderr

    key_file = tmp_path / "key.txt"
    key_file.write_text(ANVIL0_KEY + "\n")
    imported = run(cli_env, "wallet", "import", "--key-file", str(key_file), "--label", "anvil")
    assert imported.returncode == 0, imported.stderr
    assert ANVIL0 in imported.stdout
    via_stdin = run(
        cli_env, "wallet", "import", "--mnemonic-file", "-", "--path", "m/44'/60'/0'/0/1",
        stdin=TEST_MNEMONIC + "\n",
    )  # fmt: skip
    assert via_stdin.returncode == 0, via_stdin.stderr
    assert ANVIL1 in via_stdin.stdout

    listed = json.loads(run(cli_env, "wallet", "list", "--json").stdout)
    assert [a["address"] for a in listed] == [info["address"], ANVIL0, ANVIL1]
    assert [a["active"] for a in listed] == [True, False, False]
    assert run(cli_env, "wallet", "use", ANVIL0.lower()).returncode == 0
    assert "* " + ANVIL0 in run(cli_env, "wallet", "list").stdout

    signed = run(cli_env, "wallet", "sign", "hello from the cli")
    assert signed.returncode == 0, signed.stderr
    sig = signed.stdout.strip()
    ok = run(
        cli_env, "wallet", "verify", "hello from the cli", "--signature", sig, "--address", ANVIL0
    )
    assert ok.returncode == 0
    assert "Valid" in ok.stdout
    bad = run(cli_env, "wallet", "verify", "hello!", "--signature", sig, "--address", ANVIL0)
    assert bad.returncode == 1
    assert "INVALID" in bad.stdout

    siwe = run(
        cli_env, "--json", "wallet", "sign-siwe", "--domain", "app.example.org",
        "--uri", "https://app.example.org/login", "--statement", "Sign in to Erigolem",
        "--nonce", "abcdef123456", "--expires-in", "300",
    )  # fmt: skip
    assert siwe.returncode == 0, siwe.stderr
    out = json.loads(siwe.stdout)
    msg_file = tmp_path / "siwe.txt"
    msg_file.write_text(out["message"])
    good = run(
        cli_env, "wallet", "verify", "--message-file", str(msg_file), "--signature",
        out["signature"], "--siwe-domain", "app.example.org", "--nonce", "abcdef123456",
    )  # fmt: skip
    assert good.returncode == 0, good.stdout + good.stderr
    phish = run(
        cli_env, "--json", "wallet", "verify", "--message-file", str(msg_file), "--signature",
        out["signature"], "--siwe-domain", "evil.example",
    )  # fmt: skip
    assert phish.returncode == 1
    assert json.loads(phish.stdout)["valid"] is False

    export_file = tmp_path / "backup.json"
    exported = run(cli_env, "wallet", "export", ANVIL0, "--out", str(export_file))
    assert exported.returncode == 0, exported.stderr
    assert stat.S_IMODE(export_file.stat().st_mode) == 0o600
    assert Account.decrypt(json.loads(export_file.read_text()), PASS).hex() == ANVIL0_KEY[2:]
    again = run(cli_env, "wallet", "export", ANVIL0, "--out", str(export_file))
    assert again.returncode == 2  # no silent overwrite

    assert run(cli_env, "wallet", "remove", ANVIL0).returncode == 2  # no --yes, no tty
    assert run(cli_env, "wallet", "remove", ANVIL0, "--yes").returncode == 0
    ks_pw = tmp_path / "kspw"
    ks_pw.write_text(PASS + "\n")
    back = run(
        cli_env, "wallet", "import", "--keystore", str(export_file),
        "--keystore-password-file", str(ks_pw),
    )  # fmt: skip
    assert back.returncode == 0, back.stderr
    assert ANVIL0 in back.stdout


def test_wallet_cli_error_exit_codes(cli_env: dict[str, str], tmp_path: Path) -> None:
    key_file = tmp_path / "key.txt"
    key_file.write_text(ANVIL0_KEY)
    assert run(cli_env, "wallet", "import", "--key-file", str(key_file)).returncode == 0

    wrong = run(cli_env, "wallet", "sign", "x", ERIGOLEM_PASSPHRASE="not it")
    assert wrong.returncode == 3
    assert "passphrase is wrong" in wrong.stderr

    wrong_json = run(cli_env, "--json", "wallet", "export", ANVIL0, ERIGOLEM_PASSPHRASE="no")
    assert wrong_json.returncode == 3
    assert json.loads(wrong_json.stderr)["exit_code"] == 3

    nokeyring = run(
        cli_env, "wallet", "list", PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring"
    )
    assert nokeyring.returncode == 4
    assert "PYTHON_KEYRING_BACKEND" in nokeyring.stderr

    env = {k: v for k, v in cli_env.items() if k != "ERIGOLEM_PASSPHRASE"}
    no_source = run(env, "wallet", "sign", "x")  # no tty, no env, no file
    assert no_source.returncode == 2
    assert "--passphrase-file" in no_source.stderr
    pw = tmp_path / "pw"
    pw.write_text(PASS + "\nignored second line\n")
    assert run(env, "wallet", "sign", "x", "--passphrase-file", str(pw)).returncode == 0
    assert run(env, "wallet", "sign", "x", "--passphrase-file", "-", stdin=PASS).returncode == 0

    assert run(cli_env, "wallet", "use", "0x" + "12" * 20).returncode == 1
    assert run(cli_env, "wallet", "import").returncode == 2
    bad_key = tmp_path / "bad"
    bad_key.write_text("not a key")
    bad = run(cli_env, "wallet", "import", "--key-file", str(bad_key))
    assert bad.returncode == 1
    assert "64 hex digits" in bad.stderr
    assert "not a key" not in bad.stderr  # the input itself is never echoed
    missing = run(cli_env, "wallet", "import", "--key-file", str(tmp_path / "nope"))
    assert missing.returncode == 2
    assert "Could not read" in missing.stderr
    # A file that is no keystore is named as such before its password is asked for (no tty,
    # no ERIGOLEM_KEYSTORE_PASSWORD here: asking would fail with "no terminal" instead).
    not_keystore = tmp_path / "notes.json"
    not_keystore.write_text('{"version": 3, "notes": "hi"}')
    wrong_file = run(cli_env, "wallet", "import", "--keystore", str(not_keystore))
    assert wrong_file.returncode == 1
    assert "not a version 3 keystore" in wrong_file.stderr
    assert "Choose a keystore v3 JSON file" in wrong_file.stderr
    assert json.loads(run(cli_env, "--json", "wallet", "list").stdout)[0]["address"] == ANVIL0


def test_common_output_and_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    common.emit(argparse.Namespace(json=True), {"a": 1})
    common.emit(argparse.Namespace(), {"a": None, "b": [1]})
    out = capsys.readouterr().out
    assert json.loads(out.split("}\n", 1)[0] + "}") == {"a": 1}
    assert "a: -\nb: [1]" in out

    class Hinted(Exception):
        hint = "do this"

    def boom(_args: argparse.Namespace) -> int:
        raise Hinted("it broke")

    assert common.handle_errors(boom)(argparse.Namespace()) == 1
    err = capsys.readouterr().err
    assert "it broke" in err
    assert "do this" in err

    def bug(_args: argparse.Namespace) -> int:
        raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):  # programming errors keep their traceback
        common.handle_errors(bug)(argparse.Namespace())

    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(common.UsageError, match="empty"):
        common.read_secret_file(str(empty), "passphrase")


def test_wallet_cli_passwd(cli_env: dict[str, str], tmp_path: Path) -> None:
    key_file = tmp_path / "key.txt"
    key_file.write_text(ANVIL0_KEY)
    assert run(cli_env, "wallet", "import", "--key-file", str(key_file)).returncode == 0
    new_file = tmp_path / "new"
    new_file.write_text("second passphrase\n")

    wrong = run(
        cli_env, "wallet", "passwd", ANVIL0, "--new-passphrase-file", str(new_file),
        ERIGOLEM_PASSPHRASE="not it",
    )  # fmt: skip
    assert wrong.returncode == 3
    assert "passphrase is wrong" in wrong.stderr
    no_new = run(cli_env, "wallet", "passwd", ANVIL0)  # no tty, no file, no variable
    assert no_new.returncode == 2
    assert "ERIGOLEM_NEW_PASSPHRASE" in no_new.stderr
    assert "--new-passphrase-file FILE" in no_new.stderr  # the flag for the NEW one
    assert "--passphrase-file FILE" not in no_new.stderr.replace("--new-passphrase-file", "")
    both_stdin = run(
        cli_env, "wallet", "passwd", ANVIL0, "--passphrase-file", "-",
        "--new-passphrase-file", "-", stdin=PASS,
    )  # fmt: skip
    assert both_stdin.returncode == 2

    changed = run(
        cli_env, "--json", "wallet", "passwd", ANVIL0.lower(),
        "--new-passphrase-file", str(new_file),
    )  # fmt: skip
    assert changed.returncode == 0, changed.stderr
    assert json.loads(changed.stdout) == {"address": ANVIL0, "changed": True}
    assert run(cli_env, "wallet", "sign", "x").returncode == 3  # the old one no longer opens it
    back = run(
        cli_env, "wallet", "passwd", ANVIL0, ERIGOLEM_PASSPHRASE="second passphrase",
        ERIGOLEM_NEW_PASSPHRASE=PASS,
    )  # fmt: skip
    assert back.returncode == 0, back.stderr
    assert run(cli_env, "wallet", "sign", "x").returncode == 0


def test_new_passphrases_follow_the_gui_rule(cli_env: dict[str, str], tmp_path: Path) -> None:
    """create, import and passwd's new passphrase need >= 8 characters and strength >= 2."""
    short = run(cli_env, "wallet", "create", ERIGOLEM_PASSPHRASE="a")
    assert short.returncode == 2
    assert "at least 8 characters" in short.stderr
    assert "unrelated words" in short.stderr  # what a good one looks like
    common_word = run(cli_env, "--json", "wallet", "create", ERIGOLEM_PASSPHRASE="password1")
    assert common_word.returncode == 2
    assert "too easy to guess" in json.loads(common_word.stderr)["error"]
    key_file = tmp_path / "key.txt"
    key_file.write_text(ANVIL0_KEY)
    weak_file = tmp_path / "weak"
    weak_file.write_text("abcdefgh\n")
    weak_import = run(
        cli_env, "wallet", "import", "--key-file", str(key_file), "--passphrase-file",
        str(weak_file),
    )  # fmt: skip
    assert weak_import.returncode == 2
    assert "too easy to guess" in weak_import.stderr
    assert json.loads(run(cli_env, "--json", "wallet", "list").stdout) == []  # nothing stored

    assert run(cli_env, "wallet", "import", "--key-file", str(key_file)).returncode == 0
    weak_new = run(cli_env, "wallet", "passwd", ANVIL0, ERIGOLEM_NEW_PASSPHRASE="qwerty12")
    assert weak_new.returncode == 2
    assert "too easy to guess" in weak_new.stderr
    assert run(cli_env, "wallet", "sign", "x").returncode == 0  # the old one still opens it
    # Existing passphrases are never held to the rule: a short one is just wrong (3), not 2.
    assert run(cli_env, "wallet", "sign", "x", ERIGOLEM_PASSPHRASE="a").returncode == 3


def test_verify_rejects_a_malformed_signature(cli_env: dict[str, str]) -> None:
    """A --signature that is not 65 bytes of hex is a usage error, not 'signer unknown'."""
    for sig in ("zz", "0x1234", "0x" + "zz" * 65, "0x" + "ab" * 66):
        bad = run(cli_env, "wallet", "verify", "hi", "--signature", sig, "--address", ANVIL0)
        assert bad.returncode == 2, (sig, bad.stdout, bad.stderr)
        assert "65 bytes" in bad.stderr
        assert "INVALID" not in bad.stdout
    siwe = run(cli_env, "wallet", "verify", "hi", "--signature", "zz", "--siwe-domain", "a.org")
    assert siwe.returncode == 2
    # Well-formed but from someone else: still a verdict (exit 1), not a usage error.
    other = "0x" + "11" * 64 + "1b"
    wrong = run(cli_env, "wallet", "verify", "hi", "--signature", other, "--address", ANVIL0)
    assert wrong.returncode == 1
    assert "INVALID" in wrong.stdout


def test_keystores_with_an_empty_password_import_from_the_cli(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    """geth writes keystores with an empty password: by file, stdin and environment (issue 11)."""
    accounts = [Account.create() for _ in range(3)]
    files = []
    for n, acct in enumerate(accounts):
        path = tmp_path / f"ks{n}.json"
        path.write_text(json.dumps(Account.encrypt(acct.key, "", iterations=4096)))
        files.append(str(path))
    empty = tmp_path / "empty-password"
    empty.write_text("")
    by_file = run(
        cli_env, "wallet", "import", "--keystore", files[0], "--keystore-password-file", str(empty)
    )
    by_stdin = run(
        cli_env, "wallet", "import", "--keystore", files[1], "--keystore-password-file", "-"
    )
    by_env = run(cli_env, "wallet", "import", "--keystore", files[2], ERIGOLEM_KEYSTORE_PASSWORD="")
    for result in (by_file, by_stdin, by_env):
        assert result.returncode == 0, result.stderr
    listed = {a["address"] for a in json.loads(run(cli_env, "--json", "wallet", "list").stdout)}
    assert listed == {a.address for a in accounts}
    wrong = run(cli_env, "wallet", "import", "--keystore", files[0], ERIGOLEM_KEYSTORE_PASSWORD="x")
    assert wrong.returncode in (1, 3)  # already imported or wrong password, never a traceback
    assert "Traceback" not in wrong.stderr

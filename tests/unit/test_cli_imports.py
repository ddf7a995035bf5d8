"""The common CLI verbs import only what they use (start-up time; see bench_cli_start.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = (
    "aiohttp",  # the async HTTP client: `erigolem rpc` uses the blocking one
    "yapapi",
    "PySide6",
    "eth_account",
    "erigolem_desktop.cli.wallet_cmd",
    "erigolem_desktop.cli.serve_cmd",
    "erigolem_desktop.cli.gateway_cmd",
)
PROBE = """
import json, sys
from erigolem_desktop.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def _loaded(home: Path, *argv: str) -> tuple[object, set[str]]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, *argv],
        capture_output=True,
        text=True,
        env={**os.environ, "ERIGOLEM_HOME": str(home)},
        timeout=60,
        check=True,
    )
    data = json.loads(out.stdout.strip().splitlines()[-1])
    return data["code"], set(data["modules"])


@pytest.mark.parametrize("argv", [("rpc", "nonode", "eth_chainId"), ("node", "list")])
def test_common_verbs_load_no_heavy_module(erigolem_home: Path, argv: tuple[str, ...]) -> None:
    code, modules = _loaded(erigolem_home, *argv)
    assert code in (0, 1)  # `nonode` does not exist: a clear error, after the imports
    assert sorted(m for m in HEAVY if m in modules) == []


WINDOW_PROBE = """
import json, sys
import erigolem_desktop.ui.app, erigolem_desktop.ui.context, erigolem_desktop.ui.main_window
print(json.dumps(sorted(sys.modules)))
"""
# none of these is needed to paint the unlock screen (aiohttp alone took ~0.25 s, via updates)
NOT_BEFORE_PAINT = ("aiohttp", "yapapi", "eth_account", "eth_utils", "pyqtgraph", "numpy")


def test_the_window_imports_no_heavy_module_before_its_first_paint(erigolem_home: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", WINDOW_PROBE],
        capture_output=True,
        text=True,
        env={**os.environ, "ERIGOLEM_HOME": str(erigolem_home)},
        timeout=60,
        check=True,
    )
    modules = set(json.loads(out.stdout.strip().splitlines()[-1]))
    assert sorted(m for m in NOT_BEFORE_PAINT if m in modules) == []


def test_help_still_lists_every_command(erigolem_home: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "erigolem_desktop", "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "ERIGOLEM_HOME": str(erigolem_home)},
        timeout=60,
        check=True,
    )
    for command in ("wallet", "node", "rpc", "serve", "gateway"):
        assert command in out.stdout


CHOOSE = """
import sys
import keyring.backend
if sys.argv[1] == "again":  # the remembered choice must not run keyring's backend detection
    def detect(*a, **k):
        raise AssertionError("keyring backend detection ran")
    keyring.backend.get_all_keyring = detect
from erigolem_desktop.core.keyring_setup import ensure_keyring
print(ensure_keyring())
"""


def test_the_file_store_choice_is_remembered(erigolem_home: Path, tmp_path: Path) -> None:
    """The implicit file fallback is written down, so later CLI runs skip the ~0.3 s detection."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHON_KEYRING_BACKEND"}
    env.update(ERIGOLEM_HOME=str(erigolem_home), XDG_CONFIG_HOME=str(tmp_path / "xdg"))
    env["DBUS_SESSION_BUS_ADDRESS"] = "unix:path=" + str(tmp_path / "no-bus")  # no Secret Service

    def run(step: str) -> str:
        out = subprocess.run(
            [sys.executable, "-c", CHOOSE, step],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()

    assert run("first").endswith("DataDirKeyring")
    assert (erigolem_home / "keyring" / "backend").read_text() == "DataDirKeyring\n"
    assert run("again").endswith("DataDirKeyring")
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.null.Keyring"  # an explicit choice wins
    out = subprocess.run(
        [sys.executable, "-c", CHOOSE, "first"], capture_output=True, text=True, env=env, timeout=60
    )
    assert out.returncode != 0  # refused, not silently the remembered file store
    assert "cannot store keys" in out.stderr


def test_passwords_sealed_the_old_way_still_open(erigolem_home: Path) -> None:
    """Sealing moved from pycryptodome to cryptography (faster to load); same AES-GCM layout."""
    import base64

    from Crypto.Cipher import AES

    from erigolem_desktop.core import secrets
    from erigolem_desktop.core.wallet_errors import KeystoreCorrupt

    sealed = secrets.seal("node-password-1")
    assert secrets.unseal(sealed) == "node-password-1"
    key = secrets._seal_key(create=False)
    assert key is not None
    nonce = b"\x01" * 12
    old = AES.new(key, AES.MODE_GCM, nonce=nonce)
    ciphertext, tag = old.encrypt_and_digest(b"written-by-pycryptodome")
    legacy = secrets._SEALED_PREFIX + base64.b64encode(nonce + tag + ciphertext).decode()
    assert secrets.unseal(legacy) == "written-by-pycryptodome"
    blob = bytearray(base64.b64decode(sealed[len(secrets._SEALED_PREFIX) :]))
    blob[-1] ^= 1  # tampered: refused with the way out, not garbage
    with pytest.raises(KeystoreCorrupt, match="another key file"):
        secrets.unseal(secrets._SEALED_PREFIX + base64.b64encode(bytes(blob)).decode())

"""Wallet under concurrent processes and crashes, passphrase change, and the KDF-cost knob.

Cross-process tests run real `python` subprocesses sharing one keyring: the app's own file
backend (`DataDirKeyring` under ERIGOLEM_HOME), selected explicitly with PYTHON_KEYRING_BACKEND.
A "crash" is `os._exit` in such a subprocess between two steps (no cleanup code runs); in-process
crash tests raise `SimulatedCrash`, a BaseException that the wallet's rollback (which catches
Exception) does not see, and then open the wallet afresh as a restarted app would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import keyring
import pytest

from erigolem_desktop.core import wallet as wallet_mod
from erigolem_desktop.core.keyring_setup import DataDirKeyring
from erigolem_desktop.core.keystore_vault import SERVICE, KeyringVault
from erigolem_desktop.core.wallet import (
    KeyringUnavailable,
    UnknownAccount,
    Wallet,
    WalletError,
    WrongPassphrase,
    file_lock,
)
from tests.support.memkeyring import MemoryKeyring

PASS = "correct horse battery staple"
NEW = "a brand new passphrase 7"
ANVIL0_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
ANVIL0 = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
FAST_N = 2**12


class SimulatedCrash(BaseException):
    """Stands for the process dying at this point: no `except Exception` rollback runs."""


@pytest.fixture
def proc_env(erigolem_home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        ERIGOLEM_HOME=str(erigolem_home),
        PYTHON_KEYRING_BACKEND="erigolem_desktop.core.keyring_setup.DataDirKeyring",
        PYTHONWARNINGS="error",
    )
    return env


def _python(code: str, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(proc: subprocess.Popen[str], timeout: float = 60) -> tuple[int, str]:
    try:
        _out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, err


HAMMER = """
    import sys, time
    from pathlib import Path
    from erigolem_desktop.core.wallet import Wallet
    me, count, go = int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
    wallet = Wallet.open(scrypt_n=4096)
    deadline = time.monotonic() + 30
    while not go.exists() and time.monotonic() < deadline:
        time.sleep(0.001)
    for j in range(count):
        key = bytes([me + 1]) * 31 + bytes([j + 1])
        info = wallet.import_private_key(key.hex(), "pw", label=f"p{me}-{j}")
        wallet.set_label(info.address, f"p{me}-{j} renamed")
        wallet.set_active(info.address)
        others = [a for a in wallet.accounts() if not a.label.startswith(f"p{me}-")]
        if others:  # the other process's accounts too: a shared field changes both ways
            wallet.set_label(others[-1].address, others[-1].label)
"""


def test_two_processes_hammering_lose_no_change(
    proc_env: dict[str, str], erigolem_home: Path, tmp_path: Path
) -> None:
    count = 20
    go = tmp_path / "go"
    procs = [_python(HAMMER, proc_env, str(me), str(count), str(go)) for me in (0, 1)]
    time.sleep(0.3)  # both are importing; the go file releases them together
    go.touch()
    results = [_finish(p) for p in procs]
    assert all(rc == 0 for rc, _ in results), [err[-2000:] for _, err in results]

    data = json.loads((erigolem_home / "wallet.json").read_text())
    labels = sorted(e["label"] for e in data["accounts"])
    assert labels == sorted(f"p{me}-{j} renamed" for me in (0, 1) for j in range(count))
    assert not any("pending" in e for e in data["accounts"])
    assert data["active"] in {e["address"] for e in data["accounts"]}
    keyring_file = json.loads((erigolem_home / "keyring" / "keyring.json").read_text())
    assert set(keyring_file[SERVICE]) == {e["address"] for e in data["accounts"]}


CRASH_IN_ADD = """
    import os, sys
    from erigolem_desktop.core.keystore_vault import KeyringVault
    from erigolem_desktop.core.wallet import Wallet
    original = KeyringVault.put
    def put(self, address, keystore):
        if sys.argv[1] == "after":
            original(self, address, keystore)
        os._exit(9)  # the process dies here, nothing else runs
    KeyringVault.put = put
    Wallet.open(scrypt_n=4096).import_private_key(sys.argv[2], "pw", label="crashed")
"""


@pytest.mark.parametrize("when", ["before", "after"])
def test_crash_while_adding_leaves_no_orphan(
    proc_env: dict[str, str],
    erigolem_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
    when: str,
) -> None:
    rc, err = _finish(_python(CRASH_IN_ADD, proc_env, when, ANVIL0_KEY))
    assert rc == 9, err
    entries = json.loads((erigolem_home / "wallet.json").read_text())["accounts"]
    assert [(e["address"], e["pending"]) for e in entries] == [(ANVIL0, "add")]

    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", proc_env["PYTHON_KEYRING_BACKEND"])
    previous = keyring.get_keyring()
    keyring.set_keyring(DataDirKeyring())
    request.addfinalizer(lambda: keyring.set_keyring(previous))
    wallet = Wallet.open(scrypt_n=FAST_N)  # the restarted app settles the leftover
    stored = KeyringVault().get(ANVIL0)
    if when == "after":  # the key had reached the keyring: the account is completed
        assert [(a.address, a.label, a.active) for a in wallet.accounts()] == [
            (ANVIL0, "crashed", True)
        ]
        assert wallet.unlock(ANVIL0, "pw").address == ANVIL0
    else:  # it had not: the entry is dropped, and the import can simply be done again
        assert wallet.accounts() == []
        assert stored is None
        assert wallet.import_private_key(ANVIL0_KEY, PASS).address == ANVIL0
    data = json.loads(wallet.metadata_path.read_text())
    assert not any("pending" in e for e in data["accounts"])


@pytest.fixture
def wallet(memory_keyring: MemoryKeyring, erigolem_home: Path) -> Wallet:
    return Wallet.open(scrypt_n=FAST_N)


def _crash_on(monkeypatch: pytest.MonkeyPatch, method: str, *, calls_before: int = 0) -> None:
    """Make KeyringVault.<method> crash on call number `calls_before + 1` (after doing it)."""
    original = getattr(KeyringVault, method)
    seen = [0]

    def crashing(self: KeyringVault, *args: Any) -> Any:
        seen[0] += 1
        if seen[0] > calls_before:
            raise SimulatedCrash(method)
        return original(self, *args)

    monkeypatch.setattr(KeyringVault, method, crashing)


def test_crash_while_removing_is_finished_on_open(
    wallet: Wallet, memory_keyring: MemoryKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = wallet.import_private_key(ANVIL0_KEY, PASS, label="a")
    b, _ = wallet.create(PASS, label="b")
    with monkeypatch.context() as m:
        _crash_on(m, "delete")
        with pytest.raises(SimulatedCrash):
            wallet.remove(a.address)
    assert (SERVICE, a.address) in memory_keyring.store  # the crash hit before the delete
    assert [x.address for x in wallet.accounts()] == [b.address]  # no longer listed
    assert wallet.active is not None
    assert wallet.active.address == b.address

    Wallet.open(scrypt_n=FAST_N)
    assert (SERVICE, a.address) not in memory_keyring.store
    assert "pending" not in wallet.metadata_path.read_text()


def test_change_passphrase_round_trip_and_wrong_old(
    wallet: Wallet, memory_keyring: MemoryKeyring
) -> None:
    info = wallet.import_private_key(ANVIL0_KEY, PASS)
    wallet.unlock(info.address, PASS)
    before = memory_keyring.store[(SERVICE, info.address)]

    with pytest.raises(WrongPassphrase):
        wallet.change_passphrase(info.address, "not it", NEW)
    assert memory_keyring.store[(SERVICE, info.address)] == before  # nothing lost
    with pytest.raises(WalletError, match="empty"):
        wallet.change_passphrase(info.address, PASS, "")
    with pytest.raises(UnknownAccount):
        wallet.change_passphrase("0x" + "12" * 20, PASS, NEW)

    wallet.change_passphrase(info.address.lower(), PASS, NEW)
    assert wallet.unlocked_address == info.address  # the unlocked key is the same key
    assert not [k for k in memory_keyring.store if "#" in k[1]]  # no staged copy left
    again = Wallet.open(scrypt_n=FAST_N)
    with pytest.raises(WrongPassphrase):
        again.unlock(info.address, PASS)
    assert again.unlock(info.address, NEW).address == ANVIL0
    assert json.loads(again.export_keystore(ANVIL0, NEW))["crypto"]["kdfparams"]["n"] == FAST_N


@pytest.mark.parametrize("crash_at", ["staged", "main", "cleanup"])
def test_change_passphrase_crash_keeps_a_readable_keystore(
    memory_keyring: MemoryKeyring,
    erigolem_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    crash_at: str,
) -> None:
    """Chunked keystores (small chunks) make the main write non-atomic: the worst case."""
    wallet = Wallet(erigolem_home, scrypt_n=FAST_N, vault=KeyringVault(chunk_chars=100))
    info = wallet.import_private_key(ANVIL0_KEY, PASS)
    assert (SERVICE, f"{info.address}#3") in memory_keyring.store  # really chunked

    original_put = KeyringVault.put

    def crashing_put(self: KeyringVault, address: str, keystore: str) -> None:
        if crash_at == "staged" and address.endswith("#staged"):
            original_put(self, address, keystore[:-1] + "x")  # half-way, then death
            raise SimulatedCrash
        if crash_at == "main" and not address.endswith("#staged"):
            for n in (1, 2, 3):  # tear the main entry: new parts written, head still old
                part = keystore[(n - 1) * 100 : n * 100]
                memory_keyring.set_password(SERVICE, f"{address}#{n}", part)
            raise SimulatedCrash
        original_put(self, address, keystore)

    def crashing_delete(self: KeyringVault, address: str) -> None:
        raise SimulatedCrash

    with monkeypatch.context() as m:
        m.setattr(KeyringVault, "put", crashing_put)
        if crash_at == "cleanup":
            m.setattr(KeyringVault, "delete", crashing_delete)
        with pytest.raises(SimulatedCrash):
            wallet.change_passphrase(info.address, PASS, NEW)

    restarted = Wallet.open(scrypt_n=FAST_N)
    works = []
    for candidate in (PASS, NEW):
        try:
            restarted.unlock(info.address, candidate)
            works.append(candidate)
        except WrongPassphrase:
            pass
    expected = {"staged": [PASS], "main": [NEW], "cleanup": [NEW]}[crash_at]
    assert works == expected
    assert not [k for k in memory_keyring.store if "#staged" in k[1]]
    assert "pending" not in restarted.metadata_path.read_text()


def test_change_passphrase_keyring_failure_loses_nothing(
    wallet: Wallet, memory_keyring: MemoryKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    info = wallet.import_private_key(ANVIL0_KEY, PASS)
    original_put = KeyringVault.put

    def failing_put(self: KeyringVault, address: str, keystore: str) -> None:
        if not address.endswith("#staged"):
            raise KeyringUnavailable("The keyring refused to store the keystore.")
        original_put(self, address, keystore)

    monkeypatch.setattr(KeyringVault, "put", failing_put)
    with pytest.raises(KeyringUnavailable):
        wallet.change_passphrase(info.address, PASS, NEW)
    monkeypatch.undo()
    assert wallet.unlock(info.address, PASS).address == ANVIL0
    assert "pending" not in wallet.metadata_path.read_text()
    assert not [k for k in memory_keyring.store if "#staged" in k[1]]


def test_lock_is_exclusive_and_times_out(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    entered = threading.Event()
    release = threading.Event()

    def holder() -> None:
        with file_lock(path):
            entered.set()
            release.wait(5)

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        assert entered.wait(5)
        with pytest.raises(WalletError, match="changing the wallet"), file_lock(path, 0.1):
            pass
    finally:
        release.set()
        thread.join(5)
    with file_lock(path, 1):  # free again
        assert path.exists()


def test_scrypt_cost_env_cannot_weaken_keys(
    memory_keyring: MemoryKeyring, erigolem_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(wallet_mod.INSECURE_KDF_ENV, raising=False)
    monkeypatch.setenv(wallet_mod.SCRYPT_N_ENV, "4096")
    with pytest.raises(WalletError, match="below the shipped") as excinfo:
        Wallet.open()
    assert wallet_mod.INSECURE_KDF_ENV in excinfo.value.hint
    monkeypatch.setenv(wallet_mod.INSECURE_KDF_ENV, "yes")  # only exactly "1" counts
    with pytest.raises(WalletError, match="below the shipped"):
        Wallet.open()
    monkeypatch.setenv(wallet_mod.INSECURE_KDF_ENV, "1")
    assert Wallet.open().scrypt_n == 4096
    monkeypatch.delenv(wallet_mod.INSECURE_KDF_ENV)
    monkeypatch.setenv(wallet_mod.SCRYPT_N_ENV, str(2**19))  # raising the cost is fine
    assert Wallet.open().scrypt_n == 2**19
    monkeypatch.setenv(wallet_mod.SCRYPT_N_ENV, "300000")
    with pytest.raises(WalletError, match="power of two"):
        Wallet.open()
    monkeypatch.delenv(wallet_mod.SCRYPT_N_ENV)
    assert Wallet.open().scrypt_n == 2**18

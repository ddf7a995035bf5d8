"""Wallet unlock time (scrypt keystore decrypt) at the shipped KDF cost, median of N.

Run: `python -m tests.bench.bench_wallet_unlock [N]`. The baseline in the same run is a keystore
with scrypt n=2**14 (16x cheaper), so the ratio shows the KDF dominates the unlock.
Uses an in-memory keyring (the real `keyring` API) in a temporary ERIGOLEM_HOME.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time

import keyring


def _median_unlock(n_scrypt: int, rounds: int) -> float:
    from erigolem_desktop.core.wallet import Wallet

    wallet = Wallet.open(scrypt_n=n_scrypt)
    info = wallet.import_private_key(os.urandom(32).hex(), "bench passphrase")
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        wallet.unlock(info.address, "bench passphrase")
        times.append(time.perf_counter() - t0)
        wallet.lock()
    wallet.remove(info.address)
    return statistics.median(times)


def main() -> int:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    from tests.support.memkeyring import MemoryKeyring

    with tempfile.TemporaryDirectory() as home:
        os.environ["ERIGOLEM_HOME"] = home
        keyring.set_keyring(MemoryKeyring())
        from erigolem_desktop.core.keystore_vault import DEFAULT_SCRYPT_N

        base = _median_unlock(2**14, rounds)
        shipped = _median_unlock(DEFAULT_SCRYPT_N, rounds)
    print(f"unlock, scrypt n=2**14 (baseline): median {base * 1000:8.1f} ms over {rounds}")
    print(
        f"unlock, scrypt n={DEFAULT_SCRYPT_N} (shipped): median {shipped * 1000:8.1f} ms over {rounds}"
    )
    print(f"ratio shipped/baseline: {shipped / base:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())

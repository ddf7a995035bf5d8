"""Processes that hold keys leave no core dump (issue 11 item 9).

The desktop app, the CLI when it unlocks a wallet, and `erigolem serve` set RLIMIT_CORE to 0
and (Linux) PR_SET_DUMPABLE to 0. Read back inside the real process (a subprocess running the
real entry point, then asking prctl/getrlimit) or from outside through /proc/<pid>/limits.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.serve_process import serve_process

pytestmark = pytest.mark.integration

# Run one real entry point in this interpreter, then report how the process may dump core.
READBACK = """
import json, resource, sys
from erigolem_runtime.api.process import dumpable
from erigolem_desktop.__main__ import main
code = main(sys.argv[1:])
soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
print("READBACK " + json.dumps({"code": code, "dumpable": dumpable(), "core": [soft, hard]}))
"""

FAST_KDF = {"ERIGOLEM_WALLET_SCRYPT_N": "4096", "ERIGOLEM_WALLET_INSECURE_TEST_KDF": "1"}


def _readback(*args: str, **env: str) -> dict[str, object]:
    proc = subprocess.run(
        [sys.executable, "-c", READBACK, *args],
        env={**os.environ, **FAST_KDF, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = [x for x in proc.stdout.splitlines() if x.startswith("READBACK ")]
    assert lines, proc.stderr
    data: dict[str, object] = json.loads(lines[-1].split(" ", 1)[1])
    return data


def test_a_cli_that_unlocks_a_wallet_cannot_dump_core(erigolem_home: Path) -> None:
    created = _readback(
        "wallet", "create", "--label", "dumps", ERIGOLEM_PASSPHRASE="correct horse battery 9"
    )
    assert created["code"] == 0
    assert created["dumpable"] is False
    assert created["core"] == [0, 0]
    # a command that holds no secret is left as it was (so the readback can tell them apart)
    listed = _readback("node", "list")
    assert listed["code"] == 0
    assert listed["dumpable"] is True


def test_the_desktop_app_cannot_dump_core(erigolem_home: Path) -> None:
    smoke = _readback("--smoke", QT_QPA_PLATFORM="offscreen")
    assert smoke["code"] == 0
    assert smoke["dumpable"] is False
    assert smoke["core"] == [0, 0]


def test_serve_cannot_dump_core(erigolem_home: Path) -> None:
    with serve_process() as (proc, _info):
        limits = Path(f"/proc/{proc.pid}/limits").read_text()
    line = next(x for x in limits.splitlines() if x.startswith("Max core file size"))
    assert line.split()[4:6] == ["0", "0"], line

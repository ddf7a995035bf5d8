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

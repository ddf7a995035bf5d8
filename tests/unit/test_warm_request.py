"""The requestor asks for a warm node: start argument, demand constraint and the CLI flag."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from erigolem_desktop.core.backends.base import NodeSpec
from erigolem_desktop.core.backends.golem.payload import (
    WARM_CHAINS_PROPERTY,
    demand_of,
    payload_for,
)


def test_warm_property_matches_what_the_runtime_offers() -> None:
    offer = pytest.importorskip("erigolem_runtime.offer")
    assert WARM_CHAINS_PROPERTY == offer.PROP + "warm-chains"


def test_start_argument_asks_for_warm_mode_only_when_wanted() -> None:
    assert NodeSpec("mainnet", "erigon", "n", warm=True).start_argument() == {
        "chain": "mainnet",
        "client": "erigon",
        "mode": "warm",
    }
    assert "mode" not in NodeSpec("mainnet", "erigon", "n").start_argument()  # older runtimes


@pytest.mark.asyncio
async def test_warm_demand_matches_only_providers_serving_the_chain_warm() -> None:
    warm = (await demand_of(payload_for("mainnet", "erigon", True)))["constraints"]
    assert f"({WARM_CHAINS_PROPERTY}=mainnet)" in warm
    assert "(golem.runtime.erigon.chains=mainnet)" in warm
    plain = (await demand_of(payload_for("mainnet", "erigon", False)))["constraints"]
    assert WARM_CHAINS_PROPERTY not in plain


@pytest.mark.parametrize(
    "args",
    [
        ["--local", "--chain", "mainnet"],
        ["--golem", "--chain", "dev"],
    ],
)
def test_cli_warm_needs_golem_and_erigon(args: list[str], erigolem_home: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "erigolem_desktop", "node", "start", *args, "--warm"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert (
        "--warm: a warm node rents an rpcdaemon on a Golem provider's synced Erigon" in done.stderr
    )
    assert "--golem --chain mainnet --warm" in done.stderr

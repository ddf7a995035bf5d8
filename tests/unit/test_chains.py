"""The chain/client check shared by `erigolem node start` and the REST server."""

from __future__ import annotations

import pytest
from erigolem_runtime.profiles import PROFILES

from erigolem_desktop.core.chains import default_client, network_table, resolve_client


def test_table_follows_the_runtime_profiles() -> None:
    networks, defaults = network_table()
    assert set(networks) == set(PROFILES)
    assert networks["anvil"] == ("dev",)
    assert defaults["dev"] == "anvil"
    assert defaults["sepolia"] == "erigon"
    assert all(default_client(chain) in networks for chain in defaults)


@pytest.mark.parametrize(
    ("chain", "client", "expected"),
    [("dev", None, "anvil"), ("sepolia", None, "erigon"), ("dev", "erigon", "erigon")],
)
def test_valid_choices_resolve(chain: str, client: str | None, expected: str) -> None:
    assert resolve_client(chain, client) == expected


@pytest.mark.parametrize(
    ("chain", "client", "message"),
    [
        ("sepolai", None, "unknown chain 'sepolai'; choose one of "),
        ("goerli", None, "the chain 'goerli' has been shut down"),
        ("holesky", None, "the chain 'holesky' has been shut down; use hoodi instead"),
        (
            "mainnet",
            "anvil",
            "the client anvil does not serve the chain mainnet; use client erigon",
        ),
        ("mainnet", "geth", "unknown client 'geth'; choose one of anvil, erigon"),
        (7, None, "the chain should be a name"),
        ("Sepolia ", None, "names are lower-case, use 'sepolia'"),
        ("x" * 500, None, "unknown chain '" + "x" * 40 + "'"),
    ],
)
def test_bad_choices_say_what_to_pick(chain: object, client: str | None, message: str) -> None:
    with pytest.raises(ValueError) as info:
        resolve_client(chain, client)
    assert message in str(info.value)
    assert len(str(info.value)) < 300  # a hostile value is cut, not echoed whole


def test_the_rest_api_says_network() -> None:
    with pytest.raises(ValueError, match="unknown network 'x'"):
        resolve_client("x", None, noun="network")


def test_retired_chains_are_not_offered_as_choices() -> None:
    networks, defaults = network_table()
    assert "holesky" not in defaults
    assert all("holesky" not in chains for chains in networks.values())
    with pytest.raises(ValueError) as info:
        resolve_client("sepolai", None)
    assert "holesky" not in str(info.value)
    assert "hoodi" in str(info.value)

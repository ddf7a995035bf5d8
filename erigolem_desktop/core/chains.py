"""Which chains the nodes can run and with which client: one check for the CLI and the REST server.

The table comes from the runtime's client profiles (the provider side serves exactly these), so
a typo like `--chain sepolai` is refused before a node record exists, with the valid choices.
"""

from __future__ import annotations

from collections.abc import Mapping

#: Networks that were shut down, with the testnet to use instead; asking for one gets that hint
#: instead of "unknown" (holesky was shut down in 2025; hoodi took its place).
SUCCESSORS = {
    "goerli": "sepolia or hoodi",
    "holesky": "hoodi",
    "rinkeby": "sepolia",
    "ropsten": "sepolia",
    "kovan": "sepolia",
    "morden": "sepolia",
}
RETIRED_NETWORKS = frozenset(SUCCESSORS)


def default_client(chain: str) -> str:
    """The client a chain runs with when none is named: anvil for `dev`, else Erigon."""
    return "anvil" if chain == "dev" else "erigon"


def network_table() -> tuple[dict[str, tuple[str, ...]], dict[str, str]]:
    """(networks by client, default client by network) from the runtime's client profiles."""
    from erigolem_runtime.host import client_chains

    networks = {
        name: tuple(c for c in chains if c not in RETIRED_NETWORKS)
        for name, chains in client_chains().items()
    }
    chains = {c for cs in networks.values() for c in cs}
    return networks, {c: default_client(c) for c in sorted(chains)}


def resolve_client(
    chain: object,
    client: object | None,
    networks: Mapping[str, tuple[str, ...]] | None = None,
    default_clients: Mapping[str, str] | None = None,
    noun: str = "chain",
) -> str:
    """Check `chain` (and `client`, when named) and return the client to run it with.

    Raises ValueError saying what was wrong and listing the valid choices. `networks` and
    `default_clients` default to `network_table()`; `noun` is what the caller calls a chain
    (the REST API says "network", as the original Erigolem did).
    """
    if networks is None or default_clients is None:
        networks, default_clients = network_table()
    all_chains = sorted({n for chains in networks.values() for n in chains})
    choices = ", ".join(all_chains)
    if not isinstance(chain, str):
        raise ValueError(f"the {noun} should be a name: one of {choices}")
    if chain in RETIRED_NETWORKS:
        raise ValueError(
            f"the {noun} {chain!r} has been shut down; use {SUCCESSORS[chain]} instead "
            f"(choices: {choices})"
        )
    if chain not in all_chains:
        if chain.strip().lower() in all_chains:
            raise ValueError(
                f"unknown {noun} {chain[:40]!r}: names are lower-case, use {chain.strip().lower()!r}"
            )
        raise ValueError(f"unknown {noun} {chain[:40]!r}; choose one of {choices}")
    picked = default_clients.get(chain) if client is None else client
    if not isinstance(picked, str) or picked not in networks:
        raise ValueError(
            f"unknown client {str(picked)[:40]!r}; choose one of {', '.join(sorted(networks))}"
        )
    if chain not in networks[picked]:
        serving = sorted(c for c, chains in networks.items() if chain in chains)
        raise ValueError(
            f"the client {picked} does not serve the {noun} {chain}; "
            f"use client {' or '.join(serving)}"
        )
    return picked

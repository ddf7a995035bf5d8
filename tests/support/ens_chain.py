"""A real anvil with ENS stand-in contracts at the mainnet registry address (anvil_setCode).

`contracts/EnsStandIn.sol` (the project's own registry and resolver, with just resolver() and
addr()) is compiled with npm solc, deployed from anvil's first dev account; the registry's
runtime code is then copied to ENS's registry address, and names are pointed at addresses by
transactions to it, so the app's resolver talks to a real node and real EVM code.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from erigolem_desktop.core.ens import REGISTRY, namehash, normalize
from tests.support.golem.chain import (
    PaymentChain,
    call_data,
    compile_solidity,
    rpc,
    start_anvil,
    stop_process,
)

SOURCE = Path(__file__).with_name("contracts") / "EnsStandIn.sol"


@dataclass
class EnsChain:
    """An anvil whose ENS registry address holds the stand-in registry."""

    url: str
    chain: PaymentChain
    resolver: str

    def point(self, name: str, address: str) -> None:
        """Give `name` the stand-in resolver, and set its address there (zero: none)."""
        node = namehash(normalize(name))
        target = self.resolver
        self.chain.transact(
            REGISTRY,
            call_data("setResolver(bytes32,address)", ["bytes32", "address"], [node, target]),
        )
        self.chain.transact(
            target, call_data("setAddr(bytes32,address)", ["bytes32", "address"], [node, address])
        )


@contextmanager
def ens_chain(anvil: Path, log_dir: Path) -> Iterator[EnsChain]:
    """Start anvil (automine) with the stand-ins installed; stop it whatever happens."""
    contracts = compile_solidity(SOURCE)["contracts"]
    url, proc = start_anvil(anvil, log_dir, log_name="anvil-ens.log")
    try:
        chain = PaymentChain(url, proc)
        deployed = {}
        for name in ("EnsRegistryStandIn", "EnsResolverStandIn"):
            receipt = chain.transact(None, contracts[name]["bytecode"])
            deployed[name] = str(receipt["contractAddress"])
        code = rpc(url, "eth_getCode", [deployed["EnsRegistryStandIn"], "latest"])
        rpc(url, "anvil_setCode", [REGISTRY, code])
        yield EnsChain(url, chain, deployed["EnsResolverStandIn"])
    finally:
        stop_process(proc)

"""What our demand asks of a provider: the `erigon` runtime serving the chain the user picked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from yapapi.payload import Payload
from yapapi.props import inf
from yapapi.props.base import constraint
from yapapi.props.builder import DemandBuilder

RUNTIME_NAME = "erigon"  # = erigolem_runtime.api.RUNTIME_NAME (golem.runtime.name in the offer)
#: The offer property listing the chains a provider serves (erigolem_runtime.offer.offer_template).
CHAINS_PROPERTY = "golem.runtime.erigon.chains"
#: The offer property listing the Ethereum clients a provider can run.
CLIENTS_PROPERTY = "golem.runtime.erigon.clients"
#: The offer property listing the chains a provider serves warm (an rpcdaemon on its synced Erigon).
WARM_CHAINS_PROPERTY = "golem.runtime.erigon.warm-chains"


@dataclass
class ErigonPayload(Payload):
    """Constraints of one node's demand; yagna's matcher keeps only offers satisfying all.

    A list-valued offer property matches `(key=value)` when the list holds the value, so one
    constraint each selects providers that serve `chain` with `client`.
    """

    chain: str = constraint(CHAINS_PROPERTY, default="mainnet")
    client: str = constraint(CLIENTS_PROPERTY, default="erigon")
    runtime: str = constraint(inf.INF_RUNTIME_NAME, default=RUNTIME_NAME)


@dataclass
class WarmErigonPayload(ErigonPayload):
    """Also asks for a provider that serves `chain` warm (start argument `"mode": "warm"`)."""

    warm_chain: str = constraint(WARM_CHAINS_PROPERTY, default="mainnet")


def payload_for(chain: str, client: str, warm: bool) -> ErigonPayload:
    """The demand's payload for one node: warm nodes only match providers offering it."""
    if warm:
        return WarmErigonPayload(chain=chain, client=client, warm_chain=chain)
    return ErigonPayload(chain=chain, client=client)


async def demand_of(payload: Payload) -> dict[str, Any]:
    """The properties and constraints `payload` adds to a demand (for checks and tests)."""
    builder = DemandBuilder()  # type: ignore[no-untyped-call]
    await builder.decorate(payload)
    return {"properties": dict(builder.properties), "constraints": builder.constraints}

"""A local JSON-RPC gateway: one loopback endpoint per chain over the user's nodes.

Failover across nodes (health rounds, lag and head agreement), idempotent reads retried on
another node, writes sent once or broadcast, subscriptions re-made on failover, state reads
verified with Merkle-Patricia proofs, per-method stats. No Qt here: the CLI and the app share it.
`GatewayService` (aiohttp) loads on first use, so `erigolem node list` (which reads the run file
in `nodes`) stays light.
"""

from typing import TYPE_CHECKING, Any

from erigolem_desktop.core.gateway.config import (
    ChainRoute,
    Checkpoint,
    GatewayConfigError,
    GatewayPolicy,
    UpstreamSpec,
    VerifyMode,
    WriteMode,
)

if TYPE_CHECKING:
    from erigolem_desktop.core.gateway.server import GatewayService

__all__ = [
    "ChainRoute",
    "Checkpoint",
    "GatewayConfigError",
    "GatewayPolicy",
    "GatewayService",
    "UpstreamSpec",
    "VerifyMode",
    "WriteMode",
]


def __getattr__(name: str) -> Any:
    """`GatewayService` on first use (it imports aiohttp)."""
    if name == "GatewayService":
        from erigolem_desktop.core.gateway.server import GatewayService

        return GatewayService
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

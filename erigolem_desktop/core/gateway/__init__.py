"""A local JSON-RPC gateway: one loopback endpoint per chain over the user's nodes.

Failover across nodes (health rounds, lag and head agreement), idempotent reads retried on
another node, writes sent once or broadcast, subscriptions re-made on failover, state reads
verified with Merkle-Patricia proofs, per-method stats. No Qt here: the CLI and the app share it.
"""

from erigolem_desktop.core.gateway.config import (
    ChainRoute,
    Checkpoint,
    GatewayConfigError,
    GatewayPolicy,
    UpstreamSpec,
    VerifyMode,
    WriteMode,
)
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

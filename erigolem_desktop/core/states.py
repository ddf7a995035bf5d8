"""The one node-state vocabulary used by the manager, the CLI, the window and the REST API."""

from __future__ import annotations

from enum import StrEnum


class NodeState(StrEnum):
    PENDING = "pending"
    STARTING = "starting"
    SYNCING = "syncing"
    READY = "ready"
    STOPPING = "stopping"
    STOPPED = "stopped"
    FAILED = "failed"

    @property
    def active(self) -> bool:
        """True while the node occupies a backend (anything before stopped/failed)."""
        return self not in (NodeState.STOPPED, NodeState.FAILED)


def from_runtime_state(state: str) -> NodeState:
    """Map the runtime's `state` (starting, syncing, ready, degraded, failed) to a NodeState.

    `degraded` (the client is being restarted) still serves or will soon: it maps to SYNCING.
    """
    return {
        "starting": NodeState.STARTING,
        "syncing": NodeState.SYNCING,
        "ready": NodeState.READY,
        "degraded": NodeState.SYNCING,
        "failed": NodeState.FAILED,
    }.get(state, NodeState.STARTING)

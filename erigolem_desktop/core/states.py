"""The one node-state vocabulary used by the manager, the CLI, the window and the REST API."""

from __future__ import annotations

from enum import StrEnum

from erigolem_runtime.api import RuntimeState


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


def from_runtime_state(state: RuntimeState) -> NodeState:
    """Map the runtime's `RuntimeState` to a NodeState.

    `degraded` (the client is being restarted) still serves or will soon: it maps to SYNCING;
    `stopped` (a runtime that shut its instance down) maps to STOPPED.
    """
    return _FROM_RUNTIME[state]


_FROM_RUNTIME = {
    RuntimeState.STARTING: NodeState.STARTING,
    RuntimeState.SYNCING: NodeState.SYNCING,
    RuntimeState.READY: NodeState.READY,
    RuntimeState.DEGRADED: NodeState.SYNCING,
    RuntimeState.FAILED: NodeState.FAILED,
    RuntimeState.STOPPED: NodeState.STOPPED,
}

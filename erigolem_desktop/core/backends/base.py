"""The interface every backend implements, so the manager, CLI and window never care which runs a node."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any, ClassVar, Protocol

from erigolem_runtime.api import NodeStatus

from erigolem_desktop.core.errors import HintedError

ProgressCallback = Callable[[str], None]
"""Receives human-readable phase messages while a node starts ("Negotiating with providers…")."""


class BackendError(HintedError):
    """A failure a user can act on: `str(exc)` says what happened and what to do about it."""

    hint_in_str = True


@dataclass(frozen=True)
class NodeSpec:
    """What the user asked for."""

    chain: str
    client: str
    name: str
    budget_glm: Decimal | None = None  # Golem only: the most this node may cost
    duration: timedelta | None = None  # Golem only: how long the agreement may last
    extra: Mapping[str, Any] = field(default_factory=dict)
    allow_origins: tuple[str, ...] = ()  # browser origins CORS allows; () = any origin
    warm: bool = False  # Erigon only: an own rpcdaemon on the provider's synced Erigon

    def start_argument(self) -> dict[str, Any]:
        """The runtime's start argument (DESIGN.md: `{"chain": ..., "client": ...}`).

        `allow_origins` and `mode` are sent only when set, so runtimes that predate them still
        accept the argument.
        """
        arg: dict[str, Any] = {"chain": self.chain, "client": self.client}
        if self.allow_origins:
            arg["allow_origins"] = list(self.allow_origins)
        if self.warm:
            arg["mode"] = "warm"
        return arg


def warm_refusal(backend: str, client: str) -> str | None:
    """Why a warm node cannot be had on `backend` with `client` (None: it can).

    Warm = an own rpcdaemon on a Golem provider's synced Erigon, so Golem and Erigon only; the
    CLI and the REST server both ask this before a node record exists.
    """
    if backend == "golem" and client == "erigon":
        return None
    return (
        "a warm node rents an rpcdaemon on a Golem provider's synced Erigon: it needs the golem "
        f"backend and an Erigon chain (got backend {backend}, client {client})"
    )


@dataclass(frozen=True)
class StartedNode:
    """What a backend hands back once the runtime's start output is in."""

    url: str
    user: str
    password: str
    status: NodeStatus  # the runtime's start output, read once at the seam
    provider: str | None = None  # Golem: provider name and id; Local: None


@dataclass(frozen=True)
class Usage:
    """Cost so far, where the backend knows it (Golem debit notes)."""

    cost_glm: Decimal
    duration_sec: float | None = None
    requests: float | None = None


class Backend(Protocol):
    kind: ClassVar[str]  # "local" or "golem"

    async def start(self, node_id: str, spec: NodeSpec, progress: ProgressCallback) -> StartedNode:
        """Start a node; raise BackendError with a hint on failure, leaving nothing behind."""
        ...

    async def status(self, node_id: str) -> NodeStatus:
        """The runtime's `status` of a running node."""
        ...

    async def rotate_credentials(self, node_id: str) -> tuple[str, str]:
        """New (user, password); the old password stops working at once."""
        ...

    async def logs(self, node_id: str, lines: int) -> str: ...

    async def usage(self, node_id: str) -> Usage | None: ...

    async def stop(self, node_id: str) -> None:
        """Stop the node and release everything (and, for Golem, settle payment)."""
        ...

    def is_running(self, node_id: str) -> bool:
        """Whether this backend instance currently holds the node."""
        ...

    async def close(self) -> None:
        """Stop every node this backend holds and free its resources (app exit)."""
        ...

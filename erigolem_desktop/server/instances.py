"""The original Erigolem's instance object, from our NodeRecord, and the createInstance input.

Status vocabulary of the original's clients: pending, starting, running, stopping, stopped,
failed (never HEAD's `terminated`, which its own UI and CLI did not understand). Our syncing
and ready are both `running`: the node answers JSON-RPC either way; `state` tells them apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from erigolem_runtime.api import NodeStatus
from erigolem_runtime.host import validate_origins

from erigolem_desktop.core.backends.base import warm_refusal
from erigolem_desktop.core.chains import resolve_client
from erigolem_desktop.core.records import NodeRecord
from erigolem_desktop.core.states import NodeState
from erigolem_desktop.core.text import strip_controls

STATUS: Mapping[NodeState, str] = {
    NodeState.PENDING: "pending",
    NodeState.STARTING: "starting",
    NodeState.SYNCING: "running",
    NodeState.READY: "running",
    NodeState.STOPPING: "stopping",
    NodeState.STOPPED: "stopped",
    NodeState.FAILED: "failed",
}
MAX_NAME = 64
PARAM_KEYS = ("network", "client", "backend", "allow_origins", "warm")


class InputError(Exception):
    """A createInstance body that cannot be used; `str()` is the `msg` the client gets."""


@dataclass(frozen=True)
class CreateRequest:
    """A validated createInstance body."""

    network: str
    client: str
    backend: str
    name: str
    init_params: dict[str, Any]
    allow_origins: tuple[str, ...] = ()  # CORS origins of the node's endpoint; () = any
    warm: bool = False  # an own rpcdaemon on a Golem provider's synced Erigon


def clean_name(value: object) -> str:
    """A display name: control and format characters removed, spaces collapsed, <= 64 chars.

    Names are only ever shown (JSON-escaped); they never reach a command line or a config.
    """
    if not isinstance(value, str):
        raise InputError("'name' should be a string")
    return " ".join(strip_controls(value).split())[:MAX_NAME].strip()


def parse_create(
    body: object,
    *,
    networks: Mapping[str, tuple[str, ...]],
    default_client: Mapping[str, str],
    backends: tuple[str, ...],
    default_backend: str,
) -> CreateRequest:
    """Check a createInstance body: `{"params": {"network": …, "client"?, "backend"?,
    "allow_origins"?, "warm"?}, "name"?}` (`allow_origins`: the browser origins the node's
    endpoint lets in, as for `erigolem node start --allow-origin`; absent or "*" = any; `warm`:
    true for an rpcdaemon on a provider's synced Erigon, as `--warm`: Golem and Erigon only).

    Args:
        networks: for each client, the networks (chains) it serves.
        default_client: the client a network runs with when none is named.
        backends: the backends this server has; `default_backend` is used when none is named.
    """
    if not isinstance(body, Mapping):
        raise InputError('the request body should be a JSON object: {"params": {"network": …}}')
    if "params" not in body:
        raise InputError("'params' key is required")
    params = body["params"]
    if not isinstance(params, Mapping):
        raise InputError("'params' should be an object")
    unknown = sorted(str(k)[:40] for k in params if k not in PARAM_KEYS)
    if unknown:
        raise InputError(
            f"unknown parameter(s) in 'params': {', '.join(unknown)}; known: {', '.join(PARAM_KEYS)}"
        )
    network = params.get("network")
    if network is None:
        choices = sorted({n for chains in networks.values() for n in chains})
        raise InputError(f"'params.network' is required: one of {', '.join(choices)}")
    if not isinstance(network, str):
        raise InputError("'params.network' should be a string")
    try:
        client = resolve_client(
            network, params.get("client"), networks, default_client, noun="network"
        )
    except ValueError as exc:
        raise InputError(str(exc)) from None
    backend = params.get("backend", default_backend)
    if not isinstance(backend, str) or backend not in backends:
        raise InputError(
            f"the backend {str(backend)[:40]!r} is not available here; "
            f"choose one of {', '.join(backends)}"
        )
    name = clean_name(body["name"]) if body.get("name") is not None else ""
    try:
        origins = validate_origins(params.get("allow_origins"))
    except ValueError as exc:
        raise InputError(f"params.allow_origins: {exc}") from None
    warm = params.get("warm", False)
    if not isinstance(warm, bool):
        raise InputError("'params.warm' should be true or false")
    refusal = warm_refusal(backend, client) if warm else None
    if refusal is not None:
        raise InputError(
            f"params.warm: {refusal}; drop 'warm', or send "
            '{"params": {"network": "mainnet", "backend": "golem", "warm": true}}'
        )
    return CreateRequest(network, client, backend, name, dict(params), origins, warm)


def _params(rec: NodeRecord) -> dict[str, Any]:
    """The create params a record still tells (after a server restart: network, and warm)."""
    return {"network": rec.chain, "warm": True} if rec.warm else {"network": rec.chain}


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def instance(
    rec: NodeRecord, password: str | None, init_params: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The original's instance object for `rec` (+ additive fields; see the module docstring).

    `url`, `auth` and `network` only while running, `stopped_at` once stopped/failed, as the
    original; `password` comes from the keyring and is None when not stored.
    """
    status = STATUS[rec.state]
    last = rec.last_status or NodeStatus()
    out: dict[str, Any] = {
        "id": rec.id,
        "status": status,
        "name": rec.name,
        "init_params": dict(init_params) if init_params is not None else _params(rec),
        "created_at": _iso(rec.created_at),
    }
    if status == "running":
        out["url"] = rec.url
        if rec.ws_url:  # additive: the WebSocket endpoint, same auth
            out["ws_url"] = rec.ws_url
        out["auth"] = {"user": rec.user, "password": password}
        out["network"] = last.chain or rec.chain
    if rec.stopped_at is not None and not rec.active:
        out["stopped_at"] = _iso(rec.stopped_at)
    out.update(
        state=rec.state.value,
        chain=rec.chain,
        client=rec.client,
        backend=rec.backend,
        mode=rec.mode,  # additive: "warm" (a provider's synced Erigon) or "private"
        sync=last.sync.to_json() if last.sync is not None else None,
        peers=last.peers,
        block=last.block,
        requests=last.requests,
        progress=rec.progress,
        reason=rec.reason,
        ready_at=_iso(rec.ready_at),
    )
    return out

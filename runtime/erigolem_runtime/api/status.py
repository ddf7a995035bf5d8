"""The node status: the one place the shape of the start output / `run status` JSON lives.

The runtime builds a `NodeStatus` and prints `to_json()`; supervisors (RuntimeClient's users,
the Golem service) read it back with `from_json()`. The JSON on the wire is the contract in
DESIGN.md (`url`, `auth`, `chain`, `network`, `client`, `state`, `sync`, `peers`, `block`, ...).

Reading is tolerant, so a newer runtime can add fields and an older desktop keeps working:
unknown keys are kept in `extra` (and written back by `to_json`), an unknown state reads as
STARTING, a malformed optional field reads as absent. Writing is exact.

Extending: add a field with a default to `NodeStatus` (or `SyncInfo`), read it in `from_json`
and write it in `to_json`; readers that do not know it are unaffected.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class RuntimeState(StrEnum):
    """The runtime's view of its instance (the `state` field)."""

    STARTING = "starting"
    SYNCING = "syncing"
    READY = "ready"
    DEGRADED = "degraded"  # it answered before but does not now (being restarted or hung)
    FAILED = "failed"  # gave up (restart budget spent); the reason says why
    STOPPED = "stopped"  # shut down

    @classmethod
    def parse(cls, value: object) -> RuntimeState:
        """The state named by `value`; STARTING for anything unknown or missing."""
        try:
            return cls(str(value))
        except ValueError:
            return cls.STARTING


def parse_quantity(value: Any) -> int | None:
    """A JSON-RPC quantity ("0x1a", "26" or an int) as int; None when absent or malformed."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value, 16) if value.lower().startswith("0x") else int(value)
        except ValueError:
            return None
    return None


def ws_url_of(url: str) -> str | None:
    """The WebSocket URL of an HTTP(S) endpoint (same host, port and path), None if not HTTP."""
    for scheme, ws in (("http://", "ws://"), ("https://", "wss://")):
        if url.startswith(scheme):
            return ws + url[len(scheme) :]
    return None


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


@dataclass(frozen=True)
class Auth:
    """Basic-auth credentials of the node; `password` is None where it must not be kept."""

    user: str
    password: str | None = None

    def to_json(self) -> dict[str, str]:
        out = {"user": self.user}
        if self.password is not None:
            out["password"] = self.password
        return out

    @classmethod
    def from_json(cls, data: Any) -> Auth | None:
        if not isinstance(data, Mapping) or not isinstance(data.get("user"), str):
            return None
        return cls(data["user"], _str(data.get("password")))


@dataclass(frozen=True)
class SyncStage:
    """One stage of the client's staged sync (Erigon) and the block it reached."""

    name: str
    block: int


@dataclass(frozen=True)
class SyncInfo:
    """Sync progress while the node is syncing (`sync` is null once it is in sync)."""

    current_block: int | None = None
    highest_block: int | None = None
    stages: tuple[SyncStage, ...] = ()
    progress: float | None = None  # 0..1

    def to_json(self) -> dict[str, Any]:
        return {
            "current_block": self.current_block,
            "highest_block": self.highest_block,
            "stages": [{"name": s.name, "block": s.block} for s in self.stages],
            "progress": self.progress,
        }

    @classmethod
    def from_json(cls, data: Any) -> SyncInfo | None:
        """Also reads Erigon's own stage names (`stage_name`, `block_number` as hex)."""
        if not isinstance(data, Mapping):
            return None
        stages: list[SyncStage] = []
        raw = data.get("stages")
        for item in raw if isinstance(raw, Sequence) and not isinstance(raw, str) else ():
            if isinstance(item, Mapping):
                name = item.get("name", item.get("stage_name"))
                block = parse_quantity(item.get("block", item.get("block_number")))
                stages.append(SyncStage(str(name) if name is not None else "?", block or 0))
        return cls(
            current_block=parse_quantity(data.get("current_block")),
            highest_block=parse_quantity(data.get("highest_block")),
            stages=tuple(stages),
            progress=_float(data.get("progress")),
        )


def _num(value: Any) -> float | None:
    """A JSON number as float; None for anything else (bools included)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


@dataclass(frozen=True)
class UsageBucket:
    """Requests nginx passed to the node in one time bucket (`start` = epoch seconds)."""

    start: float
    requests: int
    errors: int  # HTTP status >= 400 (the node's own or nginx's 502/504 for it)
    p50_ms: float
    p95_ms: float

    def to_json(self) -> list[Any]:
        return [self.start, self.requests, self.errors, self.p50_ms, self.p95_ms]

    @classmethod
    def from_json(cls, data: Any) -> UsageBucket | None:
        if not isinstance(data, list) or len(data) < 5:
            return None
        start, p50, p95 = _num(data[0]), _num(data[3]), _num(data[4])
        requests, errors = parse_quantity(data[1]), parse_quantity(data[2])
        if start is None or p50 is None or p95 is None or requests is None or errors is None:
            return None
        return cls(start, requests, errors, p50, p95)


@dataclass(frozen=True)
class UsageStats:
    """The node's traffic as nginx logged it (authenticated requests only; no bodies, no
    method names: nginx does not parse JSON-RPC): a recent window in `bucket_sec` buckets,
    with error counts by HTTP status and latency (nginx's `$request_time`, ms resolution)."""

    bucket_sec: int
    buckets: tuple[UsageBucket, ...] = ()
    statuses: Mapping[str, int] = field(default_factory=dict)  # HTTP status -> requests
    p50_ms: float = 0.0  # over the whole window
    p95_ms: float = 0.0

    @property
    def requests(self) -> int:
        return sum(b.requests for b in self.buckets)

    @property
    def errors(self) -> int:
        return sum(b.errors for b in self.buckets)

    def to_json(self) -> dict[str, Any]:
        return {
            "bucket_sec": self.bucket_sec,
            "buckets": [b.to_json() for b in self.buckets],
            "statuses": dict(self.statuses),
            "p50_ms": self.p50_ms,
            "p95_ms": self.p95_ms,
        }

    @classmethod
    def from_json(cls, data: Any) -> UsageStats | None:
        """Tolerant read: None when absent or malformed; bad buckets are skipped."""
        if not isinstance(data, Mapping):
            return None
        bucket_sec = parse_quantity(data.get("bucket_sec"))
        if bucket_sec is None or bucket_sec <= 0:
            return None
        raw = data.get("buckets")
        buckets = [UsageBucket.from_json(b) for b in raw] if isinstance(raw, list) else []
        statuses = data.get("statuses")
        return cls(
            bucket_sec=bucket_sec,
            buckets=tuple(b for b in buckets if b is not None),
            statuses={
                str(k): n
                for k, v in (statuses.items() if isinstance(statuses, Mapping) else ())
                if (n := parse_quantity(v)) is not None
            },
            p50_ms=_num(data.get("p50_ms")) or 0.0,
            p95_ms=_num(data.get("p95_ms")) or 0.0,
        )


_KNOWN = frozenset(
    {
        "url",
        "ws_url",
        "auth",
        "chain",
        "network",
        "client",
        "client_version",
        "state",
        "instance",
        "sync",
        "peers",
        "block",
        "restarts",
        "restarts_recent",
        "reason",
        "requests",
        "usage",
    }
)


@dataclass(frozen=True)
class NodeStatus:
    """One node's status as the runtime reports it (start output, `run status`).

    Attributes:
        url: the node's JSON-RPC endpoint (behind nginx basic auth).
        ws_url: the same endpoint for WebSocket (`eth_subscribe`), same credentials; None
            from runtimes that predate it (their Erigon nodes had no WebSocket).
        auth: its credentials (password None in records kept on disk).
        chain / client: what runs (`network` on the wire repeats `chain`).
        state: see `RuntimeState`; `reason` says why when degraded/failed.
        sync / peers / block: progress when known.
        restarts / restarts_recent: client restarts in total / in the current budget window.
        requests: requests served through nginx (the usage the bill is made of).
        usage: the recent traffic nginx logged (over time, errors, latency); None from
            runtimes that predate it.
        extra: keys this version does not know, kept so they survive a round trip.
    """

    url: str = ""
    ws_url: str | None = None
    auth: Auth | None = None
    chain: str = ""
    client: str = ""
    client_version: str | None = None
    state: RuntimeState = RuntimeState.STARTING
    instance: str | None = None
    sync: SyncInfo | None = None
    peers: int | None = None
    block: int | None = None
    restarts: int = 0
    restarts_recent: int = 0
    reason: str | None = None
    requests: int | None = None
    usage: UsageStats | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def user(self) -> str:
        return self.auth.user if self.auth is not None else ""

    @property
    def password(self) -> str | None:
        return self.auth.password if self.auth is not None else None

    def public(self) -> NodeStatus:
        """This status without the password (for records on disk and logs)."""
        auth = dataclasses.replace(self.auth, password=None) if self.auth is not None else None
        extra = {k: v for k, v in self.extra.items() if k != "password"}
        return dataclasses.replace(self, auth=auth, extra=extra)

    def to_json(self) -> dict[str, Any]:
        """The wire JSON (every known key; `network` repeats `chain`), plus `extra`."""
        out: dict[str, Any] = dict(self.extra)
        out.update(
            url=self.url,
            ws_url=self.ws_url,
            auth=self.auth.to_json() if self.auth is not None else None,
            chain=self.chain,
            network=self.chain,
            client=self.client,
            client_version=self.client_version,
            state=self.state.value,
            instance=self.instance,
            sync=self.sync.to_json() if self.sync is not None else None,
            peers=self.peers,
            block=self.block,
            restarts=self.restarts,
            restarts_recent=self.restarts_recent,
            reason=self.reason,
            requests=self.requests,
        )
        if self.usage is not None:  # absent rather than null: older readers keep it in extra
            out["usage"] = self.usage.to_json()
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> NodeStatus:
        """Read a status JSON object tolerantly (see the module docstring)."""
        chain = _str(data.get("chain")) or _str(data.get("network")) or ""
        return cls(
            url=_str(data.get("url")) or "",
            ws_url=_str(data.get("ws_url")),
            auth=Auth.from_json(data.get("auth")),
            chain=chain,
            client=_str(data.get("client")) or "",
            client_version=_str(data.get("client_version")),
            state=RuntimeState.parse(data.get("state")),
            instance=_str(data.get("instance")),
            sync=SyncInfo.from_json(data.get("sync")),
            peers=parse_quantity(data.get("peers")),
            block=parse_quantity(data.get("block")),
            restarts=parse_quantity(data.get("restarts")) or 0,
            restarts_recent=parse_quantity(data.get("restarts_recent")) or 0,
            reason=_str(data.get("reason")),
            requests=parse_quantity(data.get("requests")),
            usage=UsageStats.from_json(data.get("usage")),
            extra={k: v for k, v in data.items() if k not in _KNOWN},
        )

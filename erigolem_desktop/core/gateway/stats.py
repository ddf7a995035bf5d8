"""Per-method counters measured at the gateway: calls, errors, latency percentiles."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

SAMPLES = 2048  # latencies kept per method (a ring: percentiles are of the recent calls)


def percentile(sorted_values: list[float], q: float) -> float:
    """The q-quantile (0..1) of already sorted values, nearest-rank; 0 for none."""
    if not sorted_values:
        return 0.0
    rank = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[rank]


@dataclass
class MethodStats:
    """Counters of one method."""

    calls: int = 0
    errors: int = 0
    retries: int = 0
    verified: int = 0
    unverified: int = 0
    latencies_ms: deque[float] = field(default_factory=lambda: deque(maxlen=SAMPLES))

    def to_json(self) -> dict[str, Any]:
        ordered = sorted(self.latencies_ms)
        return {
            "calls": self.calls,
            "errors": self.errors,
            "retries": self.retries,
            "verified": self.verified,
            "unverified": self.unverified,
            "p50_ms": round(percentile(ordered, 0.50), 3),
            "p95_ms": round(percentile(ordered, 0.95), 3),
            "p99_ms": round(percentile(ordered, 0.99), 3),
        }


class GatewayStats:
    """Counters by method, plus per node; cheap enough to update on every call."""

    def __init__(self) -> None:
        self.methods: dict[str, MethodStats] = {}
        self.by_node: dict[str, int] = {}

    def record(
        self,
        method: str,
        elapsed_ms: float,
        *,
        error: bool = False,
        retries: int = 0,
        node: str | None = None,
        verified: bool | None = None,
    ) -> None:
        """Count one call of `method` that took `elapsed_ms` at the gateway."""
        stats = self.methods.get(method)
        if stats is None:
            # Unknown names are counted under one key so junk input cannot grow the table.
            if len(self.methods) >= 512:
                method = "(other)"
            stats = self.methods.setdefault(method, MethodStats())
        stats.calls += 1
        stats.errors += int(error)
        stats.retries += retries
        if verified is True:
            stats.verified += 1
        elif verified is False:
            stats.unverified += 1
        stats.latencies_ms.append(elapsed_ms)
        if node is not None:
            self.by_node[node] = self.by_node.get(node, 0) + 1

    def to_json(self) -> dict[str, Any]:
        return {
            "methods": {m: s.to_json() for m, s in sorted(self.methods.items())},
            "by_node": dict(self.by_node),
        }

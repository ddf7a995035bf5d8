"""The node's recent traffic from its nginx access log: requests over time, errors, latency.

Each log line is `$msec $status $request_length $bytes_sent $request_time` (older lines have
no `$request_time`; they count without a latency). Only requests nginx passed to the node are
logged (`$erigolem_counted`), so 401s and the app's own status polls (which go through the
runtime, not nginx) never appear. Nothing of the request body is logged: nginx does not parse
JSON-RPC, so per-method counts are not here (the desktop's gateway measures them).

Memory is bounded: `KEEP` buckets of `BUCKET_SEC` seconds, at most `SAMPLES` latencies each
(a uniform sample of the bucket's requests). One-minute buckets for an hour, as the hosted-node
dashboards show it: 60 buckets keep `run status` small (~2.5 KB) and cheap to parse on every poll
(360 ten-second buckets cost the app ~2 ms a poll per node, measured in bench_loop_lag).
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field

from erigolem_runtime.api.status import UsageBucket, UsageStats

BUCKET_SEC = 60
KEEP = 60  # one hour of one-minute buckets
SAMPLES = 1000  # latencies kept per bucket (a uniform sample; the count stays exact)
STATUSES = 32  # distinct HTTP statuses kept (junk cannot grow the table)


def _percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank q-quantile of sorted values; 0 for none."""
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


@dataclass
class _Bucket:
    requests: int = 0
    errors: int = 0
    timed: int = 0  # requests with a latency (lines older than $request_time have none)
    latencies_ms: list[float] = field(default_factory=list)


class UsageWindow:
    """Aggregates access-log lines of one instance into time buckets (see the module doc)."""

    def __init__(self, bucket_sec: int = BUCKET_SEC, keep: int = KEEP) -> None:
        self.bucket_sec = bucket_sec
        self.keep = keep
        self._buckets: dict[int, _Bucket] = {}
        self.statuses: Counter[str] = Counter()

    def feed(self, data: bytes) -> None:
        """Add complete log lines (malformed lines are skipped, not fatal)."""
        for line in data.splitlines():
            parts = line.split()
            if len(parts) < 2:
                continue
            try:
                at = float(parts[0])
                status = int(parts[1])
                latency = float(parts[4]) * 1000 if len(parts) > 4 else None
            except ValueError:
                continue
            key = int(at // self.bucket_sec)
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket()
                self._trim()
            bucket.requests += 1
            bucket.errors += status >= 400
            if latency is not None:
                bucket.timed += 1
                if len(bucket.latencies_ms) < SAMPLES:
                    bucket.latencies_ms.append(latency)
                else:  # reservoir sampling: every request equally likely to be kept
                    slot = random.randrange(bucket.timed)  # noqa: S311 - not a secret
                    if slot < SAMPLES:
                        bucket.latencies_ms[slot] = latency
            name = str(status)
            if name in self.statuses or len(self.statuses) < STATUSES:
                self.statuses[name] += 1

    def _trim(self) -> None:
        if len(self._buckets) > self.keep:
            for key in sorted(self._buckets)[: len(self._buckets) - self.keep]:
                del self._buckets[key]

    def reset(self) -> None:
        """Forget everything (the log was replaced)."""
        self._buckets.clear()
        self.statuses.clear()

    def stats(self) -> UsageStats:
        """The window as the typed status field."""
        buckets = []
        everything: list[float] = []
        for key in sorted(self._buckets):
            b = self._buckets[key]
            ordered = sorted(b.latencies_ms)
            everything.extend(ordered)
            buckets.append(
                UsageBucket(
                    start=float(key * self.bucket_sec),
                    requests=b.requests,
                    errors=b.errors,
                    p50_ms=round(_percentile(ordered, 0.50), 3),
                    p95_ms=round(_percentile(ordered, 0.95), 3),
                )
            )
        everything.sort()
        return UsageStats(
            bucket_sec=self.bucket_sec,
            buckets=tuple(buckets),
            statuses=dict(self.statuses),
            p50_ms=round(_percentile(everything, 0.50), 3),
            p95_ms=round(_percentile(everything, 0.95), 3),
        )

"""The usage window (nginx access-log lines -> buckets) and its typed status field."""

from __future__ import annotations

from erigolem_runtime.api import NodeStatus, UsageStats
from erigolem_runtime.nginx import usage as usage_mod
from erigolem_runtime.nginx.usage import UsageWindow


def test_lines_fall_into_buckets_with_errors_and_latency() -> None:
    window = UsageWindow(bucket_sec=10, keep=3)
    window.feed(
        b"1700000001.100 200 250 300 0.002\n"
        b"1700000003.900 200 250 300 0.010\n"
        b"1700000009.999 502 250 300 0.000\n"
        b"1700000010.000 200 250 300 0.004\n"
        b"1700000011.000 200 250 300\n"  # an old 4-field line: counted, no latency
        b"garbage\n"
        b"x 200 1 1 1\n"
    )
    stats = window.stats()
    assert [(b.start, b.requests, b.errors) for b in stats.buckets] == [
        (1700000000.0, 3, 1),
        (1700000010.0, 2, 0),
    ]
    assert stats.buckets[0].p50_ms == 2.0
    assert stats.buckets[0].p95_ms == 10.0
    assert stats.requests == 5
    assert stats.errors == 1
    assert stats.statuses == {"200": 4, "502": 1}
    assert stats.p50_ms == 4.0  # nearest rank of [0, 2, 4, 10]


def test_window_keeps_only_the_newest_buckets() -> None:
    window = UsageWindow(bucket_sec=10, keep=3)
    window.feed(b"".join(b"%d.0 200 1 1 0.001\n" % (1000 + 10 * i) for i in range(5)))
    assert [b.start for b in window.stats().buckets] == [1020.0, 1030.0, 1040.0]
    window.reset()
    assert window.stats().buckets == ()


def test_status_round_trip_and_tolerant_read() -> None:
    window = UsageWindow()
    window.feed(b"1700000001.0 200 1 1 0.003\n")
    status = NodeStatus(usage=window.stats())
    again = NodeStatus.from_json(status.to_json())
    assert again.usage == status.usage
    assert "usage" not in NodeStatus().to_json()  # absent, not null, for older readers
    assert NodeStatus.from_json({"usage": "junk"}).usage is None
    assert NodeStatus.from_json({"usage": {"bucket_sec": 0}}).usage is None
    odd = UsageStats.from_json(
        {"bucket_sec": 10, "buckets": [[1, 2, 3, 4, 5], "bad", [1, True, 0, 0, 0]], "statuses": []}
    )
    assert odd is not None
    assert len(odd.buckets) == 1
    assert odd.statuses == {}


def test_latency_sample_stays_bounded_and_uniform() -> None:
    """A busy bucket keeps SAMPLES latencies drawn from all its requests, not the first ones."""
    window = UsageWindow(bucket_sec=60)
    slow_first = b"".join(b"1700000000.0 200 1 1 1.000\n" for _ in range(usage_mod.SAMPLES))
    fast_later = b"".join(b"1700000001.0 200 1 1 0.001\n" for _ in range(9 * usage_mod.SAMPLES))
    window.feed(slow_first + fast_later)
    stats = window.stats()
    assert stats.requests == 10 * usage_mod.SAMPLES
    assert stats.p50_ms == 1.0  # a first-N sample would say 1000 ms
    assert stats.p95_ms == 1000.0

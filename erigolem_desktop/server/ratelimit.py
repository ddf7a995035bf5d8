"""Per-client token buckets for `erigolem serve` (getMessage, fresh signatures), O(1) per call.

A client is its peer address; IPv6 clients count per /64, since one host usually holds a whole
/64. The table of buckets is bounded: when it is full the least recently seen client's bucket
goes (it only holds a count, never a session), so memory stays flat whatever an attacker sends.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

MAX_CLIENTS = 65_536


def client_key(remote: str | None) -> str:
    """The bucket key of a peer address: the IPv4 address, or the IPv6 /64 it lies in."""
    if not remote:
        return "unknown"
    try:
        ip = ipaddress.ip_address(remote.strip("[]"))
    except ValueError:
        return remote[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))
    return str(ip)


@dataclass
class RateLimit:
    """`burst` calls at once per client, refilled at `rate` per second (inf = no limit).

    Args:
        rate: tokens added per second.
        burst: bucket size (calls a fresh client may make at once).
        max_clients: buckets kept; the least recently seen one is dropped past this.
        clock: monotonic seconds (tests move it).
    """

    rate: float
    burst: float
    max_clients: int = MAX_CLIENTS
    clock: Callable[[], float] = time.monotonic
    _buckets: OrderedDict[str, tuple[float, float]] = field(default_factory=OrderedDict, init=False)

    @property
    def unlimited(self) -> bool:
        return math.isinf(self.rate)

    def take(self, client: str) -> float:
        """Spend one token of `client`: 0.0 when allowed, else the seconds until one is back."""
        if self.unlimited:
            return 0.0
        now = self.clock()
        tokens, last = self._buckets.pop(client, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / self.rate if self.rate > 0 else math.inf
        self._buckets[client] = (tokens, now)
        while len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
        return wait

    @property
    def clients(self) -> int:
        return len(self._buckets)


def whole_seconds(wait: float) -> int:
    """A wait as the whole seconds a client is told (Retry-After): rounded up, at least 1."""
    return max(1, math.ceil(wait))


def unlimited() -> RateLimit:
    """A limit that lets everything through (tests that measure the design, not the limit)."""
    return RateLimit(rate=math.inf, burst=math.inf)

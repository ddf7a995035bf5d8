"""What a gateway serves: which nodes back each chain, and the policy for failover and checks."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

from erigolem_desktop.core.errors import HintedError

CHAIN_PATH_RE = re.compile(r"[a-z][a-z0-9-]{0,31}")
_CHECKPOINT_RE = re.compile(r"(\d+):(0x[0-9a-fA-F]{64})")


class GatewayConfigError(HintedError):
    """A gateway setting is not usable; the message says which and what to do."""

    hint_in_str = True


class VerifyMode(StrEnum):
    """What happens to a state read whose proof could not be checked (a lie is always refused)."""

    OFF = "off"  # forward state reads as they are, no proofs
    MARK = "mark"  # check; an unverifiable answer is passed on, marked unverified
    REFUSE = "refuse"  # check; an unverifiable answer becomes a JSON-RPC error


class WriteMode(StrEnum):
    """How eth_sendRawTransaction is sent."""

    ONCE = "once"  # to one healthy node, never retried (the answer is returned)
    BROADCAST = "broadcast"  # to every healthy node (a signed tx is idempotent by hash)


@dataclass(frozen=True)
class UpstreamSpec:
    """One node behind the gateway: its URL and basic-auth credentials (never printed)."""

    name: str
    url: str
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    node_id: str | None = None


@dataclass(frozen=True)
class Checkpoint:
    """A block the user trusts (number and hash), used when no second node can agree."""

    number: int
    hash: str

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """`NUMBER:0xHASH` (the hash is 32 bytes of hex)."""
        m = _CHECKPOINT_RE.fullmatch(text.strip())
        if m is None:
            raise GatewayConfigError(
                f"checkpoint {text!r} is not NUMBER:0xHASH.",
                "Give a block number and its 32-byte hash, e.g. 0:0xc56b…(64 hex digits).",
            )
        return cls(int(m.group(1)), m.group(2).lower())


@dataclass(frozen=True)
class GatewayPolicy:
    """Failover and verification settings shared by every chain of one gateway."""

    verify: VerifyMode = VerifyMode.MARK
    writes: WriteMode = WriteMode.ONCE
    max_lag: int = 8  # blocks behind the best head before a node is taken out
    health_interval: float = 1.0  # seconds between health rounds
    health_timeout: float = 1.0  # seconds a health probe may take
    request_timeout: float = 30.0  # seconds a forwarded call may take on one node
    rejoin_after: int = 2  # good health rounds in a row before an out node is back in
    max_batch: int = 100  # calls in one JSON-RPC batch
    max_body: int = 5 << 20  # bytes in one request body
    max_walk: int = 256  # headers walked back to a checkpoint on a single-node chain
    checkpoint: Checkpoint | None = None
    token: str | None = field(default=None, repr=False)  # None: no token needed locally

    def __post_init__(self) -> None:
        if self.max_lag < 0 or self.max_batch < 1 or self.rejoin_after < 1:
            raise GatewayConfigError(
                "max_lag must be >= 0, max_batch and rejoin_after >= 1.",
                "Fix the gateway settings.",
            )
        if self.health_interval <= 0 or self.health_timeout <= 0 or self.request_timeout <= 0:
            raise GatewayConfigError(
                "gateway intervals and timeouts must be positive seconds.",
                "Fix the gateway settings.",
            )
        if self.token is not None and not re.fullmatch(r"[A-Za-z0-9_-]{16,128}", self.token):
            raise GatewayConfigError(
                "the gateway token must be 16-128 letters, digits, '-' or '_'.",
                "Generate one with: python3 -c 'import secrets; print(secrets.token_urlsafe(24))'",
            )


@dataclass(frozen=True)
class ChainRoute:
    """A chain served at /<chain> and the nodes behind it, in order of preference."""

    chain: str
    upstreams: tuple[UpstreamSpec, ...]
    chain_id: int | None = None

    def __post_init__(self) -> None:
        if not CHAIN_PATH_RE.fullmatch(self.chain):
            raise GatewayConfigError(
                f"chain name {self.chain!r} cannot be a URL path.", "Use a lower-case chain name."
            )
        if not self.upstreams:
            raise GatewayConfigError(
                f"no node backs chain {self.chain!r}.",
                "Start a node of that chain (erigolem node start) or pass --url.",
            )
        names = [u.name for u in self.upstreams]
        if len(set(names)) != len(names):
            raise GatewayConfigError(
                f"two nodes of chain {self.chain!r} have the same name.", "Give each a unique name."
            )

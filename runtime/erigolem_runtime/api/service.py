"""The service seam: what the Runtime API server (`server.py`) calls, and what a `run` returns.

`server.py` speaks frames on stdin/stdout and calls a `Service`; `instance.NodeService`
implements the Service that runs one isolated Ethereum node. Tests can serve a small Service
of their own (tests/support/echo_service.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

from erigolem_runtime.api.errors import ServiceError

DURATION_COUNTER = "golem.usage.duration_sec"
REQUESTS_COUNTER = "golem.usage.erigon.requests"
RUNTIME_NAME = "erigon"


@dataclass(frozen=True)
class RunOutcome:
    """Result of one `run` command: what exe-unit turns into the ExeScript command's result."""

    return_code: int
    stdout: bytes = b""
    stderr: bytes = b""

    @classmethod
    def ok_json(cls, obj: Any) -> RunOutcome:
        return cls(0, (json.dumps(obj, sort_keys=True) + "\n").encode())

    @classmethod
    def error(cls, message: str, code: int = 1) -> RunOutcome:
        return cls(code, b"", (message.rstrip("\n") + "\n").encode())

    @classmethod
    def failure(cls, exc: ServiceError, code: int = 1) -> RunOutcome:
        """A failed run whose stderr carries the error's kind and context (`ServiceError.wire`)."""
        return cls(code, b"", exc.wire_text().encode())


class Service(Protocol):
    async def start(self, args: list[str]) -> dict[str, Any]:
        """Handle the `start` arguments; return the start output JSON or raise ServiceError."""
        ...

    async def run(self, argv: list[str]) -> RunOutcome:
        """One `run` command; argv[0] is the command name (basename of the entry point)."""
        ...

    def counters(self) -> dict[str, float]:
        """Cumulative counter values (names from the usage vector) to report to the supervisor."""
        ...

    async def shutdown(self) -> None:
        """Release everything (client process, nginx location, password file); must take < 4 s."""
        ...

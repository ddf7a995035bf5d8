"""The seam between the Runtime API server (wire protocol) and what a runtime actually serves.

`server.py` speaks frames on stdin/stdout and calls a `Service`; `instance.py` implements the
Service that runs one isolated Ethereum node. Tests can serve a small Service of their own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

from erigolem_runtime.logsetup import redact

DURATION_COUNTER = "golem.usage.duration_sec"
REQUESTS_COUNTER = "golem.usage.erigon.requests"
RUNTIME_NAME = "erigon"


class ServiceError(Exception):
    """A failure to report to the supervisor (start or run): the message says what to do."""


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


class OutputError(ValueError):
    """The runtime's stdout is not the JSON object promised; the message says which part."""


def parse_output(text: str | None, what: str, *, node: bool = False) -> dict[str, Any]:
    """One JSON object printed by the runtime (start output, `run status`, any `run` JSON).

    With `node`, also require the node fields clients rely on: `url` and `auth.user/password`.
    Both supervisors (RuntimeClient, the Golem service) parse through here so they agree on
    what a valid answer is; each wraps OutputError in its own error type.
    """
    if not text or not text.strip():
        raise OutputError(f"the runtime printed nothing for {what}")
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise OutputError(
            f"the runtime's {what} is not JSON ({exc}): {redact(text[:200])!r}"
        ) from exc
    if not isinstance(data, dict):
        raise OutputError(f"the runtime's {what} is not a JSON object: {redact(text[:200])!r}")
    if node:
        auth = data.get("auth")
        if not isinstance(data.get("url"), str) or not isinstance(auth, dict):
            raise OutputError(f"the runtime's {what} has no url/auth")
        if not isinstance(auth.get("user"), str) or not isinstance(auth.get("password"), str):
            raise OutputError(f"the runtime's {what} has no user/password")
    return data


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

"""A test Service: stands in for the Ethereum NodeService when testing the Runtime API server.

It is served through the real `erigolem_runtime.cli.run_cli` (so through `serve_stdio` and
`serve()` with the real fd handling); only the Service behind it is small. Run as
`python -m tests.support.echo_service --workdir W start '<json>'` (same argv as the runtime).

Start argument keys: `fail` (start raises ServiceError with this message), `start_delay`
(seconds), `shutdown_delay` (seconds, to test the shutdown bound), `marker` (a file written on
shutdown, so tests can see the service was shut down).
Run commands: `echo ARGS..`, `fail [CODE]`, `sleep SECONDS`, `big N` (N bytes of stdout),
`print` (prints to sys.stdout), `child` (a child process writing to its inherited fd 1),
`raise` (an unexpected exception), `count N` (adds N to the requests counter), `argv`.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from erigolem_runtime.api import (
    DURATION_COUNTER,
    REQUESTS_COUNTER,
    ErrorKind,
    RunOutcome,
    ServiceError,
)


class EchoService:
    """Test double of a runtime Service (see the module docstring for its commands)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.params: dict[str, Any] = {}
        self.requests = 0
        self.t0 = time.monotonic()

    async def start(self, args: list[str]) -> dict[str, Any]:
        self.params = json.loads(args[0]) if args else {}
        await asyncio.sleep(float(self.params.get("start_delay", 0)))
        if "fail" in self.params:
            kind = self.params.get("fail_kind")
            raise ServiceError(
                str(self.params["fail"]),
                kind=ErrorKind(kind) if kind else None,
                context={str(k): str(v) for k, v in self.params.get("fail_context", {}).items()},
            )
        print("stray print during start (must not reach the frame stream)")
        return {
            "echo": self.params,
            "state": "ready",
            "auth": {"user": "u", "password": "p-secret"},
        }

    async def run(self, argv: list[str]) -> RunOutcome:
        name, args = argv[0], argv[1:]
        if name == "echo":
            return RunOutcome(0, (" ".join(args) + "\n").encode())
        if name == "argv":
            return RunOutcome.ok_json({"argv": argv})
        if name == "fail":
            return RunOutcome.error("failing on request", int(args[0]) if args else 1)
        if name == "sleep":
            await asyncio.sleep(float(args[0]))
            return RunOutcome(0, b"slept\n")
        if name == "big":
            return RunOutcome(0, b"x" * int(args[0]))
        if name == "print":
            print("hello from print()")
            sys.stdout.flush()
            return RunOutcome(0, b"printed\n")
        if name == "child":
            # inherits the runtime's fd 1, as an Ethereum client spawned by a service would
            child = await asyncio.create_subprocess_exec(
                sys.executable, "-c", "import os; os.write(1, b'child garbage ' * 100)"
            )
            await child.wait()
            return RunOutcome(0, b"child done\n")
        if name == "refuse":  # a ServiceError of the kind given (the wire keeps the kind)
            raise ServiceError("refused on request", kind=ErrorKind(args[0]), context={"arg": "1"})
        if name == "raise":
            raise RuntimeError("unexpected failure in the service")
        if name == "count":
            self.requests += int(args[0])
            return RunOutcome(0, b"")
        return RunOutcome.error(f"unknown command {name!r}", 2)

    def counters(self) -> dict[str, float]:
        return {
            DURATION_COUNTER: round(time.monotonic() - self.t0, 3),
            REQUESTS_COUNTER: float(self.requests),
        }

    async def shutdown(self) -> None:
        await asyncio.sleep(float(self.params.get("shutdown_delay", 0)))
        marker = self.params.get("marker")
        if marker:
            await asyncio.to_thread(Path(marker).write_text, "shut down\n")


if __name__ == "__main__":
    from erigolem_runtime.cli import run_cli

    sys.exit(run_cli(sys.argv[1:], service_factory=EchoService))

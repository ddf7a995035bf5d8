"""The real `erigolem serve` as a child process, for tests that drive it over HTTP; `reap`."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def serve_process(*extra: str) -> Iterator[tuple[subprocess.Popen[str], dict[str, Any]]]:
    """Start `erigolem serve --port 0 --json EXTRA…`; yield it and its startup JSON line.

    Whatever the test does, the process is killed (if still running) and its pipes closed.
    """
    proc = subprocess.Popen(
        [sys.executable, "-m", "erigolem_desktop", "serve", "--port", "0", "--json", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline() or "{}")
        assert info, proc.stderr.read() if proc.stderr else ""
        yield proc, info
    finally:
        reap(proc)


def reap(proc: subprocess.Popen[str]) -> None:
    """Kill `proc` if it still runs, wait for it and close its pipes (a test's `finally`)."""
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()

"""Smoke-test a built `erigolem` bundle and print figures (used by `scripts/package`).

Runs the frozen binary the way a user and the app itself do: `--help`, `wallet list` and
`wallet create` in a fresh ERIGOLEM_HOME (keyring backend + eth-account word lists), the window
painted once offscreen (`--smoke`), the Usage tab's charts drawn (`ERIGOLEM_SMOKE_USAGE=1`), and a local dev node started detached and stopped again
through the bundled runtime (`erigolem __runtime__`, anvil + nginx on 127.0.0.1). The same
`--help` and `--smoke` are timed unfrozen (this venv) for comparison.

Usage: python packaging/smoke.py dist/erigolem/erigolem [--unfrozen .venv/bin/erigolem]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any


class SmokeFailure(Exception):
    """A step of the smoke test failed; the message says which and shows its output."""


def run(
    argv: Sequence[str], env: dict[str, str], *, timeout: float = 120, input_text: str = ""
) -> tuple[float, str]:
    """Run argv, fail with its output unless it exits 0; return (seconds, stdout)."""
    started = time.perf_counter()
    try:
        proc = subprocess.run(
            list(argv),
            env=env,
            input=input_text,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise SmokeFailure(f"{' '.join(argv)} did not finish within {timeout:g} s") from exc
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SmokeFailure(
            f"{' '.join(argv)} exited {proc.returncode}\n"
            f"stdout: {proc.stdout[-2000:]}\nstderr: {proc.stderr[-2000:]}"
        )
    return seconds, proc.stdout


def best_of(n: int, argv: Sequence[str], env: dict[str, str]) -> float:
    """The fastest of n runs (start-up time without the noise of a busy machine)."""
    return min(run(argv, env)[0] for _ in range(n))


def smoke_json(
    argv: Sequence[str], env: dict[str, str], *, usage: bool = False
) -> tuple[float, dict[str, Any]]:
    """Run `erigolem --smoke` (with the Usage tab's charts when usage); its last stdout line is
    the JSON report."""
    env = {**env, "QT_QPA_PLATFORM": "offscreen"}
    if usage:
        env["ERIGOLEM_SMOKE_USAGE"] = "1"
    seconds, out = run([*argv, "--smoke"], env, timeout=90)
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if not lines:
        raise SmokeFailure(f"--smoke printed no report: {out[-500:]!r}")
    report: dict[str, Any] = json.loads(lines[-1])
    if report.get("smoke") != "ok":
        raise SmokeFailure(f"--smoke: the window did not paint: {report}")
    if usage and (report.get("usage") or {}).get("charts") != "ok":
        raise SmokeFailure(f"--smoke: the Usage tab's charts did not draw: {report}")
    return seconds, report


def node_roundtrip(binary: str, env: dict[str, str]) -> dict[str, float]:
    """`node start --local --chain dev --detach`, `rpc eth_chainId`, `node stop`, all frozen."""
    figures: dict[str, float] = {}
    seconds, out = run(
        [binary, "--json", "node", "start", "--local", "--chain", "dev", "--detach"],
        env,
        timeout=180,
    )
    figures["node_start_s"] = seconds
    started = json.loads(out)
    node = started.get("node", {}).get("id")
    if not node:
        raise SmokeFailure(f"node start printed no node id: {out[-500:]!r}")
    try:
        seconds, out = run([binary, "--json", "rpc", node, "eth_chainId"], env, timeout=60)
        figures["rpc_s"] = seconds
        if "0x" not in out:
            raise SmokeFailure(f"rpc eth_chainId gave no hex result: {out[-300:]!r}")
    finally:
        seconds, _ = run([binary, "node", "stop", node], env, timeout=60)
        figures["node_stop_s"] = seconds
    _, out = run([binary, "--json", "node", "list", "--all"], env)
    records = [r for r in json.loads(out) if r.get("id") == node]
    if not records or records[0].get("state") != "stopped":
        raise SmokeFailure(f"node {node} is not stopped after `node stop`: {records}")
    pid = (started.get("node", {}).get("runtime") or {}).get("runtime_pid")
    if isinstance(pid, int) and _alive(pid):
        raise SmokeFailure(f"the frozen runtime (pid {pid}) still runs after `node stop`")
    return figures


def _alive(pid: int) -> bool:
    """True while a process with this pid exists (and is not a zombie)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and ") Z " in stat.read_text())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("binary", help="the bundle's erigolem executable")
    parser.add_argument("--unfrozen", help="an unfrozen erigolem to compare start-up times with")
    parser.add_argument("--no-node", action="store_true", help="skip the local node round trip")
    args = parser.parse_args(argv)
    binary = str(Path(args.binary).resolve())
    home = Path(tempfile.mkdtemp(prefix="erigolem-smoke-"))
    env = {**os.environ, "ERIGOLEM_HOME": str(home), "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTHON_KEYRING_BACKEND", None)  # the frozen app must choose a backend by itself
    figures: dict[str, Any] = {}
    try:
        run([binary, "--help"], env)
        figures["help_frozen_s"] = best_of(3, [binary, "--help"], env)
        _, out = run([binary, "--json", "wallet", "list"], env)
        json.loads(out)  # valid JSON, whatever the (empty) list looks like
        wallet_env = {**env, "ERIGOLEM_PASSPHRASE": "smoke-test-passphrase-not-secret"}
        seconds, out = run([binary, "--json", "wallet", "create"], wallet_env)
        figures["wallet_create_s"] = seconds  # keyring + eth-account word lists + scrypt
        if "0x" not in out:
            raise SmokeFailure(f"wallet create printed no address: {out[-300:]!r}")
        seconds, report = smoke_json([binary], env)
        figures["window_frozen_s"] = seconds
        figures["window_frozen_shown_ms"] = report["shown_ms"]
        _, report = smoke_json([binary], env, usage=True)  # pyqtgraph + numpy, frozen
        figures["usage_charts_frozen_ms"] = report["usage"]["ms"]
        if not args.no_node:
            figures.update(node_roundtrip(binary, env))
        if args.unfrozen:
            figures["help_unfrozen_s"] = best_of(3, [args.unfrozen, "--help"], env)
            seconds, report = smoke_json([args.unfrozen], env)
            figures["window_unfrozen_s"] = seconds
            figures["window_unfrozen_shown_ms"] = report["shown_ms"]
    except SmokeFailure as exc:
        print(f"smoke: FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(home, ignore_errors=True)
    for key, value in figures.items():
        shown = f"{value:.2f}" if isinstance(value, float) else str(value)
        print(f"smoke: {key:26s} {shown}")
    print("smoke: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())

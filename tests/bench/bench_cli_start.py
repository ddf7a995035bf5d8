"""Benchmark: whole-process time of `erigolem rpc ID eth_chainId` and `erigolem node list`.

Run: ``.venv/bin/python -m tests.bench.bench_cli_start [--runs N]`` (a throw-away ERIGOLEM_HOME
with one local dev node, started detached and stopped at the end).

Baselines measured in the same run, interleaved with the commands: `python -c pass` (the
interpreter alone) and a minimal `python -c` urllib POST of the same call with the same basic
auth (what any Python CLI must at least pay), plus `cast rpc` when Foundry's cast is on PATH
(it is not on npm with anvil, so usually absent here: the bench says so). Every command runs
twice first so its bytecode is cached (in a private PYTHONPYCACHEPREFIX, also when the
environment sets PYTHONDONTWRITEBYTECODE). Target: `erigolem rpc` <= 150 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from erigolem_desktop.core.snippets import url_with_auth

ERIGOLEM = str(Path(sys.executable).with_name("erigolem"))
URLLIB = """
import base64, json, sys, urllib.request
url, user, password = sys.argv[1:4]
req = urllib.request.Request(url, json.dumps({"jsonrpc": "2.0", "id": 1,
    "method": "eth_chainId", "params": []}).encode(), {"Content-Type": "application/json",
    "Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()})
print(json.dumps(json.loads(urllib.request.urlopen(req).read())["result"], indent=2))
"""
TARGET_S = 0.150


def _time(argv: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, timeout=60, check=False)
    elapsed = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"{argv[:3]} failed: {done.stderr.decode()[-500:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=15, help="runs per command (median)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-cli-start-") as home:
        # bytecode cached (this environment may set PYTHONDONTWRITEBYTECODE): the .pyc files
        # go to a private prefix, written by the warm-up runs, read by the measured ones
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env.update(ERIGOLEM_HOME=home, PYTHONPYCACHEPREFIX=str(Path(home) / "pycache"))
        started = subprocess.run(
            [ERIGOLEM, "node", "start", "--local", "--detach", "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        data = json.loads(started.stdout)
        node_id = data["node"]["id"]
        creds = data["credentials"]
        try:
            commands = {
                "python -c pass": [sys.executable, "-c", "pass"],
                "python -c urllib POST (baseline)": [
                    sys.executable,
                    "-c",
                    URLLIB,
                    creds["url"],
                    creds["user"],
                    creds["password"],
                ],
                "erigolem rpc ID eth_chainId": [ERIGOLEM, "rpc", node_id, "eth_chainId"],
                "erigolem node list": [ERIGOLEM, "node", "list"],
            }
            cast = shutil.which("cast")
            if cast:
                auth_url = url_with_auth(creds["url"], creds["user"], creds["password"])
                commands["cast rpc eth_chainId"] = [
                    cast,
                    "rpc",
                    "--rpc-url",
                    auth_url,
                    "eth_chainId",
                ]
            else:
                print("cast: not on PATH (not installable from npm here); baseline = urllib")
            times: dict[str, list[float]] = {name: [] for name in commands}
            for argv in commands.values():  # bytecode cached, page cache warm
                for _ in range(2):
                    _time(argv, env)
            for _ in range(args.runs):
                for name, argv in commands.items():
                    times[name].append(_time(argv, env))
            med = {name: statistics.median(v) for name, v in times.items()}
            for name, value in med.items():
                print(
                    f"{name:<36} median {value * 1e3:7.1f} ms  min {min(times[name]) * 1e3:7.1f}"
                    f"  (n={len(times[name])})"
                )
            rpc = med["erigolem rpc ID eth_chainId"]
            base = med["python -c urllib POST (baseline)"]
            print(f"erigolem rpc / urllib baseline: {rpc / base:.2f}x")
            if cast:
                print(f"erigolem rpc / cast rpc: {rpc / med['cast rpc eth_chainId']:.2f}x")
            verdict = "OK" if rpc <= TARGET_S else "MISSED"
            print(f"erigolem rpc target <= {TARGET_S * 1e3:.0f} ms: {verdict}")
            print(f"load average during the run: {os.getloadavg()[0]:.2f} (2 cores shared)")
        finally:
            subprocess.run(
                [ERIGOLEM, "node", "stop", node_id], env=env, capture_output=True, timeout=60
            )


if __name__ == "__main__":
    main()

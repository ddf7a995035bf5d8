"""Benchmark: what `scripts/run` adds to the app's own start when everything is installed
(target: <= ~0.1 s). Measured in the same run, alternating A B A B: `scripts/run --smoke` (A)
against the baseline `.venv/bin/erigolem --smoke` (B), both offscreen; also the wrapper's fast
path alone, `scripts/bootstrap --app`, against `bash -c :`.

Run: `.venv/bin/python -m tests.bench.bench_run_wrapper [--runs N]` (after scripts/bootstrap).
Uses a throw-away ERIGOLEM_HOME.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _time(argv: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed (rc {done.returncode}):\n{done.stderr[-2000:]}")
    return elapsed


def _pairs(a: list[str], b: list[str], runs: int, env: dict[str, str]) -> tuple[list[float], ...]:
    _time(a, env)  # warm-up: page cache, the stamp written
    _time(b, env)
    ta, tb = [], []
    for _ in range(runs):
        ta.append(_time(a, env))
        tb.append(_time(b, env))
    return ta, tb


def _report(name_a: str, name_b: str, ta: list[float], tb: list[float]) -> None:
    for name, values in ((name_a, ta), (name_b, tb)):
        print(
            f"{name:<40} median {statistics.median(values) * 1000:8.1f} ms  "
            f"min {min(values) * 1000:8.1f}  max {max(values) * 1000:8.1f}  (n={len(values)})"
        )
    ratios = [x / y for x, y in zip(ta, tb, strict=True)]
    diffs = [(x - y) * 1000 for x, y in zip(ta, tb, strict=True)]
    print(
        f"{'A/B ratio (pair by pair)':<40} median {statistics.median(ratios):8.3f}     "
        f"min {min(ratios):8.3f}  max {max(ratios):8.3f}"
    )
    print(f"{'A-B added (pair by pair)':<40} median {statistics.median(diffs):8.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    if not (REPO / ".venv/bin/erigolem").exists():
        raise SystemExit("no .venv here: run scripts/bootstrap first")
    with tempfile.TemporaryDirectory(prefix="erigolem-bench-") as home:
        env = dict(os.environ, QT_QPA_PLATFORM="offscreen", ERIGOLEM_HOME=home)
        ta, tb = _pairs(
            ["scripts/run", "--smoke"], [".venv/bin/erigolem", "--smoke"], args.runs, env
        )
        _report("A scripts/run --smoke", "B .venv/bin/erigolem --smoke", ta, tb)
        ta, tb = _pairs(["scripts/bootstrap", "--app"], ["bash", "-c", ":"], args.runs, env)
        _report("A scripts/bootstrap --app (fast path)", "B bash -c :", ta, tb)


if __name__ == "__main__":
    main()

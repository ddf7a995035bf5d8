"""Size and cold start of the frozen bundle (dist/erigolem) against the unfrozen app (.venv).

Run: `.venv/bin/python -m tests.bench.bench_bundle [--runs N]` after `scripts/package`.

Each run is a fresh process: `erigolem --smoke` offscreen (start, paint the window once, quit)
and `erigolem --help` (the CLI alone), frozen and unfrozen, alternated so both see the same load
on the machine, in a throwaway ERIGOLEM_HOME. Prints medians, the frozen/unfrozen ratio, and
the bundle's size and file count. Skips with a message when no bundle is built.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FROZEN = REPO / "dist" / "erigolem" / "erigolem"
UNFROZEN = REPO / ".venv" / "bin" / "erigolem"


def timed(argv: list[str], env: dict[str, str]) -> float:
    """Seconds from spawn to exit of argv; fails loudly unless it exits 0."""
    started = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=False)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr[-800:]}")
    return seconds


def bundle_size(root: Path) -> tuple[int, int]:
    """(bytes on disk as `du` counts them, number of files) of the bundle folder."""
    files = [p for p in root.rglob("*") if p.is_file() and not p.is_symlink()]
    return sum(p.stat().st_blocks * 512 for p in files), len(files)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5, help="runs of each command (median)")
    args = parser.parse_args()
    if not FROZEN.is_file():
        print(f"bench_bundle: SKIPPED: no bundle at {FROZEN}; build one with scripts/package")
        return 0
    if not UNFROZEN.is_file():
        print(f"bench_bundle: SKIPPED: no {UNFROZEN}; run scripts/bootstrap first")
        return 0
    home = tempfile.mkdtemp(prefix="erigolem-bench-bundle-")
    env = {**os.environ, "ERIGOLEM_HOME": home, "QT_QPA_PLATFORM": "offscreen"}
    times: dict[str, list[float]] = {}
    for _ in range(args.runs):
        for name, binary in (("frozen", FROZEN), ("unfrozen", UNFROZEN)):
            for cmd in ("--smoke", "--help"):
                times.setdefault(f"{cmd[2:]}_{name}", []).append(timed([str(binary), cmd], env))
    med = {key: statistics.median(values) for key, values in times.items()}
    size, files = bundle_size(FROZEN.parent)
    report = {
        "runs": args.runs,
        "bundle_mib": round(size / 2**20, 1),
        "bundle_files": files,
        **{f"{key}_s": round(value, 3) for key, value in sorted(med.items())},
        "smoke_ratio_frozen_vs_unfrozen": round(med["smoke_frozen"] / med["smoke_unfrozen"], 2),
        "help_ratio_frozen_vs_unfrozen": round(med["help_frozen"] / med["help_unfrozen"], 2),
    }
    print(
        f"bundle {report['bundle_mib']} MiB, {files} files; "
        f"--smoke frozen {med['smoke_frozen']:.2f} s vs unfrozen {med['smoke_unfrozen']:.2f} s "
        f"(x{report['smoke_ratio_frozen_vs_unfrozen']}); "
        f"--help frozen {med['help_frozen']:.2f} s vs unfrozen {med['help_unfrozen']:.2f} s "
        f"(x{report['help_ratio_frozen_vs_unfrozen']}); medians of {args.runs}"
    )
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())

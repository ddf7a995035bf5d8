"""Launch to first painted window, the way users start the app, and what the time goes to.

Run: `QT_QPA_PLATFORM=offscreen .venv/bin/python -m tests.bench.bench_startup`

Each run spawns a fresh process and stops the clock when `--smoke` prints its line: the smoke
check grabs the window (a full render through the real paint path) right after it is shown,
then prints. Launchers: `scripts/run --smoke` (bash + bootstrap's stamp check, then exec) and
`.venv/bin/erigolem --smoke`; baseline in the same run: a bare QMainWindow with a label,
painted the same way. Bytecode is cached (one warm-up run each). The wallet has one account, so
the window opens on the unlock screen as on every start after the first.

It also shows how `--smoke`'s figures relate: `shown_ms` starts after Python's start-up and the
imports before `run_smoke`; `process_ms` counts from exec. Then one run under `-X importtime`
lists the modules imported before the first paint (the ones worth trimming). Target: median
launch to first paint <= 0.6 s.
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

from tests.bench.bench_app_start import _env

REPO = Path(__file__).resolve().parents[2]
RUNS = 7
TARGET_S = 0.6
PAINTED = "BENCH-PAINTED"

_BASELINE = r"""
import json
from PySide6.QtWidgets import QApplication, QMainWindow, QLabel
app = QApplication(["bench"])
w = QMainWindow(); w.setCentralWidget(QLabel("hello")); w.resize(1280, 800); w.show()
image = w.grab()
print(json.dumps({"smoke": "ok", "size": [image.width(), image.height()]}), flush=True)
"""

# --smoke with a marker on stderr at the moment the window is shown (for -X importtime)
_MARKED = rf"""
import sys
import erigolem_desktop.ui.smoke as smoke
real = smoke.run_app
def run_app(argv=None, *, on_shown=None):
    def shown(window):
        sys.stderr.write("{PAINTED}\n"); sys.stderr.flush()
        on_shown(window)
    return real(argv, on_shown=shown)
smoke.run_app = run_app
sys.exit(smoke.run_smoke())
"""


def _launch(argv: list[str], env: dict[str, str]) -> tuple[float, dict[str, object]]:
    """(seconds from spawn to the smoke line, the line's JSON); the process then quits."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("{"):
            elapsed = time.perf_counter() - start
            report: dict[str, object] = json.loads(line)
            break
    else:
        raise SystemExit(f"{argv[0]} printed no smoke line (exit {proc.wait()})")
    proc.stdout.read()
    if proc.wait(timeout=60) != 0 or report.get("smoke") != "ok":
        raise SystemExit(f"{argv[0]} smoke failed: {report}")
    return elapsed, report


def _series(argv: list[str], env: dict[str, str]) -> tuple[list[float], list[dict[str, object]]]:
    _launch(argv, env)  # warm-up: bytecode and the page cache
    times, reports = [], []
    for _ in range(RUNS):
        elapsed, report = _launch(argv, env)
        times.append(elapsed)
        reports.append(report)
    return times, reports


def _med(values: list[float]) -> float:
    return statistics.median(values)


def imports_before_paint(env: dict[str, str]) -> list[tuple[float, str]]:
    """(cumulative ms, module) of the top imports done before the window was shown."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", _MARKED],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    before = proc.stderr.split(PAINTED, 1)[0].splitlines()
    rows: list[tuple[float, int, str]] = []
    for line in before:
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        _self, cumulative, name = line.split(":", 1)[1].split("|")
        depth = (len(name) - len(name.lstrip()) - 1) // 2
        rows.append((int(cumulative) / 1000, depth, name.strip()))
    return sorted(((ms, name) for ms, depth, name in rows if depth <= 1), reverse=True)


def against(old: Path, env: dict[str, str]) -> None:
    """Before/after in the same run: the old tree (PYTHONPATH) and this one, alternately."""
    argv = [str(REPO / ".venv" / "bin" / "erigolem"), "--smoke"]
    old_env = dict(env, PYTHONPATH=os.pathsep.join([str(old), str(old / "runtime")]))
    _launch(argv, old_env)  # warm-up both: bytecode and the page cache
    _launch(argv, env)
    before, after = [], []
    for _ in range(RUNS):
        before.append(_launch(argv, old_env)[0])
        after.append(_launch(argv, env)[0])
    print(f"before/after, alternating, {RUNS} pairs (.venv/bin/erigolem --smoke)")
    for name, times in ((f"before ({old})", before), ("after (this tree)", after)):
        runs = ", ".join(f"{t:.3f}" for t in times)
        print(f"  {name:<34} median {_med(times):.3f} s  ({runs})")
    print(f"  after/before {_med(after) / _med(before):.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", type=Path, help="an older tree to compare with (see above)")
    parser.add_argument("--ab-only", action="store_true", help="only the before/after")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="erigolem-bench-startup-"))
    env = _env(home)
    setup = "from erigolem_desktop.core.wallet import Wallet; Wallet.open().create('bench one two three')"
    subprocess.run([sys.executable, "-c", setup], env=env, check=True, timeout=120)
    if args.against is not None:
        against(args.against.resolve(), env)
        if args.ab_only:
            return 0

    base_t, _ = _series([sys.executable, "-c", _BASELINE], env)
    venv_t, venv_r = _series([str(REPO / ".venv" / "bin" / "erigolem"), "--smoke"], env)
    run_t, run_r = _series([str(REPO / "scripts" / "run"), "--smoke"], env)

    def show(name: str, times: list[float]) -> None:
        runs = ", ".join(f"{t:.3f}" for t in times)
        print(f"{name:<28} median {_med(times):.3f} s  x{_med(times) / _med(base_t):.2f}  ({runs})")

    print(f"launch -> first painted window, {RUNS} runs each (offscreen, bytecode cached)")
    show("baseline (bare QMainWindow)", base_t)
    show(".venv/bin/erigolem --smoke", venv_t)
    show("scripts/run --smoke", run_t)
    for name, times, reports in (
        (".venv/bin/erigolem", venv_t, venv_r),
        ("scripts/run", run_t, run_r),
    ):
        shown = [float(str(r["shown_ms"])) / 1000 for r in reports]
        process = [float(str(r["process_ms"])) / 1000 for r in reports if r.get("process_ms")]
        print(
            f"{name}: shown_ms median {_med(shown):.3f} s, process_ms {_med(process):.3f} s; "
            f"launch - shown_ms = {_med(times) - _med(shown):.3f} s (Python start-up and the "
            "imports before the smoke clock starts, plus reading the line)"
        )
    verdict = "OK" if _med(run_t) <= TARGET_S else "MISSED"
    print(f"target scripts/run <= {TARGET_S} s: {verdict}")

    print("imports before the first paint (cumulative ms, top 15 of depth <= 1):")
    for ms, name in imports_before_paint(env)[:15]:
        print(f"  {ms:7.1f}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

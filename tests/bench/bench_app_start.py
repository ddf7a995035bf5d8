"""Cold start of the desktop app to the first painted window, and its idle memory.

Run: `QT_QPA_PLATFORM=offscreen .venv/bin/python -m tests.bench.bench_app_start`

Each run is a fresh interpreter (`python -c …`): from process spawn to the first Paint event of
the main window (the unlock screen of an existing wallet, as on every run after the first).
Baseline in the same run: a bare QMainWindow with a label, measured the same way. Then the app
idles for 3 s (the node manager and backends load meanwhile, off the first paint) and reports
its RSS. Target: start <= 0.8 s.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = 5
TARGET_S = 0.8

_COMMON = r"""
import os, sys, time, json, asyncio
T0 = float(os.environ["BENCH_T0"])
def rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0
"""

_APP = (
    _COMMON
    + r"""
from erigolem_desktop.ui.app import make_application
from erigolem_desktop.ui.qt import QEventLoop, QObject, QEvent
app = make_application(["bench"])
loop = QEventLoop(app)
asyncio.set_event_loop(loop)
from erigolem_desktop.ui.context import AppContext
from erigolem_desktop.ui.main_window import MainWindow
ctx = AppContext.open()
window = MainWindow(ctx)
out = {}
class FirstPaint(QObject):
    def eventFilter(self, obj, ev):
        if ev.type() == QEvent.Type.Paint and "painted" not in out:
            out["painted"] = time.time() - T0
            out["rss_first_paint_mb"] = rss_mb()
        return False
f = FirstPaint()
window.installEventFilter(f)
window.start()
window.show()
async def idle():
    while "painted" not in out:
        await asyncio.sleep(0.01)
    await asyncio.sleep(3)
    out["manager_loaded"] = ctx.manager is not None
    out["rss_idle_mb"] = rss_mb()
    out["eth_account_loaded"] = "eth_account" in sys.modules
    out["yapapi_loaded"] = "yapapi" in sys.modules
    if ctx.manager is not None:
        await ctx.manager.close()
with loop:
    loop.run_until_complete(idle())
print(json.dumps(out))
"""
)

_BASELINE = (
    _COMMON
    + r"""
from PySide6.QtWidgets import QApplication, QMainWindow, QLabel
from PySide6.QtCore import QObject, QEvent, QTimer
app = QApplication(["bench"])
w = QMainWindow(); w.setCentralWidget(QLabel("hello"))
out = {}
class FirstPaint(QObject):
    def eventFilter(self, obj, ev):
        if ev.type() == QEvent.Type.Paint and "painted" not in out:
            out["painted"] = time.time() - T0
            out["rss_first_paint_mb"] = rss_mb()
            QTimer.singleShot(0, app.quit)
        return False
f = FirstPaint(); w.installEventFilter(f); w.show(); app.exec()
print(json.dumps(out))
"""
)


def _env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        ERIGOLEM_HOME=str(home),
        QT_QPA_PLATFORM=env.get("QT_QPA_PLATFORM", "offscreen"),
        PYTHON_KEYRING_BACKEND="erigolem_desktop.core.keyring_setup.DataDirKeyring",
        ERIGOLEM_WALLET_SCRYPT_N="4096",
        ERIGOLEM_WALLET_INSECURE_TEST_KDF="1",
        PYTHONWARNINGS="ignore",
    )
    return env


def _run(code: str, env: dict[str, str]) -> dict[str, float]:
    env = dict(env, BENCH_T0=repr(time.time()))
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"child failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    result: dict[str, float] = json.loads(lines[-1])
    return result


def main() -> int:
    home = Path(tempfile.mkdtemp(prefix="erigolem-bench-start-"))
    env = _env(home)
    setup = (
        "from erigolem_desktop.core.wallet import Wallet; "
        "w = Wallet.open(); w.create('bench passphrase one two', label='bench')"
    )
    subprocess.run([sys.executable, "-c", setup], env=env, check=True, timeout=120)

    app_runs = [_run(_APP, env) for _ in range(RUNS)]
    base_runs = [_run(_BASELINE, env) for _ in range(RUNS)]
    app_t = [r["painted"] for r in app_runs]
    base_t = [r["painted"] for r in base_runs]
    med_app, med_base = statistics.median(app_t), statistics.median(base_t)
    print(
        f"first paint, app      : median {med_app:.3f} s  (runs: {', '.join(f'{t:.3f}' for t in app_t)})"
    )
    print(f"first paint, baseline : median {med_base:.3f} s  (bare QMainWindow + label)")
    print(
        f"ratio app / baseline  : {med_app / med_base:.2f}x   target <= {TARGET_S} s: "
        f"{'OK' if med_app <= TARGET_S else 'MISSED'}"
    )
    last = app_runs[-1]
    print(
        f"RSS at first paint    : {last['rss_first_paint_mb']:.0f} MB "
        f"(baseline {base_runs[-1]['rss_first_paint_mb']:.0f} MB)"
    )
    print(
        f"RSS idle after 3 s    : {last['rss_idle_mb']:.0f} MB "
        f"(manager loaded: {bool(last['manager_loaded'])}, yapapi: {bool(last['yapapi_loaded'])}, "
        f"eth_account: {bool(last['eth_account_loaded'])})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

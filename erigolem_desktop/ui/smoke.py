"""`erigolem --smoke`: start the desktop app, paint the window once, report, quit.

Why: a packaged app (PyInstaller bundle, AppImage, installer) can miss a Qt plugin, an icon or a
data file and still pass `--help`; this proves the window really comes up and renders, on any
platform and headless (QT_QPA_PLATFORM=offscreen), without a person clicking.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import TYPE_CHECKING

from erigolem_desktop.ui.app import run_app

if TYPE_CHECKING:
    from erigolem_desktop.ui.main_window import MainWindow


def process_age_ms() -> int | None:
    """Milliseconds since this process was started (Linux: /proc), None where unknown.

    `shown_ms` starts when `run_smoke` runs, after Python's start-up and the imports before it;
    this one counts from exec, so it is what a user waits (`scripts/run` execs the app, so its
    bash and bootstrap check are in it too). /proc gives 10 ms steps.
    """
    try:
        with open("/proc/self/stat", encoding="ascii") as f:
            start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime", encoding="ascii") as f:
            uptime = float(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return round((uptime - start_ticks / os.sysconf("SC_CLK_TCK")) * 1000)


def run_smoke() -> int:
    """Run the app until its window has painted once; print one JSON line; 0 when it painted."""
    started = time.perf_counter()
    painted: list[bool] = []

    def check(window: MainWindow) -> None:
        image = window.grab()  # renders the whole window now, through the real paint path
        ok = not image.isNull() and image.width() > 0 and image.height() > 0
        painted.append(ok)
        report = {
            "smoke": "ok" if ok else "failed",
            "shown_ms": round((time.perf_counter() - started) * 1000),
            "process_ms": process_age_ms(),
            "size": [image.width(), image.height()],
            "title": window.windowTitle(),
        }
        print(json.dumps(report), flush=True)
        window.quit_app()

    code = run_app([sys.argv[0] if sys.argv else "erigolem"], on_shown=check)
    if code != 0:
        return code
    return 0 if painted and painted[0] else 1

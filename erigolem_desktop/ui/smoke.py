"""`erigolem --smoke`: start the desktop app, paint the window once, report, quit.

Why: a packaged app (PyInstaller bundle, AppImage, installer) can miss a Qt plugin, an icon or a
data file and still pass `--help`; this proves the window really comes up and renders, on any
platform and headless (QT_QPA_PLATFORM=offscreen), without a person clicking.

With ERIGOLEM_SMOKE_USAGE=1 it also draws the Usage tab's charts (pyqtgraph and numpy, imported
the way the tab does, in the executor) from a sample node's usage and grabs them: a bundle that
left out a module or a library they load fails here, not in front of a user.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import TYPE_CHECKING

from erigolem_desktop.ui.app import run_app
from erigolem_desktop.ui.qt import QTimer

USAGE_SWITCH = "ERIGOLEM_SMOKE_USAGE"
USAGE_TIMEOUT_S = 60.0

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
        report: dict[str, object] = {
            "smoke": "ok" if ok else "failed",
            "shown_ms": round((time.perf_counter() - started) * 1000),
            "process_ms": process_age_ms(),
            "size": [image.width(), image.height()],
            "title": window.windowTitle(),
        }
        if os.environ.get(USAGE_SWITCH) == "1" and ok:
            check_usage(window, report, started)
            return
        print(json.dumps(report), flush=True)
        window.quit_app()

    def check_usage(window: MainWindow, report: dict[str, object], t0: float) -> None:
        from erigolem_runtime.api import UsageBucket, UsageStats

        from erigolem_desktop.ui.usage_view import UsagePage

        now = time.time() // 60 * 60
        buckets = tuple(
            UsageBucket(now - 60 * i, 10 + i % 7, i % 3, 4.0 + i % 5, 9.0 + i % 4)
            for i in range(30, -1, -1)
        )
        page = UsagePage(parent=None)
        page.names["smoke"] = "smoke node"
        page.usage["smoke"] = UsageStats(60, buckets, {"200": 300, "500": 30}, 5.0, 11.0)
        page.resize(1000, 700)
        page.show()  # the tab's showEvent imports pyqtgraph in the executor
        deadline = time.perf_counter() + USAGE_TIMEOUT_S

        def poll() -> None:
            loading = page.pg is None and page.loading_label.text().startswith("Loading")
            if loading and time.perf_counter() < deadline:
                QTimer.singleShot(50, poll)
                return
            if page.pg is not None:
                page.redraw()
            image = page.grab()
            drawn = (
                page.pg is not None
                and bool(page.shown)
                and page.requests_plot is not None
                and not image.isNull()
            )
            painted[0] = painted[0] and drawn
            report["usage"] = {
                "charts": "ok" if drawn else f"failed: {page.loading_label.text()}",
                "series": len(page.shown),
                "ms": round((time.perf_counter() - t0) * 1000),
            }
            if not drawn:
                report["smoke"] = "failed"
            print(json.dumps(report), flush=True)
            page.close()
            window.quit_app()

        poll()

    code = run_app([sys.argv[0] if sys.argv else "erigolem"], on_shown=check)
    if code != 0:
        return code
    return 0 if painted and painted[0] else 1

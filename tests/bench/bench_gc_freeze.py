"""What a full garbage collection costs on the GUI thread after the Usage tab's pyqtgraph import,
with and without the `gc.freeze()` the tab does after it (same run).

Run: `QT_QPA_PLATFORM=offscreen .venv/bin/python -m tests.bench.bench_gc_freeze`

The app collects by hand on the GUI thread (`ui.app.gc_on_main_thread`) and freezes what
start-up allocated; pyqtgraph and numpy come later, so without a second freeze every full
collection scans their module objects again while the loop waits. Baseline: the same
collection over the window's modules alone (frozen at start, as in the app).
"""

from __future__ import annotations

import gc
import statistics
import sys
import time

RUNS = 5


def full_collection_ms() -> str:
    """The first full collection's ms, then the median of RUNS more (nothing new allocated)."""
    took = []
    for _ in range(RUNS + 1):
        started = time.perf_counter()
        gc.collect()
        took.append((time.perf_counter() - started) * 1000)
    return f"first {took[0]:6.1f} ms, then median {statistics.median(took[1:]):6.1f} ms"


def main() -> int:
    from erigolem_desktop.ui.app import make_application

    make_application(["bench"])
    gc.disable()
    import erigolem_desktop.ui.main_window  # noqa: F401

    gc.collect()
    gc.freeze()  # as gc_on_main_thread does 5 s after start
    baseline = full_collection_ms()
    import pyqtgraph  # noqa: F401

    unfrozen = full_collection_ms()
    gc.freeze()  # as UsagePage does once the import is done
    frozen = full_collection_ms()
    print(f"full collection, window modules frozen (baseline): {baseline}")
    print(f"after the pyqtgraph import, not frozen (before)  : {unfrozen}")
    print(f"after the pyqtgraph import, frozen (now)         : {frozen}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

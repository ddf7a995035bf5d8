"""Loop lag of the desktop app while 50 nodes poll, the Usage charts update for 10 of them and
the console renders a 5 MB result.

Run: `QT_QPA_PLATFORM=offscreen .venv/bin/python -m tests.bench.bench_loop_lag`

One qasync loop runs the real window, the real NodeManager (polling every 0.5 s) and the console.
The 50 nodes come from `InstantBackend`, a stand-in for 50 runtimes that answers `status` at
once (50 real nodes cannot run on this machine); the window still receives every event and
refreshes its table, detail and console picker. 10 of them report a synthetic `usage` (an hour
of one-minute buckets whose newest bucket grows on every poll), so the Usage charts (pyqtgraph, shown
in a window of their own next to the main one, "All nodes": 10 request curves + 10 latency
curves) redraw on every burst of status events while the console renders. A ticker sleeping 5 ms
measures how late the loop wakes it. Baseline in the same run: the same ticker with the window
idle. Also printed: the lag while pyqtgraph is imported in the executor (once per app run, in
the background once the app is idle), the lag when the tab is first opened after that, and
how long a synchronous render of the 5 MB result (pretty-print + setPlainText in one go, the
"before" of the console's sliced rendering) would hold the loop.
Target: p99 lag <= 16 ms (one frame).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, ClassVar

from erigolem_runtime.api import NodeStatus

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["ERIGOLEM_HOME"] = tempfile.mkdtemp(prefix="erigolem-bench-lag-")
# a throw-away wallet in that temporary home: a cheap KDF is fine (nothing of value is kept)
os.environ["ERIGOLEM_WALLET_SCRYPT_N"] = "4096"
os.environ["ERIGOLEM_WALLET_INSECURE_TEST_KDF"] = "1"

NODES = 50
USAGE_NODES = int(os.environ.get("BENCH_USAGE_NODES", "10"))  # nodes with usage (chart curves)
BUCKETS = 60  # the runtime's window: an hour of one-minute buckets
TICK = 0.005
TARGET_MS = 16.0


class InstantBackend:
    """Stands in for 50 erigolem-runtime instances: start and status answer at once."""

    kind: ClassVar[str] = "local"

    def __init__(self) -> None:
        self.running: set[str] = set()
        self.usage_ids: list[str] = []
        self.calls = 0

    async def start(self, node_id: str, spec: Any, progress: Any) -> Any:
        from erigolem_desktop.core.backends.base import StartedNode

        self.running.add(node_id)
        if len(self.usage_ids) < USAGE_NODES:
            self.usage_ids.append(node_id)
        return StartedNode(
            f"http://127.0.0.1:9/{node_id}/", "erigolem", "pw-" + node_id, self._status(node_id)
        )

    def _usage(self, node_id: str) -> dict[str, Any] | None:
        """A synthetic hour of traffic (the runtime's wire shape); None for most nodes."""
        if node_id not in self.usage_ids:
            return None
        n = self.usage_ids.index(node_id)
        now = int(time.time() // 60) * 60
        buckets = [
            [now - 60 * (BUCKETS - 1 - k), 20 + (k * 7 + n) % 30, int(k % 5 == 0), 1.0, 3.0 + k % 4]
            for k in range(BUCKETS)
        ]
        buckets[-1][1] = self.calls % 100
        return {"bucket_sec": 60, "buckets": buckets, "statuses": {"200": 9000, "502": 70}}

    def _status(self, node_id: str = "") -> NodeStatus:
        self.calls += 1
        return NodeStatus.from_json(
            {
                "usage": self._usage(node_id),
                "state": "syncing",
                "block": self.calls,
                "peers": 10 + self.calls % 7,
                "sync": {
                    "progress": (self.calls % 1000) / 1000,
                    "stages": [
                        {"name": "Headers", "block": 1000},
                        {"name": "Execution", "block": self.calls % 1000},
                    ],
                },
            }
        )

    async def status(self, node_id: str) -> NodeStatus:
        return self._status(node_id)

    async def rotate_credentials(self, node_id: str) -> tuple[str, str]:
        return "erigolem", "new"

    async def logs(self, node_id: str, lines: int) -> str:
        return "log line\n" * lines

    async def usage(self, node_id: str) -> None:
        return None

    async def stop(self, node_id: str) -> None:
        self.running.discard(node_id)

    def is_running(self, node_id: str) -> bool:
        return node_id in self.running

    async def close(self) -> None:
        self.running.clear()


async def measure(
    seconds: float, until: Any = None, stamps: list[float] | None = None
) -> list[float]:
    """Lags (s) of a ticker sleeping TICK, for `seconds` or until `until()` is true; `stamps`
    gets the perf_counter time at which each lag ended."""
    lags: list[float] = []
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    last = time.perf_counter()
    while loop.time() < end and not (until is not None and until()):
        await asyncio.sleep(TICK)
        now = time.perf_counter()
        lags.append(max(0.0, now - last - TICK))
        if stamps is not None:
            stamps.append(now)
        last = now
    return lags


def count_redraws(page: Any) -> list[float]:
    """Time the Usage page's redraws (data set into the curves; Qt paints in a later turn)."""
    took: list[float] = []
    real = page.redraw

    def timing() -> None:
        started = time.perf_counter()
        real()
        took.append(time.perf_counter() - started)

    page.redraw = timing
    return took


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values) or [0.0]
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000


async def run() -> None:
    import keyring

    from erigolem_desktop.core.backends.base import NodeSpec
    from erigolem_desktop.core.manager import NodeManager
    from erigolem_desktop.core.records import NodeStore
    from erigolem_desktop.core.secrets import SecretStore
    from erigolem_desktop.core.settings import SettingsStore
    from erigolem_desktop.core.wallet import Wallet
    from erigolem_desktop.ui.app import gc_on_main_thread
    from erigolem_desktop.ui.context import AppContext
    from erigolem_desktop.ui.main_window import MainWindow
    from erigolem_desktop.ui.usage_view import UsagePage
    from tests.support.memkeyring import MemoryKeyring

    keyring.set_keyring(MemoryKeyring())
    backend = InstantBackend()
    manager = NodeManager(
        NodeStore(), {"local": backend}, SecretStore(choose_backend=False), poll_interval=0.5
    )
    wallet = Wallet.open()
    # an unlocked account, as for a user at work: with none, the window's 5 s lock check
    # swaps the workspace for the unlock page mid-run and the console renders unseen
    info, _phrase = wallet.create("bench passphrase 1")
    wallet.unlock(info.address, "bench passphrase 1")
    store = SettingsStore()
    ctx = AppContext(wallet=wallet, settings_store=store, settings=store.load(), manager=manager)
    window = MainWindow(ctx)
    window.on_quit = lambda: None
    window.resize(1280, 820)
    # the window's own Usage page would import pyqtgraph once idle, inside the baseline: the
    # bench does that import below, on its chart page, and measures it there
    window.usage_page.preload_when_idle = lambda idle_since: None  # type: ignore[method-assign]
    window.start()
    window.show_workspace()
    window.show()
    gc_on_main_thread(window)  # as run_app() does; it collects and freezes 5 s after start:
    await asyncio.sleep(5.5)  # a one-time start-up pause, kept out of the figures
    assert window.stack.currentWidget() is window.workspace, "the workspace must stay shown"

    baseline = await measure(3.0)

    # the Usage charts in a window of their own, so they stay visible (and redraw) while the
    # main window shows the console; the main window feeds them as it feeds its own tab
    charts = UsagePage()
    charts.resize(1280, 800)
    window.usage_page = charts
    # as in the app: pyqtgraph is imported in the background once the app has been idle
    # (before: when the tab was first shown, so this lag fell on that click)
    charts.preload_when_idle(lambda: 0.0)
    importing = await measure(30.0, until=lambda: charts._module is not None)
    assert charts._module is not None, "pyqtgraph did not load"
    opening_started = time.perf_counter()
    charts.show()  # the tab's first open, pyqtgraph already imported: the plots are built
    opening = await measure(0.5)
    opening_s = time.perf_counter() - opening_started
    assert charts.pg is not None

    for i in range(NODES):
        await manager.start(
            NodeSpec(chain="dev", client="anvil", name=f"bench-{i:02d}"), backend="local"
        )
    await asyncio.sleep(1.0)
    rows = window.model.rows()
    window.select_node(rows[0].id)
    redraws = count_redraws(charts)
    # the first draw makes the 20 curves and their legend entries (once per app run)
    first_draw = await measure(5.0, until=lambda: len(redraws) >= 2 or not USAGE_NODES)
    value = [
        {"hash": "0x" + f"{i:064x}", "number": hex(i), "logs": ["0x" + "00" * 32] * 3}
        for i in range(16000)
    ]
    size = len(json.dumps(value))
    window.show_console(rows[0].id)
    expected_len = len(json.dumps(value, indent=2, ensure_ascii=False)) + 1  # + the final paragraph

    async def load() -> tuple[list[float], list[float], list[float], float, float]:
        """4 s of polling, then the 5 MB render: (polling, rendering, stamps, started, s)."""
        polling = await measure(4.0)
        stamps: list[float] = []
        started = time.perf_counter()
        window.console.show_value(value, size_hint=size)
        rendering = await measure(
            60.0,
            until=lambda: window.console.result_view.document().characterCount() >= expected_len,
            stamps=stamps,
        )
        return polling, rendering, stamps, started, time.perf_counter() - started

    # A/B in the same run: the same load with the charts hidden (they do not redraw) and shown
    charts.hide()
    hidden_polling, hidden_rendering, _s, _t, hidden_s = await load()
    charts.show()
    polling, rendering, stamps, started, render_s = await load()
    assert len(charts.shown) == USAGE_NODES, [s.name for s in charts.shown]
    assert all(len(s.x) >= BUCKETS for s in charts.shown)
    polls = backend.calls
    steady = sorted(redraws[1:]) or [0.0]
    drawn = (
        f"{len(redraws)}, first {(redraws or [0.0])[0] * 1000:.1f} ms, then median "
        f"{steady[len(steady) // 2] * 1000:.1f} ms, max {steady[-1] * 1000:.1f} ms"
    )

    # before: the same 5 MB result formatted and shown in one go (how long the loop would stop)
    from erigolem_desktop.ui.console import pretty
    from erigolem_desktop.ui.qt import QPlainTextEdit

    scratch = QPlainTextEdit()
    blocked = time.perf_counter()
    scratch.setPlainText(pretty(value))
    blocked_ms = (time.perf_counter() - blocked) * 1000
    scratch.deleteLater()

    def figures(lags: list[float]) -> str:
        return (
            f"p50 {pct(lags, 0.5):5.1f} ms  p99 {pct(lags, 0.99):5.1f} ms  "
            f"max {max(lags, default=0) * 1000:5.1f} ms  ({len(lags)} ticks"
        )

    print(f"baseline (idle window)       : {figures(baseline)})")
    print(f"pyqtgraph import (idle, bg)  : {figures(importing)})")
    print(f"tab's first open, preloaded  : {figures(opening)}, {opening_s:.2f} s measured)")
    print(f"first chart draw (once)      : {figures(first_draw)})")
    hidden_both = hidden_polling[-len(hidden_polling) // 2 :] + hidden_rendering
    print(f"{NODES} nodes polling, no charts : {figures(hidden_polling)})")
    print(f"+ console renders, no charts : {figures(hidden_rendering)}, shown in {hidden_s:.2f} s)")
    print(f"  under load without charts: p99 {pct(hidden_both, 0.99):.1f} ms")
    print(f"{NODES} nodes polling + charts   : {figures(polling)})")
    both = polling[-len(polling) // 2 :] + rendering
    print(
        f"+ console renders {size / 1e6:.1f} MB    : {figures(rendering)}, shown in {render_s:.2f} s)"
    )
    p99 = pct(both, 0.99)
    ratio = p99 / max(pct(baseline, 0.99), 0.001)
    print(
        f"under load, p50 {pct(both, 0.5):.1f} ms, p99 lag: {p99:.1f} ms ({ratio:.1f}x baseline)  target <= {TARGET_MS:.0f} ms: {'OK' if p99 <= TARGET_MS else 'MISSED'}"
    )
    worst = sorted(zip(rendering, stamps, strict=True), reverse=True)[:3]
    print(
        "worst pauses while rendering : "
        + ", ".join(f"{lag * 1000:.1f} ms at +{(t - started) * 1000:.0f} ms" for lag, t in worst)
        + f"  (one frame = {TARGET_MS:.0f} ms: {'OK' if worst[0][0] * 1000 <= TARGET_MS else 'MISSED'})"
    )
    print(f"status polls answered        : {polls}; usage chart redraws: {drawn}")
    print(
        f"before (one-go render of the {size / 1e6:.1f} MB result): the loop stops for "
        f"{blocked_ms:.0f} ms ({blocked_ms / TARGET_MS:.0f} frames); sliced as above: "
        f"worst pause {worst[0][0] * 1000:.1f} ms"
    )

    await manager.close()
    await window.console.close_client()
    window._quitting = True
    window.close()


def main() -> int:
    from erigolem_desktop.ui.app import make_application
    from erigolem_desktop.ui.qt import QEventLoop

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    app = make_application(["bench"])
    loop = QEventLoop(app)
    asyncio.set_event_loop(loop)
    with loop:
        loop.run_until_complete(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())

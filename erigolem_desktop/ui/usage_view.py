"""The Usage tab: a node's requests over time, errors and latency, as charts (pyqtgraph).

What it shows comes from the runtime's status (`NodeStatus.usage`), which the NodeManager
already polls off the GUI thread: the requests nginx passed to the node after authentication
(401s are not there), in one-minute buckets, with HTTP errors and nginx's request time. The app's own
status polls go through the runtime, not nginx, so they are never counted; the app's wallet
and console calls to a node are (they are real requests to it). nginx does not read JSON-RPC
bodies, so per-method counts come from the local gateway (`core.gateway.stats`), measured at
the gateway for the calls it forwards; the table says so, and is empty when the gateway is off.

pyqtgraph (with numpy) costs ~1 s to import, so it is imported in the executor, and never
before the first paint: in the background once the app has been idle for a few seconds
(`preload_when_idle`; the import still holds the GIL in chunks of up to ~80 ms, which then
falls on a moment without input), or when the tab is first shown if that comes sooner.
"""

from __future__ import annotations

import gc
import importlib
import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from erigolem_runtime.api import UsageStats

from erigolem_desktop.core.records import NodeRecord
from erigolem_desktop.ui import ops, style
from erigolem_desktop.ui.gateway_view import _fill, _tree
from erigolem_desktop.ui.qt import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPalette,
    QShowEvent,
    QSplitter,
    Qt,
    QTimer,
    QVBoxLayout,
    QWidget,
)

ALL = ""  # the picker's "All nodes" entry
REDRAW_MS = 1000  # status events arrive in bursts (one per node): one draw a second
GATEWAY_MS = 2000
PRELOAD_IDLE_S = 5.0  # no key press or click for this long: import pyqtgraph in the background
PRELOAD_CHECK_MS = 2000
MIN_BUCKETS = 30  # the charts show at least the last 30 buckets (30 minutes)
NODE_COLUMNS = ("Node", "Requests", "Errors", "p50 ms", "p95 ms", "HTTP statuses")
METHOD_COLUMNS = ("Method", "Calls", "Errors", "p50 ms", "p95 ms", "p99 ms")
COUNTED_TEXT = (
    "Counted by nginx in front of each node: authenticated requests only, the last hour in "
    "{bucket} steps. The app's own status checks go through the runtime and are not counted."
)
NO_GATEWAY_TEXT = (
    "Per-method counts: nginx does not read request bodies, so methods are counted by the "
    "local gateway (Gateway tab) for the calls it forwards. The gateway is off."
)
GATEWAY_TEXT = "Per-method counts, measured at the local gateway (all nodes it forwards to):"
PALETTE = ("#3b82f6", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#ec4899", "#14b8a6", "#84cc16")


@dataclass(frozen=True)
class Series:
    """One node's chart data: bucket starts (epoch s), requests, errors, p50, p95 (NaN = none)."""

    name: str
    x: list[float]
    requests: list[float]
    errors: list[float]
    p50: list[float]
    p95: list[float]


def series(name: str, usage: UsageStats, now: float, min_buckets: int = MIN_BUCKETS) -> Series:
    """Fill the gaps (buckets without traffic are absent on the wire) from the first bucket
    (at least `min_buckets` back) up to `now`, so the chart's time axis is even."""
    step = usage.bucket_sec
    by_start = {b.start: b for b in usage.buckets}
    out = Series(name, [], [], [], [], [])
    if not usage.buckets:
        return out
    end = math.floor(now / step) * step
    start = min(min(by_start), end - (min_buckets - 1) * step)
    t, last = start, max(end, max(by_start))
    while t <= last:
        b = by_start.get(t)
        out.x.append(t)
        out.requests.append(float(b.requests) if b else 0.0)
        out.errors.append(float(b.errors) if b else 0.0)
        out.p50.append(b.p50_ms if b else math.nan)
        out.p95.append(b.p95_ms if b else math.nan)
        t += step
    return out


def _nice(value: float) -> float:
    """An axis top at or above `value`: 1, 2 or 5 times a power of ten (stable as data grows)."""
    target = value * 1.05
    power = 10 ** math.floor(math.log10(target))
    return float(next(m * power for m in (1, 2, 5, 10) if m * power >= target))


def _ms(value: float) -> str:
    """A latency as nginx measures it (1 ms resolution): '<1' rather than a misleading 0."""
    return f"{value:g}" if value >= 1 else "<1"


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _statuses(usage: UsageStats) -> str:
    return ", ".join(f"{k}: {v}" for k, v in sorted(usage.statuses.items())) or "–"


class UsagePage(QWidget):
    """The Usage tab (see the module docstring)."""

    def __init__(
        self,
        gateway_status: Callable[[], Mapping[str, Any] | None] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.gateway_status = gateway_status
        self.usage: dict[str, UsageStats] = {}
        self.names: dict[str, str] = {}
        self.shown: list[Series] = []  # what the charts show now (tests read it)
        self.pg: Any = None  # pyqtgraph, once the plots are built
        self._module: Any = None  # pyqtgraph, once imported (maybe before the tab is shown)
        self._loading = False
        self._want_charts = False
        self._idle_since: Callable[[], float] | None = None
        self._preload_timer = QTimer(self)
        self._preload_timer.setInterval(PRELOAD_CHECK_MS)
        self._preload_timer.timeout.connect(self._preload_if_idle)
        self._redraw_pending = False
        self.requests_plot: Any = None
        self.latency_plot: Any = None
        self._curves: dict[str, tuple[Any, Any]] = {}
        self._ranges: tuple[tuple[float, float], float, float] | None = None

        self.picker = QComboBox()
        self.picker.addItem("All nodes", ALL)
        self.picker.currentIndexChanged.connect(lambda _i: self.redraw())
        self.summary = QLabel("No requests yet.")
        self.summary.setWordWrap(True)
        top = QHBoxLayout()
        top.addWidget(QLabel("Show:"))
        top.addWidget(self.picker, 1)
        top.addWidget(self.summary, 3)
        self.counted = style.label(COUNTED_TEXT.format(bucket="1 min"), "hint")
        self.counted.setWordWrap(True)

        self.charts = QWidget()
        self.charts_lay = QVBoxLayout(self.charts)
        self.charts_lay.setContentsMargins(0, 0, 0, 0)
        self.loading_label = QLabel("Loading the charts…")
        self.loading_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.charts_lay.addWidget(self.loading_label)

        self.nodes = _tree(NODE_COLUMNS)
        self.methods = _tree(METHOD_COLUMNS)
        for tree in (self.nodes, self.methods):  # fits half of the minimum window, no scrollbar
            tree.header().setDefaultSectionSize(56)
            tree.setColumnWidth(0, 130)
        self.methods_label = QLabel(NO_GATEWAY_TEXT)
        self.methods_label.setWordWrap(True)
        tables = QWidget()
        tables_lay = QHBoxLayout(tables)
        tables_lay.setContentsMargins(0, 0, 0, 0)
        for title, tree in (("By node", self.nodes), (None, self.methods)):
            box = QVBoxLayout()
            box.addWidget(QLabel(title) if title else self.methods_label)
            box.addWidget(tree)
            tables_lay.addLayout(box, 1)

        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.charts)
        split.addWidget(tables)
        split.setSizes([440, 220])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(style.MARGIN, style.MARGIN, style.MARGIN, style.MARGIN)
        lay.addLayout(top)
        lay.addWidget(self.counted)
        lay.addWidget(split, 1)

        self._gateway_timer = QTimer(self)
        self._gateway_timer.setInterval(GATEWAY_MS)
        self._gateway_timer.timeout.connect(self.refresh_methods)

    # ---- data in

    def set_records(self, records: Iterable[NodeRecord]) -> None:
        """Take the usage of these records (the manager's latest status of each node)."""
        for rec in records:
            self.names[rec.id] = rec.name or rec.id
            usage = rec.last_status.usage if rec.last_status is not None else None
            if usage is not None:
                self.usage[rec.id] = usage
                if self.picker.findData(rec.id) < 0:
                    self.picker.addItem(self.names[rec.id], rec.id)
        self.schedule_redraw()

    def forget(self, node_ids: Iterable[str]) -> None:
        """Drop removed nodes."""
        for node_id in node_ids:
            self.usage.pop(node_id, None)
            index = self.picker.findData(node_id)
            if index > 0:
                self.picker.removeItem(index)
        self.schedule_redraw()

    def schedule_redraw(self) -> None:
        """Redraw once per burst of updates, and only while the tab is visible."""
        if not self._redraw_pending and self.isVisible():
            self._redraw_pending = True
            QTimer.singleShot(REDRAW_MS, self.redraw)

    # ---- charts

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._gateway_timer.start()
        self.refresh_methods()
        if self.pg is None:
            self.load_charts()
        else:
            self.redraw()

    def hideEvent(self, event: Any) -> None:
        super().hideEvent(event)
        self._gateway_timer.stop()

    def load_charts(self) -> None:
        """Build the plots: now when pyqtgraph is imported, else once its import is done."""
        if self.pg is not None:
            return
        self._want_charts = True
        if self._module is not None:
            self._build(self._module)
        else:
            self._import()

    def preload_when_idle(self, idle_since: Callable[[], float]) -> None:
        """Import pyqtgraph in the background once `idle_since()` (monotonic time of the last
        key press or click) is PRELOAD_IDLE_S old, so the tab opens without the import."""
        self._idle_since = idle_since
        if self._module is None:
            self._preload_timer.start()

    def _preload_if_idle(self) -> None:
        if self._module is not None or self._loading:
            self._preload_timer.stop()
            return
        if self._idle_since is not None and (
            time.monotonic() - self._idle_since() >= PRELOAD_IDLE_S
        ):
            self._preload_timer.stop()
            self._import()

    def _import(self) -> None:
        """Import pyqtgraph in the executor (~1 s), once; build the plots if they are wanted."""
        if self._loading or self._module is not None:
            return
        self._loading = True

        def loaded(module: Any) -> None:
            self._loading = False
            self._module = module
            # numpy's and pyqtgraph's module objects live as long as the app: out of every
            # later collection (a full one over them stalled the loop ~0.2 s in bench_loop_lag)
            gc.freeze()
            if self._want_charts and self.pg is None:
                self._build(module)

        def failed(message: str, hint: str) -> None:
            self._loading = False
            self.loading_label.setText(f"The charts could not be loaded: {message} {hint}")

        ops.Op.cpu(lambda: importlib.import_module("pyqtgraph"), label="chart library").success(
            loaded
        ).failure(failed).run()

    def _build(self, pg: Any) -> None:
        pal = self.palette()
        background = pal.color(QPalette.ColorRole.Base)
        foreground = pal.color(QPalette.ColorRole.Text)
        pg.setConfigOptions(antialias=False, foreground=foreground)
        self.requests_plot = pg.PlotWidget(
            background=background, axisItems={"bottom": pg.DateAxisItem()}
        )
        self.requests_plot.setTitle("Requests per bucket")
        self.requests_plot.addLegend(offset=(10, 5))
        self.requests_plot.showGrid(x=True, y=True, alpha=0.2)
        self.latency_plot = pg.PlotWidget(
            background=background, axisItems={"bottom": pg.DateAxisItem()}
        )
        self.latency_plot.setTitle("Latency at nginx (ms)")
        self.latency_plot.addLegend(offset=(10, 5))
        self.latency_plot.showGrid(x=True, y=True, alpha=0.2)
        self.latency_plot.setXLink(self.requests_plot)
        for plot in (self.requests_plot, self.latency_plot):
            plot.setMouseEnabled(x=True, y=False)
            plot.setMenuEnabled(False)
        self.loading_label.hide()
        self.charts_lay.addWidget(self.requests_plot, 3)
        self.charts_lay.addWidget(self.latency_plot, 2)
        self.pg = pg
        self.redraw()

    def _curve(self, plot: Any, name: str, colour: str, kind: str, single: bool) -> Any:
        """A curve made once and then only fed new data: counts as steps (one per bucket,
        filled when it is the only one), latencies as lines (with points for one node: a
        lone bucket with traffic shows; for many, points would cost ~100 ms a paint).
        The p95 and error curves differ by colour (dashes paint slowly)."""
        fill = single and kind == "req"
        # 1 px solid pens: Qt paints wide or dashed ones ~8x slower (75 vs 9.5 ms for 20
        # curves of 360 points at 1280x800, measured here), which the loop would feel
        pen = self.pg.mkPen(colour, width=1)
        if kind in ("req", "err"):
            tint = self.pg.mkColor(colour)
            tint.setAlpha(70)
            return plot.plot(
                [0.0, 1.0],
                [0.0],
                name=name,
                pen=pen,
                stepMode="center",
                fillLevel=0 if fill else None,
                brush=tint if fill else None,
            )
        if not single:
            return plot.plot([], [], name=name, pen=pen, connect="finite")
        return plot.plot(
            [],
            [],
            name=name,
            pen=pen,
            connect="finite",
            symbol="o",
            symbolSize=5,
            symbolBrush=colour,
            symbolPen=None,
        )

    def redraw(self) -> None:
        """Show the picked node (or every node) in the charts and the tables."""
        self._redraw_pending = False
        picked = self.picker.currentData()
        now = time.time()
        ids = (
            [picked]
            if picked in self.usage
            else sorted(self.usage, key=lambda i: self.names.get(i, i))
        )
        self.shown = [series(self.names.get(i, i), self.usage[i], now) for i in ids]
        self._fill_nodes()
        total = sum(self.usage[i].requests for i in ids)
        errors = sum(self.usage[i].errors for i in ids)
        if len(ids) == 1:
            u = self.usage[ids[0]]
            self.summary.setText(
                f"{_count(total, 'request')}, {_count(errors, 'error')} in the last hour; "
                f"latency p50 {_ms(u.p50_ms)} ms, p95 {_ms(u.p95_ms)} ms"
            )
        else:
            self.summary.setText(
                f"{_count(total, 'request')}, {_count(errors, 'error')} in the last hour "
                f"on {_count(len(ids), 'node')}"
                if ids
                else "No requests yet: the runtime reports usage once a node is running."
            )
        if ids:
            step = self.usage[ids[0]].bucket_sec
            step_text = f"{step // 60} min" if step % 60 == 0 else f"{step} s"
            self.counted.setText(COUNTED_TEXT.format(bucket=step_text))
        if self.pg is None:
            return
        self._plot(picked in self.usage)

    def _plot(self, single: bool) -> None:
        """Feed every curve in one go: each loop turn that changes a curve costs a repaint of
        both plots (~18 ms with their axes, measured in bench_loop_lag), so slicing the feed
        across turns (tried: 2 nodes a turn) multiplied the paints and the loop lag."""
        wanted: set[str] = set()
        for n, s in enumerate(self.shown):
            colour = PALETTE[n % len(PALETTE)]
            lines: list[tuple[Any, str, list[float], str]] = [
                (self.requests_plot, "req", s.requests, s.name if not single else "requests")
            ]
            if single:
                lines += [
                    (self.requests_plot, "err", s.errors, "errors"),
                    (self.latency_plot, "p50", s.p50, "p50"),
                    (self.latency_plot, "p95", s.p95, "p95"),
                ]
            else:
                lines.append((self.latency_plot, "p95", s.p95, f"{s.name} p95"))
            for plot, kind, ys, label in lines:
                key = f"{s.name}\0{kind}\0{single}"
                wanted.add(key)
                entry = self._curves.get(key)
                if entry is None:
                    tint = (
                        {"err": "#ef4444", "p95": "#f59e0b"}.get(kind, colour) if single else colour
                    )
                    curve = self._curve(plot, label, tint, kind, single)
                    entry = self._curves[key] = (plot, curve)
                if kind in ("req", "err"):  # steps: one more x (the buckets' edges)
                    edges = [*s.x, s.x[-1] + self._step()] if s.x else [0.0]
                    entry[1].setData(edges, ys if s.x else [])
                else:
                    entry[1].setData(s.x, ys)
        for key in [k for k in self._curves if k not in wanted]:
            plot, curve = self._curves.pop(key)
            plot.removeItem(curve)
        counts = [v for s in self.shown for v in s.requests]
        lat = [v for s in self.shown for v in s.p95 if not math.isnan(v)]
        xs = [x for s in self.shown for x in s.x]
        # ranges set only when they change: a new range re-lays the axes out (a repaint of
        # their tick labels, the dearest part of a paint)
        ranges = (
            (min(xs, default=0.0), max(xs, default=1.0) + self._step()),
            _nice(max([1.0, *counts])),
            _nice(max([1.0, *lat])),
        )
        if ranges != self._ranges:
            self._ranges = ranges
            self.requests_plot.setXRange(*ranges[0], padding=0)
            self.requests_plot.setYRange(0, ranges[1], padding=0)
            self.latency_plot.setYRange(0, ranges[2], padding=0)

    def _step(self) -> float:
        return float(next(iter(self.usage.values())).bucket_sec) if self.usage else 10.0

    def _fill_nodes(self) -> None:
        rows = [
            [
                self.names.get(i, i),
                str(u.requests),
                str(u.errors),
                _ms(u.p50_ms) if u.requests else "–",
                _ms(u.p95_ms) if u.requests else "–",
                _statuses(u),
            ]
            for i, u in sorted(self.usage.items(), key=lambda kv: self.names.get(kv[0], ""))
        ]
        _fill(self.nodes, rows)

    # ---- per method (gateway)

    def refresh_methods(self) -> None:
        """Per-method counts from the gateway's in-memory stats (cheap; none when it is off)."""
        status = self.gateway_status() if self.gateway_status is not None else None
        if not status:
            self.methods_label.setText(NO_GATEWAY_TEXT)
            _fill(self.methods, [])
            return
        self.methods_label.setText(GATEWAY_TEXT)
        methods: Mapping[str, Mapping[str, Any]] = status.get("stats", {}).get("methods", {})
        rows = [
            [
                name,
                str(m["calls"]),
                str(m["errors"]),
                f"{m['p50_ms']:g}",
                f"{m['p95_ms']:g}",
                f"{m['p99_ms']:g}",
            ]
            for name, m in sorted(methods.items(), key=lambda kv: -int(kv[1]["calls"]))
        ]
        _fill(self.methods, rows)

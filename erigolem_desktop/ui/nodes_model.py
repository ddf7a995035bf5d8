"""The node table: a QAbstractTableModel over the manager's NodeRecords, and its proxies.

Columns: name, chain, backend, state (colour + icon), block / sync %, peers, provider, uptime,
cost. `NodeRow` is the view's flat reading of a NodeRecord (an adapter, so the table does not
depend on how the record nests its status).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from erigolem_runtime.api import NodeStatus

from erigolem_desktop.core.records import NodeRecord
from erigolem_desktop.core.states import NodeState
from erigolem_desktop.ui import style
from erigolem_desktop.ui.qt import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)

COLUMNS = (
    "Name",
    "Chain",
    "Backend",
    "State",
    "Block / sync",
    "Peers",
    "Provider",
    "Uptime",
    "Cost",
)
_Index = QModelIndex | QPersistentModelIndex
# The NodeRow fields each column's cells (text, icon, colour, tooltip) are drawn from: an
# update signals only the columns whose fields changed. A sorted proxy re-sorts (a
# layoutChanged, all rows re-laid out) only when the signalled range covers its sort column.
COLUMN_FIELDS: dict[str, tuple[str, ...]] = {
    "Name": ("name",),
    "Chain": ("chain", "client"),
    "Backend": ("backend",),
    "State": ("state", "reason", "phase"),
    "Block / sync": ("block", "progress", "state"),
    "Peers": ("peers",),
    "Provider": ("provider", "backend"),
    "Uptime": ("started_at", "stopped_at", "state"),
    "Cost": ("cost", "backend"),
}


def _get(obj: Any, *names: str, default: Any = None) -> Any:
    """The first attribute (or mapping key) of `names` present and not None."""
    for name in names:
        value = obj.get(name) if isinstance(obj, Mapping) else getattr(obj, name, None)
        if value is not None:
            return value
    return default


def _timestamp(value: Any) -> float | None:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value).timestamp()
        except ValueError:
            return None
    return None


@dataclass(frozen=True)
class NodeRow:
    """What the table and the detail pane show about one node."""

    id: str
    name: str
    chain: str
    client: str
    backend: str
    state: NodeState
    url: str
    user: str
    block: int | None
    progress: float | None  # 0..1
    stages: tuple[tuple[str, int], ...]
    peers: int | None
    requests: int | None  # served through nginx so far (the runtime's usage counter)
    provider: str
    started_at: float | None
    stopped_at: float | None
    cost: Decimal | None
    reason: str
    phase: str
    restarts: int = 0  # times the runtime restarted the client (it died or hung)
    ws_url: str = ""  # WebSocket endpoint, same credentials ("" from runtimes without one)
    warm: bool = False  # an own rpcdaemon on the provider's synced Erigon (Restart keeps it)

    @classmethod
    def from_record(cls, rec: NodeRecord | Mapping[str, Any]) -> NodeRow:
        """Read a core NodeRecord (or a dict of its field names, `status` for `last_status`).

        The runtime's part comes from the record's typed `NodeStatus`, so the view never
        parses status JSON itself.
        """
        status = _status(rec)
        raw_state = _get(rec, "state", default="pending")
        try:
            state = NodeState(str(getattr(raw_state, "value", raw_state)))
        except ValueError:
            state = NodeState.STARTING
        sync = status.sync
        cost = _get(rec, "cost", default=None)
        phase = _get(rec, "progress", default="")
        return cls(
            id=str(_get(rec, "id", default="")),
            name=str(_get(rec, "name", default="")),
            chain=str(_get(rec, "chain", default="") or status.chain),
            client=str(_get(rec, "client", default="") or status.client),
            backend=str(_get(rec, "backend", default="")),
            state=state,
            url=str(_get(rec, "url", default="") or status.url),
            user=str(_get(rec, "user", default="") or status.user),
            block=status.block,
            progress=sync.progress if sync is not None else None,
            stages=tuple((st.name, st.block) for st in sync.stages) if sync is not None else (),
            peers=status.peers,
            requests=status.requests,
            provider=str(_get(rec, "provider", default="") or ""),
            started_at=_timestamp(_get(rec, "created_at")),
            stopped_at=_timestamp(_get(rec, "stopped_at")),
            cost=Decimal(str(cost)) if cost is not None else None,
            reason=str(_get(rec, "reason", default="") or status.reason or ""),
            phase=phase if isinstance(phase, str) else "",
            restarts=status.restarts,
            ws_url=status.ws_url or "",
            warm=bool(_get(rec, "warm", default=False)),
        )


def restart_meaning(client: str, restarts: int) -> str:
    """What `restarts` client restarts mean for the user, in plain words ("" for none).

    anvil keeps its chain in memory, so a restarted dev chain starts over at block 0 with
    its pre-funded accounts only; Erigon keeps its data on disk and syncs on.
    """
    if restarts <= 0:
        return ""
    times = "once" if restarts == 1 else f"{restarts} times"
    if client == "anvil":
        return (
            f"The dev chain crashed and was restarted {times}: its state was lost (blocks, "
            "balances, deployed contracts start over from block 0)."
        )
    return (
        f"The {client or 'node'} client crashed or hung and was restarted {times}; its data "
        "on disk is kept and it carries on from where it was."
    )


def _status(rec: NodeRecord | Mapping[str, Any]) -> NodeStatus:
    """The record's NodeStatus (an empty one when it has none yet)."""
    raw = _get(rec, "last_status", "status", default=None)
    if isinstance(raw, NodeStatus):
        return raw
    return NodeStatus.from_json(raw) if isinstance(raw, Mapping) else NodeStatus()


def format_duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    days, rem = divmod(seconds, 86400)
    hours, rem = divmod(rem, 3600)
    minutes, secs = divmod(rem, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s"


class NodesModel(QAbstractTableModel):
    """All nodes the manager knows, one row each; `set_rows` diffs by id to keep selections."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[NodeRow] = []

    # --- data updates -------------------------------------------------------------------
    def set_records(self, records: Sequence[Any]) -> None:
        self.set_rows([NodeRow.from_record(r) for r in records])

    def set_rows(self, rows: Sequence[NodeRow]) -> None:
        """Replace the rows: changed rows emit dataChanged, new ones are inserted, gone removed."""
        new_ids = [r.id for r in rows]
        by_id = {r.id: r for r in rows}
        self.remove_ids({r.id for r in self._rows} - set(by_id))
        # updates
        changes: list[tuple[int, NodeRow, NodeRow]] = []
        for i, row in enumerate(self._rows):
            new = by_id[row.id]
            if new != row:
                changes.append((i, row, new))
                self._rows[i] = new
        self._signal_changes(changes)
        # insertions
        known = {r.id for r in self._rows}
        fresh = [by_id[i] for i in new_ids if i not in known]
        if fresh:
            start = len(self._rows)
            self.beginInsertRows(QModelIndex(), start, start + len(fresh) - 1)
            self._rows.extend(fresh)
            self.endInsertRows()

    def remove_ids(self, ids: set[str]) -> None:
        """Drop the rows of `ids` (forgotten records), from the bottom so indexes stay valid."""
        for i in range(len(self._rows) - 1, -1, -1):
            if self._rows[i].id in ids:
                self.beginRemoveRows(QModelIndex(), i, i)
                del self._rows[i]
                self.endRemoveRows()

    def upsert_rows(self, rows: Sequence[NodeRow]) -> None:
        """Update (or add) just these rows: dataChanged for the changed cells, nothing else."""
        index = {r.id: i for i, r in enumerate(self._rows)}
        fresh: list[NodeRow] = []
        changes: list[tuple[int, NodeRow, NodeRow]] = []
        for new in rows:
            i = index.get(new.id)
            if i is None:
                fresh.append(new)
            elif self._rows[i] != new:
                changes.append((i, self._rows[i], new))
                self._rows[i] = new
        self._signal_changes(changes)
        if fresh:
            start = len(self._rows)
            self.beginInsertRows(QModelIndex(), start, start + len(fresh) - 1)
            self._rows.extend(fresh)
            self.endInsertRows()

    def _signal_changes(self, changes: Sequence[tuple[int, NodeRow, NodeRow]]) -> None:
        """Emit dataChanged for the cells that `changes` (row, old, new) altered, batched.

        One signal per run of adjacent columns that changed on the same rows, spanning those
        rows: a poll of 50 nodes is a handful of signals, not 50 full-row ones, and columns
        that did not change (the sort column, typically) are left out.
        """
        spans: dict[int, tuple[int, int]] = {}  # column -> (first row, last row) changed
        for i, old, new in changes:
            for col, name in enumerate(COLUMNS):
                if any(getattr(old, f) != getattr(new, f) for f in COLUMN_FIELDS[name]):
                    first, last = spans.get(col, (i, i))
                    spans[col] = (min(first, i), max(last, i))
        runs: list[tuple[int, int, tuple[int, int]]] = []  # first column, last column, rows
        for col in sorted(spans):
            if runs and runs[-1][1] == col - 1 and runs[-1][2] == spans[col]:
                runs[-1] = (runs[-1][0], col, spans[col])
            else:
                runs.append((col, col, spans[col]))
        for first_col, last_col, (first_row, last_row) in runs:
            self.dataChanged.emit(self.index(first_row, first_col), self.index(last_row, last_col))

    def tick(self) -> None:
        """Refresh the uptime column (called once a second by the window)."""
        if self._rows:
            col = COLUMNS.index("Uptime")
            self.dataChanged.emit(self.index(0, col), self.index(len(self._rows) - 1, col))

    def row_at(self, row: int) -> NodeRow:
        return self._rows[row]

    def row_by_id(self, node_id: str) -> NodeRow | None:
        return next((r for r in self._rows if r.id == node_id), None)

    def rows(self) -> list[NodeRow]:
        return list(self._rows)

    # --- Qt model interface ---------------------------------------------------------------
    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._rows):
            return None
        row = self._rows[index.row()]
        column = COLUMNS[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(row, column)
        if role == Qt.ItemDataRole.UserRole:
            return row.id
        if role == Qt.ItemDataRole.DecorationRole and column == "State":
            return style.state_icon(row.state)
        if role == Qt.ItemDataRole.ForegroundRole and column == "State":
            return style.state_colour(row.state)
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == "State" and row.reason:
                return row.reason
            if column == "State" and row.phase:
                return row.phase
        if role == Qt.ItemDataRole.TextAlignmentRole and column == "Peers":
            # centred: a right-aligned "–" ran into the next column's left-aligned text
            return int(Qt.AlignmentFlag.AlignCenter)
        if role == Qt.ItemDataRole.TextAlignmentRole and column in ("Uptime", "Cost"):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    @staticmethod
    def _display(row: NodeRow, column: str) -> str:
        if column == "Name":
            return row.name
        if column == "Chain":
            return f"{row.chain} · {row.client}" if row.client else row.chain
        if column == "Backend":
            return row.backend.capitalize()
        if column == "State":
            return row.state.value.capitalize()
        if column == "Block / sync":
            block = f"#{row.block:,}" if row.block is not None else "–"
            if row.progress is not None and row.state is NodeState.SYNCING:
                return f"{block}  ({row.progress * 100:.1f}%)"
            return block
        if column == "Peers":
            return "–" if row.peers is None else str(row.peers)
        if column == "Provider":
            return row.provider or ("this computer" if row.backend == "local" else "–")
        if column == "Uptime":
            if row.started_at is None:
                return "–"
            end = row.stopped_at if row.stopped_at else time.time()
            if not row.state.active and row.stopped_at is None:
                return "–"
            return format_duration(end - row.started_at)
        if column == "Cost":
            if row.cost is None:
                return "free" if row.backend == "local" else "–"
            return f"{row.cost:.4f} GLM"
        return ""


class ActiveFilter(QSortFilterProxyModel):
    """Shows only active nodes (`active=True`) or only stopped/failed ones (`active=False`)."""

    def __init__(self, source: NodesModel, *, active: bool, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._active = active
        self._nodes = source
        self.setSourceModel(source)

    def filterAcceptsRow(self, source_row: int, source_parent: _Index) -> bool:
        return self._nodes.row_at(source_row).state.active == self._active

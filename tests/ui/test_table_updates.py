"""Poll updates reach the views without needless work: only changed cells are signalled (so a
sorted table is not re-sorted for a block number), the sync bar is not repainted inside the
update, and the console's node picker is not rebuilt when nothing it shows changed."""

from __future__ import annotations

import dataclasses
from typing import Any

from erigolem_desktop.core.states import NodeState
from erigolem_desktop.ui.console import RpcConsole
from erigolem_desktop.ui.node_detail import NodeDetail
from erigolem_desktop.ui.nodes_model import COLUMNS, ActiveFilter, NodeRow, NodesModel
from erigolem_desktop.ui.qt import QEvent, QObject, QProgressBar, Qt

COL = {name: i for i, name in enumerate(COLUMNS)}


def make_row(i: int, **kw: Any) -> NodeRow:
    values: dict[str, Any] = {
        "id": f"node-{i:03d}",
        "name": f"bench-{i:03d}",
        "chain": "dev",
        "client": "anvil",
        "backend": "local",
        "state": NodeState.SYNCING,
        "url": f"http://127.0.0.1:9/node-{i:03d}/",
        "user": "erigolem",
        "block": 100 + i,
        "progress": 0.5,
        "stages": (("Headers", 1000), ("Execution", 500)),
        "peers": 10,
        "requests": None,
        "provider": "",
        "started_at": 1_700_000_000.0,
        "stopped_at": None,
        "cost": None,
        "reason": "",
        "phase": "Syncing",
    }
    values.update(kw)
    return NodeRow(**values)


class _Signals:
    """Records a model's dataChanged ranges and layout/reset signals."""

    def __init__(self, model: Any) -> None:
        self.data: list[tuple[int, int, int, int]] = []
        self.layouts = 0
        self.resets = 0
        model.dataChanged.connect(
            lambda tl, br, _roles=(): self.data.append(
                (tl.row(), br.row(), tl.column(), br.column())
            )
        )
        model.layoutChanged.connect(self._layout)
        model.modelReset.connect(self._reset)

    def _layout(self, *_a: Any) -> None:
        self.layouts += 1

    def _reset(self) -> None:
        self.resets += 1

    def covers(self, row: int, col: int) -> bool:
        return any(r0 <= row <= r1 and c0 <= col <= c1 for r0, r1, c0, c1 in self.data)


def test_one_status_update_signals_only_its_changed_cells(qtbot: Any) -> None:
    model = NodesModel()
    model.set_rows([make_row(i) for i in range(5)])
    seen = _Signals(model)
    model.upsert_rows([make_row(2, block=999, peers=11)])
    assert seen.data == [(2, 2, COL["Block / sync"], COL["Peers"])]
    assert (seen.layouts, seen.resets) == (0, 0)
    assert model.data(model.index(2, COL["Block / sync"])).startswith("#999")

    model.upsert_rows([make_row(2, block=999, peers=11)])  # the same again: nothing to say
    assert len(seen.data) == 1


def test_a_state_change_signals_the_cells_drawn_from_the_state(qtbot: Any) -> None:
    model = NodesModel()
    model.set_rows([make_row(i) for i in range(3)])
    seen = _Signals(model)
    model.upsert_rows([make_row(1, state=NodeState.READY)])
    assert seen.data == [
        (1, 1, COL["State"], COL["Block / sync"]),
        (1, 1, COL["Uptime"], COL["Uptime"]),
    ]
    assert model.data(model.index(1, COL["State"])) == "Ready"


def test_a_poll_of_many_nodes_is_a_few_signals_covering_every_changed_cell(qtbot: Any) -> None:
    model = NodesModel()
    model.set_rows([make_row(i) for i in range(50)])
    seen = _Signals(model)
    updated = [make_row(i, block=5000 + i, peers=10 + i % 3) for i in range(50)]
    model.upsert_rows(updated)
    assert len(seen.data) <= 2  # not one per row
    for i, row in enumerate(updated):
        assert seen.covers(i, COL["Block / sync"])
        if row.peers != 10:
            assert seen.covers(i, COL["Peers"])
    assert not any(seen.covers(i, COL["Name"]) for i in range(50))


def test_a_table_sorted_by_name_is_not_resorted_by_block_updates(qtbot: Any) -> None:
    model = NodesModel()
    proxy = ActiveFilter(model, active=True)
    model.set_rows([make_row(i) for i in range(20)])
    proxy.sort(COL["Name"], Qt.SortOrder.DescendingOrder)
    seen = _Signals(proxy)
    model.upsert_rows([make_row(i, block=9000 - i) for i in range(20)])
    assert seen.layouts == 0
    assert proxy.index(0, COL["Name"]).data() == "bench-019"
    assert proxy.index(0, COL["Block / sync"]).data().startswith("#8,981")

    # sorted by the column that changed, the proxy does re-sort (once per batch); the rows
    # are still in descending name order, so ascending peers 20 + i turns the table round
    proxy.sort(COL["Peers"], Qt.SortOrder.AscendingOrder)
    seen.layouts = 0
    model.upsert_rows([make_row(i, block=9000 - i, peers=20 + i) for i in range(20)])
    assert seen.layouts == 1
    assert [proxy.index(r, COL["Peers"]).data() for r in (0, 19)] == ["20", "39"]


def test_a_node_that_stops_moves_to_the_stopped_table(qtbot: Any) -> None:
    model = NodesModel()
    active = ActiveFilter(model, active=True)
    stopped = ActiveFilter(model, active=False)
    model.set_rows([make_row(i) for i in range(3)])
    model.upsert_rows([make_row(1, state=NodeState.STOPPED, stopped_at=1_700_000_100.0)])
    assert (active.rowCount(), stopped.rowCount()) == (2, 1)
    assert stopped.index(0, COL["Name"]).data() == "bench-001"


class _PaintCounter(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.paints = 0

    def eventFilter(self, _watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint:
            self.paints += 1
        return False


def test_detail_updates_the_sync_bar_without_painting_inside_the_update(qtbot: Any) -> None:
    detail = NodeDetail()
    qtbot.addWidget(detail)
    detail.show()
    row = make_row(0, progress=0.25)
    detail.show_row(row)
    qtbot.waitExposed(detail)
    qtbot.wait(50)
    counter = _PaintCounter()
    detail.sync_bar.installEventFilter(counter)

    # what the detail avoids: QProgressBar.setValue paints at once when its text changes
    probe = QProgressBar()
    qtbot.addWidget(probe)
    probe.setRange(0, 1000)
    probe.show()
    qtbot.waitExposed(probe)
    qtbot.wait(50)  # the first paint is done
    probe.installEventFilter(counter)
    probe.setValue(500)
    assert counter.paints >= 1
    probe.removeEventFilter(counter)
    counter.paints = 0

    detail.show_row(dataclasses.replace(row, progress=0.5, block=200))
    assert counter.paints == 0  # no synchronous repaint inside the poll update
    assert (detail.sync_bar.value(), detail.sync_bar.format()) == (500, "50.0%")
    qtbot.waitUntil(lambda: counter.paints >= 1)  # painted later, with the window

    detail.show_row(dataclasses.replace(row, state=NodeState.READY, progress=None))
    assert (detail.sync_bar.value(), detail.sync_bar.format()) == (1000, "in sync")
    detail.show_row(dataclasses.replace(row, progress=None))
    assert (detail.sync_bar.value(), detail.sync_bar.format()) == (0, "waiting for the node")


def test_console_picker_is_not_rebuilt_when_only_the_status_changed(qtbot: Any) -> None:
    console = RpcConsole()
    qtbot.addWidget(console)
    rows = [make_row(i) for i in range(3)]
    console.set_nodes(rows)
    combo_model = console.node_combo.model()
    rebuilt: list[str] = []
    combo_model.rowsRemoved.connect(lambda *_a: rebuilt.append("removed"))
    combo_model.rowsInserted.connect(lambda *_a: rebuilt.append("inserted"))
    combo_model.modelReset.connect(lambda: rebuilt.append("reset"))

    console.set_nodes([dataclasses.replace(r, block=10_000, peers=3) for r in rows])
    assert rebuilt == []
    assert console.node_combo.count() == 3

    console.set_nodes([*rows[:2], dataclasses.replace(rows[2], state=NodeState.STOPPED)])
    assert rebuilt  # a node left: the picker follows
    assert console.node_combo.count() == 2


def test_detail_shows_the_request_count_from_the_runtime_status(qtbot: Any) -> None:
    detail = NodeDetail()
    qtbot.addWidget(detail)
    row = NodeRow.from_record(
        {"id": "n1", "name": "n1", "state": "ready", "status": {"requests": 12345, "peers": 3}}
    )
    assert row.requests == 12345
    detail.show_row(row)
    assert detail.requests_label.text() == "12,345"
    detail.show_row(NodeRow.from_record({"id": "n1", "state": "ready", "status": {}}))
    assert detail.requests_label.text() == "–"  # an older runtime without the counter
    bad = NodeRow.from_record({"id": "n1", "state": "ready", "status": {"requests": "lots"}})
    assert bad.requests is None


def test_detail_shows_the_websocket_url_and_a_subscription_snippet(qtbot: Any) -> None:
    detail = NodeDetail()
    qtbot.addWidget(detail)
    detail.show()
    ws = "ws://127.0.0.1:8080/abc123/"
    status = {"url": "http://127.0.0.1:8080/abc123/", "ws_url": ws, "auth": {"user": "erigolem"}}
    row = NodeRow.from_record({"id": "n1", "name": "n1", "state": "ready", "status": status})
    assert row.ws_url == ws
    detail.show_row(row)
    assert detail.ws_edit.text() == ws
    assert detail.ws_row.isVisible()
    assert "newHeads" in detail.snippet_edits["subscribe"].toPlainText()
    assert "127.0.0.1:8080/abc123/" in detail.snippet_edits["subscribe"].toPlainText()
    old = NodeRow.from_record({"id": "n2", "name": "n2", "state": "ready", "status": {}})
    detail.show_row(old)  # an older runtime reports no WebSocket URL: no empty row for it
    assert not detail.ws_row.isVisible()
    assert "no WebSocket URL" in detail.snippet_edits["subscribe"].toPlainText()

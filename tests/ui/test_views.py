"""Node table, start dialog, settings dialog, closing with nodes running, keyboard shortcuts."""

from __future__ import annotations

import json
import stat
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from erigolem_runtime.api import NodeStatus

from erigolem_desktop.core.records import NodeRecord
from erigolem_desktop.core.settings import SettingsStore
from erigolem_desktop.core.snippets import snippet, url_with_auth
from erigolem_desktop.core.states import NodeState
from erigolem_desktop.ui import style
from erigolem_desktop.ui.node_detail import current_stage
from erigolem_desktop.ui.nodes_model import COLUMNS, ActiveFilter, NodeRow, NodesModel
from erigolem_desktop.ui.qt import Qt
from erigolem_desktop.ui.settings_dialog import SettingsDialog
from erigolem_desktop.ui.start_dialog import StartDialog
from tests.ui.conftest import wait_until

GOOD = "correct horse battery staple 42"


def record(node_id: str, state: NodeState, **kw: Any) -> NodeRecord:
    return NodeRecord(
        id=node_id,
        name=f"node-{node_id}",
        backend="golem",
        chain="sepolia",
        client="erigon",
        state=state,
        **kw,
    )


def test_model_rows_colours_and_active_split(qtbot: Any) -> None:
    model = NodesModel()
    active = ActiveFilter(model, active=True)
    stopped = ActiveFilter(model, active=False)
    status = {
        "state": "syncing",
        "sync": {
            "progress": 0.4231,
            "stages": [{"name": "Headers", "block": 900}, {"name": "Bodies", "block": 300}],
        },
        "peers": 12,
        "block": 300,
    }
    model.set_records(
        [
            record(
                "aaa111",
                NodeState.SYNCING,
                last_status=NodeStatus.from_json(status),
                provider="prov-1",
                cost=Decimal("0.0123"),
            ),
            record("bbb222", NodeState.FAILED, reason="The node failed: disk full"),
        ]
    )
    assert (active.rowCount(), stopped.rowCount()) == (1, 1)
    col = {name: i for i, name in enumerate(COLUMNS)}
    idx = model.index(0, col["State"])
    assert model.data(idx) == "Syncing"
    assert model.data(idx, Qt.ItemDataRole.ForegroundRole) == style.state_colour(NodeState.SYNCING)
    assert not model.data(idx, Qt.ItemDataRole.DecorationRole).isNull()
    assert model.data(model.index(0, col["Block / sync"])) == "#300  (42.3%)"
    assert model.data(model.index(0, col["Peers"])) == "12"
    assert model.data(model.index(0, col["Provider"])) == "prov-1"
    assert model.data(model.index(0, col["Cost"])) == "0.0123 GLM"
    assert (
        model.data(model.index(1, col["State"]), Qt.ItemDataRole.ToolTipRole)
        == "The node failed: disk full"
    )

    # an update moves a node between the tables; a vanished record leaves the model
    model.set_records([record("aaa111", NodeState.STOPPED)])
    assert (model.rowCount(), active.rowCount(), stopped.rowCount()) == (1, 0, 1)
    row = model.row_by_id("aaa111")
    assert row is not None
    assert row.state is NodeState.STOPPED


def test_row_reads_erigon_stages() -> None:
    row = NodeRow.from_record(
        record(
            "c",
            NodeState.SYNCING,
            last_status=NodeStatus.from_json(
                {
                    "sync": {
                        "stages": [
                            {"stage_name": "Headers", "block_number": "0x10"},
                            {"stage_name": "Execution", "block_number": "0x2"},
                        ]
                    }
                }
            ),
        )
    )
    assert row.stages == (("Headers", 16), ("Execution", 2))
    assert current_stage(row.stages) == (1, "Execution")
    assert current_stage(()) is None


def test_snippets_carry_the_real_values() -> None:
    url, user, pw = "http://127.0.0.1:8080/abc123/", "erigolem", "p@ss:word"
    curl = snippet("curl", url, user, pw)
    assert url in curl
    assert f"{user}:{pw}" in curl
    assert "eth_blockNumber" in curl
    assert "HTTPProvider" in snippet("web3.py", url, user, pw)
    assert "allowInsecureAuthentication" in snippet("ethers.js", url, user, pw)
    assert "p%40ss%3Aword@127.0.0.1:8080" in url_with_auth(url, user, pw)
    assert "require(" in snippet("ethers.js", url, user, pw)  # CommonJS: runs as a .js file
    sub = snippet("subscribe", url, user, pw, "ws://127.0.0.1:8080/abc123/")
    assert "ws://erigolem:p%40ss%3Aword@127.0.0.1:8080/abc123/" in sub
    assert "newHeads" in sub
    assert "no WebSocket URL" in snippet("subscribe", url, user, pw, None)
    with pytest.raises(ValueError, match="unknown snippet"):
        snippet("perl", url, user, pw)


def test_start_dialog_defaults_validation_and_spec(qtbot: Any) -> None:
    dialog = StartDialog(taken_names=["taken"], golem_available=True)
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.backend() == "golem"
    assert dialog.name_edit.text().startswith("sepolia-")
    assert dialog.budget.isVisible()
    assert "GLM" in dialog.cost.text()
    dialog.chain_combo.setCurrentIndex(dialog.chain_combo.findData("mainnet"))
    assert dialog.name_edit.text().startswith("mainnet-")  # the default name follows the chain

    ok = dialog.buttons.button(dialog.buttons.StandardButton.Ok)
    dialog.name_edit.setText("bad/name")
    ok.click()
    assert dialog.isVisible()
    assert "letters, digits" in dialog.error.text()
    dialog.name_edit.setText("taken")
    ok.click()
    assert dialog.isVisible()
    assert "already called" in dialog.error.text()
    dialog.name_edit.setText("my node")
    dialog.origins_edit.setText("https://my-dapp.example/path")
    ok.click()
    assert dialog.isVisible()
    assert "invalid origin" in dialog.error.text()
    dialog.origins_edit.setText("https://my-dapp.example, http://localhost:3000")
    dialog.budget.setValue(2.5)
    dialog.hours.setValue(6)
    ok.click()
    assert not dialog.isVisible()
    spec = dialog.spec()
    assert spec.allow_origins == ("https://my-dapp.example", "http://localhost:3000")
    assert (spec.chain, spec.client, spec.name) == ("mainnet", "erigon", "my node")
    assert spec.budget_glm == Decimal("2.5")
    assert spec.duration is not None
    assert spec.duration.total_seconds() == 6 * 3600

    local = StartDialog(golem_available=False)
    qtbot.addWidget(local)
    local.show()
    assert local.backend() == "local"
    assert not local.budget.isVisible()
    assert local.spec().budget_glm is None


def test_settings_dialog_saves_and_keeps_the_app_key_in_the_keyring(
    qtbot: Any, memory_keyring: Any, erigolem_home: Path
) -> None:
    store = SettingsStore()
    dialog = SettingsDialog(store, store.load())
    qtbot.addWidget(dialog)
    dialog.api_url.setText("localhost:7465")
    dialog._save()
    assert "not an http(s) URL" in dialog.error.text()
    assert dialog.saved is None
    dialog.api_url.setText("http://127.0.0.1:17465")
    dialog.app_key.setText("0123456789abcdef-app-key")
    dialog.auto_lock.setValue(5)
    dialog.keep_running.setCurrentIndex(1)
    dialog._save()
    assert dialog.saved is not None
    path = erigolem_home / "settings.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = json.loads(path.read_text())
    assert data["yagna_api_url"] == "http://127.0.0.1:17465"
    assert data["keep_running"] is True
    assert "app-key" not in path.read_text()
    assert store.app_key() == "0123456789abcdef-app-key"
    loaded = store.load()
    assert loaded.auto_lock_minutes == 5

    path.write_text("{broken")
    assert store.load().yagna_api_url.startswith("http://127.0.0.1")  # defaults, no crash


@pytest.mark.parametrize("keep", [True, False])
@pytest.mark.asyncio
async def test_closing_with_running_nodes_follows_the_saved_answer(
    make_window: Any, ctx: Any, wallet: Any, keep: bool
) -> None:
    info, _ = wallet.create(GOOD)
    wallet.unlock(info.address, GOOD)
    ctx.settings.keep_running = keep
    window = make_window()
    window.start(attach_manager=False)
    window.show()
    window.model.set_records([record("aaa111", NodeState.READY, url="http://127.0.0.1:1/x/")])
    window.close()
    if keep:
        assert not window._quitting  # kept running (tray or minimized), not quitting
        assert window.quit_calls == []
    else:
        await wait_until(lambda: window.quit_calls, 5)  # nodes stopped, then the app ends


def test_closing_asks_once_and_remembers(
    make_window: Any, ctx: Any, wallet: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    info, _ = wallet.create(GOOD)
    wallet.unlock(info.address, GOOD)
    asked: list[int] = []

    def fake_ask(_parent: Any, running: int) -> tuple[bool, bool]:
        asked.append(running)
        return True, True

    monkeypatch.setattr("erigolem_desktop.ui.main_window.ask_keep_running", fake_ask)
    window = make_window()
    window.start(attach_manager=False)
    window.show()
    window.model.set_records(
        [record("aaa111", NodeState.READY), record("bbb222", NodeState.SYNCING)]
    )
    window.close()
    window.showNormal()
    window.close()
    assert asked == [2]  # asked once, then the remembered answer applies
    assert ctx.settings_store.load().keep_running is True


def test_every_main_action_has_a_shortcut(make_window: Any, ctx: Any, wallet: Any) -> None:
    info, _ = wallet.create(GOOD)
    wallet.unlock(info.address, GOOD)
    window = make_window()
    window.start(attach_manager=False)
    shortcuts = {a.text().replace("&", ""): a.shortcut().toString() for a in window.actions()}
    assert shortcuts["Start node…"] == "Ctrl+N"
    assert shortcuts["Lock"] == "Ctrl+L"
    assert shortcuts["Console"] == "Ctrl+2"
    assert shortcuts["Quit"] == "Ctrl+Q"
    window.console_action.trigger()
    assert window.tabs.currentIndex() == 1
    # without a manager yet, Start node explains itself instead of failing silently
    assert window.start_dialog() is None
    assert "still starting" in window.banner.text()


def test_describe_error_splits_message_and_hint() -> None:
    from erigolem_desktop.core.backends.base import BackendError
    from erigolem_desktop.ui.ops import describe_error

    assert describe_error(BackendError("No provider answered.", "Raise the budget.")) == (
        "No provider answered.",
        "Raise the budget.",
    )
    message, hint = describe_error(OSError("disk full"))
    assert message == "disk full"
    assert "free space" in hint
    message, hint = describe_error(KeyError("x"))
    assert "KeyError" in message
    assert "bug" in hint


@pytest.mark.asyncio
async def test_ops_report_failures_to_the_callback_and_run_cpu_work_off_the_loop() -> None:
    import threading

    from erigolem_desktop.ui.ops import Op

    seen: list[Any] = []
    main = threading.get_ident()
    await Op.cpu(threading.get_ident).success(seen.append).run()
    assert seen
    assert seen[0] != main

    def boom() -> None:
        raise ValueError("bad input")

    failures: list[tuple[str, str]] = []
    order: list[str] = []

    def failed(message: str, hint: str) -> None:
        failures.append((message, hint))
        order.append("failure")

    await Op.cpu(boom).failure(failed).finally_(lambda: order.append("finally")).run()
    assert failures[0][0].startswith("bad input")
    assert order == ["finally", "failure"]


def test_tray_announces_ready_and_failed_once(make_window: Any, ctx: Any, wallet: Any) -> None:
    window = make_window()
    tray = window.tray
    starting = NodeRow.from_record(record("aaa111", NodeState.STARTING))
    tray.observe([starting])
    assert tray.notifications == []  # first sight: nothing to announce
    ready = NodeRow.from_record(record("aaa111", NodeState.READY, url="http://127.0.0.1:1/a/"))
    tray.observe([ready])
    tray.observe([ready])
    failed = NodeRow.from_record(record("aaa111", NodeState.FAILED, reason="disk full"))
    tray.observe([failed])
    assert len(tray.notifications) == 2
    assert "is ready" in tray.notifications[0]
    assert "disk full" in tray.notifications[1]
    assert "failed" in window.statusBar().currentMessage()

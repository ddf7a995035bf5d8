"""The JSON-RPC console: pick a node, type a method (completed from what the node serves), send.

Features: parameter templates from the catalog, Ctrl+Enter to send, pretty and folding (tree)
views with highlighting, hex<->decimal and wei<->ether of the selection, batch mode, history
with Up/Down (0600, no secrets), latency and size of each answer, errors inline, and the
*Send transaction* dialog.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from erigolem_desktop.core import units
from erigolem_desktop.core.catalog import Catalog, load_catalog
from erigolem_desktop.ui import forms, style
from erigolem_desktop.ui.history import History, HistoryEntry
from erigolem_desktop.ui.json_view import JsonTree, ResultView
from erigolem_desktop.ui.nodes_model import NodeRow
from erigolem_desktop.ui.ops import Op
from erigolem_desktop.ui.qt import (
    QCheckBox,
    QComboBox,
    QCompleter,
    QEvent,
    QHBoxLayout,
    QKeyEvent,
    QLabel,
    QLineEdit,
    QObject,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QStringListModel,
    Qt,
    QTabWidget,
    QVBoxLayout,
    QWidget,
    Signal,
)

if TYPE_CHECKING:
    from erigolem_desktop.core.manager import NodeManager
    from erigolem_desktop.core.rpc import JsonRpcClient, RpcResult
    from erigolem_desktop.core.txlog import TxLog
    from erigolem_desktop.core.wallet import Wallet

PRETTY_INLINE_BYTES = 256 * 1024  # smaller answers are pretty-printed in one go
PRETTY_SLICE = 0.002  # seconds of formatting per loop turn for bigger ones
BATCH_ENTRY = "(batch)"  # the history's method name for a batch (its params are the calls)


def pretty(value: Any) -> str:
    """Indented JSON, in one go (small values)."""
    return json.dumps(value, indent=2, ensure_ascii=False)


async def pretty_sliced(
    value: Any, *, still_wanted: Callable[[], bool] = lambda: True
) -> str | None:
    """`pretty(value)` built on the loop, PRETTY_SLICE of work per loop turn; None when
    `still_wanted()` turns false meanwhile (a newer answer replaced this one).

    Not in an executor thread: the indenting encoder is pure Python, so a thread running it
    competes with the loop's thread for the GIL (and, on a busy 2-core machine, for a core).
    bench_loop_lag measured loop pauses of 23-64 ms while such a thread formatted a 5 MB
    result, and none above 17 ms when the thread was replaced by a GIL-free wait.
    """
    pieces: list[str] = []  # joined by batches: one join (and free) of a million tiny
    parts: list[str] = []  # strings holds the loop for tens of milliseconds
    deadline = time.perf_counter() + PRETTY_SLICE
    encoder = json.JSONEncoder(indent=2, ensure_ascii=False)
    for part in encoder.iterencode(value):
        parts.append(part)
        if len(parts) >= 256:
            pieces.append("".join(parts))
            parts = []
            if time.perf_counter() >= deadline:
                await asyncio.sleep(0)
                if not still_wanted():
                    return None
                deadline = time.perf_counter() + PRETTY_SLICE
    pieces.append("".join(parts))
    return "".join(pieces)


def describe_selection(text: str) -> str:
    """Conversions of a selected value: hex<->decimal and wei->ether, like `cast to-dec`."""
    s = text.strip().strip('",')
    if not s or len(s) > 80:
        return ""
    try:
        value = units.parse_int(s)
    except units.UnitError:
        try:
            wei = units.parse_amount(s, default_unit="ether")
        except units.UnitError:
            return ""
        return f"{s} = {wei:,} wei = {units.to_hex(wei)}"
    parts = []
    if s.lower().startswith("0x"):
        parts.append(f"{s} = {value:,}")
    else:
        parts.append(f"{value:,} = {units.to_hex(value) if value >= 0 else '-'}")
    if value >= 10**9:
        parts.append(f"as wei: {units.format_ether(value)}")
    return "   ·   ".join(parts)


def parse_params(text: str) -> Any:
    """The params editor's text as JSON params (empty -> [])."""
    if not text.strip():
        return []
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ValueError(
            f"The params are not valid JSON ({exc.args[0]}). Write a JSON array, e.g. "
            '["latest", false].'
        ) from exc
    if not isinstance(value, list | dict):
        raise ValueError('The params must be a JSON array (or an object), e.g. ["latest"].')
    return value


def parse_batch(text: str) -> list[tuple[str, Any]]:
    """Batch editor text: `[{"method": .., "params": [..]}, ...]` or `[["method", [..]], ...]`."""
    value = parse_params(text)
    if not isinstance(value, list) or not value:
        raise ValueError('A batch is a JSON array of calls, e.g. [{"method": "eth_chainId"}].')
    calls: list[tuple[str, Any]] = []
    for i, item in enumerate(value):
        if isinstance(item, dict) and isinstance(item.get("method"), str):
            calls.append((item["method"], item.get("params", [])))
        elif isinstance(item, list) and item and isinstance(item[0], str):
            calls.append((item[0], item[1] if len(item) > 1 else []))
        else:
            raise ValueError(
                f'Call #{i + 1} of the batch needs a method: {{"method": "eth_chainId", '
                '"params": []}.'
            )
    return calls


class _ConsoleKeys(QObject):
    """Ctrl+Enter sends from any input of the console; Up/Down in the method field walk the
    history (when no completion popup is open)."""

    def __init__(self, console: RpcConsole) -> None:
        super().__init__(console)
        self.console = console

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() != QEvent.Type.KeyPress or not isinstance(event, QKeyEvent):
            return False
        key = event.key()
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and (
            event.modifiers() & Qt.KeyboardModifier.ControlModifier
        ):
            self.console.send()
            return True
        if watched is not self.console.method_edit:
            return False
        popup = self.console.completer.popup()
        if popup is not None and popup.isVisible():
            return False
        if key == Qt.Key.Key_Up:
            self.console.history_step(-1)
            return True
        if key == Qt.Key.Key_Down:
            self.console.history_step(1)
            return True
        return False


class RpcConsole(QWidget):
    """The console page. `set_nodes()` keeps the node picker in step with the manager.

    Signals:
        answered(object): an RpcResult (or a list of them for a batch) was shown.
        send_dialog_opened(object): a Send transaction dialog was opened (the window follows
            its `sent`/`mined` signals into the wallet page).
    """

    answered = Signal(object)
    send_dialog_opened = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.manager: NodeManager | None = None
        self.wallet: Wallet | None = None
        self.txlog: TxLog | None = None  # where sent transactions are recorded (the window's)
        self.catalog: Catalog = load_catalog()
        self.served: Catalog = self.catalog
        self.history = History()
        self._client: JsonRpcClient | None = None
        self._client_node: tuple[str, str, str] | None = None  # id, url, password
        self._rows: dict[str, NodeRow] = {}
        self._last_value: Any = None
        self._last_label = "result"
        self._shown = 0  # counts show_value calls: a slow formatting of an older one is dropped

        self.node_combo = QComboBox()
        self.node_combo.setMinimumWidth(240)
        self.node_combo.setPlaceholderText("no running node")
        self.modules_label = style.label("", "muted")
        self.batch_check = QCheckBox("&Batch")
        self.batch_check.setToolTip("Send several calls in one request")
        self.tx_button = QPushButton("Send &transaction…")
        self.tx_button.setIcon(style.icon("send"))

        self.method_edit = QLineEdit()
        self.method_edit.setPlaceholderText("method, e.g. eth_blockNumber (Up/Down: history)")
        self.method_edit.setFont(style.mono_font())
        self.completer_model = QStringListModel(self.catalog.names(), self)
        self.completer = QCompleter(self.completer_model, self)
        self.completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self.method_edit.setCompleter(self.completer)
        self.signature = style.label("", "muted", wrap=True)
        self.params_edit = QPlainTextEdit()
        self.params_edit.setFont(style.mono_font())
        self.params_edit.setPlaceholderText('params as JSON, e.g. ["latest", false]')
        self.params_edit.setTabChangesFocus(True)
        self.params_edit.setMaximumHeight(90)
        self.send_button = QPushButton("&Send")
        self.send_button.setProperty("role", "primary")
        self.send_button.setToolTip("Send the call (Ctrl+Enter)")

        self.status = QLabel()
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.conversion = style.label("", "muted", selectable=True)
        self.result_tabs = QTabWidget()
        self.result_view = ResultView()
        self.result_view.setFont(style.mono_font())
        self.tree = JsonTree()
        self.result_tabs.addTab(self.result_view, "Pretty")
        self.result_tabs.addTab(self.tree, "Tree")
        self._tree_stale = False

        top = QHBoxLayout()
        node_label = QLabel("&Node")
        node_label.setBuddy(self.node_combo)
        top.addWidget(node_label)
        top.addWidget(self.node_combo)
        top.addWidget(self.modules_label, 1)
        top.addWidget(self.batch_check)
        top.addWidget(self.tx_button)

        request = QWidget()
        req_lay = QVBoxLayout(request)
        req_lay.setContentsMargins(0, 0, 0, 0)
        method_row = QHBoxLayout()
        method_label = QLabel("&Method")
        method_label.setBuddy(self.method_edit)
        method_row.addWidget(method_label)
        method_row.addWidget(self.method_edit, 1)
        method_row.addWidget(self.send_button)
        req_lay.addLayout(method_row)
        req_lay.addWidget(self.signature)
        params_label = QLabel("&Params")
        params_label.setBuddy(self.params_edit)
        req_lay.addWidget(params_label)
        req_lay.addWidget(self.params_edit)
        req_lay.addStretch(1)

        response = QWidget()
        resp_lay = QVBoxLayout(response)
        resp_lay.setContentsMargins(0, 0, 0, 0)
        resp_lay.addWidget(self.status)
        resp_lay.addWidget(self.result_tabs, 1)
        resp_lay.addWidget(self.conversion)

        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(request)
        splitter.addWidget(response)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([170, 600])
        splitter.setChildrenCollapsible(False)

        lay = QVBoxLayout(self)
        lay.setSpacing(style.SPACING)
        lay.addLayout(top)
        lay.addWidget(splitter, 1)

        self.setTabOrder(self.node_combo, self.method_edit)
        self.setTabOrder(self.method_edit, self.params_edit)
        self.setTabOrder(self.params_edit, self.send_button)
        self.setTabOrder(self.send_button, self.result_tabs)

        keys = _ConsoleKeys(self)
        for widget in (self.method_edit, self.params_edit, self.node_combo, self.send_button):
            widget.installEventFilter(keys)
        self.send_button.clicked.connect(self.send)
        self.method_edit.returnPressed.connect(self._method_entered)
        self.completer.activated.connect(self._method_chosen)
        self.method_edit.textChanged.connect(self._show_signature)
        self.node_combo.currentIndexChanged.connect(self._node_changed)
        self.batch_check.toggled.connect(self._batch_toggled)
        self.result_view.selectionChanged.connect(self._selection_changed)
        self.result_tabs.currentChanged.connect(self._tab_changed)
        self.tx_button.clicked.connect(self.open_send_transaction)
        self._set_status("Pick a node, type a method, press Ctrl+Enter.", "muted")

    # --- nodes ---------------------------------------------------------------------------
    def set_nodes(self, rows: Sequence[NodeRow]) -> None:
        """Offer the active nodes with a URL; keep the current choice when it is still there."""
        usable = [r for r in rows if r.state.active and r.url]
        self._rows = {r.id: r for r in usable}
        wanted = [(r.id, f"{r.name}  ({r.chain}, {r.state.value})") for r in usable]
        if forms.refill_combo(self.node_combo, wanted):
            self._node_changed()

    def select_node(self, node_id: str) -> None:
        index = self.node_combo.findData(node_id)
        if index >= 0:
            self.node_combo.setCurrentIndex(index)

    def _node_changed(self) -> None:
        self._drop_client()
        self.served = self.catalog
        self.completer_model.setStringList(self.catalog.names())
        self.modules_label.clear()
        node_id = self.node_combo.currentData()
        if node_id and self._client_for(str(node_id)) is not None:
            self._load_modules()

    def _client_for(self, node_id: str) -> JsonRpcClient | None:
        row = self._rows.get(node_id)
        if row is None or self.manager is None:
            return None
        try:
            password = self.manager.password(node_id) or ""
        except Exception as exc:
            self._set_status(
                f"Could not read the node's password from the keyring: {exc}. Unlock the "
                "system keyring and pick the node again.",
                "error",
            )
            return None
        key = (node_id, row.url, password)
        if self._client is None or self._client_node != key:
            from erigolem_desktop.core.rpc import JsonRpcClient  # aiohttp: loaded on first use

            self._drop_client()
            self._client = JsonRpcClient(row.url, row.user, password)
            self._client_node = key
        return self._client

    def _drop_client(self) -> None:
        if self._client is not None:
            client, self._client, self._client_node = self._client, None, None
            Op.coro(client.close, label="close rpc client").failure(lambda _m, _h: None).run()

    def _load_modules(self) -> None:
        client = self._client
        if client is None:
            return

        def got(result: RpcResult) -> None:
            if client is not self._client:
                return
            if result.ok and isinstance(result.result, dict) and result.result:
                self.served = self.catalog.filter_modules(result.result)
                self.completer_model.setStringList(self.served.names())
                self.modules_label.setText("Serves: " + ", ".join(sorted(result.result)))
            else:
                self.modules_label.setText("rpc_modules not answered: showing every method")

        Op.coro(lambda: client.call("rpc_modules", [], timeout=10), label="rpc_modules").success(
            got
        ).failure(lambda m, _h: self.modules_label.setText(f"Could not list modules: {m}")).run()

    # --- method and params ------------------------------------------------------------------
    def _show_signature(self, text: str) -> None:
        method = self.catalog.get(text.strip())
        if method is None:
            self.signature.setText("")
            return
        note = "" if text.strip() in self.served else "   (this node does not list its module)"
        self.signature.setText(f"{method.signature()} — {method.description}{note}")

    def _method_chosen(self, name: str) -> None:
        self.fill_template(name)
        self.params_edit.setFocus()

    def _method_entered(self) -> None:
        popup = self.completer.popup()
        if popup is not None and popup.isVisible():
            return
        if not self.params_edit.toPlainText().strip():
            self.fill_template(self.method_edit.text().strip())
        self.params_edit.setFocus()

    def fill_template(self, name: str) -> None:
        """Put the catalog's example params of `name` into the editor."""
        method = self.catalog.get(name)
        if method is None:
            return
        if self.batch_check.isChecked():
            self._batch_toggled(True)
            return
        self.params_edit.setPlainText(json.dumps(method.template()))

    def _batch_toggled(self, on: bool) -> None:
        if on:
            name = self.method_edit.text().strip() or "eth_blockNumber"
            method = self.catalog.get(name)
            params = method.template() if method else []
            calls = [{"method": name, "params": params}, {"method": "eth_chainId", "params": []}]
            self._batch_layout(True)
            self.params_edit.setPlainText(json.dumps(calls, indent=1))
        else:
            self._batch_layout(False)
            self.params_edit.clear()

    def _batch_layout(self, on: bool) -> None:
        """The editors' shape in batch mode (a tall params editor, no method field)."""
        self.params_edit.setMaximumHeight(200 if on else 90)
        self.method_edit.setEnabled(not on)

    def history_step(self, step: int) -> None:
        """Recall the previous/next call; a batch comes back as a batch (Batch ticked)."""
        entry = self.history.previous() if step < 0 else self.history.next()
        if entry is None:
            if step > 0:
                self.method_edit.clear()
                self.params_edit.clear()
            return
        batch = entry.method == BATCH_ENTRY
        if batch != self.batch_check.isChecked():
            self.batch_check.blockSignals(True)
            self.batch_check.setChecked(batch)
            self.batch_check.blockSignals(False)
            self._batch_layout(batch)
        self.method_edit.setText("" if batch else entry.method)
        self.params_edit.setPlainText(entry.params)

    # --- sending -------------------------------------------------------------------------
    def send(self) -> None:
        node_id = self.node_combo.currentData()
        if not node_id:
            self._set_status("No running node to send to: start one on the Nodes tab.", "error")
            return
        client = self._client_for(str(node_id))
        if client is None:
            if not self.status.text():
                self._set_status("This node has no endpoint yet: wait until it starts.", "error")
            return
        params_text = self.params_edit.toPlainText()
        try:
            if self.batch_check.isChecked():
                calls = parse_batch(params_text)
                label = f"batch of {len(calls)}"
            else:
                method = self.method_edit.text().strip()
                if not method:
                    self._set_status("Type a method name first (Tab completes).", "error")
                    self.method_edit.setFocus()
                    return
                params = parse_params(params_text)
                label = method
        except ValueError as exc:
            self._set_status(str(exc), "error")
            self._shown += 1  # a big result still being formatted must not come back
            self.result_view.show_plain("")  # the previous answer is not this call's
            self._last_value, self._tree_stale = None, False
            self.tree.clear()
            self.params_edit.setFocus()
            return
        secrets = tuple(s for s in (self._client_node[2] if self._client_node else "",) if s)
        if self.batch_check.isChecked():
            self.history.add(HistoryEntry(BATCH_ENTRY, params_text), secrets)
            op: Op[Any] = Op.coro(lambda: client.batch(calls), label=label)
        else:
            self.history.add(HistoryEntry(method, params_text), secrets)
            op = Op.coro(lambda: client.call(method, params), label=label)
        self.send_button.setEnabled(False)
        self._set_status(f"Sending {label}…", "muted")
        op.success(self._answered).failure(
            lambda m, h: self._set_status(f"{m} {h}".strip(), "error")
        ).finally_(lambda: self.send_button.setEnabled(True)).run()

    def _answered(self, answer: RpcResult | list[RpcResult]) -> None:
        if isinstance(answer, list):
            label = "batch"
            value: Any = [
                {"method": r.method, **({"error": r.error} if r.error else {"result": r.result})}
                for r in answer
            ]
            errors = sum(1 for r in answer if r.error)
            summary = f"batch of {len(answer)}"
            if errors:
                summary += f" · {errors} error{'s' if errors != 1 else ''}"
            if answer:
                summary += (
                    f" · {answer[0].elapsed_ms:.1f} ms · {units.format_bytes(answer[0].size_bytes)}"
                )
            self._set_status(summary, "error" if errors else "ok")
        elif answer.error is not None:
            value, label = answer.error, "error"
            self._set_status(
                f"{answer.method} returned an error {answer.error.get('code')}: "
                f"{answer.error.get('message', '')} · {answer.elapsed_ms:.1f} ms. Check the "
                "method name and params.",
                "error",
            )
        else:
            value, label = answer.result, "result"
            self._set_status(
                f"{answer.method} · {answer.elapsed_ms:.1f} ms · {units.format_bytes(answer.size_bytes)}",
                "ok",
            )
        size = (
            answer[0].size_bytes
            if isinstance(answer, list) and answer
            else getattr(answer, "size_bytes", 0)
        )
        self.show_value(value, size_hint=size, label=label)
        self.answered.emit(answer)

    def show_value(self, value: Any, *, size_hint: int = 0, label: str = "result") -> None:
        """Pretty-print `value` (in loop-turn slices when big) and show it without blocking;
        a later call replaces a big value still being formatted or inserted. `label` names
        the Tree view's root ("result", "error", "batch")."""
        self._last_value = value
        self._last_label = label
        self._tree_stale = True
        self._shown += 1
        if self.result_tabs.currentWidget() is self.tree:
            self._tab_changed(self.result_tabs.currentIndex())
        if size_hint < PRETTY_INLINE_BYTES:
            self.result_view.show_plain(pretty(value))
            return
        self.result_view.show_plain(f"Formatting {units.format_bytes(size_hint)}…")
        shown = self._shown

        async def format_and_show() -> None:
            text = await pretty_sliced(value, still_wanted=lambda: shown == self._shown)
            if text is not None and shown == self._shown:
                await self.result_view.show_text(text)

        Op.coro(format_and_show, label="pretty-print").run()

    def _tab_changed(self, _index: int) -> None:
        if self.result_tabs.currentWidget() is self.tree and self._tree_stale:
            self._tree_stale = False
            self.tree.set_value(self._last_value, self._last_label)

    def _selection_changed(self) -> None:
        text = self.result_view.textCursor().selectedText()
        self.conversion.setText(describe_selection(text))

    def _set_status(self, text: str, role: str) -> None:
        style.set_message(self.status, text, role)
        self.status.setVisible(True)

    # --- send transaction ------------------------------------------------------------------
    def open_send_transaction(self) -> None:
        from erigolem_desktop.ui.send_tx import SendTransactionDialog

        node_id = self.node_combo.currentData()
        client = self._client_for(str(node_id)) if node_id else None
        if client is None or self.wallet is None:
            self._set_status(
                "Pick a running node first: the transaction is sent through it.", "error"
            )
            return
        row = self._rows.get(str(node_id))
        dialog = SendTransactionDialog(
            client,
            self.wallet,
            self,
            chain=row.chain if row else "",
            node_id=str(node_id),
            txlog=self.txlog,
        )
        self.send_dialog_opened.emit(dialog)
        dialog.open()

    async def close_client(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()

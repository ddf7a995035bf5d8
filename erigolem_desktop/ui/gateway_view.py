"""The Gateway tab: one stable loopback URL per chain over the user's ready nodes.

The gateway itself (core.gateway.runner.LocalGateway: aiohttp on the app's one loop) is started
here on request, or with the app when the setting says so. The tab shows per chain its URL and
WebSocket URL with copy buttons, what to type into MetaMask, which nodes are in or out and why,
the notices (a node taken out, a lie caught) and per-method stats measured at the gateway.
Everything is read from the in-process status once a second; no call blocks the loop.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from erigolem_desktop.ui import forms, ops, style
from erigolem_desktop.ui.ops import Op
from erigolem_desktop.ui.qt import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QGuiApplication,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    Qt,
    QTimer,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
    Signal,
)

if TYPE_CHECKING:
    from erigolem_desktop.core.gateway.pool import Notice
    from erigolem_desktop.core.gateway.runner import LocalGateway
    from erigolem_desktop.core.manager import NodeManager
    from erigolem_desktop.core.settings import Settings, SettingsStore

log = logging.getLogger(__name__)

REFRESH_MS = 1000
VERIFY_CHOICES = (
    ("mark", "Check proofs; pass unverifiable answers on, marked"),
    ("refuse", "Check proofs; refuse unverifiable answers"),
    ("off", "Do not check (forward as they are)"),
)
NO_CHAIN_TEXT = (
    "No chain yet: start a node on the Nodes tab; its chain appears here once it is ready."
)
NODE_COLUMNS = ("Node", "State", "Head", "Latency", "Why")
STATS_COLUMNS = ("Method", "Calls", "Errors", "Retries", "Verified", "p50 ms", "p95 ms", "p99 ms")
NOTICE_COLUMNS = ("Time", "Chain", "Node", "What", "Details")


def _tree(columns: tuple[str, ...]) -> QTreeWidget:
    tree = QTreeWidget()
    tree.setColumnCount(len(columns))
    tree.setHeaderLabels(list(columns))
    tree.setRootIsDecorated(False)
    tree.setAlternatingRowColors(True)
    tree.setUniformRowHeights(True)
    tree.header().setDefaultSectionSize(72)  # numbers; the first column is sized to fit below
    tree.setColumnWidth(0, 150)
    return tree


def _fill(tree: QTreeWidget, rows: list[list[str]]) -> None:
    """Show `rows`: texts updated in place when the rows are the same ones, else rebuilt."""
    items = [tree.topLevelItem(i) for i in range(tree.topLevelItemCount())]
    current = [item for item in items if item is not None]
    if [item.text(0) for item in current] == [r[0] for r in rows]:
        changed = False
        for item, row in zip(current, rows, strict=True):
            for col, text in enumerate(row):
                if item.text(col) != text:
                    item.setText(col, text)
                    changed = True
        if changed:
            for col in range(1, tree.columnCount() - 1):
                tree.resizeColumnToContents(col)
        return
    tree.clear()
    tree.addTopLevelItems([QTreeWidgetItem(row) for row in rows])
    for col in range(tree.columnCount() - 1):
        tree.resizeColumnToContents(col)


class ChainCard(QGroupBox):
    """One chain: its URLs with copy buttons, the MetaMask fields, its nodes in and out."""

    copied = Signal(str)

    def __init__(self, chain: str, parent: QWidget | None = None) -> None:
        super().__init__(chain, parent)
        self.chain = chain
        self.url_edit = self._field()
        self.ws_edit = self._field()
        self.copy_url = forms.copy_button(f"Copy the {chain} URL")
        self.copy_ws = forms.copy_button(f"Copy the {chain} WebSocket URL")
        self.chain_id_edit = self._field()
        self.copy_chain_id = forms.copy_button("Copy the chain id")
        self.network_name = self._field()
        self.hint_text = ""
        self.copy_hint = QPushButton("Copy network details")
        self.copy_hint.setIcon(style.icon("copy"))
        self.copy_hint.setToolTip("Copy what MetaMask's Add a network form asks for, as text")
        self.nodes = _tree(NODE_COLUMNS)
        self.nodes.setMinimumHeight(80)
        self.disagreement = style.label("", "warning", wrap=True, selectable=True)
        self.disagreement.hide()

        form = QFormLayout()
        form.addRow("HTTP URL", self._row(self.url_edit, self.copy_url))
        form.addRow("WebSocket", self._row(self.ws_edit, self.copy_ws))
        mm = QFormLayout()
        mm.addRow("Network name", self.network_name)
        mm.addRow("Chain ID", self._row(self.chain_id_edit, self.copy_chain_id))
        mm.addRow("Currency symbol", style.label("ETH", selectable=True))
        meta = QVBoxLayout()
        meta.addWidget(style.label("Add to MetaMask", "heading"))
        meta.addWidget(
            style.label(
                "Settings → Networks → Add a network manually; RPC URL = the HTTP URL above.",
                "muted",
                wrap=True,
            )
        )
        meta.addLayout(mm)
        meta.addWidget(self.copy_hint, 0, Qt.AlignmentFlag.AlignLeft)
        top = QHBoxLayout()
        top.addLayout(form, 3)
        top.addLayout(meta, 2)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.disagreement)
        lay.addWidget(self.nodes)

        self.copy_url.clicked.connect(lambda: self._copy(self.url_edit.text(), "URL"))
        self.copy_ws.clicked.connect(lambda: self._copy(self.ws_edit.text(), "WebSocket URL"))
        self.copy_chain_id.clicked.connect(
            lambda: self._copy(self.chain_id_edit.text(), "chain id")
        )
        self.copy_hint.clicked.connect(lambda: self._copy(self.hint_text, "network details"))

    @staticmethod
    def _field() -> QLineEdit:
        edit = QLineEdit()
        edit.setReadOnly(True)
        edit.setFont(style.mono_font())
        return edit

    @staticmethod
    def _row(*widgets: QWidget) -> QWidget:
        box = QWidget()
        lay = QHBoxLayout(box)
        lay.setContentsMargins(0, 0, 0, 0)
        for w in widgets:
            lay.addWidget(w)
        return box

    def _copy(self, text: str, what: str) -> None:
        QGuiApplication.clipboard().setText(text)
        self.copied.emit(f"Copied the {self.chain} {what}.")

    def show_status(self, chain: dict[str, Any], url: str, ws_url: str, hint: str) -> None:
        """Show one chain's part of the gateway status."""
        nodes = chain.get("nodes", [])
        inside = sum(1 for n in nodes if n.get("in"))
        cid = chain.get("chain_id")
        self.setTitle(
            f"{self.chain} — chain id {cid if cid is not None else '?'} — "
            f"{inside}/{len(nodes)} node(s) in, head {chain.get('best_head')}"
        )
        for edit, text in (
            (self.url_edit, url),
            (self.ws_edit, ws_url),
            (self.chain_id_edit, "" if cid is None else str(cid)),
            (self.network_name, f"Erigolem {self.chain}"),
        ):
            if edit.text() != text:
                edit.setText(text)
        self.hint_text = hint
        text = chain.get("disagreement") or ""
        self.disagreement.setText(f"⚠ {text}" if text else "")
        self.disagreement.setVisible(bool(text))
        rows = []
        for n in nodes:
            state = "OUT — caught lying" if n.get("lied") else "in" if n.get("in") else "out"
            latency = n.get("latency_ms")
            rows.append(
                [
                    str(n.get("name")),
                    state,
                    "" if n.get("head") is None else str(n["head"]),
                    "" if latency is None else f"{latency:.1f} ms",
                    str(n.get("reason", "")),
                ]
            )
        _fill(self.nodes, rows)


class GatewayPage(QWidget):
    """The Gateway tab (see the module docstring).

    Signals:
        message(str): something to show in the status bar (copied, started, failed).
        notice(str, str): a gateway notice (kind, text) the window may raise (tray, status).
    """

    message = Signal(str)
    notice = Signal(str, str)

    def __init__(
        self, settings: Settings, store: SettingsStore, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.settings = settings
        self.store = store
        self.manager: NodeManager | None = None
        self.gateway: LocalGateway | None = None
        self.cards: dict[str, ChainCard] = {}
        self._busy = False
        self._syncing = False

        self.state_label = style.label("The gateway is off.", "heading")
        self.error_label = style.label("", "error", wrap=True, selectable=True)
        self.error_label.hide()
        self.toggle_button = QPushButton("Start &gateway")
        self.toggle_button.setProperty("role", "primary")
        self.toggle_button.setEnabled(False)
        self.toggle_button.setToolTip("Waiting for the node manager")
        self.autostart_check = QCheckBox("Start with the app")
        self.autostart_check.setChecked(settings.gateway_autostart)
        self.port_spin = QSpinBox()
        self.port_spin.setRange(1024, 65535)
        self.port_spin.setValue(settings.gateway_port)
        self.port_spin.setToolTip("Port on 127.0.0.1 (8545 is what wallets try first)")
        self.verify_combo = QComboBox()
        for value, text in VERIFY_CHOICES:
            self.verify_combo.addItem(text, value)
        self.verify_combo.setCurrentIndex(
            max(0, self.verify_combo.findData(settings.gateway_verify))
        )
        self.verify_combo.setToolTip(
            "eth_getBalance, eth_getTransactionCount, eth_getCode and eth_getStorageAt are "
            "checked against Merkle proofs of a block header the nodes agree on"
        )
        intro = style.label(
            "One stable URL per chain on this computer, for wallets and tools that cannot take "
            "a user and password. Calls go to a healthy node of that chain and fail over to "
            "the next; state reads are checked against Merkle proofs. Only this computer can "
            "reach it (127.0.0.1).",
            "muted",
            wrap=True,
        )
        self.empty_hint = style.label(self._off_text(), "muted", wrap=True)

        controls = QHBoxLayout()
        controls.addWidget(self.toggle_button)
        controls.addSpacing(style.SPACING * 2)
        controls.addWidget(QLabel("Port"))
        controls.addWidget(self.port_spin)
        controls.addWidget(QLabel("State reads"))
        controls.addWidget(self.verify_combo)
        controls.addWidget(self.autostart_check)
        controls.addStretch(1)

        self.cards_box = QWidget()
        self.cards_layout = QVBoxLayout(self.cards_box)
        self.cards_layout.setContentsMargins(0, 0, 0, 0)
        self.cards_layout.addWidget(self.empty_hint)
        self.cards_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(self.cards_box)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)

        self.notices = _tree(NOTICE_COLUMNS)
        self.stats = _tree(STATS_COLUMNS)
        lower = QSplitter(Qt.Orientation.Horizontal)
        for title, tree in (("Notices", self.notices), ("Calls by method", self.stats)):
            box = QWidget()
            lay = QVBoxLayout(box)
            lay.setContentsMargins(0, 0, 0, 0)
            lay.addWidget(style.label(title, "heading"))
            lay.addWidget(tree)
            lower.addWidget(box)
        lower.setSizes([600, 600])
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(scroll)
        split.addWidget(lower)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        split.setChildrenCollapsible(False)
        split.setSizes([460, 200])  # a chain's card in full at 1280x800, notices and stats below

        lay = QVBoxLayout(self)
        lay.setContentsMargins(style.MARGIN, style.MARGIN, style.MARGIN, style.MARGIN)
        lay.addWidget(self.state_label)
        lay.addWidget(intro)
        lay.addLayout(controls)
        lay.addWidget(self.error_label)
        lay.addWidget(split, 1)

        self.timer = QTimer(self)
        self.timer.setInterval(REFRESH_MS)
        self.timer.timeout.connect(self._tick)
        self.toggle_button.clicked.connect(self.toggle)
        self.autostart_check.toggled.connect(self._save_settings)
        self.port_spin.valueChanged.connect(self._save_settings)
        self.verify_combo.currentIndexChanged.connect(self._save_settings)

    # --- wiring --------------------------------------------------------------------------
    def use_manager(self, manager: NodeManager) -> None:
        """The manager is there: the gateway can start (now, when the setting says so)."""
        self.manager = manager
        self.toggle_button.setEnabled(True)
        self.toggle_button.setToolTip("Serve your ready nodes on 127.0.0.1")
        if self.settings.gateway_autostart and self.gateway is None:
            self.start_gateway()
        else:
            self.refresh()

    def nodes_changed(self) -> None:
        """Node rows changed: let the gateway follow the ready nodes soon (not on this call)."""
        if self.gateway is not None:
            QTimer.singleShot(0, self._sync)
        elif not self._busy:
            self.empty_hint.setText(self._off_text())

    def _save_settings(self) -> None:
        s = self.settings
        s.gateway_autostart = self.autostart_check.isChecked()
        s.gateway_port = self.port_spin.value()
        s.gateway_verify = str(self.verify_combo.currentData())
        try:
            self.store.save(s)
        except Exception as exc:
            self._show_error(*ops.describe_error(exc))
            return
        if self.gateway is not None:
            self.message.emit("Saved; port and verification apply when the gateway restarts.")
        else:
            self.refresh()

    # --- start / stop --------------------------------------------------------------------
    def toggle(self) -> None:
        if self.gateway is None:
            self.start_gateway()
        else:
            self.stop_gateway()

    def start_gateway(self) -> Any:
        """Start serving (an operation on the loop); the task, or None when it cannot start."""
        if self.manager is None or self._busy or self.gateway is not None:
            return None
        from erigolem_desktop.core.gateway import GatewayPolicy, VerifyMode
        from erigolem_desktop.core.gateway.runner import LocalGateway

        policy = GatewayPolicy(verify=VerifyMode(self.settings.gateway_verify))
        gateway = LocalGateway(self.manager, policy, self.settings.gateway_port)
        gateway.listeners.append(self._on_notice)
        self._set_busy(True, "Starting the gateway…")

        async def start() -> int:
            try:
                return await gateway.start()
            except OSError as exc:
                from erigolem_desktop.core.gateway.config import GatewayConfigError

                raise GatewayConfigError(
                    f"The gateway cannot listen on 127.0.0.1:{gateway.port} "
                    f"({exc.strerror or exc}).",
                    "Another program (or `erigolem gateway serve`) uses that port: stop it or "
                    "pick another port here.",
                ) from None

        def started(port: int) -> None:
            self.gateway = gateway
            style.set_message(self.error_label, "", "error")
            self.message.emit(f"The gateway serves on 127.0.0.1:{port}.")
            self.timer.start()
            self.refresh()

        return (
            Op.coro(start, label="start gateway")
            .finally_(lambda: self._set_busy(False))
            .success(started)
            .failure(self._show_error)
            .run()
        )

    def stop_gateway(self) -> Any:
        """Stop serving; the task (None when not running)."""
        gateway, self.gateway = self.gateway, None
        if gateway is None:
            return None
        self.timer.stop()
        self._set_busy(True, "Stopping the gateway…")

        def stopped(_r: None) -> None:
            self.message.emit("The gateway stopped; its URLs no longer answer.")
            self.refresh()

        return (
            Op.coro(gateway.stop, label="stop gateway")
            .finally_(lambda: self._set_busy(False))
            .success(stopped)
            .failure(self._show_error)
            .run()
        )

    async def shutdown(self) -> None:
        """App exit: stop the gateway (its run file goes with it)."""
        self.timer.stop()
        gateway, self.gateway = self.gateway, None
        if gateway is not None:
            await gateway.stop()

    def _set_busy(self, busy: bool, text: str = "") -> None:
        self._busy = busy
        self.toggle_button.setEnabled(not busy and self.manager is not None)
        if busy:
            self.state_label.setText(text)
        else:
            self.refresh()

    def _show_error(self, message: str, hint: str) -> None:
        style.set_message(self.error_label, f"{message} {hint}".strip(), "error")
        self.refresh()

    # --- showing -------------------------------------------------------------------------
    def _tick(self) -> None:
        self._sync()
        self.refresh()

    def _sync(self) -> None:
        gateway = self.gateway
        if gateway is None or self._syncing:
            return
        self._syncing = True

        async def sync() -> bool:
            try:
                return await gateway.sync()
            finally:
                self._syncing = False

        Op.coro(sync, label="gateway nodes").success(
            lambda changed: self.refresh() if changed else None
        ).failure(self._show_error).run()

    def _on_notice(self, notice: Notice) -> None:
        self.notice.emit(notice.kind, f"Gateway {notice.chain}/{notice.node}: {notice.message}")

    def refresh(self) -> None:
        """Show the gateway's current status (cheap: read from memory)."""
        gateway = self.gateway
        status = None if gateway is None else gateway.status()
        self.toggle_button.setText("Stop &gateway" if status else "Start &gateway")
        if status is None:
            if not self._busy:
                self.state_label.setText("The gateway is off.")
            for old in list(self.cards.values()):
                self._drop_card(old)
            self.empty_hint.setText(self._off_text())
            self.empty_hint.show()
            return
        assert gateway is not None
        pol = status["policy"]
        chains = status["chains"]
        self.state_label.setText(
            f"Serving on 127.0.0.1:{status['port']} — {len(chains)} chain(s), "
            f"state reads: {pol['verify']}, writes: {pol['writes']}"
        )
        self.empty_hint.setText(NO_CHAIN_TEXT)
        self.empty_hint.setVisible(not chains)
        seen = set()
        for chain in chains:
            name = chain["chain"]
            seen.add(name)
            card = self.cards.get(name)
            if card is None:
                card = ChainCard(name)
                card.copied.connect(self.message.emit)
                self.cards[name] = card
                self.cards_layout.insertWidget(self.cards_layout.count() - 1, card)
            card.show_status(
                chain,
                gateway.url(name),
                gateway.ws_url(name),
                gateway.hint(name, chain["chain_id"]),
            )
        for gone in [c for n, c in self.cards.items() if n not in seen]:
            self._drop_card(gone)
        _fill(
            self.notices,
            [
                [
                    time.strftime("%H:%M:%S", time.localtime(n.at)),
                    n.chain,
                    n.node,
                    n.kind,
                    n.message,
                ]
                for n in reversed(gateway.notices)
            ],
        )
        methods = status["stats"]["methods"]
        _fill(
            self.stats,
            [
                [
                    name,
                    str(m["calls"]),
                    str(m["errors"]),
                    str(m["retries"]),
                    f"{m['verified']}/{m['verified'] + m['unverified']}"
                    if m["verified"] + m["unverified"]
                    else "",
                    f"{m['p50_ms']:.2f}",
                    f"{m['p95_ms']:.2f}",
                    f"{m['p99_ms']:.2f}",
                ]
                for name, m in methods.items()
            ],
        )

    def _off_text(self) -> str:
        """What Start would serve: the ready nodes by chain, and the URL shape."""
        url = f"http://127.0.0.1:{self.settings.gateway_port}/<chain>"
        chains: dict[str, int] = {}
        if self.manager is not None:
            from erigolem_desktop.core.states import NodeState

            for rec in self.manager.list(active_only=True):
                if rec.state is NodeState.READY:
                    chains[rec.chain] = chains.get(rec.chain, 0) + 1
        if not chains:
            return f"Start gateway serves your ready nodes at {url}. No node is ready yet."
        ready = ", ".join(
            f"{c} ({n} node{'s' if n > 1 else ''})" for c, n in sorted(chains.items())
        )
        return f"Start gateway serves your ready nodes at {url}. Ready now: {ready}."

    def _drop_card(self, card: ChainCard) -> None:
        self.cards.pop(card.chain, None)
        self.cards_layout.removeWidget(card)
        card.deleteLater()

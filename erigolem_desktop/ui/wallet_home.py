"""The wallet page (what MetaMask opens on): the active account's balance on the chain of the
picked node, its address to copy or scan (QR code), Send, the transactions sent from the app
with status, receipt and gas paid, and for dev chains Fund 100 ETH and anvil's own accounts.

Every node call is awaited on the loop (Op.coro); the QR code is drawn from segno's matrix,
cheap enough for the loop (an address is a version-3 code, 29x29 modules).

Signals:
    send_requested(str): the user wants to send from this node (node id).
    backup_requested(): the user wants to back up the account (phrase, keystore).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from erigolem_desktop.core import units
from erigolem_desktop.core.txlog import MINED, PENDING, REVERTED, SentTx, TxLog
from erigolem_desktop.ui import forms, style
from erigolem_desktop.ui.nodes_model import NodeRow
from erigolem_desktop.ui.ops import Op
from erigolem_desktop.ui.qt import (
    QColor,
    QComboBox,
    QGridLayout,
    QGroupBox,
    QGuiApplication,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPainter,
    QPixmap,
    QPushButton,
    QShowEvent,
    Qt,
    QTimer,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
    Signal,
)

if TYPE_CHECKING:
    from erigolem_desktop.core.manager import NodeManager
    from erigolem_desktop.core.rpc import JsonRpcClient
    from erigolem_desktop.core.wallet import Wallet

FUND_WEI = 100 * 10**18  # "Fund 100 ETH" on a dev chain
BALANCE_POLL_MS = 10_000
QR_MODULE_PX = 5
TX_COLUMNS = ("Sent", "To", "Value", "Status", "Block", "Gas paid", "Chain", "Hash")
DEV_CLIENTS = frozenset({"anvil"})  # clients whose chain the app may fund (anvil_setBalance)


def qr_pixmap(text: str, module_px: int = QR_MODULE_PX) -> QPixmap:
    """A QR code of `text` (black on white, 2-module quiet zone), drawn from segno's matrix."""
    import segno

    code = segno.make(text, error="m", micro=False)
    border = 2
    matrix = code.matrix
    size = (len(matrix) + 2 * border) * module_px
    pixmap = QPixmap(size, size)
    pixmap.fill(QColor("white"))
    painter = QPainter(pixmap)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor("black"))
    for y, row in enumerate(matrix):
        for x, dark in enumerate(row):
            if dark:
                painter.drawRect(
                    (x + border) * module_px, (y + border) * module_px, module_px, module_px
                )
    painter.end()
    return pixmap


def _short(address: str) -> str:
    return f"{address[:8]}…{address[-6:]}" if len(address) > 16 else address


def eth(wei: int) -> str:
    """An amount as the wallet page shows it ("1.5 ETH"; small ones in gwei)."""
    return units.format_ether(wei).replace(" ether", " ETH")


def status_text(tx: SentTx) -> str:
    return {PENDING: "pending", MINED: "mined", REVERTED: "reverted"}.get(tx.status, tx.status)


class WalletPage(QWidget):
    """Balance, receive (address, QR), send, and the sent transactions of the unlocked account."""

    send_requested = Signal(str)
    backup_requested = Signal()

    def __init__(self, wallet: Wallet, txlog: TxLog | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.wallet = wallet
        self.txlog = txlog or TxLog()
        self.manager: NodeManager | None = None
        self._rows: dict[str, NodeRow] = {}
        self._client: JsonRpcClient | None = None
        self._client_key: tuple[str, str, str] | None = None
        self._address = ""
        self.balance_wei: int | None = None
        self.dev_accounts: list[tuple[str, int]] = []
        self._txs: list[SentTx] = []

        self.account_title = style.label("", "heading")
        self.address_label = QLabel()
        self.address_label.setFont(style.mono_font())
        self.address_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.copy_button = QPushButton("&Copy address")
        self.copy_button.setIcon(style.icon("copy"))
        self.backup_button = QPushButton("&Back up…")
        self.backup_button.setToolTip("Reveal the recovery phrase or export the keystore")
        self.qr = QLabel()
        self.qr.setToolTip("Scan to send to this account")
        self.qr.setAccessibleName("QR code of the address")
        self.node_combo = QComboBox()
        self.node_combo.setMinimumContentsLength(24)
        self.node_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.balance_label = style.label("", "title")
        self.balance_note = style.label("", "muted", wrap=True)
        self.refresh_button = QPushButton("&Refresh")
        self.refresh_button.setIcon(style.icon("refresh"))
        self.send_button = QPushButton("&Send…")
        self.send_button.setProperty("role", "primary")
        self.fund_button = QPushButton("&Fund 100 ETH")
        self.fund_button.setToolTip(
            "Dev chain only: add 100 ETH to this account (anvil_setBalance); "
            "the dev chain's ETH is worthless and restarts with the node"
        )
        self.message = style.label("", "muted", wrap=True, selectable=True)

        account = QGroupBox("Account")
        grid = QGridLayout(account)
        grid.addWidget(self.account_title, 0, 0, 1, 3)
        grid.addWidget(self.address_label, 1, 0, 1, 2)
        copy_row = QHBoxLayout()
        copy_row.addWidget(self.copy_button)
        copy_row.addWidget(self.backup_button)
        grid.addLayout(copy_row, 1, 2)
        node_label = QLabel("Balance on &node")
        node_label.setBuddy(self.node_combo)
        grid.addWidget(node_label, 2, 0)
        grid.addWidget(self.node_combo, 2, 1, 1, 2)
        grid.addWidget(self.balance_label, 3, 0, 1, 3)
        grid.addWidget(self.balance_note, 4, 0, 1, 3)
        actions = QHBoxLayout()
        actions.addWidget(self.send_button)
        actions.addWidget(self.fund_button)
        actions.addStretch(1)
        actions.addWidget(self.refresh_button)
        grid.addLayout(actions, 5, 0, 1, 3)
        grid.setColumnStretch(1, 1)
        grid.addWidget(self.qr, 0, 3, 6, 1, Qt.AlignmentFlag.AlignTop)

        self.dev_box = QGroupBox("Dev chain accounts (anvil's, pre-funded)")
        self.dev_list = QTreeWidget()
        self.dev_list.setHeaderLabels(["Address", "Balance"])
        self.dev_list.setRootIsDecorated(False)
        self.dev_list.setMaximumHeight(150)
        self.dev_list.setFont(style.mono_font())
        self.dev_list.setToolTip(
            "Accounts anvil creates with 10,000 ETH each; their keys come from anvil's public "
            "test mnemonic, so never use them on a real chain. Double-click to copy."
        )
        dev_lay = QVBoxLayout(self.dev_box)
        dev_lay.addWidget(self.dev_list)
        self.dev_box.hide()

        self.tx_list = QTreeWidget()
        self.tx_list.setHeaderLabels(list(TX_COLUMNS))
        self.tx_list.setRootIsDecorated(False)
        self.tx_list.setAlternatingRowColors(True)
        self.tx_list.setToolTip("Double-click: open in the block explorer, or copy the hash")
        header = self.tx_list.header()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.tx_empty = style.label(
            "No transaction sent from this app yet. Send… signs with this account and sends "
            "through the node picked above.",
            "muted",
            wrap=True,
        )
        tx_box = QGroupBox("Transactions sent from this app")
        tx_lay = QVBoxLayout(tx_box)
        tx_lay.addWidget(self.tx_empty)
        tx_lay.addWidget(self.tx_list, 1)

        lay = QVBoxLayout(self)
        lay.setSpacing(style.SPACING)
        lay.addWidget(account)
        lay.addWidget(self.message)
        lay.addWidget(self.dev_box)
        lay.addWidget(tx_box, 1)

        self.copy_button.clicked.connect(self.copy_address)
        self.backup_button.clicked.connect(self.backup_requested.emit)
        self.refresh_button.clicked.connect(self.refresh)
        self.send_button.clicked.connect(self._send)
        self.fund_button.clicked.connect(self.fund)
        self.node_combo.currentIndexChanged.connect(lambda _i: self._node_changed())
        self.tx_list.itemDoubleClicked.connect(self._open_tx)
        self.dev_list.itemDoubleClicked.connect(
            lambda item, _c: self._copy(item.text(0), "address")
        )
        self._poll = QTimer(self)
        self._poll.setInterval(BALANCE_POLL_MS)
        self._poll.timeout.connect(self._poll_tick)
        self._poll.start()
        self._update_nodes_state()

    # --- account --------------------------------------------------------------------------
    def show_account(self) -> None:
        """Follow the unlocked account (address, label, QR, its transactions)."""
        address = self.wallet.unlocked_address or ""
        if address != self._address:
            self._address = address
            self.balance_wei = None
            if address:
                info = self.wallet.get(address)
                self.account_title.setText(info.label or "Account")
                self.address_label.setText(address)
                self.qr.setPixmap(qr_pixmap(address))
            else:
                self.account_title.setText("Wallet locked")
                self.address_label.clear()
                self.qr.clear()
        self.copy_button.setEnabled(bool(address))
        self.backup_button.setEnabled(bool(address))
        self.load_transactions()
        self._refresh_if_shown()

    def copy_address(self) -> None:
        if self._address:
            self._copy(self._address, "address")

    def _copy(self, text: str, what: str) -> None:
        QGuiApplication.clipboard().setText(text)
        style.set_message(self.message, f"Copied the {what} {text}.", "muted")

    # --- nodes ----------------------------------------------------------------------------
    def set_nodes(self, rows: Sequence[NodeRow]) -> None:
        """Offer the running nodes with an endpoint; keep the current choice when it stays."""
        usable = [r for r in rows if r.state.active and r.url]
        self._rows = {r.id: r for r in usable}
        if forms.refill_combo(self.node_combo, [(r.id, f"{r.name}  ({r.chain})") for r in usable]):
            self._node_changed()

    def select_node(self, node_id: str) -> None:
        index = self.node_combo.findData(node_id)
        if index >= 0:
            self.node_combo.setCurrentIndex(index)

    @property
    def node(self) -> NodeRow | None:
        node_id = self.node_combo.currentData()
        return self._rows.get(str(node_id)) if node_id else None

    def _node_changed(self) -> None:
        self.balance_wei = None
        self.dev_accounts = []
        self.dev_list.clear()
        if self._client is not None and self.node is None:
            old, self._client, self._client_key = self._client, None, None
            Op.coro(old.close, label="close rpc client").failure(lambda _m, _h: None).run()
        self._update_nodes_state()
        self._refresh_if_shown()

    def _refresh_if_shown(self) -> None:
        """Ask the node only while the page is on screen (showEvent asks when it appears)."""
        if self.isVisible():
            self.refresh()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.refresh()

    def _update_nodes_state(self) -> None:
        row = self.node
        is_dev = row is not None and row.client in DEV_CLIENTS
        self.fund_button.setVisible(is_dev)
        self.dev_box.setVisible(is_dev)
        self.send_button.setEnabled(row is not None and bool(self._address))
        self.refresh_button.setEnabled(row is not None)
        if row is None:
            self.balance_label.setText("–")
            self.balance_note.setText(
                "Start a node (or wait until one is running) to see the balance on its chain."
            )

    def client(self) -> JsonRpcClient | None:
        """The JSON-RPC client of the picked node (one kept open, rebuilt when it changes)."""
        row = self.node
        if row is None or self.manager is None:
            return None
        password = self.manager.password(row.id) or ""
        key = (row.id, row.url, password)
        if self._client is None or key != self._client_key:
            from erigolem_desktop.core.rpc import JsonRpcClient

            old, self._client = self._client, JsonRpcClient(row.url, row.user, password)
            self._client_key = key
            if old is not None:
                Op.coro(old.close, label="close rpc client").failure(lambda _m, _h: None).run()
        return self._client

    async def close_client(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()

    # --- balance, dev accounts, pending transactions ----------------------------------------
    def _poll_tick(self) -> None:
        if self.isVisible() and self._address and self.node is not None:
            self.refresh()

    def refresh(self) -> asyncio.Task[Any] | None:
        """Ask the picked node for the balance (and anvil's accounts, pending receipts)."""
        row, address = self.node, self._address
        if row is None or not address:
            return None
        try:
            client = self.client()
        except Exception as exc:
            style.set_message(self.message, f"Could not reach the node's password: {exc}", "error")
            return None
        if client is None:
            return None
        pending = [t for t in self._txs if t.status == PENDING and t.node_id == row.id]
        is_dev = row.client in DEV_CLIENTS

        async def ask() -> tuple[int, list[tuple[str, int]], list[SentTx]]:
            balance = units.from_hex(
                (await client.call("eth_getBalance", [address, "latest"])).unwrap()
            )
            dev: list[tuple[str, int]] = []
            if is_dev:
                accounts = (await client.call("eth_accounts", [])).unwrap() or []
                answers = await asyncio.gather(
                    *(client.call("eth_getBalance", [a, "latest"]) for a in accounts)
                )
                dev = [
                    (str(a), units.from_hex(r.result) if r.ok else 0)
                    for a, r in zip(accounts, answers, strict=True)
                ]
            done: list[SentTx] = []
            for tx in pending:
                receipt = await client.call("eth_getTransactionReceipt", [tx.hash])
                if receipt.ok and isinstance(receipt.result, dict):
                    done.append(tx.with_receipt(receipt.result))
            return balance, dev, done

        node_id = row.id
        return (
            Op.coro(ask, label="wallet balance")
            .success(lambda got: self._refreshed(node_id, *got))
            .failure(self._failed)
            .run()
        )

    def _refreshed(
        self, node_id: str, balance: int, dev: list[tuple[str, int]], done: list[SentTx]
    ) -> None:
        row = self.node
        if row is None or row.id != node_id:
            return  # the user picked another node meanwhile
        self.balance_wei = balance
        self.balance_label.setText(eth(balance))
        self.balance_note.setText(
            f"on {row.chain} through {row.name}, as of {time.strftime('%H:%M:%S')}"
        )
        self.dev_accounts = dev
        self.dev_list.clear()
        for address, wei in dev:
            QTreeWidgetItem(self.dev_list, [address, eth(wei)])
        self.dev_list.resizeColumnToContents(0)
        for tx in done:
            self.txlog.update(tx)
        if done:
            self.load_transactions()

    def _failed(self, message: str, hint: str) -> None:
        style.set_message(self.message, f"{message} {hint}".strip(), "error")

    # --- dev chain ------------------------------------------------------------------------
    def fund(self) -> asyncio.Task[Any] | None:
        """Dev chain: add 100 ETH to the account (anvil_setBalance to balance + 100 ETH)."""
        row, address = self.node, self._address
        client = self.client()
        if row is None or client is None or not address or row.client not in DEV_CLIENTS:
            return None
        self.fund_button.setEnabled(False)

        async def top_up() -> int:
            now = units.from_hex(
                (await client.call("eth_getBalance", [address, "latest"])).unwrap()
            )
            (
                await client.call("anvil_setBalance", [address, units.to_hex(now + FUND_WEI)])
            ).unwrap()
            return now + FUND_WEI

        def funded(_total: int) -> None:
            style.set_message(self.message, f"Added 100 ETH on {row.name} (dev chain).", "ok")
            self.refresh()

        return (
            Op.coro(top_up, label="fund dev account")
            .success(funded)
            .failure(self._failed)
            .finally_(lambda: self.fund_button.setEnabled(True))
            .run()
        )

    # --- transactions ---------------------------------------------------------------------
    def load_transactions(self) -> None:
        """Show the log's transactions of this account (newest first)."""
        self._txs = self.txlog.for_account(self._address) if self._address else []
        self.tx_list.clear()
        for tx in self._txs:
            fee = eth(tx.fee_paid) if tx.fee_paid is not None else "–"
            item = QTreeWidgetItem(
                self.tx_list,
                [
                    time.strftime("%Y-%m-%d %H:%M", time.localtime(tx.sent_at)),
                    _short(tx.to),
                    eth(tx.value),
                    status_text(tx),
                    f"#{tx.block:,}" if tx.block is not None else "–",
                    fee,
                    tx.chain or str(tx.chain_id),
                    _short(tx.hash) + ("  ↗" if tx.explorer else ""),
                ],
            )
            item.setData(0, Qt.ItemDataRole.UserRole, tx.hash)
            item.setToolTip(1, tx.to)
            item.setToolTip(7, tx.explorer or tx.hash)
            colour = {MINED: "#2e9e5b", REVERTED: "#d0443e"}.get(tx.status, "#d69a2f")
            item.setForeground(3, QColor(colour))
        has = bool(self._txs)
        self.tx_list.setVisible(has)
        self.tx_empty.setVisible(not has)

    def _open_tx(self, item: QTreeWidgetItem, _column: int) -> None:
        tx_hash = str(item.data(0, Qt.ItemDataRole.UserRole))
        tx = next((t for t in self._txs if t.hash == tx_hash), None)
        if tx is None:
            return
        if tx.explorer:
            from erigolem_desktop.ui.qt import QDesktopServices, QUrl

            QDesktopServices.openUrl(QUrl(tx.explorer))
        else:
            self._copy(tx.hash, "transaction hash")

    def _send(self) -> None:
        row = self.node
        if row is not None:
            self.send_requested.emit(row.id)

"""*Send transaction*: build (from the node), sign with the unlocked wallet, send, follow the receipt.

`build_transaction` is a small Qt-free adapter (the core has no transaction builder yet): it
asks the node for the chain id, nonce, gas estimate and fees, and returns an EIP-1559 dict for
`Wallet.sign_transaction`.
"""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING, Any

from erigolem_desktop.core import units
from erigolem_desktop.core.errors import HintedError
from erigolem_desktop.core.wallet import recipient_address
from erigolem_desktop.core.wallet_errors import WalletError
from erigolem_desktop.ui import forms, style
from erigolem_desktop.ui.ops import Op
from erigolem_desktop.ui.qt import (
    QDialog,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

if TYPE_CHECKING:
    from erigolem_desktop.core.rpc import JsonRpcClient
    from erigolem_desktop.core.wallet import Wallet

DATA_RE = re.compile(r"^0x([0-9a-fA-F]{2})*$")
RECEIPT_TIMEOUT = 180.0
DEFAULT_TIP = 10**9  # 1 gwei when the node has no eth_maxPriorityFeePerGas


class TxError(HintedError):
    """A transaction could not be built or followed; `hint` says what to do."""


async def _call(client: JsonRpcClient, method: str, params: list[Any]) -> Any:
    result = await client.call(method, params)
    if result.error is not None:
        raise TxError(
            f"The node refused {method}: {result.error.get('message', result.error)}.",
            "Check the recipient, amount and data, and that the account has funds.",
        )
    return result.result


async def build_transaction(
    client: JsonRpcClient, sender: str, to: str, value_wei: int, data: str = "0x"
) -> dict[str, Any]:
    """An EIP-1559 transaction from `sender`, with nonce, gas and fees asked from the node."""
    call = {"from": sender, "to": to, "value": units.to_hex(value_wei), "data": data}
    chain_id, nonce, gas, block = await asyncio.gather(
        _call(client, "eth_chainId", []),
        _call(client, "eth_getTransactionCount", [sender, "pending"]),
        _call(client, "eth_estimateGas", [call]),
        _call(client, "eth_getBlockByNumber", ["latest", False]),
    )
    tip_answer = await client.call("eth_maxPriorityFeePerGas", [])
    tip = units.from_hex(tip_answer.result) if tip_answer.ok and tip_answer.result else DEFAULT_TIP
    base = units.from_hex(block.get("baseFeePerGas", "0x0")) if isinstance(block, dict) else 0
    return {
        "chainId": units.from_hex(chain_id),
        "nonce": units.from_hex(nonce),
        "to": to,
        "value": value_wei,
        "data": data,
        "gas": units.from_hex(gas) * 12 // 10 if data != "0x" else units.from_hex(gas),
        "maxPriorityFeePerGas": tip,
        "maxFeePerGas": 2 * base + tip,
        "type": 2,
    }


async def wait_receipt(
    client: JsonRpcClient, tx_hash: str, wait_s: float = RECEIPT_TIMEOUT, interval: float = 1.0
) -> dict[str, Any]:
    """Poll `eth_getTransactionReceipt` until the transaction is mined."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    while True:
        receipt = await _call(client, "eth_getTransactionReceipt", [tx_hash])
        if isinstance(receipt, dict):
            return receipt
        if loop.time() > deadline:
            raise TxError(
                f"{tx_hash} was not mined within {wait_s:.0f} s.",
                "It may still be mined later; look it up with eth_getTransactionReceipt.",
            )
        await asyncio.sleep(interval)


class SendTransactionDialog(QDialog):
    """Recipient, amount, optional data -> Review -> Sign and send -> receipt."""

    def __init__(
        self, client: JsonRpcClient, wallet: Wallet, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Send transaction")
        self.setMinimumWidth(520)
        self.client = client
        self.wallet = wallet
        self.tx: dict[str, Any] | None = None
        self.receipt: dict[str, Any] | None = None

        self.sender_label = QLabel(wallet.unlocked_address or "wallet locked")
        self.sender_label.setFont(style.mono_font())
        self.to_edit = QLineEdit()
        self.to_edit.setPlaceholderText("0x… recipient address")
        self.to_edit.setFont(style.mono_font())
        self.amount_edit = QLineEdit()
        self.amount_edit.setPlaceholderText("e.g. 0.1 ether, 20 gwei (a bare number is ether)")
        self.data_edit = QLineEdit()
        self.data_edit.setPlaceholderText("0x (optional call data)")
        self.data_edit.setFont(style.mono_font())
        form = QFormLayout()
        form.addRow("From", self.sender_label)
        form.addRow("&To", self.to_edit)
        form.addRow("&Amount", self.amount_edit)
        form.addRow("&Data", self.data_edit)
        self.summary = QPlainTextEdit()
        self.summary.setReadOnly(True)
        self.summary.setFont(style.mono_font())
        self.summary.setFixedHeight(150)
        self.summary.setTabChangesFocus(True)
        self.message = style.label("", "muted", wrap=True, selectable=True)
        self.review_button = QPushButton("&Review")
        self.send_button = QPushButton("Sign and &send")
        self.send_button.setProperty("role", "primary")
        self.send_button.setEnabled(False)
        self.close_button = QPushButton("&Close")
        buttons = forms.button_row([self.close_button], [self.review_button, self.send_button])
        lay = QVBoxLayout(self)
        lay.setSpacing(style.SPACING * 2)
        lay.addLayout(form)
        lay.addWidget(self.summary)
        lay.addWidget(self.message)
        lay.addLayout(buttons)
        self.review_button.clicked.connect(self.review)
        self.send_button.clicked.connect(self.sign_and_send)
        self.close_button.clicked.connect(self.reject)
        for edit in (self.to_edit, self.amount_edit, self.data_edit):
            edit.textEdited.connect(self._invalidate)
        self.review_button.setDefault(True)

    def _invalidate(self) -> None:
        self.tx = None
        self.send_button.setEnabled(False)
        self.review_button.setDefault(True)

    def _error(self, text: str) -> None:
        style.set_message(self.message, text, "error")

    def review(self) -> None:
        sender = self.wallet.unlocked_address
        if sender is None:
            self._error("The wallet is locked. Close this dialog, unlock it (Ctrl+L), try again.")
            return
        try:
            to = recipient_address(self.to_edit.text())
        except WalletError as exc:
            self._error(f"{exc.message} {exc.hint}".strip())
            self.to_edit.setFocus()
            return
        try:
            value = units.parse_amount(self.amount_edit.text() or "0", default_unit="ether")
        except units.UnitError as exc:
            self._error(str(exc))
            self.amount_edit.setFocus()
            return
        data = self.data_edit.text().strip() or "0x"
        if not DATA_RE.match(data):
            self._error("The data must be 0x followed by an even number of hex digits.")
            self.data_edit.setFocus()
            return
        style.set_message(self.message, "Asking the node for nonce, gas and fees…", "muted")
        self.review_button.setEnabled(False)
        Op.coro(
            lambda: build_transaction(self.client, sender, to, value, data), label="build tx"
        ).success(self._built).failure(lambda m, h: self._error(f"{m} {h}".strip())).finally_(
            lambda: self.review_button.setEnabled(True)
        ).run()

    def _built(self, tx: dict[str, Any]) -> None:
        self.tx = tx
        max_cost = tx["value"] + tx["gas"] * tx["maxFeePerGas"]
        self.summary.setPlainText(
            f"chain id      {tx['chainId']}\n"
            f"nonce         {tx['nonce']}\n"
            f"to            {tx['to']}\n"
            f"value         {units.format_ether(tx['value'])}\n"
            f"gas limit     {tx['gas']:,}\n"
            f"max fee       {units.format_wei(tx['maxFeePerGas'], 'gwei')} per gas\n"
            f"tip           {units.format_wei(tx['maxPriorityFeePerGas'], 'gwei')} per gas\n"
            f"at most       {units.format_ether(max_cost)} in total"
        )
        style.set_message(self.message, "Check the details, then sign and send.", "muted")
        self.send_button.setEnabled(True)
        self.send_button.setDefault(True)
        self.send_button.setFocus()

    def sign_and_send(self) -> None:
        tx = self.tx
        if tx is None:
            return
        wallet, client = self.wallet, self.client
        self.send_button.setEnabled(False)
        self.review_button.setEnabled(False)

        async def flow() -> dict[str, Any]:
            loop = asyncio.get_running_loop()
            raw = await loop.run_in_executor(None, wallet.sign_transaction, tx)
            style.set_message(self.message, "Signed; sending through the node…", "muted")
            tx_hash = str(await _call(client, "eth_sendRawTransaction", [raw]))
            style.set_message(self.message, f"Sent {tx_hash}; waiting for it to be mined…", "muted")
            return await wait_receipt(client, tx_hash)

        Op.coro(flow, label="send tx").success(self._mined).failure(
            lambda m, h: self._error(f"{m} {h}".strip())
        ).finally_(lambda: self.review_button.setEnabled(True)).run()

    def _mined(self, receipt: dict[str, Any]) -> None:
        self.receipt = receipt
        ok = receipt.get("status") in ("0x1", 1)
        block = units.from_hex(receipt.get("blockNumber", "0x0"))
        gas = units.from_hex(receipt.get("gasUsed", "0x0"))
        text = (
            f"{'Mined' if ok else 'Mined but REVERTED'} in block #{block:,}, gas used {gas:,}. "
            f"Hash {receipt.get('transactionHash')}"
        )
        style.set_message(self.message, text, "ok" if ok else "error")
        self.tx = None

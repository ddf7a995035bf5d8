"""*Send transaction*: build (from the node), sign with the unlocked wallet, send, follow the receipt.

`build_transaction` is a small Qt-free adapter (the core has no transaction builder yet): it
asks the node for the chain id, nonce, balance, gas estimate and fee suggestions
(`eth_feeHistory`), checks the balance, and returns an EIP-1559 dict for
`Wallet.sign_transaction`. The fees are editable (slow / normal / fast or custom, in gwei);
what is sent goes to the transaction log (`core.txlog`) for the wallet page. On a mainnet node
the recipient may be an ENS name (`core.ens`): it is resolved through the node when the field
is left (or at Review) and the address is shown under it before Review; other chains say ENS
is mainnet-only.

Signals:
    sent(str): a transaction was sent (its hash); mined(str): its receipt arrived.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from erigolem_desktop.core import ens, units
from erigolem_desktop.core.errors import HintedError
from erigolem_desktop.core.fees import SPEEDS, Fee, FeeSuggestions, fee_suggestions
from erigolem_desktop.core.txlog import TxLog, sent_now
from erigolem_desktop.core.wallet import recipient_address
from erigolem_desktop.core.wallet_errors import WalletError
from erigolem_desktop.ui import forms, style
from erigolem_desktop.ui.ops import Op
from erigolem_desktop.ui.qt import (
    QComboBox,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
    Signal,
)

if TYPE_CHECKING:
    from erigolem_desktop.core.rpc import JsonRpcClient
    from erigolem_desktop.core.wallet import Wallet

DATA_RE = re.compile(r"^0x([0-9a-fA-F]{2})*$")
RECEIPT_TIMEOUT = 180.0
CUSTOM = "custom"


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


@dataclass(frozen=True)
class Prepared:
    """A transaction ready to sign, with what Review shows beside it."""

    tx: dict[str, Any]
    balance: int  # the sender's balance (pending block), wei
    suggestions: FeeSuggestions

    @property
    def max_cost(self) -> int:
        """The most this transaction can take from the account: value + gas limit x max fee."""
        return int(self.tx["value"]) + int(self.tx["gas"]) * int(self.tx["maxFeePerGas"])


def insufficient(balance: int, needed: int, what: str) -> TxError:
    """The insufficient-funds error of Review, with both amounts."""
    return TxError(
        f"Insufficient funds: the account has {units.format_ether(balance)}, {what} needs "
        f"{units.format_ether(needed)}.",
        "Lower the amount or the fee, or fund the account first.",
    )


async def build_transaction(
    client: JsonRpcClient,
    sender: str,
    to: str,
    value_wei: int,
    data: str = "0x",
    fee: Callable[[FeeSuggestions], Fee] | None = None,
) -> Prepared:
    """An EIP-1559 transaction from `sender` with nonce, gas and fees from the node.

    `fee` picks the fee from the node's suggestions (default: the "normal" speed). The balance
    is checked here, before anything is signed: the value alone first (a node refuses to even
    estimate gas for a transfer the account cannot pay), then value plus the most the gas costs.
    """
    chain_id, nonce, balance_hex, suggestions = await asyncio.gather(
        _call(client, "eth_chainId", []),
        _call(client, "eth_getTransactionCount", [sender, "pending"]),
        _call(client, "eth_getBalance", [sender, "pending"]),
        fee_suggestions(client),
    )
    balance = units.from_hex(balance_hex)
    if value_wei > balance:
        raise insufficient(balance, value_wei, "sending that amount")
    call = {"from": sender, "to": to, "value": units.to_hex(value_wei), "data": data}
    gas = units.from_hex(await _call(client, "eth_estimateGas", [call]))
    chosen = fee(suggestions) if fee is not None else suggestions.by_speed["normal"]
    tx = {
        "chainId": units.from_hex(chain_id),
        "nonce": units.from_hex(nonce),
        "to": to,
        "value": value_wei,
        "data": data,
        "gas": gas * 12 // 10 if data != "0x" else gas,
        "maxPriorityFeePerGas": chosen.tip,
        "maxFeePerGas": chosen.max_fee,
        "type": 2,
    }
    prepared = Prepared(tx, balance, suggestions)
    if prepared.max_cost > balance:
        raise insufficient(balance, prepared.max_cost, "the amount plus the most the gas costs")
    return prepared


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


def _gwei(text: str, what: str) -> int:
    """A fee typed in gwei (a bare number) or with a unit; TxError says what was wrong."""
    try:
        value = units.parse_amount(text.strip() or "x", default_unit="gwei")
    except units.UnitError as exc:
        raise TxError(
            f"The {what} {text.strip()!r} is not an amount.", "Enter gwei, e.g. 1.5."
        ) from exc
    if value < 0:
        raise TxError(f"The {what} cannot be negative.", "Enter gwei, e.g. 1.5.")
    return value


class SendTransactionDialog(QDialog):
    """Recipient, amount, optional data, fees -> Review (balance checked) -> Sign and send ->
    receipt, recorded in the transaction log when one is given."""

    sent = Signal(str)
    mined = Signal(str)

    def __init__(
        self,
        client: JsonRpcClient,
        wallet: Wallet,
        parent: QWidget | None = None,
        *,
        chain: str = "",
        node_id: str = "",
        txlog: TxLog | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Send transaction")
        self.setMinimumWidth(560)
        self.client = client
        self.wallet = wallet
        self.chain = chain
        self.node_id = node_id
        self.txlog = txlog
        self.tx: dict[str, Any] | None = None
        self.prepared: Prepared | None = None
        self.receipt: dict[str, Any] | None = None
        self._last_suggestions: FeeSuggestions | None = None
        self._resolved: tuple[str, str] | None = None  # (normalised ENS name, its address)

        self.sender_label = QLabel(wallet.unlocked_address or "wallet locked")
        self.sender_label.setFont(style.mono_font())
        self.to_edit = QLineEdit()
        self.to_edit.setPlaceholderText(
            "0x… recipient address" + (" or ENS name (name.eth)" if chain in ens.ENS_CHAINS else "")
        )
        self.to_edit.setFont(style.mono_font())
        self.resolved_label = style.label("", "muted", selectable=True)
        self.resolved_label.setFont(style.mono_font())
        self.amount_edit = QLineEdit()
        self.amount_edit.setPlaceholderText("e.g. 0.1 ether, 20 gwei (a bare number is ether)")
        self.data_edit = QLineEdit()
        self.data_edit.setPlaceholderText("0x (optional call data)")
        self.data_edit.setFont(style.mono_font())
        self.speed_combo = QComboBox()
        for speed in SPEEDS:
            self.speed_combo.addItem(speed.capitalize(), speed)
        self.speed_combo.addItem("Custom", CUSTOM)
        self.speed_combo.setCurrentIndex(self.speed_combo.findData("normal"))
        self.speed_combo.setToolTip(
            "Suggested from the tips paid in the last blocks (eth_feeHistory); "
            "edit the fees for a custom choice"
        )
        self.max_fee_edit = QLineEdit()
        self.max_fee_edit.setPlaceholderText("from the node at Review")
        self.tip_edit = QLineEdit()
        self.tip_edit.setPlaceholderText("from the node at Review")
        fees = QHBoxLayout()
        fees.addWidget(self.speed_combo)
        fees.addWidget(QLabel("max fee"))
        fees.addWidget(self.max_fee_edit, 1)
        fees.addWidget(QLabel("tip"))
        fees.addWidget(self.tip_edit, 1)
        fees.addWidget(QLabel("gwei"))
        form = QFormLayout()
        form.addRow("From", self.sender_label)
        form.addRow("&To", self.to_edit)
        form.addRow("", self.resolved_label)
        form.addRow("&Amount", self.amount_edit)
        form.addRow("&Data", self.data_edit)
        fees_label = QLabel("&Fees")
        fees_label.setBuddy(self.speed_combo)
        form.addRow(fees_label, fees)
        self.summary = QPlainTextEdit()
        self.summary.setReadOnly(True)
        self.summary.setFont(style.mono_font())
        self.summary.setFixedHeight(190)
        self.summary.setTabChangesFocus(True)
        self.message = forms.error_label()
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
        for edit in (self.max_fee_edit, self.tip_edit):
            edit.textEdited.connect(self._fee_edited)
        self.to_edit.textEdited.connect(self._to_edited)
        self.to_edit.editingFinished.connect(self.resolve_name)
        self.speed_combo.activated.connect(self._speed_picked)
        self.review_button.setDefault(True)

    def _invalidate(self) -> None:
        self.tx = None
        self.prepared = None
        self.send_button.setEnabled(False)
        self.review_button.setDefault(True)

    def _to_edited(self) -> None:
        self._resolved = None
        self.resolved_label.clear()

    def resolve_name(self, *, then_review: bool = False) -> None:
        """Look a typed ENS name up through the node (mainnet only); show its address."""
        text = self.to_edit.text().strip()
        if not ens.looks_like_name(text):
            return
        if self.chain not in ens.ENS_CHAINS:
            self._error(
                f"ENS names are resolved on mainnet nodes only; this node runs "
                f"{self.chain or 'another chain'}. Paste the 0x address instead."
            )
            return
        try:
            name = ens.normalize(text)
        except ens.EnsError as exc:
            self._error(f"{exc.message} {exc.hint}")
            return
        if self._resolved is not None and self._resolved[0] == name:
            if then_review:
                self.review()
            return
        self._say(f"Looking up {name} in ENS…")

        def found(address: str) -> None:
            still = ens.looks_like_name(self.to_edit.text())
            if not still or ens.normalize(self.to_edit.text()) != name:
                return  # the user typed something else meanwhile
            self._resolved = (name, address)
            self.resolved_label.setText(f"{name} → {address}")
            self._say(f"{name} is {address} (from ENS, through this node).")
            if then_review:
                self.review()

        Op.coro(lambda: ens.resolve(self.client, name), label="ens resolve").success(found).failure(
            lambda m, h: self._error(f"{m} {h}".strip())
        ).run()

    def _fee_edited(self) -> None:
        """Typing a fee makes it a custom choice (Review then uses exactly what was typed)."""
        self.speed_combo.setCurrentIndex(self.speed_combo.findData(CUSTOM))
        self._invalidate()

    def _speed_picked(self) -> None:
        self._invalidate()
        speed = self.speed_combo.currentData()
        if self.prepared is None and speed != CUSTOM and self._last_suggestions is not None:
            self._show_fee(self._last_suggestions.by_speed[str(speed)])

    def _show_fee(self, fee: Fee) -> None:
        self.max_fee_edit.setText(str(units.from_wei(fee.max_fee, "gwei")))
        self.tip_edit.setText(str(units.from_wei(fee.tip, "gwei")))

    def _error(self, text: str) -> None:
        style.set_message(self.message, text, "error")

    def _say(self, text: str, role: str = "muted") -> None:
        style.set_message(self.message, text, role)

    def _fee_choice(self) -> Callable[[FeeSuggestions], Fee]:
        """The fee Review uses: the picked speed's suggestion, or the typed custom fees."""
        speed = str(self.speed_combo.currentData())
        if speed != CUSTOM:
            return lambda s: s.by_speed[speed]
        max_fee = _gwei(self.max_fee_edit.text(), "max fee")
        tip = _gwei(self.tip_edit.text(), "tip")
        if tip > max_fee:
            raise TxError(
                "The tip is higher than the max fee.",
                "The max fee is the most you pay per gas, tip included: raise it or lower the tip.",
            )
        return lambda _s: Fee(max_fee=max_fee, tip=tip)

    def review(self) -> None:
        sender = self.wallet.unlocked_address
        if sender is None:
            self._error("The wallet is locked. Close this dialog, unlock it (Ctrl+L), try again.")
            return
        typed = self.to_edit.text()
        if ens.looks_like_name(typed):
            if self._resolved is None or self._resolved[0] != self._normal_or_empty(typed):
                self.resolve_name(then_review=True)
                return
            typed = self._resolved[1]
        try:
            to = recipient_address(typed)
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
        try:
            fee = self._fee_choice()
        except TxError as exc:
            self._error(f"{exc.message} {exc.hint}")
            self.max_fee_edit.setFocus()
            return
        self._say("Asking the node for nonce, balance, gas and fees…")
        self.summary.clear()
        self.review_button.setEnabled(False)
        Op.coro(
            lambda: build_transaction(self.client, sender, to, value, data, fee), label="build tx"
        ).success(self._built).failure(lambda m, h: self._error(f"{m} {h}".strip())).finally_(
            lambda: self.review_button.setEnabled(True)
        ).run()

    @staticmethod
    def _normal_or_empty(text: str) -> str:
        try:
            return ens.normalize(text)
        except ens.EnsError:
            return ""

    def _built(self, prepared: Prepared) -> None:
        self.prepared = prepared
        self._last_suggestions = prepared.suggestions
        tx = self.tx = prepared.tx
        if self.speed_combo.currentData() != CUSTOM:
            self._show_fee(Fee(max_fee=tx["maxFeePerGas"], tip=tx["maxPriorityFeePerGas"]))
        base = prepared.suggestions.base_fee
        self.summary.setPlainText(
            f"chain id      {tx['chainId']}\n"
            f"nonce         {tx['nonce']}\n"
            f"to            {tx['to']}{self._ens_note(tx['to'])}\n"
            f"value         {units.format_ether(tx['value'])}\n"
            f"gas limit     {tx['gas']:,}\n"
            f"base fee      {units.format_wei(base, 'gwei')} per gas (next block)\n"
            f"max fee       {units.format_wei(tx['maxFeePerGas'], 'gwei')} per gas\n"
            f"tip           {units.format_wei(tx['maxPriorityFeePerGas'], 'gwei')} per gas\n"
            f"at most       {units.format_ether(prepared.max_cost)} in total\n"
            f"balance       {units.format_ether(prepared.balance)}"
        )
        if tx["maxFeePerGas"] < base:
            self._say(
                "The max fee is below the next block's base fee: the transaction waits until "
                "fees drop. Raise it to be mined now.",
                "warning",
            )
        else:
            self._say("Check the details, then sign and send.")
        self.send_button.setEnabled(True)
        self.send_button.setDefault(True)
        self.send_button.setFocus()

    def _ens_note(self, to: str) -> str:
        return f" ({self._resolved[0]})" if self._resolved and self._resolved[1] == to else ""

    def sign_and_send(self) -> None:
        tx = self.tx
        sender = self.wallet.unlocked_address
        if tx is None or sender is None:
            return
        wallet, client, txlog = self.wallet, self.client, self.txlog
        self.send_button.setEnabled(False)
        self.review_button.setEnabled(False)

        async def flow() -> dict[str, Any]:
            loop = asyncio.get_running_loop()
            raw = await loop.run_in_executor(None, wallet.sign_transaction, tx)
            self._say("Signed; sending through the node…")
            tx_hash = str(await _call(client, "eth_sendRawTransaction", [raw]))
            entry = sent_now(tx, tx_hash, sender, self.chain, self.node_id)
            if txlog is not None:
                await loop.run_in_executor(None, txlog.add, entry)
            self.sent.emit(tx_hash)
            self._say(f"Sent {tx_hash}; waiting for it to be mined…")
            receipt = await wait_receipt(client, tx_hash)
            if txlog is not None:
                await loop.run_in_executor(None, txlog.update, entry.with_receipt(receipt))
            return receipt

        Op.coro(flow, label="send tx").success(self._mined).failure(
            lambda m, h: self._error(f"{m} {h}".strip())
        ).finally_(lambda: self.review_button.setEnabled(True)).run()

    def _mined(self, receipt: dict[str, Any]) -> None:
        self.receipt = receipt
        ok = receipt.get("status") in ("0x1", 1)
        block = units.from_hex(receipt.get("blockNumber", "0x0"))
        gas = units.from_hex(receipt.get("gasUsed", "0x0"))
        paid = gas * units.from_hex(receipt.get("effectiveGasPrice", "0x0"))
        text = (
            f"{'Mined' if ok else 'Mined but REVERTED'} in block #{block:,}, gas used {gas:,} "
            f"(paid {units.format_ether(paid)}). Hash {receipt.get('transactionHash')}"
        )
        style.set_message(self.message, text, "ok" if ok else "error")
        self.tx = None
        self.mined.emit(str(receipt.get("transactionHash", "")))

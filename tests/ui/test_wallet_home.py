"""The wallet page on a real local dev node (erigolem-runtime + nginx + anvil): balance, copy
address, QR code, Fund 100 ETH, anvil's accounts, editable fees from eth_feeHistory, the
balance check at Review, and the sent transaction's status, receipt and gas paid."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest

from erigolem_desktop.core import units
from erigolem_desktop.core.txlog import MINED, TxLog
from erigolem_desktop.ui.qt import QApplication, QColor
from erigolem_desktop.ui.wallet_home import qr_pixmap
from tests.ui.conftest import wait_until
from tests.ui.test_e2e_local import GOOD, RECIPIENT, local_manager, start_dev_node

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ETH = 10**18


def test_qr_code_draws_segno_matrix(qtbot: Any) -> None:
    import segno

    address = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
    image = qr_pixmap(address, module_px=4).toImage()
    matrix = segno.make(address, error="m", micro=False).matrix
    assert image.width() == (len(matrix) + 4) * 4
    for y, row in enumerate(matrix):
        for x, dark in enumerate(row):
            pixel = image.pixelColor((x + 2) * 4 + 2, (y + 2) * 4 + 2)
            assert (pixel == QColor("black")) == bool(dark), (x, y)


async def _review(dialog: Any) -> None:
    dialog.review()
    await wait_until(
        lambda: dialog.send_button.isEnabled() or dialog.message.property("role") == "error", 20
    )


@pytest.mark.asyncio
async def test_wallet_page_balance_fund_fees_send_and_history(
    make_window: Any, ctx: Any, wallet: Any, erigolem_home: Path, anvil_bin: Path, nginx_bin: Path
) -> None:
    info, _ = wallet.create(GOOD)
    wallet.unlock(info.address, GOOD)
    async with local_manager(erigolem_home) as manager:
        ctx.manager = manager
        window = make_window()
        window.start()
        window.show()  # the page asks the node only while it is on screen
        row = await start_dev_node(window)
        assert window.wallet_page._client is None  # not asked while another tab is shown
        window.show_wallet(row.id)
        page = window.wallet_page
        assert window.tabs.currentWidget().isAncestorOf(page)
        assert page.node is not None
        assert page.node.id == row.id

        # balance of the new account on the dev chain: 0, then Fund 100 ETH
        await wait_until(lambda: page.balance_wei is not None, 20)
        assert page.balance_wei == 0
        assert page.fund_button.isVisibleTo(page)
        task = page.fund()
        assert task is not None
        await task
        await wait_until(lambda: page.balance_wei == 100 * ETH, 20)
        assert "100 ETH" in page.balance_label.text()
        assert "dev" in page.balance_note.text()

        # anvil's pre-funded accounts are listed with their balances
        await wait_until(lambda: page.dev_accounts, 10)
        assert len(page.dev_accounts) == 10
        assert page.dev_accounts[1][0].lower() == RECIPIENT.lower()
        assert page.dev_list.topLevelItemCount() == 10

        # copy address and the QR code
        page.copy_button.click()
        assert QApplication.clipboard().text() == info.address
        assert not page.qr.pixmap().isNull()

        # Review checks the balance before anything is signed
        dialog = window.open_send_dialog(row.id)
        assert dialog is not None
        dialog.to_edit.setText(RECIPIENT)
        dialog.amount_edit.setText("200 ether")
        await _review(dialog)
        assert "Insufficient funds" in dialog.message.text()
        assert not dialog.send_button.isEnabled()
        # the amount fits but not with the gas: value + gas x max fee is checked too
        dialog.amount_edit.setText(f"{100 * ETH - 1000} wei")
        await _review(dialog)
        assert "Insufficient funds" in dialog.message.text()
        assert "gas" in dialog.message.text()

        # fees: suggestions from eth_feeHistory fill the fields; a custom tip above the max fee
        # is refused; a custom fee is used as typed
        dialog.amount_edit.setText("1.5")
        await _review(dialog)
        assert dialog.send_button.isEnabled(), dialog.message.text()
        assert dialog.max_fee_edit.text()
        assert "base fee" in dialog.summary.toPlainText()
        dialog.max_fee_edit.setText("1")
        dialog.max_fee_edit.textEdited.emit("1")
        assert dialog.speed_combo.currentData() == "custom"
        assert not dialog.send_button.isEnabled()
        dialog.tip_edit.setText("2")
        await _review(dialog)
        assert "tip is higher than the max fee" in dialog.message.text()
        dialog.max_fee_edit.setText("50")
        dialog.tip_edit.setText("2")
        await _review(dialog)
        assert dialog.send_button.isEnabled(), dialog.message.text()
        assert dialog.tx is not None
        assert dialog.tx["maxFeePerGas"] == 50 * 10**9
        assert dialog.tx["maxPriorityFeePerGas"] == 2 * 10**9

        # send: pending on the page at once, then mined with gas paid
        dialog.sign_and_send()
        await wait_until(lambda: page.tx_list.topLevelItemCount() == 1, 20)
        await wait_until(
            lambda: dialog.receipt is not None or dialog.message.property("role") == "error", 40
        )
        assert dialog.receipt is not None, dialog.message.text()
        assert "paid" in dialog.message.text()
        await wait_until(lambda: page.tx_list.topLevelItem(0).text(3) == "mined", 10)
        item = page.tx_list.topLevelItem(0)
        assert item.text(2) == "1.5 ETH"
        assert item.text(5) != "–"
        assert item.text(6) == "dev"
        logged = TxLog().for_account(info.address)
        assert len(logged) == 1
        assert logged[0].status == MINED
        receipt = dialog.receipt
        expected_fee = units.from_hex(receipt["gasUsed"]) * units.from_hex(
            receipt["effectiveGasPrice"]
        )
        assert logged[0].fee_paid == expected_fee
        assert logged[0].explorer is None  # a dev chain has no explorer
        path = erigolem_home / "transactions.json"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert GOOD not in path.read_text()
        assert json.loads(path.read_text())[0]["hash"] == receipt["transactionHash"]
        await wait_until(
            lambda: page.balance_wei is not None and page.balance_wei < 100 * ETH - 15 * ETH // 10,
            20,
        )
        dialog.close()
        await window.console.close_client()
        await page.close_client()

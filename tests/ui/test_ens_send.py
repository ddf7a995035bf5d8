"""ENS names in the send form, resolved through a real anvil holding ENS stand-in contracts.

The anvil stands in for a mainnet node (the dialog is told its chain is mainnet); the stand-in
registry sits at ENS's real registry address (tests/support/ens_chain.py), so the app's
resolver() then addr() calls run against real EVM code.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from erigolem_desktop.core import ens
from erigolem_desktop.core.rpc import JsonRpcClient
from erigolem_desktop.ui.send_tx import SendTransactionDialog
from tests.support.ens_chain import EnsChain, ens_chain
from tests.support.golem.chain import rpc
from tests.ui.conftest import wait_until

pytestmark = [pytest.mark.integration]

GOOD = "correct horse battery staple 42"
TARGET = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"  # anvil's second dev account


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EnsChain]:
    from tests.support.binaries import anvil_path

    anvil = anvil_path()
    if anvil is None:
        pytest.fail("anvil not found: run scripts/bootstrap")
    with ens_chain(anvil, tmp_path_factory.mktemp("ens")) as running:
        running.point("vitalik.eth", TARGET)
        running.point("empty.eth", "0x" + "00" * 20)
        yield running


@pytest.mark.asyncio
async def test_core_resolves_through_the_registry_and_says_why_not(chain: EnsChain) -> None:
    async with JsonRpcClient(chain.url) as client:
        assert await ens.resolve(client, "Vitalik.ETH") == TARGET
        with pytest.raises(ens.EnsError, match="not an ENS name with a resolver"):
            await ens.resolve(client, "nobody.eth")
        with pytest.raises(ens.EnsError, match="has no Ethereum address set"):
            await ens.resolve(client, "empty.eth")


@pytest.mark.asyncio
async def test_send_form_shows_the_resolved_address_before_review_and_sends_there(
    qtbot: Any, wallet: Any, chain: EnsChain
) -> None:
    info, _ = wallet.create(GOOD)
    wallet.unlock(info.address, GOOD)
    rpc(chain.url, "anvil_setBalance", [info.address, hex(10**18)])
    before = int(rpc(chain.url, "eth_getBalance", [TARGET, "latest"]), 16)
    async with JsonRpcClient(chain.url) as client:
        dialog = SendTransactionDialog(client, wallet, chain="mainnet")
        qtbot.addWidget(dialog)
        dialog.show()
        assert "ENS name" in dialog.to_edit.placeholderText()
        dialog.to_edit.setText("Vitalik.ETH")
        dialog.to_edit.editingFinished.emit()  # leaving the field looks the name up
        await wait_until(lambda: TARGET in dialog.resolved_label.text(), 15)
        assert dialog.resolved_label.text() == f"vitalik.eth → {TARGET}"
        assert not dialog.send_button.isEnabled()  # resolved, not yet reviewed

        dialog.amount_edit.setText("0.01")
        dialog.review()
        await wait_until(lambda: dialog.send_button.isEnabled(), 15)
        assert f"to            {TARGET} (vitalik.eth)" in dialog.summary.toPlainText()
        dialog.sign_and_send()
        await wait_until(lambda: dialog.receipt is not None, 30)
        after = int(rpc(chain.url, "eth_getBalance", [TARGET, "latest"]), 16)
        assert after - before == 10**16

        # a name typed and reviewed at once is looked up first, then reviewed
        dialog.to_edit.setText("nobody.eth")
        dialog._to_edited()
        dialog.review()
        await wait_until(lambda: "not an ENS name with a resolver" in dialog.message.text(), 15)
        assert not dialog.send_button.isEnabled()
        assert not dialog.resolved_label.text()


@pytest.mark.asyncio
async def test_other_chains_say_ens_is_mainnet_only(
    qtbot: Any, wallet: Any, chain: EnsChain
) -> None:
    info, _ = wallet.create(GOOD)
    wallet.unlock(info.address, GOOD)
    async with JsonRpcClient(chain.url) as client:
        dialog = SendTransactionDialog(client, wallet, chain="sepolia")
        qtbot.addWidget(dialog)
        dialog.to_edit.setText("vitalik.eth")
        dialog.review()
        assert "mainnet nodes only; this node runs sepolia" in dialog.message.text()
        assert not dialog.send_button.isEnabled()
        dialog2 = SendTransactionDialog(client, wallet, chain="mainnet")
        qtbot.addWidget(dialog2)
        dialog2.to_edit.setText("ünicode.eth")
        dialog2.review()
        assert "non-ASCII" in dialog2.message.text()

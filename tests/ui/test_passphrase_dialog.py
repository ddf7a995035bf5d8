"""'Change passphrase…' from the main window against the real Wallet (keyring API, scrypt)."""

from __future__ import annotations

from typing import Any

import pytest

from erigolem_desktop.core.wallet import WrongPassphrase
from erigolem_desktop.ui.qt import Qt
from tests.ui.conftest import wait_until

GOOD = "correct horse battery staple 42"
NEWER = "purple elephant dances quietly 7"


@pytest.mark.asyncio
async def test_change_passphrase_from_the_window(qtbot: Any, make_window: Any, wallet: Any) -> None:
    info, _ = wallet.create(GOOD, label="Main")
    window = make_window()
    window.start(attach_manager=False)
    assert window.stack.currentWidget() is window.unlock_page
    assert not window.passphrase_action.isEnabled()  # locked: nothing to change yet
    window.passphrase_action.trigger()
    assert window.passphrase_dialog is None

    wallet.unlock(info.address, GOOD)
    window.show_workspace()
    assert window.passphrase_action.isEnabled()
    window.passphrase_action.trigger()
    dialog = window.passphrase_dialog
    assert dialog is not None
    assert dialog.isVisible()
    assert info.address in dialog.findChildren(type(window.account_label))[0].text()

    # the checks before any scrypt: empty current, weak, differing, unchanged
    qtbot.mouseClick(dialog.button, Qt.MouseButton.LeftButton)
    assert "current passphrase" in dialog.error.text()
    dialog.current.setText(GOOD)
    dialog.new.first.setText("password")
    dialog.new.second.setText("password")
    dialog.submit()
    assert "too easy" in dialog.error.text()
    dialog.new.first.setText(NEWER)
    dialog.new.second.setText(NEWER + "x")
    dialog.submit()
    assert "differ" in dialog.error.text()
    dialog.new.first.setText(GOOD)
    dialog.new.second.setText(GOOD)
    dialog.submit()
    assert "is the current one" in dialog.error.text()

    # a wrong current passphrase is said inline, and changes nothing
    dialog.current.setText("not the passphrase")
    dialog.new.first.setText(NEWER)
    dialog.new.second.setText(NEWER)
    dialog.submit()
    assert not dialog.button.isEnabled()  # busy while scrypt runs in the executor
    await wait_until(lambda: dialog.button.isEnabled(), 20)
    assert "wrong" in dialog.error.text().lower()
    assert dialog.isVisible()
    wallet.lock()
    wallet.unlock(info.address, GOOD)  # still the old one

    dialog.current.setText(GOOD)
    qtbot.mouseClick(dialog.button, Qt.MouseButton.LeftButton)
    await wait_until(lambda: not dialog.isVisible(), 20)
    assert dialog.result() == dialog.DialogCode.Accepted
    assert "changed" in window.statusBar().currentMessage()
    assert dialog.current.text() == ""
    assert dialog.new.value() == ""
    assert wallet.unlocked_address == info.address  # still unlocked, same key
    wallet.lock()
    with pytest.raises(WrongPassphrase):
        wallet.unlock(info.address, GOOD)
    assert wallet.unlock(info.address, NEWER).address == info.address

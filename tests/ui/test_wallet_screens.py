"""First run, unlock, lock and auto-lock, against the real Wallet (keyring API, scrypt)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from erigolem_desktop.ui.qt import Qt
from erigolem_desktop.ui.welcome import passphrase_strength
from tests.ui.conftest import wait_until

GOOD = "correct horse battery staple 42"


def test_strength_grows_with_length_and_variety() -> None:
    assert passphrase_strength("") == 0
    assert passphrase_strength("aaaaaaaa") <= 1
    assert passphrase_strength("abc123") < passphrase_strength("Tr0ub4dor&3-xyz")
    assert passphrase_strength(GOOD) >= 3


@pytest.mark.asyncio
async def test_first_run_creates_wallet_and_checks_the_mnemonic(
    qtbot: Any, make_window: Any
) -> None:
    window = make_window()
    window.start(attach_manager=False)
    welcome = window.welcome
    assert window.stack.currentWidget() is welcome
    qtbot.mouseClick(welcome.create_button, Qt.MouseButton.LeftButton)
    assert welcome.currentWidget() is welcome.create_page

    # a weak passphrase is refused where the user looks
    welcome.create_pass.first.setText("password")
    welcome.create_pass.second.setText("password")
    qtbot.mouseClick(welcome.create_go, Qt.MouseButton.LeftButton)
    assert "too easy" in welcome.create_error.text()
    # two different ones too
    welcome.create_pass.first.setText(GOOD)
    welcome.create_pass.second.setText(GOOD + "x")
    qtbot.mouseClick(welcome.create_go, Qt.MouseButton.LeftButton)
    assert "differ" in welcome.create_error.text()

    welcome.create_pass.second.setText(GOOD)
    qtbot.mouseClick(welcome.create_go, Qt.MouseButton.LeftButton)
    await wait_until(lambda: welcome.currentWidget() is welcome.mnemonic_page, 20)
    words = [
        lab.text().split(". ", 1)[1] for lab in welcome.word_labels if lab.isVisibleTo(welcome)
    ]
    assert len(words) in (12, 24)
    assert not welcome.mnemonic_next.isEnabled()  # not before the user confirms writing it down
    welcome.written_check.setChecked(True)
    qtbot.mouseClick(welcome.mnemonic_next, Qt.MouseButton.LeftButton)
    assert welcome.currentWidget() is welcome.confirm_page

    # a wrong word is caught
    for edit in welcome.quiz_edits:
        edit.setText("wrong")
    qtbot.mouseClick(welcome.confirm_go, Qt.MouseButton.LeftButton)
    assert "does not match" in welcome.confirm_error.text()
    assert window.stack.currentWidget() is welcome

    for edit, index in zip(welcome.quiz_edits, welcome._quiz, strict=True):
        edit.setText(words[index])
    qtbot.mouseClick(welcome.confirm_go, Qt.MouseButton.LeftButton)
    assert window.stack.currentWidget() is window.workspace
    assert window.ctx.wallet.is_unlocked
    assert all(not lab.text() for lab in welcome.word_labels)  # the mnemonic is gone from the UI
    assert welcome._mnemonic == []


@pytest.mark.asyncio
async def test_unlock_wrong_then_right_passphrase(
    qtbot: Any, make_window: Any, wallet: Any
) -> None:
    info, _mnemonic = wallet.create(GOOD, label="Main")
    wallet.lock()
    window = make_window()
    window.start(attach_manager=False)
    page = window.unlock_page
    assert window.stack.currentWidget() is page
    assert page.accounts.currentData() == info.address
    assert not window.start_action.isEnabled()  # nothing to do while locked

    page.passphrase.setText("not the passphrase")
    qtbot.keyClick(page.passphrase, Qt.Key.Key_Return)
    await wait_until(lambda: page.button.isEnabled() and "wrong" in page.error.text().lower(), 20)
    assert window.stack.currentWidget() is page
    assert not wallet.is_unlocked

    page.passphrase.setText("")
    page.unlock()
    assert "Type the passphrase" in page.error.text()

    page.passphrase.setText(GOOD)
    page.unlock()
    await wait_until(lambda: window.stack.currentWidget() is window.workspace, 20)
    assert wallet.unlocked_address == info.address
    assert page.passphrase.text() == ""


@pytest.mark.asyncio
async def test_lock_button_and_auto_lock(qtbot: Any, make_window: Any, wallet: Any) -> None:
    info, _ = wallet.create(GOOD)
    wallet.unlock(info.address, GOOD)
    window = make_window()
    window.start(attach_manager=False)
    assert window.stack.currentWidget() is window.workspace
    window.lock_action.trigger()
    assert window.stack.currentWidget() is window.unlock_page
    assert not wallet.is_unlocked
    assert "Wallet locked" in window.account_label.text()
    assert "Wallet locked" in window.statusBar().currentMessage()

    wallet.unlock(info.address, GOOD)
    window.unlock_page.unlocked.emit()  # what the unlock page sends after a right passphrase
    assert window.stack.currentWidget() is window.workspace
    assert window.statusBar().currentMessage() == ""  # the "locked" notice is gone
    wallet.auto_lock_seconds = 0.05
    await asyncio.sleep(0.1)
    window._check_lock()  # the 5 s timer's job
    assert window.stack.currentWidget() is window.unlock_page
    assert "locked itself" in window.statusBar().currentMessage()


def test_add_account_from_unlock_and_back(make_window: Any, wallet: Any) -> None:
    wallet.create(GOOD)
    wallet.lock()
    window = make_window()
    window.start(attach_manager=False)
    assert window.stack.currentWidget() is window.unlock_page
    window.unlock_page.other.click()
    assert window.stack.currentWidget() is window.welcome
    assert window.welcome.cancel_button.isVisibleTo(window.welcome)
    window.welcome.cancel_button.click()
    assert window.stack.currentWidget() is window.unlock_page


def test_first_run_offers_no_way_back(make_window: Any) -> None:
    window = make_window()
    window.start(attach_manager=False)
    assert not window.welcome.cancel_button.isVisibleTo(window.welcome)

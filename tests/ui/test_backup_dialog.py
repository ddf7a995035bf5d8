"""Back up account… from the window: the phrase behind the passphrase, masked; keystore export."""

from __future__ import annotations

import json
import logging
import stat
from pathlib import Path
from typing import Any

import pytest

from erigolem_desktop.core.keystore_vault import decrypt_keystore
from erigolem_desktop.ui.backup_dialog import MASK, BackupDialog
from erigolem_desktop.ui.qt import Qt, QWidget
from tests.ui.conftest import wait_until

GOOD = "correct horse battery staple 42"
ANVIL0 = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
ANVIL0_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"


def _texts(dialog: BackupDialog) -> str:
    return " ".join(lab.text() for lab in dialog.findChildren(type(dialog.error)))


@pytest.mark.asyncio
async def test_reveal_phrase_from_the_window(
    qtbot: Any, make_window: Any, wallet: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    info, phrase = wallet.create(GOOD, label="Main")
    wallet.unlock(info.address, GOOD)
    window = make_window()
    window.start(attach_manager=False)
    window.show_workspace()
    assert window.backup_action.isEnabled()
    window.wallet_page.backup_button.click()  # the wallet page's Back up… opens it too
    dialog = window.backup_dialog
    assert dialog is not None
    assert dialog.isVisible()

    dialog.reveal_button.click()  # nothing typed: said before any scrypt
    assert "Type the account's passphrase" in dialog.error.text()

    dialog.passphrase.setText("not the passphrase")
    qtbot.mouseClick(dialog.reveal_button, Qt.MouseButton.LeftButton)
    assert not dialog.reveal_button.isEnabled()  # busy: scrypt runs in the executor
    await wait_until(lambda: dialog.reveal_button.isEnabled(), 20)
    assert "wrong" in dialog.error.text().lower()
    assert not dialog.word_labels
    assert phrase.split()[0] not in _texts(dialog)

    dialog.passphrase.setText(GOOD)
    dialog.reveal()
    await wait_until(lambda: bool(dialog.word_labels), 20)
    assert dialog.passphrase.text() == ""
    assert all(MASK in lab.text() for lab in dialog.word_labels)  # masked until Show
    assert len(dialog.word_labels) == 12
    assert not dialog.phrase_shown
    qtbot.mouseClick(dialog.show_button, Qt.MouseButton.LeftButton)
    assert dialog.phrase_shown
    shown = [lab.text().split(". ", 1)[1] for lab in dialog.word_labels]
    assert " ".join(shown) == phrase
    assert "m/44'/60'/0'/0/0" in dialog.path_label.text()
    qtbot.mouseClick(dialog.show_button, Qt.MouseButton.LeftButton)
    assert all(MASK in lab.text() for lab in dialog.word_labels)

    dialog.show_button.setChecked(True)
    dialog.close_button.click()  # closing drops the phrase
    assert not dialog.word_labels
    assert dialog._phrase is None
    assert not dialog.phrase_shown
    assert phrase.split()[0] + " " + phrase.split()[1] not in caplog.text


@pytest.mark.asyncio
async def test_a_key_import_has_no_phrase_and_exports_a_0600_keystore(
    qtbot: Any, wallet: Any, tmp_path: Path
) -> None:
    wallet.import_private_key(ANVIL0_KEY, GOOD)
    asked: list[str] = []
    target = tmp_path / "backup.json"

    def choose(_parent: QWidget, suggested: str) -> str:
        asked.append(suggested)
        return str(target)

    dialog = BackupDialog(wallet, ANVIL0, choose_path=choose)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.passphrase.setText(GOOD)
    dialog.reveal()
    await wait_until(lambda: dialog.reveal_button.isEnabled() and dialog.error.text(), 20)
    assert "imported from a private key" in dialog.error.text()
    assert not dialog.word_labels
    assert not dialog.show_button.isVisible()

    dialog.passphrase.setText("wrong one")  # a wrong passphrase writes nothing
    dialog.export()
    await wait_until(lambda: dialog.export_button.isEnabled(), 20)
    assert "wrong" in dialog.error.text().lower()
    assert not asked
    assert not target.exists()

    dialog.passphrase.setText(GOOD)
    dialog.export()
    await wait_until(lambda: dialog.exported is not None, 20)
    assert asked
    assert asked[0].endswith(f"erigolem-{ANVIL0}.json")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    keystore = target.read_text()
    assert json.loads(keystore)["version"] == 3
    assert decrypt_keystore(keystore, GOOD).hex() == ANVIL0_KEY.removeprefix("0x")
    assert str(target) in dialog.error.text()


@pytest.mark.asyncio
async def test_export_into_an_unwritable_place_says_so(
    qtbot: Any, wallet: Any, tmp_path: Path
) -> None:
    info, _ = wallet.create(GOOD)
    missing = tmp_path / "no-such-dir" / "k.json"
    dialog = BackupDialog(wallet, info.address, choose_path=lambda _p, _s: str(missing))
    qtbot.addWidget(dialog)
    dialog.passphrase.setText(GOOD)
    dialog.export()
    await wait_until(lambda: "Could not write" in dialog.error.text(), 20)
    assert "Pick a folder" in dialog.error.text()
    assert not missing.exists()

"""The issue's minor list, each as the user met it: stale errors, Enter and focus in the phrase
check, "&File", "Add an account", aligned passphrase rows, cut table headers, long status-bar
messages, the restart hint of a node whose runtime is gone, "try again… type it again"."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from erigolem_desktop.core.backends.base import BackendError
from erigolem_desktop.core.backends.local import LocalBackend
from erigolem_desktop.core.wallet_errors import WrongPassphrase
from erigolem_desktop.ui.nodes_model import COLUMNS
from erigolem_desktop.ui.passphrase_dialog import PassphraseDialog
from erigolem_desktop.ui.qt import QApplication, QFormLayout, QLabel

GOOD = "correct horse battery staple 42"


def test_an_error_goes_away_once_the_field_is_edited(make_window: Any) -> None:
    window = make_window()
    window.start(attach_manager=False)
    welcome = window.welcome
    welcome.create_button.click()
    welcome.create_pass.first.setText("password")
    welcome.create_pass.second.setText("password")
    welcome.create_go.click()
    assert welcome.create_error.isVisibleTo(welcome)
    assert "too easy" in welcome.create_error.text()
    welcome.create_pass.first.setText(GOOD)  # now "Strength: Strong" — and no old error
    assert not welcome.create_error.isVisibleTo(welcome)

    # import: the phrase tab's error does not stay on the key tab
    welcome._go(welcome.import_page)
    welcome.import_pass.first.setText(GOOD)
    welcome.import_pass.second.setText(GOOD)
    welcome.import_tabs.setCurrentIndex(0)
    welcome.import_go.click()
    assert "recovery phrase" in welcome.import_error.text()
    welcome.import_tabs.setCurrentIndex(1)
    assert not welcome.import_error.isVisibleTo(welcome)


def test_keystore_tab_label_is_a_shortcut_not_a_literal_ampersand(make_window: Any) -> None:
    welcome = make_window().welcome
    tab = welcome.import_tabs.widget(2)
    form = tab.layout()
    assert isinstance(form, QFormLayout)
    labels = [w for w in tab.findChildren(QLabel) if w.text() == "&File"]
    assert labels
    assert labels[0].buddy() is welcome.keystore_path


@pytest.mark.asyncio
async def test_phrase_check_focus_and_enter_move_through_the_words(
    qtbot: Any, make_window: Any
) -> None:
    from tests.ui.conftest import wait_until

    window = make_window()
    window.show()
    window.start(attach_manager=False)
    welcome = window.welcome
    welcome.create_button.click()
    welcome.create_pass.first.setText(GOOD)
    welcome.create_pass.second.setText(GOOD)
    welcome.create_go.click()
    await wait_until(lambda: welcome.currentWidget() is welcome.mnemonic_page, 20)
    welcome.written_check.setChecked(True)
    welcome.mnemonic_next.click()
    QApplication.processEvents()
    assert QApplication.focusWidget() == welcome.quiz_edits[0]
    welcome.quiz_edits[0].returnPressed.emit()
    assert QApplication.focusWidget() == welcome.quiz_edits[1]
    assert welcome.currentWidget() is welcome.confirm_page  # Enter did not submit early
    welcome.quiz_edits[2].setText("wrong")
    welcome.quiz_edits[2].returnPressed.emit()
    assert welcome.confirm_error.isVisibleTo(welcome)
    welcome.quiz_edits[0].textEdited.emit("x")
    assert not welcome.confirm_error.isVisibleTo(welcome)


def test_add_account_is_not_the_first_run_welcome(make_window: Any, wallet: Any) -> None:
    wallet.create(GOOD)
    window = make_window()
    window.start(attach_manager=False)
    window._add_account()
    assert window.welcome.intro_title.text() == "Add an account"
    assert "First, a wallet" not in window.welcome.intro_text.text()


def test_passphrase_rows_share_one_form(qtbot: Any, wallet: Any) -> None:
    info, _ = wallet.create(GOOD)
    dialog = PassphraseDialog(wallet, info.address)
    qtbot.addWidget(dialog)
    form = dialog.new.form
    assert form.labelForField(dialog.current) is not None
    assert form.labelForField(dialog.new.first) is not None
    dialog.show()
    current_x = dialog.current.mapTo(dialog, dialog.current.rect().topLeft()).x()
    first_x = dialog.new.first.mapTo(dialog, dialog.new.first.rect().topLeft()).x()
    assert current_x == first_x  # the fields line up


def test_empty_tables_show_whole_headers_and_long_messages_stay_readable(
    make_window: Any,
) -> None:
    window = make_window()
    header = window.active_view.horizontalHeader()
    for i in range(len(COLUMNS) - 1):  # the last one stretches
        assert header.sectionSize(i) == header.sectionSizeHint(i), COLUMNS[i]
    long = "dev-node is ready: " + "x" * 300
    window.statusBar().showMessage(long, 1000)
    assert window.statusBar().toolTip() == long


def test_node_whose_runtime_is_gone_says_restart(tmp_path: Path) -> None:
    with pytest.raises(BackendError) as err:
        LocalBackend(tmp_path)._client("abc123")
    text = f"{err.value} {err.value.hint}"
    assert "Restart" in text
    assert "terminal/app" not in text


def test_wrong_passphrase_says_try_again_once() -> None:
    err = WrongPassphrase()
    text = f"{err.message} {err.hint}"
    assert text.count("again") == 1


def test_smoke_reports_the_time_since_exec() -> None:
    """`--smoke`'s process_ms counts from the process start (its shown_ms starts later)."""
    import time

    from erigolem_desktop.ui.smoke import process_age_ms

    age = process_age_ms()
    assert age is not None
    assert 0 < age < (time.monotonic() + 5) * 1000
    time.sleep(0.05)
    later = process_age_ms()
    assert later is not None
    assert later >= age + 30

"""Help → Check for updates and the daily notice, against a real local manifest server: the answer
is shown (newer, or why the manifest was refused), the daily check obeys its switch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from erigolem_desktop.core import updates
from erigolem_desktop.core.settings import SettingsStore
from erigolem_desktop.core.updates import Release, sign_manifest
from erigolem_desktop.ui.settings_dialog import SettingsDialog
from tests.support.manifest_server import RELEASE_ADDR, RELEASE_KEY, Serve
from tests.ui.conftest import wait_until

NEWER = Release("99.0.0", "https://example.org/erigolem/99.0.0", "A test release.")


def _point_at(window: Any, url: str) -> None:
    window.update_url = url
    window.update_address = RELEASE_ADDR


@pytest.mark.asyncio
async def test_help_check_for_updates_shows_a_newer_version(make_window: Any, serve: Serve) -> None:
    window = make_window()
    help_menu = window.menuBar().actions()[2].menu()
    assert window.update_action in help_menu.actions()
    _point_at(window, serve(sign_manifest(NEWER, RELEASE_KEY)))
    window.update_action.trigger()
    await wait_until(lambda: window.update_box is not None, 10)
    assert "99.0.0 is available" in window.update_box.text()
    assert NEWER.url in window.update_box.text()
    assert window.update_action.isEnabled()
    assert not updates.CheckState().due()  # remembered: the daily check waits a day


@pytest.mark.asyncio
async def test_help_check_for_updates_says_why_a_manifest_is_refused(
    make_window: Any, serve: Serve
) -> None:
    window = make_window()
    _point_at(window, serve(sign_manifest(NEWER, bytes.fromhex("22" * 32))))
    window.update_action.trigger()
    await wait_until(lambda: window.update_box is not None, 10)
    assert window.update_box.windowTitle() == "Update check failed"
    assert "not signed by the Erigolem release key" in window.update_box.text()
    assert "nothing was changed" in window.update_box.text()


@pytest.mark.asyncio
async def test_the_daily_check_notifies_only_when_on_and_due(
    make_window: Any, serve: Serve
) -> None:
    window = make_window()
    _point_at(window, serve(sign_manifest(NEWER, RELEASE_KEY)))
    window.ctx.settings.update_check_daily = False
    assert window.check_updates_if_due() is None  # switched off: no request at all
    window.ctx.settings.update_check_daily = True
    task = window.check_updates_if_due()
    assert task is not None
    await task
    assert window.update_box is None  # quiet: no dialog, only the notice
    assert "Update available" in window.statusBar().currentMessage()
    assert window.check_updates_if_due() is None  # checked today


def test_the_settings_dialog_switches_the_daily_check(qtbot: Any, erigolem_home: Path) -> None:
    store = SettingsStore()
    dialog = SettingsDialog(store, store.load())
    qtbot.addWidget(dialog)
    assert dialog.update_check.isChecked()
    dialog.update_check.setChecked(False)
    dialog._save()
    assert store.load().update_check_daily is False

"""Issue 14's defects around starting and ending nodes: the Start dialog's defaults, memory and
Golem pre-flight; Restart / Remove / Clear stopped on a real local node (runtime, nginx, anvil);
the copied password leaving the clipboard; a stopped node offering no dead URL."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from pathlib import Path
from typing import Any

import pytest

from erigolem_desktop.core.states import NodeState
from erigolem_desktop.ui.qt import QGuiApplication
from erigolem_desktop.ui.start_dialog import NAME_MAX, StartChoice, StartDialog
from tests.ui.conftest import wait_until
from tests.ui.test_e2e_local import GOOD, local_manager, start_dev_node


def _ok(dialog: StartDialog) -> Any:
    return dialog.buttons.button(dialog.buttons.StandardButton.Ok)


def test_start_dialog_defaults_to_local_dev_and_offers_only_local_chains(qtbot: Any) -> None:
    dialog = StartDialog(golem_available=False, local_chains=["dev"])
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.backend() == "local"
    assert dialog.chain_combo.currentData() == "dev"
    assert dialog.client_combo.currentData() == "anvil"
    local = [dialog.chain_combo.itemData(i) for i in range(dialog.chain_combo.count())]
    assert local == ["dev"]  # Erigon is not set up here: no chain that would fail
    dialog.backend_combo.setCurrentIndex(dialog.backend_combo.findData("golem"))
    golem = [dialog.chain_combo.itemData(i) for i in range(dialog.chain_combo.count())]
    assert {"sepolia", "mainnet", "dev"} <= set(golem)


def test_start_dialog_opens_on_the_last_choice(qtbot: Any) -> None:
    last = StartChoice("golem", "mainnet", "erigon")
    dialog = StartDialog(golem_available=True, last=last)
    qtbot.addWidget(dialog)
    assert (dialog.backend(), dialog.chain_combo.currentData()) == ("golem", "mainnet")
    assert dialog.name_edit.text().startswith("mainnet-")
    assert dialog.choice() == last
    # a remembered Golem choice without Golem set up falls back to this computer
    fallback = StartDialog(golem_available=False, last=last, local_chains=["dev"])
    qtbot.addWidget(fallback)
    assert (fallback.backend(), fallback.chain_combo.currentData()) == ("local", "dev")


def test_start_dialog_names_any_script_limit_and_empty_takes_suggestion(qtbot: Any) -> None:
    dialog = StartDialog(golem_available=False, local_chains=["dev"])
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.name_edit.maxLength() == NAME_MAX  # the limit holds while typing
    suggested = dialog.name_edit.text()
    dialog.name_edit.clear()
    dialog.name_edit.textEdited.emit("")
    _ok(dialog).click()
    assert not dialog.isVisible()
    assert dialog.spec().name == suggested

    unicode_name = StartDialog(golem_available=False, local_chains=["dev"])
    qtbot.addWidget(unicode_name)
    unicode_name.show()
    unicode_name.name_edit.setText("Knoten-Größe-東京")
    _ok(unicode_name).click()
    assert not unicode_name.isVisible(), unicode_name.error.text()
    assert unicode_name.spec().name == "Knoten-Größe-東京"

    bad = StartDialog(golem_available=False, local_chains=["dev"])
    qtbot.addWidget(bad)
    bad.show()
    bad.name_edit.setText("-dash first")
    _ok(bad).click()
    assert bad.isVisible()
    assert "any language" in bad.error.text()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.asyncio
async def test_golem_preflight_refuses_in_the_dialog(qtbot: Any, tmp_path: Path) -> None:
    """A real GolemBackend's pre-flight against a yagna URL nobody listens on (and a PATH
    with a gftp, so the connection check is what fails): the dialog stays, says why."""
    from erigolem_desktop.core.backends.golem.backend import GolemBackend
    from erigolem_desktop.core.backends.golem.config import GolemConfig

    gftp = tmp_path / "gftp"
    gftp.write_text("#!/bin/sh\nexit 0\n")  # found on PATH is all the pre-flight asks of it
    gftp.chmod(0o755)
    mp = pytest.MonkeyPatch()
    mp.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    url = f"http://127.0.0.1:{_closed_port()}"
    backend = GolemBackend(GolemConfig(api_url=url, app_key="some-key"))
    try:
        dialog = StartDialog(golem_available=True, preflight=backend.preflight)
        qtbot.addWidget(dialog)
        dialog.show()  # the pre-flight starts as soon as Golem is shown
        accepted: list[bool] = []
        dialog.accepted.connect(lambda: accepted.append(True))
        assert not _ok(dialog).isEnabled()
        assert "Checking the Golem setup" in _ok(dialog).toolTip()
        await wait_until(lambda: "Golem is not ready" in dialog.error.text(), 15)
        assert "(yagna)" in dialog.error.text()
        assert "this computer" in dialog.error.text()
        assert f"Cannot reach the yagna daemon at {url}" in dialog.checks.text()
        assert "✗ yagna: Cannot reach" in dialog.checks.text()
        assert "? funds: The funds were not checked" in dialog.checks.text()
        assert "✓ gftp" in dialog.checks.text()
        assert not _ok(dialog).isEnabled()  # Start is off, and says why
        assert "Cannot reach the yagna daemon" in _ok(dialog).toolTip()
        dialog._accept()  # Enter cannot start it either
        assert dialog.isVisible()
        assert not accepted
        assert dialog.recheck.isVisible()
        dialog.recheck.click()  # can be retried once yagna runs
        assert "Checking" in dialog.checks.text()
        await wait_until(lambda: dialog.recheck.isEnabled(), 15)

        dialog.backend_combo.setCurrentIndex(dialog.backend_combo.findData("local"))
        assert _ok(dialog).isEnabled()
        assert not _ok(dialog).toolTip()
        assert not dialog.checks.isVisible()

        no_key = GolemBackend(GolemConfig(api_url=url, app_key=None))
        dialog2 = StartDialog(golem_available=True, preflight=no_key.preflight)
        qtbot.addWidget(dialog2)
        dialog2.show()
        await wait_until(lambda: "(yagna, app key)" in dialog2.error.text(), 15)
        assert "✗ app key: No yagna app key" in dialog2.checks.text()
    finally:
        mp.undo()


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.asyncio
async def test_stop_restart_remove_and_clear_stopped_on_a_real_node(
    make_window: Any, ctx: Any, wallet: Any, erigolem_home: Path, anvil_bin: Path, nginx_bin: Path
) -> None:
    info, _ = wallet.create(GOOD)
    wallet.unlock(info.address, GOOD)
    async with local_manager(erigolem_home) as manager:
        ctx.manager = manager
        window = make_window()
        window.start()
        first = await start_dev_node(window)
        # the Start dialog's choice is remembered for next time
        saved = ctx.settings_store.load()
        assert (saved.last_backend, saved.last_chain, saved.last_client) == (
            "local",
            "dev",
            "anvil",
        )
        detail = window.detail
        assert detail.restart_button.isHidden()

        # the copied password leaves the clipboard after a while (if still ours)
        detail.clipboard_clear_ms = 200
        detail.copy_password.click()
        clipboard = QGuiApplication.clipboard()
        assert clipboard.text() == manager.password(first.id)
        await wait_until(lambda: clipboard.text() == "", 5)
        detail.copy_url.click()  # not a secret: stays
        detail.copy_password.click()
        clipboard.setText("something the user copied since")
        await asyncio.sleep(0.5)  # past the clear timer: what the user copied since stays
        assert clipboard.text() == "something the user copied since"

        detail.stop_node()
        await wait_until(lambda: window.model.row_by_id(first.id).state is NodeState.STOPPED, 30)
        # a stopped node offers no dead URL or password, but Restart and Remove
        assert detail.url_edit.text() == ""
        assert "no longer work" in detail.snippet_edits["curl"].toPlainText()
        assert not detail.copy_snippet.isEnabled()
        assert detail.restart_button.isVisibleTo(detail)
        assert detail.remove_button.isVisibleTo(detail)
        assert detail.stop_button.isHidden()

        # the context menu of the stopped row holds the same actions
        menu = window.node_menu(window.model.row_by_id(first.id))
        texts = [a.text().replace("&", "") for a in menu.actions() if a.text()]
        assert texts == ["Restart", "Remove", "Clear stopped"]
        running_menu_row = dataclasses.replace(first, state=NodeState.READY)
        running = [a.text().replace("&", "") for a in window.node_menu(running_menu_row).actions()]
        assert running == ["Open in console", "Rotate password…", "Stop node…"]

        # Restart: a new node with the same chain, client and name, ready
        menu.actions()[0].trigger()
        await wait_until(
            lambda: any(
                r.name == first.name and r.id != first.id and r.state is NodeState.READY
                for r in window.model.rows()
            ),
            90,
        )
        second = next(r for r in window.model.rows() if r.id != first.id)
        assert (second.chain, second.client) == (first.chain, first.client)
        window.select_node(second.id)
        detail.stop_node()
        await wait_until(lambda: window.model.row_by_id(second.id).state is NodeState.STOPPED, 30)
        assert window.stopped_model.rowCount() == 2

        # Remove one from the pane, Clear stopped for the rest
        window.select_node(first.id)
        detail.remove()
        await wait_until(lambda: window.model.row_by_id(first.id) is None, 10)
        assert manager.get(first.id) is None
        assert window.stopped_model.rowCount() == 1
        assert window.clear_stopped_button.isEnabled()
        window.clear_stopped_button.click()
        await wait_until(lambda: window.stopped_model.rowCount() == 0, 10)
        assert manager.list() == []
        assert not window.clear_stopped_button.isEnabled()
        await window.console.close_client()

"""End to end on the Local backend: the real erigolem-runtime, nginx and anvil on loopback, the
real wallet and keyring API, driven through the window's widgets like a user would."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from erigolem_desktop.core.backends.local import LocalBackend
from erigolem_desktop.core.manager import NodeManager
from erigolem_desktop.core.records import NodeStore
from erigolem_desktop.core.secrets import SecretStore
from erigolem_desktop.core.states import NodeState
from erigolem_desktop.ui.qt import QApplication, Qt
from tests.ui.conftest import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

GOOD = "correct horse battery staple 42"
RECIPIENT = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"  # anvil's account #1


@contextlib.asynccontextmanager
async def local_manager(home: Path) -> AsyncIterator[NodeManager]:
    mgr = NodeManager(
        NodeStore(),
        {"local": LocalBackend(home)},
        SecretStore(choose_backend=False),
        poll_interval=0.3,
    )
    try:
        yield mgr
    finally:
        await asyncio.wait_for(mgr.close(), 30)


async def create_wallet(window: Any) -> None:
    welcome = window.welcome
    welcome.create_button.click()
    welcome.create_pass.first.setText(GOOD)
    welcome.create_pass.second.setText(GOOD)
    welcome.create_go.click()
    await wait_until(lambda: welcome.currentWidget() is welcome.mnemonic_page, 20)
    words = [lab.text().split(". ", 1)[1] for lab in welcome.word_labels if lab.text()]
    welcome.written_check.setChecked(True)
    welcome.mnemonic_next.click()
    for edit, index in zip(welcome.quiz_edits, welcome._quiz, strict=True):
        edit.setText(words[index])
    welcome.confirm_go.click()
    assert window.stack.currentWidget() is window.workspace


async def start_dev_node(window: Any) -> Any:
    dialog = window.start_dialog()
    assert dialog is not None
    dialog.backend_combo.setCurrentIndex(dialog.backend_combo.findData("local"))
    dialog.chain_combo.setCurrentIndex(dialog.chain_combo.findData("dev"))
    assert dialog.client_combo.currentData() == "anvil"  # the dev chain picks its client
    assert "Free" in dialog.cost.text()
    assert not dialog.budget.isVisible()
    name = dialog.name_edit.text()
    assert name.startswith("dev-")
    dialog.buttons.button(dialog.buttons.StandardButton.Ok).click()

    def ready() -> Any:
        rows = [r for r in window.model.rows() if r.name == name]
        if rows and rows[0].state is NodeState.FAILED:
            raise AssertionError(f"node failed: {rows[0].reason}")
        return rows[0] if rows and rows[0].state is NodeState.READY else None

    await wait_until(ready, 90)
    row = ready()
    window.select_node(row.id)
    assert window.detail.row is not None
    assert window.detail.row.id == row.id
    return row


async def console_call(window: Any, method: str, params: Any) -> Any:
    console = window.console
    console.method_edit.setText(method)
    console.params_edit.setPlainText(json.dumps(params))
    answers: list[Any] = []
    console.answered.connect(answers.append)
    console.method_edit.setFocus()
    QApplication.sendPostedEvents()
    console.send()
    await wait_until(lambda: answers or console.status.property("role") == "error", 20)
    console.answered.disconnect(answers.append)
    assert answers, console.status.text()
    return answers[0]


@pytest.mark.asyncio
async def test_create_start_console_send_stop(
    make_window: Any, ctx: Any, erigolem_home: Path, anvil_bin: Path, nginx_bin: Path
) -> None:
    async with local_manager(erigolem_home) as manager:
        ctx.manager = manager
        window = make_window()
        window.start()
        await create_wallet(window)
        address = ctx.wallet.unlocked_address
        row = await start_dev_node(window)

        # the detail pane: real URL and user, password masked until revealed, snippets
        detail = window.detail
        assert detail.url_edit.text() == row.url
        assert detail.password_edit.echoMode() == detail.password_edit.EchoMode.Password
        password = manager.password(row.id)
        assert password
        assert password not in detail.snippet_edits["curl"].toPlainText()
        detail.reveal.setChecked(True)
        assert password in detail.snippet_edits["curl"].toPlainText()
        assert row.url in detail.snippet_edits["cast"].toPlainText().replace(
            f"{row.user}:{password}@", ""
        )
        await wait_until(lambda: detail.logs.toPlainText(), 10)

        # Save log…: the node's real log, written owner-only; a bad path says so in the pane
        saved = erigolem_home / "saved" / "node.log"
        saved.parent.mkdir()
        task = detail.save_logs_to(saved)
        assert task is not None
        await task
        assert stat.S_IMODE(saved.stat().st_mode) == 0o600
        assert saved.read_text().strip()
        assert password not in saved.read_text()
        assert "Saved" in window.statusBar().currentMessage()
        assert detail.save_logs.isEnabled()
        blocked = erigolem_home / "saved" / "node.log" / "inside-a-file.log"
        task = detail.save_logs_to(blocked)
        assert task is not None
        await task
        assert detail.error.isVisibleTo(detail)
        assert "Could not save the log" in detail.error.text()
        assert detail.save_logs.isEnabled()
        task = detail.save_logs_to(saved)  # a later save that works clears the error
        assert task is not None
        await task
        assert not detail.error.isVisibleTo(detail)

        # console: eth_chainId with Ctrl+Enter
        window.show_console(row.id)
        console = window.console
        assert console.node_combo.currentData() == row.id
        await wait_until(lambda: console.modules_label.text(), 10)
        console.method_edit.setText("eth_chainId")
        console.params_edit.setPlainText("[]")
        answers: list[Any] = []
        console.answered.connect(answers.append)
        window.activateWindow()
        console.method_edit.setFocus()
        from pytestqt.qtbot import QtBot

        QtBot.keyClick(  # type: ignore[no-untyped-call]
            console.method_edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier
        )
        await wait_until(lambda: answers, 20)
        assert answers[0].result == "0x7a69"
        assert console.result_view.toPlainText().strip() == '"0x7a69"'
        assert "eth_chainId" in console.status.text()
        assert " ms" in console.status.text()

        # an error answer is shown inline, not raised
        bad = await console_call(window, "eth_getBalance", ["not-an-address", "latest"])
        assert bad.error is not None
        assert console.status.property("role") == "error"

        # fund the new wallet through the console (anvil's dev method), then send a transaction
        await console_call(window, "anvil_setBalance", [address, hex(10**19)])
        before = int(
            (await console_call(window, "eth_getBalance", [RECIPIENT, "latest"])).result, 16
        )
        console.open_send_transaction()
        from erigolem_desktop.ui.send_tx import SendTransactionDialog

        dialog = console.findChildren(SendTransactionDialog)[-1]
        # a mistyped (bad EIP-55 checksum) recipient is refused before anything is built
        dialog.to_edit.setText("0x70997970c51812DC3A010C7d01b50e0d17dc79C8")
        dialog.amount_edit.setText("0.5 ether")
        dialog.review()
        assert "EIP-55" in dialog.message.text()
        assert not dialog.send_button.isEnabled()
        dialog.to_edit.setText(RECIPIENT)
        dialog.amount_edit.setText("0.5 ether")
        dialog.review()
        await wait_until(
            lambda: dialog.send_button.isEnabled() or dialog.message.property("role") == "error", 20
        )
        assert dialog.send_button.isEnabled(), dialog.message.text()
        assert "0.5 ether" in dialog.summary.toPlainText()
        dialog.sign_and_send()
        await wait_until(
            lambda: dialog.receipt is not None or dialog.message.property("role") == "error", 40
        )
        assert dialog.receipt is not None, dialog.message.text()
        assert "Mined" in dialog.message.text()
        dialog.close()
        after = int(
            (await console_call(window, "eth_getBalance", [RECIPIENT, "latest"])).result, 16
        )
        assert after - before == 5 * 10**17

        # the console history is private and holds neither the URL nor the credentials
        history = erigolem_home / "console_history.jsonl"
        assert stat.S_IMODE(history.stat().st_mode) == 0o600
        assert "eth_chainId" in history.read_text()
        assert password not in history.read_text()
        assert row.url not in history.read_text()

        # rotate: a new password shows up in the detail at once
        window.tabs.setCurrentIndex(0)
        old_password = detail.password_edit.text()
        detail.rotate_node()
        await wait_until(lambda: detail.password_edit.text() not in ("", old_password), 20)
        assert detail.password_edit.text() == manager.password(row.id)
        assert detail.password_edit.text() in detail.snippet_edits["curl"].toPlainText()

        # stop: the row moves to the stopped table
        window.tabs.setCurrentIndex(0)
        detail.stop_node()
        await wait_until(lambda: window.model.row_by_id(row.id).state is NodeState.STOPPED, 30)
        assert window.stopped_model.rowCount() == 1
        assert window.active_model.rowCount() == 0
        assert not detail.stop_button.isEnabled()
        await wait_until(lambda: console.node_combo.count() == 0, 5)
        await console.close_client()


@pytest.mark.asyncio
async def test_node_failing_while_its_detail_is_open(
    make_window: Any, ctx: Any, wallet: Any, erigolem_home: Path, anvil_bin: Path, nginx_bin: Path
) -> None:
    info, _ = wallet.create(GOOD)
    wallet.unlock(info.address, GOOD)
    async with local_manager(erigolem_home) as manager:
        ctx.manager = manager
        window = make_window()
        window.start()
        row = await start_dev_node(window)
        detail = window.detail
        assert detail.stop_button.isEnabled()
        record = manager.get(row.id)
        assert record is not None
        os.kill(int(record.runtime["runtime_pid"]), signal.SIGKILL)
        await wait_until(lambda: window.model.row_by_id(row.id).state is NodeState.FAILED, 30)
        assert detail.row is not None
        assert detail.row.state is NodeState.FAILED
        assert detail.error.isVisibleTo(detail)
        assert "Restart starts it again" in detail.error.text()
        assert not detail.stop_button.isEnabled()
        assert not detail.rotate_button.isEnabled()
        assert detail.restart_button.isVisibleTo(detail)
        assert detail.remove_button.isVisibleTo(detail)
        # "See the log below": the log is read again (from disk, the runtime is gone)
        await wait_until(lambda: not detail._loading_logs and detail.logs.toPlainText(), 10)
        assert "Could not read the log" not in detail.logs.toPlainText()
        assert any("failed" in n for n in window.tray.notifications)
        assert any("is ready" in n for n in window.tray.notifications)
        await window.console.close_client()


def _cmdline(pid: int) -> bytes:
    return Path(f"/proc/{pid}/cmdline").read_bytes()


def _children(pid: int) -> list[int]:
    """Direct children of `pid` (a runtime this test started), from /proc."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found.extend(int(c) for c in text)
    return found


@pytest.mark.asyncio
async def test_a_restarted_dev_chain_says_its_state_was_lost(
    make_window: Any, ctx: Any, wallet: Any, erigolem_home: Path, anvil_bin: Path, nginx_bin: Path
) -> None:
    """Kill the anvil that our runtime started: the runtime restarts it, and the window says
    what that means (in the detail pane and as a notification), not only the runtime's log."""
    info, _ = wallet.create(GOOD)
    wallet.unlock(info.address, GOOD)
    async with local_manager(erigolem_home) as manager:
        ctx.manager = manager
        window = make_window()
        window.start()
        row = await start_dev_node(window)
        record = manager.get(row.id)
        assert record is not None
        runtime_pid = int(record.runtime["runtime_pid"])
        anvils = [c for c in _children(runtime_pid) if b"anvil" in _cmdline(c)]
        assert len(anvils) == 1, anvils
        os.killpg(anvils[0], signal.SIGKILL)  # the client runs in its own group
        await wait_until(lambda: window.model.row_by_id(row.id).restarts == 1, 30)
        detail = window.detail
        await wait_until(lambda: detail.restarts.isVisibleTo(detail), 5)
        assert "state was lost" in detail.restarts.text()
        assert any("was restarted" in n and "block 0" in n for n in window.tray.notifications)
        await window.console.close_client()

"""Save a PNG of every main screen and dialog of the desktop app into screenshots/app/.

Run: `QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshots.py`

It uses a throw-away ERIGOLEM_HOME and an in-memory keyring, creates a real wallet, starts a
real local dev node (erigolem-runtime + nginx + anvil on loopback) and sends real calls, so the
screens show real values. One picture (`node_detail_syncing.png`) shows how an Erigon node that
is still syncing looks: its status is sample data, as no Erigon can run here.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "screenshots" / "app"
PASSPHRASE = "correct horse battery staple 42"  # noqa: S105 - a throw-away demo wallet
SYNCING_SAMPLE = {
    "state": "syncing",
    "block": 4_213_880,
    "peers": 23,
    "sync": {
        "current_block": 4_213_880,
        "highest_block": 7_310_442,
        "progress": 0.5764,
        "stages": [
            {"name": "OtterSync", "block": 7_310_442},
            {"name": "Headers", "block": 7_310_442},
            {"name": "BlockHashes", "block": 7_310_442},
            {"name": "Bodies", "block": 7_310_442},
            {"name": "Senders", "block": 7_310_442},
            {"name": "Execution", "block": 4_213_880},
            {"name": "CustomTrace", "block": 0},
            {"name": "TxLookup", "block": 0},
            {"name": "Finish", "block": 0},
        ],
    },
}


def _setup_env() -> Path:
    home = Path(tempfile.mkdtemp(prefix="erigolem-shots-"))
    os.environ["ERIGOLEM_HOME"] = str(home)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ["ERIGOLEM_WALLET_SCRYPT_N"] = "4096"
    os.environ["ERIGOLEM_WALLET_INSECURE_TEST_KDF"] = "1"  # else the cheap N is refused
    sys.path.insert(0, str(REPO))
    import keyring
    from keyring.backend import KeyringBackend

    class MemoryKeyring(KeyringBackend):
        """In-memory keyring: the screenshots never touch the real OS keyring."""

        priority = 1

        def __init__(self) -> None:
            super().__init__()  # type: ignore[no-untyped-call]
            self.store: dict[tuple[str, str], str] = {}

        def get_password(self, service: str, username: str) -> str | None:
            return self.store.get((service, username))

        def set_password(self, service: str, username: str, password: str) -> None:
            self.store[(service, username)] = password

        def delete_password(self, service: str, username: str) -> None:
            self.store.pop((service, username), None)

    keyring.set_keyring(MemoryKeyring())
    return home


async def _wait(predicate: Any, limit: float = 60.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not predicate():
        if loop.time() > deadline:
            raise TimeoutError("screen did not reach the expected state")
        await asyncio.sleep(0.05)


async def _settle() -> None:
    await asyncio.sleep(0.25)


def _save(widget: Any, name: str) -> None:
    path = OUT / f"{name}.png"
    widget.grab().save(str(path))
    print(f"saved {path.relative_to(REPO)}")


async def _console_call(window: Any, method: str, params: Any) -> None:
    console = window.console
    answers: list[Any] = []
    console.answered.connect(answers.append)
    console.method_edit.setText(method)
    console.params_edit.setPlainText(json.dumps(params))
    console.send()
    await _wait(lambda: answers or console.status.property("role") == "error", 20)
    console.answered.disconnect(answers.append)
    await _settle()


async def shoot(home: Path) -> None:
    from erigolem_desktop.core.backends.local import LocalBackend
    from erigolem_desktop.core.manager import NodeManager
    from erigolem_desktop.core.records import NodeRecord, NodeStore
    from erigolem_desktop.core.secrets import SecretStore
    from erigolem_desktop.core.settings import SettingsStore
    from erigolem_desktop.core.states import NodeState
    from erigolem_desktop.core.wallet import Wallet
    from erigolem_desktop.ui.context import AppContext
    from erigolem_desktop.ui.main_window import MainWindow
    from erigolem_desktop.ui.nodes_model import NodeRow
    from erigolem_desktop.ui.send_tx import SendTransactionDialog
    from erigolem_desktop.ui.settings_dialog import SettingsDialog
    from erigolem_desktop.ui.start_dialog import StartDialog
    from erigolem_desktop.ui.tray import keep_running_box

    OUT.mkdir(parents=True, exist_ok=True)
    wallet = Wallet.open(home)
    store = SettingsStore()
    manager = NodeManager(
        NodeStore(),
        {"local": LocalBackend(home)},
        SecretStore(choose_backend=False),
        poll_interval=1,
    )
    ctx = AppContext(wallet=wallet, settings_store=store, settings=store.load(), manager=manager)
    window = MainWindow(ctx)
    window.on_quit = lambda: None
    window.resize(1280, 800)
    window.start()
    window.show()
    try:
        await _settle()
        welcome = window.welcome
        _save(window, "01_welcome")
        welcome.create_button.click()
        welcome.label_edit.setText("Main")
        welcome.create_pass.first.setText(PASSPHRASE)
        welcome.create_pass.second.setText(PASSPHRASE)
        await _settle()
        _save(window, "02_create_wallet")
        welcome.create_go.click()
        await _wait(lambda: welcome.currentWidget() is welcome.mnemonic_page)
        welcome.written_check.setChecked(True)
        await _settle()
        _save(window, "03_recovery_phrase")
        words = [lab.text().split(". ", 1)[1] for lab in welcome.word_labels if lab.text()]
        welcome.mnemonic_next.click()
        welcome.quiz_edits[0].setText(words[welcome._quiz[0]])
        await _settle()
        _save(window, "04_confirm_phrase")
        for edit, index in zip(welcome.quiz_edits, welcome._quiz, strict=True):
            edit.setText(words[index])
        welcome.confirm_go.click()
        await _settle()

        # import screen (shown from the intro page; nothing is imported)
        welcome.setCurrentWidget(welcome.import_page)
        window._show_page(welcome)
        await _settle()
        _save(window, "05_import_wallet")

        # unlock with a wrong passphrase first
        window.lock()
        window.unlock_page.passphrase.setText("not my passphrase")
        window.unlock_page.unlock()
        await _wait(lambda: "wrong" in window.unlock_page.error.text().lower(), 30)
        await _settle()
        _save(window, "06_unlock_wrong_passphrase")
        window.unlock_page.passphrase.setText(PASSPHRASE)
        window.unlock_page.unlock()
        await _wait(lambda: window.stack.currentWidget() is window.workspace, 30)
        await _settle()
        _save(window, "07_nodes_empty")

        # start dialogs: Golem not set up opens on this computer / dev
        first = StartDialog(window, taken_names=[], golem_available=False, local_chains=["dev"])
        first.show()
        await _settle()
        _save(first, "08a_start_node_no_golem")
        first.close()
        # the Golem pre-flight against a yagna nobody runs (port 9: discard, closed here)
        from erigolem_desktop.core.backends.golem.backend import GolemBackend
        from erigolem_desktop.core.backends.golem.config import GolemConfig

        offline = GolemBackend(GolemConfig(api_url="http://127.0.0.1:9", app_key="not-set-up"))
        checked = StartDialog(window, golem_available=True, preflight=offline.preflight)
        checked.show()
        await _wait(lambda: bool(checked.recheck.isVisible()), 20)
        await _settle()
        _save(checked, "08b_start_node_golem_preflight")
        checked.close()
        dialog = StartDialog(window, taken_names=[], golem_available=True)
        dialog.show()
        await _settle()
        _save(dialog, "08_start_node_golem")
        dialog.backend_combo.setCurrentIndex(dialog.backend_combo.findData("local"))
        dialog.chain_combo.setCurrentIndex(dialog.chain_combo.findData("dev"))
        await _settle()
        _save(dialog, "09_start_node_local")
        dialog.accept()
        window._start_node(dialog)
        await _wait(lambda: any(r.state is NodeState.READY for r in window.model.rows()), 90)
        row = next(r for r in window.model.rows() if r.state is NodeState.READY)
        # a second node, stopped, so the "Stopped" table has something
        second = await manager.start(
            dialog.spec().__class__(chain="dev", client="anvil", name="dev-old-node"),
            backend="local",
            wait=True,
        )
        await manager.stop(second.id)
        window.refresh()
        window.select_node(row.id)
        await _wait(lambda: window.detail.logs.toPlainText(), 10)
        await asyncio.sleep(1.2)
        _save(window, "10_nodes_running_detail")
        size = window.size()
        window.resize(window.minimumSize())
        await _settle()
        _save(window, "10b_nodes_running_detail_min_size")
        window.select_node(second.id)
        await _wait(lambda: window.detail.restart_button.isVisible(), 10)
        await _settle()
        _save(window, "10c_node_stopped_min_size")
        window.resize(size)
        await _settle()
        _save(window, "10d_node_stopped_detail")
        menu = window.node_menu(window.model.row_by_id(second.id))
        menu.popup(window.mapToGlobal(window.rect().center()))
        await _settle()
        _save(menu, "10e_stopped_node_menu")
        menu.close()
        window.select_node(row.id)

        # detail of a syncing Erigon node (sample status: no Erigon can run here)
        sample = NodeRecord(
            id="sample000001",
            name="sepolia-swift-otter",
            backend="golem",
            chain="sepolia",
            client="erigon",
            state=NodeState.SYNCING,
            provider="provider-7 (0x3b1e…c9d2)",
            url="https://provider-7.example:8545/sample000001/",
            user="erigolem",
            last_status=SYNCING_SAMPLE,
        )
        window.detail.show_row(NodeRow.from_record(sample))
        await _wait(lambda: window.detail.logs.toPlainText(), 10)  # "no such node": replaced below
        window.detail.logs.setPlainText(
            "[INFO] [6/9 Execution] Executed blocks number=4213880 blk/s=412.3 tx/s=61.2k "
            "Mgas/s=2321.4\n[INFO] [p2p] GoodPeers eth68=19 eth67=4"
        )
        await _settle()
        _save(window.detail.window(), "11_node_detail_syncing")
        window.select_node(row.id)
        window.detail.show_row(window.model.row_by_id(row.id))

        # console
        window.show_console(row.id)
        await _wait(lambda: window.console.modules_label.text(), 10)
        await _console_call(window, "eth_getBlockByNumber", ["latest", True])
        _save(window, "12_console_result")
        window.console.result_tabs.setCurrentWidget(window.console.tree)
        await _settle()
        _save(window, "13_console_tree")
        window.console.result_tabs.setCurrentIndex(0)
        await _console_call(window, "eth_getBalance", ["0xnot-an-address", "latest"])
        _save(window, "14_console_error_inline")
        window.console.batch_check.setChecked(True)
        window.console.send()
        await _settle()
        await asyncio.sleep(0.5)
        _save(window, "15_console_batch")
        window.console.batch_check.setChecked(False)

        # send transaction (reviewed; the wallet is funded through anvil's dev method first)
        address = wallet.unlocked_address
        await _console_call(window, "anvil_setBalance", [address, hex(10**19)])
        client = window.console._client
        assert client is not None
        tx = SendTransactionDialog(
            client, wallet, window, chain=row.chain, node_id=row.id, txlog=window.txlog
        )
        window._follow_send_dialog(tx)
        tx.show()
        tx.to_edit.setText("0x70997970C51812dc3A010C7d01b50e0d17dc79C8")
        tx.amount_edit.setText("0.25 ether")
        tx.review()
        await _wait(lambda: tx.send_button.isEnabled(), 20)
        await _settle()
        _save(tx, "16_send_transaction_review")
        tx.sign_and_send()
        await _wait(lambda: tx.receipt is not None or tx.message.property("role") == "error", 30)
        await _settle()
        _save(tx, "17_send_transaction_mined")
        tx.close()

        # wallet page: balance, QR, Fund 100 ETH, anvil's accounts, the sent transaction
        window.show_wallet(row.id)
        page = window.wallet_page
        await _wait(lambda: page.balance_wei is not None and page.dev_accounts, 20)
        task = page.fund()
        if task is not None:
            await task
        await asyncio.sleep(0.5)
        _save(window, "20_wallet_home")
        window.resize(window.minimumSize())
        await _settle()
        _save(window, "20b_wallet_home_min_size")
        window.resize(size)
        # usage tab: the console's and the wallet's calls above, as nginx counted them
        usage = window.usage_page
        window.tabs.setCurrentWidget(usage)
        await _wait(lambda: usage.pg is not None and row.id in usage.usage, 60)
        usage.picker.setCurrentIndex(usage.picker.findData(row.id))
        await _settle()
        _save(window, "26_usage")
        window.resize(window.minimumSize())
        await _settle()
        _save(window, "26b_usage_min_size")
        window.resize(size)
        window.show_wallet(row.id)
        tx = window.open_send_dialog(row.id)
        assert tx is not None
        tx.to_edit.setText("0x70997970C51812dc3A010C7d01b50e0d17dc79C8")
        tx.amount_edit.setText("500 ether")
        tx.review()
        await _wait(lambda: tx.message.property("role") == "error", 20)
        await _settle()
        _save(tx, "21_send_insufficient_funds")
        tx.close()

        # menu bar, About, Help, dark theme
        about = window.open_about()
        await _wait(lambda: about.yagna != "looking…", 10)
        await _settle()
        _save(about, "22_about")
        about.close()
        help_box = window.open_help("The desktop app")
        await _settle()
        _save(help_box, "23_help_section")
        help_box.close()
        window.set_theme("dark")
        window.tabs.setCurrentIndex(0)
        await _settle()
        _save(window, "24_nodes_dark_theme")
        window.set_theme("system")

        settings = SettingsDialog(store, ctx.settings, window)
        settings.show()
        await _settle()
        _save(settings, "18_settings")
        settings.close()

        window.open_passphrase_dialog()
        passphrase = window.passphrase_dialog
        assert passphrase is not None
        await _settle()
        _save(passphrase, "25_change_passphrase")
        passphrase.close()

        window.open_backup_dialog()
        backup = window.backup_dialog
        assert backup is not None
        backup.resize(backup.sizeHint().expandedTo(backup.minimumSize()))
        backup.passphrase.setText("not my passphrase")
        backup.reveal()
        await _wait(lambda: backup.reveal_button.isEnabled() and "wrong" in backup.error.text())
        _save(backup, "26_backup_wrong_passphrase")
        backup.passphrase.setText(PASSPHRASE)
        backup.reveal()
        await _wait(lambda: bool(backup.word_labels))
        await _settle()
        _save(backup, "26b_backup_phrase_masked")
        backup.close()

        box, _remember = keep_running_box(window, 1)
        box.show()
        await _settle()
        _save(box, "19_keep_running_question")
        box.close()
    finally:
        await window.console.close_client()
        await window.wallet_page.close_client()
        await manager.close()
        window._quitting = True
        window.close()


def main() -> int:
    home = _setup_env()
    from erigolem_desktop.ui.app import make_application
    from erigolem_desktop.ui.qt import QEventLoop

    app = make_application(["screenshots"])
    loop = QEventLoop(app)
    asyncio.set_event_loop(loop)
    with loop:
        loop.run_until_complete(shoot(home))
    return 0


if __name__ == "__main__":
    sys.exit(main())

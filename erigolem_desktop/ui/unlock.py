"""The unlock screen: pick an account, type its passphrase; scrypt runs in the executor.

Shown on later runs and after a lock (the button, Ctrl+L, or auto-lock). Nodes keep running
while the wallet is locked.

Signals:
    unlocked: the chosen account is unlocked.
    add_account: the user wants the first-run wizard to create or import another account.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from erigolem_desktop.ui import forms, style
from erigolem_desktop.ui.ops import Op
from erigolem_desktop.ui.qt import (
    QComboBox,
    QFormLayout,
    QPushButton,
    QWidget,
    Signal,
)

if TYPE_CHECKING:
    from erigolem_desktop.core.wallet import Wallet


class UnlockPage(QWidget):
    """Account picker, passphrase field, inline error."""

    unlocked = Signal()
    add_account = Signal()

    def __init__(self, wallet: Wallet, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.wallet = wallet
        lay, self.note = forms.centered_column(
            self,
            "Unlock your wallet",
            "Your nodes keep running while the wallet is locked.",
            max_width=520,
            weight=3,
        )
        self.accounts = QComboBox()
        self.passphrase = forms.secret_edit("passphrase")
        form = QFormLayout()
        form.addRow("&Account", self.accounts)
        form.addRow("&Passphrase", self.passphrase)
        lay.addLayout(form)
        self.error = forms.error_label()
        lay.addWidget(self.error)
        self.other = QPushButton("Add or import an account…")
        self.button = QPushButton("&Unlock")
        self.button.setProperty("role", "primary")
        self.button.setDefault(True)
        lay.addLayout(forms.button_row([self.other], [self.button]))
        lay.addStretch(2)
        self.button.clicked.connect(self.unlock)
        self.passphrase.returnPressed.connect(self.unlock)
        self.other.clicked.connect(self.add_account.emit)
        self.setTabOrder(self.accounts, self.passphrase)
        self.setTabOrder(self.passphrase, self.button)
        self.setTabOrder(self.button, self.other)

    def refresh(self) -> None:
        """Fill the account list (active account first) and focus the passphrase."""
        self.accounts.clear()
        active = self.wallet.active
        for info in self.wallet.accounts():
            text = f"{info.label} — {info.address}" if info.label else info.address
            self.accounts.addItem(text, info.address)
            if active is not None and info.address == active.address:
                self.accounts.setCurrentIndex(self.accounts.count() - 1)
        self.accounts.setVisible(self.accounts.count() > 0)
        style.set_message(self.error, "", "muted")
        self.passphrase.clear()
        self.passphrase.setFocus()

    def unlock(self) -> None:
        address = self.accounts.currentData()
        passphrase = self.passphrase.text()
        if not address:
            style.set_message(self.error, "There is no account yet: add one first.", "error")
            return
        if not passphrase:
            style.set_message(self.error, "Type the passphrase of this account.", "error")
            self.passphrase.setFocus()
            return
        wallet = self.wallet

        def work() -> None:
            wallet.set_active(str(address))
            wallet.unlock(str(address), passphrase)

        self.button.setEnabled(False)
        self.passphrase.setEnabled(False)
        style.set_message(self.error, "Unlocking…", "muted")
        Op.cpu(work, label="unlock").success(self._done).failure(self._failed).finally_(
            self._idle
        ).run()

    def _idle(self) -> None:
        self.button.setEnabled(True)
        self.passphrase.setEnabled(True)

    def _done(self, _result: None) -> None:
        self.passphrase.clear()
        style.set_message(self.error, "", "muted")
        self.unlocked.emit()

    def _failed(self, message: str, hint: str) -> None:
        forms.show_failure(self.error, message, hint)
        self.passphrase.selectAll()
        self.passphrase.setFocus()

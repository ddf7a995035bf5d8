"""Change an account's passphrase: the current one, the new one twice; scrypt off the loop.

The wallet re-encrypts the keystore (Wallet.change_passphrase): a wrong current passphrase
changes nothing and is said inline, so the user can type it again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from erigolem_desktop.ui import forms, style
from erigolem_desktop.ui.ops import Op
from erigolem_desktop.ui.qt import QDialog, QPushButton, QVBoxLayout, QWidget
from erigolem_desktop.ui.welcome import PassphraseFields

if TYPE_CHECKING:
    from erigolem_desktop.core.wallet import Wallet


class PassphraseDialog(QDialog):
    """Asks for the current and the new passphrase of `address`; accepted once changed."""

    def __init__(self, wallet: Wallet, address: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Change passphrase")
        self.setMinimumWidth(480)
        self.wallet = wallet
        self.address = address
        lay = QVBoxLayout(self)
        lay.addWidget(style.label(f"Account {address}", "muted", wrap=True, selectable=True))
        self.current = forms.secret_edit("the passphrase you unlock with now")
        self.new = PassphraseFields()
        self.new.form.insertRow(0, "&Current", self.current)  # one form: the rows line up
        lay.addWidget(self.new)
        lay.addWidget(
            style.label(
                "Keystore backups exported before still open with the old passphrase.",
                "muted",
                wrap=True,
            )
        )
        self.error = forms.error_label()
        lay.addWidget(self.error)
        self.cancel = QPushButton("Cancel")
        self.button = QPushButton("&Change")
        self.button.setProperty("role", "primary")
        self.button.setDefault(True)
        lay.addLayout(forms.button_row(right=(self.cancel, self.button)))
        self.cancel.clicked.connect(self.reject)
        self.button.clicked.connect(self.submit)

    def submit(self) -> None:
        """Check the fields, then re-encrypt in the executor."""
        old = self.current.text()
        if not old:
            style.set_message(self.error, "Type the current passphrase.", "error")
            self.current.setFocus()
            return
        problem = self.new.problem()
        if not problem and self.new.value() == old:
            problem = "The new passphrase is the current one: choose a different one."
        if problem:
            style.set_message(self.error, problem, "error")
            return
        wallet, address, new = self.wallet, self.address, self.new.value()
        self._busy(True)
        style.set_message(self.error, "Re-encrypting the key…", "muted")
        Op.cpu(
            lambda: wallet.change_passphrase(address, old, new), label="change passphrase"
        ).finally_(lambda: self._busy(False)).success(self._done).failure(self._failed).run()

    def _busy(self, busy: bool) -> None:
        for widget in (self.current, self.new, self.button, self.cancel):
            widget.setEnabled(not busy)

    def _done(self, _info: object) -> None:
        self.current.clear()
        self.new.clear()
        self.accept()

    def _failed(self, message: str, hint: str) -> None:
        forms.show_failure(self.error, message, hint)
        self.current.selectAll()
        self.current.setFocus()

"""Back up an account: reveal its recovery phrase or export its keystore, behind the passphrase.

Both need the account's passphrase, checked by decrypting its key (scrypt, in the executor,
so the window never waits). A wrong passphrase is said inline and nothing is shown. The phrase
appears masked until Show is pressed, is dropped when the dialog closes, and is never logged.
The keystore export is a v3 file (encrypted with the wallet passphrase) written with mode 0600.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from erigolem_runtime.api.files import atomic_write

from erigolem_desktop.ui import forms, style
from erigolem_desktop.ui.ops import Op
from erigolem_desktop.ui.qt import (
    QDialog,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QLabel,
    QPushButton,
    Qt,
    QVBoxLayout,
    QWidget,
)

if TYPE_CHECKING:
    from erigolem_desktop.core.wallet import RecoveryPhrase, Wallet

MASK = "••••••"
PathChooser = Callable[[QWidget, str], str]


def choose_save_path(parent: QWidget, suggested: str) -> str:
    """Ask where to save the keystore (the platform's save dialog); '' when cancelled."""
    path, _filter = QFileDialog.getSaveFileName(
        parent, "Export keystore", suggested, "Keystore (*.json);;All files (*)"
    )
    return str(path)


class BackupDialog(QDialog):
    """Reveal the recovery phrase or export the keystore of `address`, once its passphrase fits.

    `choose_path` asks where to save (tests pass their own; the app uses the save dialog).
    """

    def __init__(
        self,
        wallet: Wallet,
        address: str,
        parent: QWidget | None = None,
        *,
        choose_path: PathChooser = choose_save_path,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Back up account")
        self.setMinimumWidth(560)
        self.wallet = wallet
        self.address = address
        self.choose_path = choose_path
        self._phrase: RecoveryPhrase | None = None
        self.exported: Path | None = None

        lay = QVBoxLayout(self)
        lay.addWidget(style.label(f"Account {address}", "muted", wrap=True, selectable=True))
        lay.addWidget(
            style.label(
                "Anyone who sees the recovery phrase or has the keystore and its passphrase "
                "controls this account. Show the phrase only where nobody can watch, and write "
                "it on paper.",
                "warning",
                wrap=True,
            )
        )
        self.passphrase = forms.secret_edit("the passphrase you unlock with")
        form = QFormLayout()
        form.addRow("&Passphrase", self.passphrase)
        lay.addLayout(form)
        self.error = forms.error_label()
        lay.addWidget(self.error)

        self.words = QWidget()
        self.word_grid = QGridLayout(self.words)
        self.word_labels: list[QLabel] = []
        self.words.hide()
        lay.addWidget(self.words)
        self.path_label = style.label("", "muted", selectable=False)
        self.path_label.hide()
        lay.addWidget(self.path_label)

        self.show_button = QPushButton("S&how")
        self.show_button.setCheckable(True)
        self.show_button.setToolTip("Show the words while pressed in; press again to hide them")
        self.show_button.hide()
        self.reveal_button = QPushButton("&Reveal recovery phrase")
        self.export_button = QPushButton("&Export keystore…")
        self.close_button = QPushButton("&Close")
        lay.addLayout(
            forms.button_row(
                left=(self.show_button,),
                right=(self.reveal_button, self.export_button, self.close_button),
            )
        )
        self.reveal_button.clicked.connect(self.reveal)
        self.export_button.clicked.connect(self.export)
        self.close_button.clicked.connect(self.reject)
        self.show_button.toggled.connect(self._paint_words)
        self.passphrase.textEdited.connect(lambda _t: self.error.setText(""))
        self.finished.connect(lambda _r: self.forget())

    # --- passphrase check, off the loop -----------------------------------------------------
    def _typed(self) -> str | None:
        passphrase = self.passphrase.text()
        if not passphrase:
            style.set_message(self.error, "Type the account's passphrase first.", "error")
            self.passphrase.setFocus()
            return None
        return passphrase

    def _busy(self, busy: bool, text: str = "") -> None:
        for widget in (self.passphrase, self.reveal_button, self.export_button):
            widget.setEnabled(not busy)
        if busy:
            style.set_message(self.error, text, "muted")

    def _failed(self, message: str, hint: str) -> None:
        self.forget()
        forms.show_failure(self.error, message, hint)
        self.passphrase.selectAll()
        self.passphrase.setFocus()

    def reveal(self) -> None:
        """Check the passphrase and fetch the phrase (scrypt in the executor), shown masked."""
        passphrase = self._typed()
        if passphrase is None:
            return
        wallet, address = self.wallet, self.address
        self._busy(True, "Checking the passphrase…")
        Op.cpu(lambda: wallet.recovery_phrase(address, passphrase), label="reveal phrase").finally_(
            lambda: self._busy(False)
        ).success(self._revealed).failure(self._failed).run()

    def _revealed(self, phrase: RecoveryPhrase | None) -> None:
        self.passphrase.clear()
        if phrase is None:
            self.forget()
            style.set_message(self.error, self.wallet.no_phrase_reason(self.address), "warning")
            return
        style.set_message(self.error, "", "muted")
        self._phrase = phrase
        for n, _word in enumerate(phrase.phrase.split()):
            word = QLabel()
            word.setFont(style.mono_font())
            word.setTextInteractionFlags(Qt.TextInteractionFlag.NoTextInteraction)
            self.word_labels.append(word)
            self.word_grid.addWidget(word, n // 4, n % 4)
        self.path_label.setText(f"Derivation path {phrase.path}")
        self.path_label.setVisible(True)
        self.words.show()
        self.show_button.setChecked(False)
        self.show_button.show()
        self._paint_words(False)

    def _paint_words(self, shown: bool) -> None:
        words = self._phrase.phrase.split() if self._phrase is not None else []
        for n, (lab, word) in enumerate(zip(self.word_labels, words, strict=False), start=1):
            lab.setText(f"{n:>2}. {word if shown else MASK}")
        self.show_button.setText("&Hide" if shown else "S&how")

    @property
    def phrase_shown(self) -> bool:
        """True while the words are on screen in clear."""
        return self._phrase is not None and self.show_button.isChecked()

    def forget(self) -> None:
        """Drop the phrase and its labels (on close, on a failure)."""
        self._phrase = None
        for lab in self.word_labels:
            lab.clear()
            self.word_grid.removeWidget(lab)
            lab.deleteLater()
        self.word_labels.clear()
        self.words.hide()
        self.path_label.hide()
        self.path_label.clear()
        self.show_button.setChecked(False)
        self.show_button.hide()

    # --- keystore export --------------------------------------------------------------------
    def export(self) -> None:
        """Check the passphrase (executor), then ask where to write the keystore (0600)."""
        passphrase = self._typed()
        if passphrase is None:
            return
        wallet, address = self.wallet, self.address
        self._busy(True, "Checking the passphrase…")
        Op.cpu(
            lambda: wallet.export_keystore(address, passphrase), label="export keystore"
        ).finally_(lambda: self._busy(False)).success(self._save).failure(self._failed).run()

    def _save(self, keystore: str) -> None:
        self.passphrase.clear()
        suggested = str(Path.home() / f"erigolem-{self.address}.json")
        target = self.choose_path(self, suggested)
        if not target:
            style.set_message(self.error, "Export cancelled: nothing was written.", "muted")
            return
        path = Path(target)
        try:
            atomic_write(path, keystore + "\n", 0o600, parents=False)
        except OSError as exc:
            forms.show_failure(
                self.error,
                f"Could not write {path} ({exc.strerror or exc}).",
                "Pick a folder you can write to.",
            )
            return
        self.exported = path
        style.set_message(
            self.error,
            f"Keystore written to {path} (readable only by you). It opens with this "
            "account's passphrase.",
            "ok",
        )

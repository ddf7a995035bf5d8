"""First run: create or import a wallet, passphrase with strength feedback, the mnemonic once.

Steps: intro -> (create -> mnemonic -> confirm) | import -> done. Keystore encryption (scrypt)
runs in the executor; the page shows what it is doing meanwhile.

Signals:
    finished: the wallet holds an unlocked account; the main window may open.
    cancelled: the user went back (only offered when the wallet already has accounts).
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

from erigolem_desktop.core.passphrase_rule import MIN_LENGTH, passphrase_problem
from erigolem_desktop.core.passphrase_rule import (  # re-exported: tests import it from here
    passphrase_strength as passphrase_strength,
)
from erigolem_desktop.ui import forms, style
from erigolem_desktop.ui.ops import Op
from erigolem_desktop.ui.qt import (
    QCheckBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QStackedWidget,
    Qt,
    QTabWidget,
    QVBoxLayout,
    QWidget,
    Signal,
)

if TYPE_CHECKING:
    from erigolem_desktop.core.wallet import Wallet

INTRO_TITLE = "Welcome to Erigolem"
INTRO_TEXT = (
    "Rent a private Ethereum node on the Golem network, or run one on this computer. "
    "First, a wallet: it signs you in and pays providers. Its keys stay on this "
    "computer, encrypted with your passphrase."
)
ADD_TITLE = "Add an account"
ADD_TEXT = (
    "Create a new account or import one (recovery phrase, private key or keystore file). "
    "Its key is encrypted with its own passphrase on this computer."
)
STRENGTH_WORDS = ("Very weak", "Weak", "Fair", "Good", "Strong")
STRENGTH_COLOURS = ("#d0443e", "#d0443e", "#d69a2f", "#2f7fd6", "#2e9e5b")


class PassphraseFields(QWidget):
    """A new passphrase, its repetition and a strength meter; `problem()` says what is wrong."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.first = forms.secret_edit(f"at least {MIN_LENGTH} characters; a few words work well")
        self.second = forms.secret_edit("type it again")
        self.meter = QProgressBar()
        self.meter.setRange(0, 4)
        self.meter.setTextVisible(False)
        self.meter.setFixedHeight(6)
        self.verdict = style.label("", "muted")
        form = self.form = QFormLayout(self)  # pages put their other rows in it: one column
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("&Passphrase", self.first)
        form.addRow("", self.meter)
        form.addRow("", self.verdict)
        form.addRow("&Repeat", self.second)
        self.first.textChanged.connect(self._update)
        self.second.textChanged.connect(lambda _t: self.changed.emit())

    def _update(self, text: str) -> None:
        score = passphrase_strength(text)
        self.meter.setValue(score if text else 0)
        colour = STRENGTH_COLOURS[score]
        self.meter.setStyleSheet(f"QProgressBar::chunk {{ background: {colour}; }}")
        self.verdict.setText(f"Strength: {STRENGTH_WORDS[score]}" if text else "")
        self.changed.emit()

    def problem(self) -> str:
        """Why the passphrase cannot be used yet, or '' when it is fine."""
        text = self.first.text()
        problem = passphrase_problem(text)
        if problem:
            return problem
        if self.second.text() != text:
            return "The two passphrases differ: type the same one twice."
        return ""

    def value(self) -> str:
        return self.first.text()

    def clear(self) -> None:
        self.first.clear()
        self.second.clear()


def _page(title: str, subtitle: str) -> tuple[QWidget, QVBoxLayout]:
    """One wizard page: a centred column under its title and subtitle."""
    page = QWidget()
    lay, _subtitle = forms.centered_column(page, title, subtitle, max_width=560, weight=4)
    return page, lay


class WelcomePage(QStackedWidget):
    """The first-run wizard as a stack of pages (intro, create, mnemonic, confirm, import)."""

    finished = Signal()
    cancelled = Signal()

    intro: QWidget
    create_page: QWidget
    mnemonic_page: QWidget
    confirm_page: QWidget
    import_page: QWidget

    def __init__(self, wallet: Wallet, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.wallet = wallet
        self._mnemonic: list[str] = []
        self._quiz: list[int] = []
        self._build_intro()
        self._build_create()
        self._build_mnemonic()
        self._build_confirm()
        self._build_import()
        self.setCurrentWidget(self.intro)

    # --- intro --------------------------------------------------------------------------
    def _build_intro(self) -> None:
        page = QWidget()
        lay, self.intro_text = forms.centered_column(
            page, INTRO_TITLE, INTRO_TEXT, max_width=560, weight=4
        )
        self.intro_title = next(
            lab for lab in page.findChildren(QLabel) if lab.property("role") == "title"
        )
        self.create_button = QPushButton("&Create a new wallet")
        self.create_button.setProperty("role", "primary")
        self.import_button = QPushButton("&Import an existing wallet")
        self.cancel_button = QPushButton("Back to &unlock")
        lay.addLayout(
            forms.button_row([self.create_button, self.import_button], [self.cancel_button])
        )
        self.cancel_button.clicked.connect(self.cancelled.emit)
        lay.addStretch(2)
        self.create_button.clicked.connect(lambda: self._go(self.create_page))
        self.import_button.clicked.connect(lambda: self._go(self.import_page))
        self.intro = page
        self.addWidget(page)

    # --- create -------------------------------------------------------------------------
    def _build_create(self) -> None:
        page, lay = _page(
            "Create a wallet",
            "Choose a passphrase. It encrypts the key on this computer; nobody can recover it "
            "for you, so keep it somewhere safe.",
        )
        self.label_edit = QLineEdit()
        self.label_edit.setPlaceholderText("optional, e.g. Main")
        self.create_pass = PassphraseFields()
        self.create_pass.form.insertRow(0, "&Name", self.label_edit)  # rows line up
        lay.addWidget(self.create_pass)
        self.create_error = forms.error_label()
        lay.addWidget(self.create_error)
        forms.clear_on_edit(self.create_error, self.create_pass.changed)
        self.create_back = QPushButton("&Back")
        self.create_go = QPushButton("Create &wallet")
        self.create_go.setProperty("role", "primary")
        self.create_go.setDefault(True)
        lay.addLayout(forms.button_row([self.create_back], [self.create_go]))
        lay.addStretch(2)
        self.create_back.clicked.connect(lambda: self._go(self.intro))
        self.create_go.clicked.connect(self._create)
        self.create_pass.second.returnPressed.connect(self._create)
        self.create_page = page
        self.addWidget(page)

    def _create(self) -> None:
        problem = self.create_pass.problem()
        if problem:
            style.set_message(self.create_error, problem, "error")
            return
        passphrase, label = self.create_pass.value(), self.label_edit.text().strip()
        wallet = self.wallet

        def work() -> tuple[Any, str]:
            account, mnemonic = wallet.create(passphrase, label=label)
            if not wallet.is_unlocked:
                wallet.unlock(account.address, passphrase)
            return account, mnemonic

        self._busy(self.create_go, True, "Encrypting the key… (a few seconds)")
        style.set_message(self.create_error, "Encrypting the key… (a few seconds)", "muted")
        Op.cpu(work, label="create wallet").success(self._created).failure(
            lambda m, h: forms.show_failure(self.create_error, m, h)
        ).finally_(lambda: self._busy(self.create_go, False, "Create &wallet")).run()

    def _created(self, result: tuple[Any, str]) -> None:
        self.create_pass.clear()
        style.set_message(self.create_error, "", "muted")
        self._mnemonic = result[1].split()
        for i, lab in enumerate(self.word_labels):
            lab.setText(f"{i + 1:>2}. {self._mnemonic[i]}" if i < len(self._mnemonic) else "")
            lab.setVisible(i < len(self._mnemonic))
        self.written_check.setChecked(False)
        self._go(self.mnemonic_page)

    # --- mnemonic (shown once) ------------------------------------------------------------
    def _build_mnemonic(self) -> None:
        page, lay = _page(
            "Your recovery phrase",
            "Write these words down, in order, on paper. They are the only way to restore this "
            "wallet on another computer. They are kept only encrypted under your passphrase "
            "(Wallet → Back up… shows them again), never in plain text.",
        )
        grid = QGridLayout()
        grid.setSpacing(style.SPACING)
        self.word_labels: list[QLabel] = []
        for i in range(24):
            lab = style.label("", "mnemonic")
            grid.addWidget(lab, i // 3, i % 3)
            self.word_labels.append(lab)
        lay.addLayout(grid)
        self.written_check = QCheckBox("I have &written the words down")
        lay.addWidget(self.written_check)
        self.mnemonic_next = QPushButton("&Next")
        self.mnemonic_next.setProperty("role", "primary")
        self.mnemonic_next.setEnabled(False)
        lay.addLayout(forms.button_row(right=[self.mnemonic_next]))
        lay.addStretch(2)
        self.written_check.toggled.connect(self.mnemonic_next.setEnabled)
        self.mnemonic_next.clicked.connect(self._start_quiz)
        self.mnemonic_page = page
        self.addWidget(page)

    def _start_quiz(self) -> None:
        rng = secrets.SystemRandom()
        self._quiz = sorted(rng.sample(range(len(self._mnemonic)), k=min(3, len(self._mnemonic))))
        for edit, index in zip(self.quiz_edits, self._quiz, strict=False):
            edit.clear()
            self.quiz_form.labelForField(edit).setText(f"Word #{index + 1}")  # type: ignore[attr-defined]
        style.set_message(self.confirm_error, "", "muted")
        self._go(self.confirm_page)
        self.quiz_edits[0].setFocus()  # the first word asked, not whatever Qt picks

    # --- confirm ------------------------------------------------------------------------
    def _build_confirm(self) -> None:
        page, lay = _page("Check your recovery phrase", "Type these words from your paper copy.")
        self.quiz_form = QFormLayout()
        self.quiz_edits = [QLineEdit() for _ in range(3)]
        for i, edit in enumerate(self.quiz_edits):
            self.quiz_form.addRow(f"Word #{i + 1}", edit)
        lay.addLayout(self.quiz_form)
        self.confirm_error = forms.error_label()
        lay.addWidget(self.confirm_error)
        back = QPushButton("&Show the words again")
        self.confirm_go = QPushButton("&Done")
        self.confirm_go.setProperty("role", "primary")
        lay.addLayout(forms.button_row([back], [self.confirm_go]))
        lay.addStretch(2)
        back.clicked.connect(lambda: self._go(self.mnemonic_page))
        self.confirm_go.clicked.connect(self._confirm)
        for edit, following in zip(self.quiz_edits, self.quiz_edits[1:], strict=False):
            edit.returnPressed.connect(following.setFocus)  # Enter: the next word
        self.quiz_edits[-1].returnPressed.connect(self._confirm)
        for edit in self.quiz_edits:
            forms.clear_on_edit(self.confirm_error, edit.textEdited)
        self.confirm_page = page
        self.addWidget(page)

    def _confirm(self) -> None:
        for edit, index in zip(self.quiz_edits, self._quiz, strict=False):
            if edit.text().strip().lower() != self._mnemonic[index]:
                style.set_message(
                    self.confirm_error,
                    f"Word #{index + 1} does not match. Check your paper copy, or go back to "
                    "see the words again.",
                    "error",
                )
                edit.setFocus()
                return
        self._mnemonic = []
        for lab in self.word_labels:
            lab.clear()
        self.finished.emit()

    # --- import -------------------------------------------------------------------------
    def _build_import(self) -> None:
        page, lay = _page(
            "Import a wallet",
            "From a recovery phrase, a private key or a keystore file. The key is encrypted "
            "with a new passphrase on this computer.",
        )
        self.import_tabs = QTabWidget()
        self.import_tabs.setFixedHeight(130)
        self.phrase_edit = QPlainTextEdit()
        self.phrase_edit.setPlaceholderText("twelve or twenty-four words separated by spaces")
        self.phrase_edit.setTabChangesFocus(True)
        self.key_edit = forms.secret_edit("0x… (64 hex digits)")
        key_tab = QWidget()
        QFormLayout(key_tab).addRow("Private &key", self.key_edit)
        ks_tab = QWidget()
        ks_form = QFormLayout(ks_tab)
        self.keystore_path = QLineEdit()
        self.keystore_path.setPlaceholderText("UTC--… .json")
        browse = QPushButton("&Browse…")
        browse.clicked.connect(self._browse_keystore)
        ks_row = QHBoxLayout()
        ks_row.addWidget(self.keystore_path, 1)
        ks_row.addWidget(browse)
        file_label = QLabel("&File")
        file_label.setBuddy(self.keystore_path)  # without a buddy the & shows literally
        ks_form.addRow(file_label, ks_row)
        self.keystore_password = forms.secret_edit()
        ks_form.addRow("File pass&word", self.keystore_password)
        self.import_tabs.addTab(self.phrase_edit, "Recovery phrase")
        self.import_tabs.addTab(key_tab, "Private key")
        self.import_tabs.addTab(ks_tab, "Keystore file")
        lay.addWidget(self.import_tabs)
        lay.addWidget(style.label("New passphrase for this computer", "heading"))
        self.import_pass = PassphraseFields()
        lay.addWidget(self.import_pass)
        self.import_error = forms.error_label()
        lay.addWidget(self.import_error)
        for signal in (
            self.import_pass.changed,
            self.phrase_edit.textChanged,
            self.key_edit.textEdited,
            self.keystore_path.textEdited,
            self.keystore_password.textEdited,
            self.import_tabs.currentChanged,
        ):
            forms.clear_on_edit(self.import_error, signal)
        back = QPushButton("&Back")
        self.import_go = QPushButton("&Import")
        self.import_go.setProperty("role", "primary")
        lay.addLayout(forms.button_row([back], [self.import_go]))
        lay.addStretch(2)
        back.clicked.connect(lambda: self._go(self.intro))
        self.import_go.clicked.connect(self._import)
        self.import_pass.second.returnPressed.connect(self._import)
        self.import_page = page
        self.addWidget(page)

    def _browse_keystore(self) -> None:
        path, _filter = QFileDialog.getOpenFileName(
            self, "Keystore file", str(Path.home()), "Keystore (*.json UTC--*);;All files (*)"
        )
        if path:
            self.keystore_path.setText(path)

    def _import(self) -> None:
        problem = self.import_pass.problem()
        if problem:
            style.set_message(self.import_error, problem, "error")
            return
        passphrase = self.import_pass.value()
        wallet = self.wallet
        tab = self.import_tabs.currentIndex()
        phrase = " ".join(self.phrase_edit.toPlainText().split())
        key = self.key_edit.text().strip()
        ks_path, ks_password = self.keystore_path.text().strip(), self.keystore_password.text()
        if tab == 0 and not phrase:
            style.set_message(self.import_error, "Type the recovery phrase first.", "error")
            return
        if tab == 1 and not key:
            style.set_message(self.import_error, "Paste the private key first.", "error")
            return
        if tab == 2 and not ks_path:
            style.set_message(self.import_error, "Choose the keystore file first.", "error")
            return

        def work() -> Any:
            if tab == 0:
                account = wallet.import_mnemonic(phrase, passphrase)
            elif tab == 1:
                account = wallet.import_private_key(key, passphrase)
            else:
                try:
                    text = Path(ks_path).read_text(encoding="utf-8")
                except OSError as exc:
                    raise OSError(f"Could not read {ks_path}: {exc.strerror or exc}.") from exc
                account = wallet.import_keystore(text, ks_password, passphrase)
            address = getattr(account, "address", None) or wallet.accounts()[-1].address
            wallet.set_active(address)
            wallet.unlock(address, passphrase)
            return account

        style.set_message(self.import_error, "Encrypting the key… (a few seconds)", "muted")
        self._busy(self.import_go, True, "Importing…")
        Op.cpu(work, label="import wallet").success(self._imported).failure(
            lambda m, h: forms.show_failure(self.import_error, m, h)
        ).finally_(lambda: self._busy(self.import_go, False, "&Import")).run()

    def _imported(self, _account: Any) -> None:
        self.import_pass.clear()
        self.phrase_edit.clear()
        self.key_edit.clear()
        self.keystore_password.clear()
        style.set_message(self.import_error, "", "muted")
        self.finished.emit()

    def restart(self) -> None:
        """Back to the intro; offer "Back to unlock" only when there is an account already.

        With accounts already there this is "add an account", not the first-run welcome.
        """
        adding = bool(self.wallet.accounts())
        self.cancel_button.setVisible(adding)
        self.intro_title.setText(ADD_TITLE if adding else INTRO_TITLE)
        self.intro_text.setText(ADD_TEXT if adding else INTRO_TEXT)
        self._go(self.intro)

    # --- helpers ------------------------------------------------------------------------
    def _go(self, page: QWidget) -> None:
        self.setCurrentWidget(page)
        page.focusNextChild()

    @staticmethod
    def _busy(button: QPushButton, busy: bool, text: str) -> None:
        button.setEnabled(not busy)
        button.setText(text)
        if busy:
            button.setCursor(Qt.CursorShape.BusyCursor)
        else:
            button.unsetCursor()

"""Settings: Golem (yagna API URL, app key, subnet, payment network, budget), auto-lock, data.

The app key goes to the keyring, everything else to settings.json (core/settings.py). The theme
(system, light, dark) is here and in View > Theme; the window applies it on Save.
"""

from __future__ import annotations

from dataclasses import replace

from erigolem_desktop.core.paths import data_dir
from erigolem_desktop.core.settings import (
    PAYMENT_NETWORKS,
    THEMES,
    Settings,
    SettingsError,
    SettingsStore,
)
from erigolem_desktop.ui import forms, style
from erigolem_desktop.ui.qt import (
    QCheckBox,
    QComboBox,
    QDesktopServices,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QUrl,
    QVBoxLayout,
    QWidget,
)


class SettingsDialog(QDialog):
    """Edits a copy of Settings; on Save validates, writes, and stores the app key."""

    def __init__(
        self, store: SettingsStore, settings: Settings, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setMinimumWidth(520)
        self.store = store
        self.settings = settings
        self.saved: Settings | None = None

        self.api_url = QLineEdit(settings.yagna_api_url)
        self.app_key = QLineEdit()
        self.app_key.setEchoMode(QLineEdit.EchoMode.Password)
        self.app_key.setPlaceholderText("from `yagna app-key create erigolem`")
        self._had_key = False
        try:
            self._had_key = bool(store.app_key())
        except Exception:  # a locked keyring: say so where the field is
            self.app_key.setPlaceholderText("the keyring is locked: unlock it to see the key")
        if self._had_key:
            self.app_key.setPlaceholderText("stored in the keyring (type to replace)")
        self.subnet = QLineEdit(settings.subnet)
        self.network = QComboBox()
        for net in PAYMENT_NETWORKS:
            self.network.addItem(net, net)
        self.network.setCurrentIndex(max(0, self.network.findData(settings.payment_network)))
        self.budget = QDoubleSpinBox()
        self.budget.setRange(0.01, 100_000)
        self.budget.setDecimals(2)
        self.budget.setSuffix(" GLM")
        self.budget.setValue(float(settings.budget_glm))
        golem = QGroupBox("Golem")
        gform = QFormLayout(golem)
        gform.addRow("yagna &API URL", self.api_url)
        gform.addRow("App &key", self.app_key)
        gform.addRow("&Subnet", self.subnet)
        gform.addRow("&Payment network", self.network)
        gform.addRow("Total &budget", self.budget)

        self.auto_lock = QSpinBox()
        self.auto_lock.setRange(0, 24 * 60)
        self.auto_lock.setSuffix(" min")
        self.auto_lock.setSpecialValueText("never")
        self.auto_lock.setValue(settings.auto_lock_minutes)
        self.keep_running = QComboBox()
        self.keep_running.addItem("Ask each time", None)
        self.keep_running.addItem("Keep nodes running in the background", True)
        self.keep_running.addItem("Stop nodes and quit", False)
        self.keep_running.setCurrentIndex(
            {None: 0, True: 1, False: 2}.get(settings.keep_running, 0)
        )
        self.update_check = QCheckBox("Look for a newer version once a &day")
        self.update_check.setToolTip(
            "Reads a small signed notice from the Erigolem project; nothing is downloaded or "
            "installed. Help → Check for updates asks at any time."
        )
        self.update_check.setChecked(settings.update_check_daily)
        app_box = QGroupBox("App")
        aform = QFormLayout(app_box)
        aform.addRow("&Lock the wallet after", self.auto_lock)
        aform.addRow("When the window &closes", self.keep_running)
        aform.addRow("Updates", self.update_check)
        path_label = style.label(str(data_dir()), "", selectable=True)
        path_label.setFont(style.mono_font())
        open_button = QPushButton("&Open folder")
        open_button.clicked.connect(
            lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(data_dir())))
        )
        row = QHBoxLayout()
        row.addWidget(path_label, 1)
        row.addWidget(open_button)
        aform.addRow("Data folder", row)
        self.theme = QComboBox()
        for name in THEMES:
            self.theme.addItem({"system": "As the system"}.get(name, name.capitalize()), name)
        self.theme.setCurrentIndex(max(0, self.theme.findData(settings.theme)))
        aform.addRow("&Theme", self.theme)
        # the two groups' fields start at one x (each QFormLayout sizes its own label column)
        labels = [
            widget
            for form in (gform, aform)
            for i in range(form.rowCount())
            if (item := form.itemAt(i, QFormLayout.ItemRole.LabelRole)) is not None
            and (widget := item.widget()) is not None
        ]
        width = max(lab.sizeHint().width() for lab in labels)
        for lab in labels:
            lab.setMinimumWidth(width)

        self.error = forms.error_label()
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self._save)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.setSpacing(style.SPACING * 2)
        lay.addWidget(golem)
        lay.addWidget(app_box)
        lay.addWidget(self.error)
        lay.addWidget(buttons)

    def _collect(self) -> Settings:
        return replace(
            self.settings,
            yagna_api_url=self.api_url.text().strip(),
            subnet=self.subnet.text().strip(),
            payment_network=str(self.network.currentData()),
            budget_glm=f"{self.budget.value():.2f}",
            auto_lock_minutes=self.auto_lock.value(),
            keep_running=self.keep_running.currentData(),
            theme=str(self.theme.currentData()),
            update_check_daily=self.update_check.isChecked(),
        )

    def _save(self) -> None:
        new = self._collect()
        try:
            self.store.save(new)
            if self.app_key.text():
                self.store.set_app_key(self.app_key.text())
        except SettingsError as exc:
            style.set_message(self.error, f"{exc} {exc.hint}".strip(), "error")
            return
        except OSError as exc:
            style.set_message(
                self.error,
                f"Could not save the settings: {exc.strerror or exc}. Check that the data "
                "folder is writable.",
                "error",
            )
            return
        except Exception as exc:  # keyring failures
            style.set_message(
                self.error,
                f"Could not store the app key in the keyring: {exc}. Unlock the system keyring "
                "and save again.",
                "error",
            )
            return
        self.saved = new
        self.accept()

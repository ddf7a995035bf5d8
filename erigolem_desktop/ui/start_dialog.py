"""The *Start node* dialog: backend, chain, client, a friendly name; budget and duration for Golem.

It only builds a NodeSpec (and names the backend); the main window hands it to the manager.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from datetime import timedelta
from decimal import Decimal

from erigolem_desktop.core.backends.base import NodeSpec
from erigolem_desktop.ui import forms, style
from erigolem_desktop.ui.qt import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

CHAINS = ("sepolia", "hoodi", "mainnet", "dev")  # holesky and goerli are shut down
CLIENTS = {"erigon": "Erigon", "anvil": "anvil (dev chain)"}
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,47}$")
_ADJECTIVES = ("brave", "calm", "eager", "gentle", "lucky", "nimble", "quiet", "swift", "bright")
_ANIMALS = ("otter", "falcon", "lynx", "heron", "badger", "marten", "ibis", "puffin", "wren")


def friendly_name(chain: str, taken: Iterable[str] = ()) -> str:
    """A default node name like `sepolia-swift-otter`, not among `taken`."""
    used = set(taken)
    rng = secrets.SystemRandom()
    for _ in range(50):
        name = f"{chain}-{rng.choice(_ADJECTIVES)}-{rng.choice(_ANIMALS)}"
        if name not in used:
            return name
    return f"{chain}-{secrets.token_hex(3)}"


class StartDialog(QDialog):
    """Collects what to start. After `exec()` returns Accepted, read `spec()` and `backend()`."""

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        taken_names: Iterable[str] = (),
        golem_available: bool = True,
        default_budget: Decimal = Decimal("1"),
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Start a node")
        self.setMinimumWidth(460)
        self._taken = set(taken_names)
        self._name_touched = False

        self.backend_combo = QComboBox()
        self.backend_combo.addItem("Golem network (rented)", "golem")
        self.backend_combo.addItem("This computer (local)", "local")
        if not golem_available:
            self.backend_combo.setCurrentIndex(1)
        self.chain_combo = QComboBox()
        for chain in CHAINS:
            self.chain_combo.addItem(chain, chain)
        self.client_combo = QComboBox()
        for key, text in CLIENTS.items():
            self.client_combo.addItem(text, key)
        self.name_edit = QLineEdit(friendly_name(CHAINS[0], self._taken))
        self.budget = QDoubleSpinBox()
        self.budget.setRange(0.01, 10_000)
        self.budget.setDecimals(2)
        self.budget.setSuffix(" GLM")
        self.budget.setValue(float(default_budget))
        self.hours = QSpinBox()
        self.hours.setRange(1, 24 * 30)
        self.hours.setSuffix(" h")
        self.hours.setValue(24)
        self.cost = style.label("", "muted", wrap=True)
        self.error = forms.error_label()

        form = QFormLayout()
        form.addRow("&Run on", self.backend_combo)
        form.addRow("C&hain", self.chain_combo)
        form.addRow("C&lient", self.client_combo)
        form.addRow("&Name", self.name_edit)
        form.addRow("&Budget", self.budget)
        form.addRow("&Duration", self.hours)
        self._form = form
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("&Start")
        lay = QVBoxLayout(self)
        lay.setSpacing(style.SPACING * 2)
        lay.addLayout(form)
        lay.addWidget(self.cost)
        lay.addWidget(self.error)
        lay.addWidget(self.buttons)

        self.backend_combo.currentIndexChanged.connect(self._refresh)
        self.chain_combo.currentIndexChanged.connect(self._chain_changed)
        self.client_combo.currentIndexChanged.connect(self._client_changed)
        self.budget.valueChanged.connect(self._refresh)
        self.hours.valueChanged.connect(self._refresh)
        self.name_edit.textEdited.connect(lambda _t: setattr(self, "_name_touched", True))
        self.buttons.accepted.connect(self._accept)
        self.buttons.rejected.connect(self.reject)
        self._refresh()

    def backend(self) -> str:
        return str(self.backend_combo.currentData())

    def spec(self) -> NodeSpec:
        golem = self.backend() == "golem"
        return NodeSpec(
            chain=str(self.chain_combo.currentData()),
            client=str(self.client_combo.currentData()),
            name=self.name_edit.text().strip(),
            budget_glm=Decimal(str(round(self.budget.value(), 2))) if golem else None,
            duration=timedelta(hours=self.hours.value()) if golem else None,
        )

    def _chain_changed(self) -> None:
        chain = str(self.chain_combo.currentData())
        if chain == "dev":
            self.client_combo.setCurrentIndex(list(CLIENTS).index("anvil"))
        elif self.client_combo.currentData() == "anvil":
            self.client_combo.setCurrentIndex(list(CLIENTS).index("erigon"))
        if not self._name_touched:
            self.name_edit.setText(friendly_name(chain, self._taken))
        self._refresh()

    def _client_changed(self) -> None:
        if self.client_combo.currentData() == "anvil" and self.chain_combo.currentData() != "dev":
            self.chain_combo.setCurrentIndex(CHAINS.index("dev"))
        self._refresh()

    def _refresh(self) -> None:
        golem = self.backend() == "golem"
        for field in (self.budget, self.hours):
            field.setVisible(golem)
            self._form.labelForField(field).setVisible(golem)
        if golem:
            per_hour = self.budget.value() / max(self.hours.value(), 1)
            self.cost.setText(
                f"You pay the provider for the time used and the requests served, never more "
                f"than {self.budget.value():.2f} GLM (about {per_hour:.3f} GLM per hour over "
                f"{self.hours.value()} h). Stop the node early to pay less."
            )
        else:
            chain = str(self.chain_combo.currentData())
            heavy = (
                ""
                if chain == "dev"
                else " An Erigon node needs hundreds of GB of disk and days to sync here."
            )
            self.cost.setText(f"Free: runs on this computer.{heavy}")
        style.set_message(self.error, "", "error")

    def _accept(self) -> None:
        name = self.name_edit.text().strip()
        if not NAME_RE.match(name):
            style.set_message(
                self.error,
                "The name must start with a letter or digit and use only letters, digits, "
                "spaces, '.', '_' or '-' (at most 48 characters).",
                "error",
            )
            self.name_edit.setFocus()
            return
        if name in self._taken:
            style.set_message(
                self.error,
                f"A running node is already called {name!r}: pick another name.",
                "error",
            )
            self.name_edit.setFocus()
            return
        self.accept()

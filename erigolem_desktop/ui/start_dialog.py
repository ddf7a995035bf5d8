"""The *Start node* dialog: backend, chain, client, a friendly name; budget and duration for Golem;
the browser origins allowed to call the node (CORS; empty = any).

It builds a NodeSpec (and names the backend); the main window hands it to the manager. It opens
on the user's last choices (`StartChoice`), on *This computer / dev* when Golem is not set up,
offers for *This computer* only the chains the local runtime can run. With Golem picked it runs
the window's pre-flight check (yagna reachable, app key accepted, funds on the payment network,
gftp installed; awaited on the loop) as soon as it is shown, lists one line per check, and
keeps Start off (its tooltip says why) until every check passes, so a start that cannot work
never becomes a failed node. *Check again* re-runs it after the user fixed something.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from erigolem_runtime.host import validate_origins

from erigolem_desktop.core.backends.base import NodeSpec
from erigolem_desktop.core.chains import default_client, network_table
from erigolem_desktop.ui import forms, style
from erigolem_desktop.ui.ops import Op
from erigolem_desktop.ui.qt import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLineEdit,
    QPushButton,
    QShowEvent,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

MARKS = {"ok": "✓", "failed": "✗", "unknown": "?"}  # by preflight.Outcome value
CHECKING = "Checking the Golem setup (yagna, app key, funds, gftp)…"
if TYPE_CHECKING:  # preflight.py imports aiohttp: kept out of the first paint
    from erigolem_desktop.core.backends.golem.preflight import Preflight

CLIENTS = {"erigon": "Erigon", "anvil": "anvil (dev chain)"}
NAME_MAX = 48
# Any script's letters and digits (a name is a label only: node ids reach nginx and argv).
NAME_RE = re.compile(rf"^[^\W_][\w .-]{{0,{NAME_MAX - 1}}}$")
_CHAIN_ORDER = ("sepolia", "hoodi", "mainnet", "gnosis", "dev")


def all_chains() -> list[str]:
    """Every chain a node can run (the runtime's client profiles), common ones first."""
    networks, _defaults = network_table()
    chains = {c for cs in networks.values() for c in cs}
    known = [c for c in _CHAIN_ORDER if c in chains]
    return known + sorted(chains - set(known))


@dataclass(frozen=True)
class StartChoice:
    """What the user picked last time (kept in Settings so the dialog opens on it)."""

    backend: str = ""
    chain: str = ""
    client: str = ""


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
        local_chains: Sequence[str] | None = None,
        last: StartChoice | None = None,
        preflight: Callable[[], Awaitable[Preflight]] | None = None,
    ) -> None:
        """Args:
        golem_available: Golem is set up (backend present, app key configured).
        local_chains: chains *This computer* can run (None: every chain).
        last: the previous choices to open on.
        preflight: the Golem pre-flight (GolemBackend.preflight), run while Golem is picked.
        """
        super().__init__(parent)
        self.setWindowTitle("Start a node")
        self.setMinimumWidth(460)
        self._taken = set(taken_names)
        self._name_touched = False
        self._chains = all_chains()
        self._local_chains = [c for c in self._chains if local_chains is None or c in local_chains]
        self._preflight = preflight
        self._report: Preflight | None = None
        self._checking = False
        self._suggested = ""

        self.backend_combo = QComboBox()
        self.backend_combo.addItem("Golem network (rented)", "golem")
        self.backend_combo.addItem("This computer (local)", "local")
        self.chain_combo = QComboBox()
        self.client_combo = QComboBox()
        for key, text in CLIENTS.items():
            self.client_combo.addItem(text, key)
        self.name_edit = QLineEdit()
        self.name_edit.setMaxLength(NAME_MAX)
        self.name_edit.setPlaceholderText("a name for this node")
        self.budget = QDoubleSpinBox()
        self.budget.setRange(0.01, 10_000)
        self.budget.setDecimals(2)
        self.budget.setSuffix(" GLM")
        self.budget.setValue(float(default_budget))
        self.hours = QSpinBox()
        self.hours.setRange(1, 24 * 30)
        self.hours.setSuffix(" h")
        self.hours.setValue(24)
        self.warm = QCheckBox("&Warm: an own endpoint on the provider's synced Erigon")
        self.warm.setToolTip(
            "At chain head in minutes instead of days: your own rpcdaemon process, port and "
            "password on a node the provider keeps synced. Its chain data is shared, read-only, "
            "with the provider's other renters, and you trust the provider's sync."
        )
        self.origins_edit = QLineEdit()
        self.origins_edit.setPlaceholderText("any (every call still needs the password)")
        self.origins_edit.setToolTip(
            "Browser dapps allowed to call this node (CORS), e.g. https://my-dapp.example; "
            "several separated by spaces or commas. Empty: any origin, which is safe because "
            "every call still needs the node's password."
        )
        self.cost = style.label("", "muted", wrap=True)
        self.error = forms.error_label()
        self.checks = style.label("", "muted", wrap=True, selectable=True)
        self.checks.hide()
        self.recheck = QPushButton("Check &again")
        self.recheck.setToolTip("Run the Golem pre-flight again (after starting yagna, say)")
        self.recheck.hide()
        self.recheck.clicked.connect(self.run_preflight)

        form = QFormLayout()
        form.addRow("&Run on", self.backend_combo)
        form.addRow("C&hain", self.chain_combo)
        form.addRow("C&lient", self.client_combo)
        form.addRow("&Name", self.name_edit)
        form.addRow("&Budget", self.budget)
        form.addRow("&Duration", self.hours)
        form.addRow("", self.warm)
        form.addRow("Allowed &origins", self.origins_edit)
        self._form = form
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("&Start")
        lay = QVBoxLayout(self)
        lay.setSpacing(style.SPACING * 2)
        lay.addLayout(form)
        lay.addWidget(self.cost)
        lay.addWidget(self.checks)
        lay.addWidget(self.error)
        lay.addLayout(forms.button_row(left=(self.recheck,), right=(self.buttons,)))

        last = last or StartChoice()
        backend = last.backend if last.backend in ("golem", "local") else "golem"
        if not golem_available:
            backend = "local"
        self.backend_combo.setCurrentIndex(self.backend_combo.findData(backend))
        chain = last.chain or ("sepolia" if backend == "golem" else "dev")
        self._fill_chains(chain)
        if last.client and last.client in CLIENTS:
            self._pick_client(last.client)
        self._suggest_name()

        self.backend_combo.currentIndexChanged.connect(self._backend_changed)
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

    def choice(self) -> StartChoice:
        """The choices to remember for next time."""
        return StartChoice(
            self.backend(),
            str(self.chain_combo.currentData()),
            str(self.client_combo.currentData()),
        )

    def _fill_chains(self, wanted: str) -> None:
        """The chain list for the current backend (local: only what it can run)."""
        chains = self._chains if self.backend() == "golem" else self._local_chains
        self.chain_combo.blockSignals(True)
        self.chain_combo.clear()
        for chain in chains:
            self.chain_combo.addItem(chain, chain)
        index = self.chain_combo.findData(wanted)
        if index < 0:
            index = self.chain_combo.findData("dev" if self.backend() == "local" else "sepolia")
        self.chain_combo.setCurrentIndex(max(index, 0))
        self.chain_combo.blockSignals(False)
        self._pick_client(default_client(str(self.chain_combo.currentData())))

    def _pick_client(self, client: str) -> None:
        self.client_combo.blockSignals(True)
        self.client_combo.setCurrentIndex(max(self.client_combo.findData(client), 0))
        self.client_combo.blockSignals(False)

    def _suggest_name(self) -> None:
        self._suggested = friendly_name(str(self.chain_combo.currentData() or "node"), self._taken)
        if not self._name_touched:
            self.name_edit.setText(self._suggested)

    def _backend_changed(self) -> None:
        self._fill_chains(str(self.chain_combo.currentData()))
        self._suggest_name()
        self._refresh()
        if self.isVisible() and self._report is None:
            self.run_preflight()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._report is None and not self._checking:
            self.run_preflight()

    def spec(self) -> NodeSpec:
        golem = self.backend() == "golem"
        return NodeSpec(
            chain=str(self.chain_combo.currentData()),
            client=str(self.client_combo.currentData()),
            name=self.name_edit.text().strip() or self._suggested,
            budget_glm=Decimal(str(round(self.budget.value(), 2))) if golem else None,
            duration=timedelta(hours=self.hours.value()) if golem else None,
            warm=self.warm.isEnabled() and self.warm.isChecked(),
            allow_origins=self._origins(),
        )

    def _origins(self) -> tuple[str, ...]:
        """The origins typed (validated like the runtime does; ValueError says what is wrong)."""
        words = [w for w in re.split(r"[\s,]+", self.origins_edit.text()) if w]
        return validate_origins(words) if words else ()

    def _chain_changed(self) -> None:
        self._pick_client(default_client(str(self.chain_combo.currentData())))
        self._suggest_name()
        self._refresh()

    def _client_changed(self) -> None:
        if self.client_combo.currentData() == "anvil" and self.chain_combo.currentData() != "dev":
            index = self.chain_combo.findData("dev")
            if index >= 0:
                self.chain_combo.setCurrentIndex(index)
        elif self.client_combo.currentData() != "anvil" and self.chain_combo.currentData() == "dev":
            self._pick_client("anvil")  # the dev chain is anvil's
        self._refresh()

    def _refresh(self) -> None:
        golem = self.backend() == "golem"
        for field in (self.budget, self.hours):
            field.setVisible(golem)
            self._form.labelForField(field).setVisible(golem)
        # warm = an rpcdaemon on a provider's synced Erigon: Golem and Erigon only
        self.warm.setVisible(golem)
        self.warm.setEnabled(golem and self.client_combo.currentData() == "erigon")
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
        self._update_start()

    def _ok(self) -> QPushButton:
        return self.buttons.button(QDialogButtonBox.StandardButton.Ok)

    def _update_start(self) -> None:
        """Start is on unless a Golem pre-flight runs or failed; its tooltip says why it is off."""
        golem = self.backend() == "golem" and self._preflight is not None
        self.checks.setVisible(golem and (self._checking or self._report is not None))
        self.recheck.setVisible(golem and self._report is not None and not self._report.ready)
        self.recheck.setEnabled(not self._checking)
        why = ""
        if golem and self._checking:
            why = CHECKING
        elif golem and self._report is not None and not self._report.ready:
            why = "Golem is not ready: " + " ".join(c.text for c in self._report.failures())
            why += " Fix it and press Check again, or run the node on this computer."
        self._ok().setEnabled(not why)
        self._ok().setToolTip(why)
        if golem and self._report is not None and not self._report.ready and not self._checking:
            failed = ", ".join(c.name for c in self._report.failures())
            style.set_message(
                self.error,
                f"Golem is not ready ({failed}): fix the ✗ lines above and press Check again, "
                "or run the node on this computer.",
                "error",
            )

    def run_preflight(self) -> None:
        """Run the Golem pre-flight on the loop; Start stays off until it passes."""
        if self._preflight is None or self.backend() != "golem" or self._checking:
            return
        check = self._preflight
        self._checking = True
        self.checks.setText(CHECKING)
        self._update_start()

        async def run() -> Preflight:
            return await check()

        def done(report: Preflight) -> None:
            self._report = report
            self.checks.setText(
                "\n".join(f"{MARKS[c.outcome.value]} {c.name}: {c.text}" for c in report.checks)
            )
            self._update_start()
            self.adjustSize()  # the lines need room: grow rather than squeeze the form

        def failed(message: str, hint: str) -> None:  # the check itself broke (a bug)
            self._report = None
            style.set_message(self.error, f"The Golem pre-flight failed: {message} {hint}", "error")
            self.checks.setText("")

        def finished() -> None:  # runs before done/failed
            self._checking = False
            self._update_start()

        Op.coro(run, label="golem pre-flight").finally_(finished).success(done).failure(
            failed
        ).run()

    def _accept(self) -> None:
        name = self.name_edit.text().strip() or self._suggested
        if not NAME_RE.match(name):
            style.set_message(
                self.error,
                "The name must start with a letter or digit (any language) and use only "
                f"letters, digits, spaces, '.', '_' or '-' (at most {NAME_MAX} characters). "
                "Leave it empty to use the suggested name.",
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
        try:
            self._origins()
        except ValueError as exc:
            style.set_message(self.error, f"{exc}.", "error")
            self.origins_edit.setFocus()
            return
        golem = self.backend() == "golem" and self._preflight is not None
        if golem and (self._report is None or not self._report.ready or self._checking):
            self._update_start()
            if self._report is None and not self._checking:
                self.run_preflight()
            return
        self.accept()

"""The Start dialog's warm option: Golem + Erigon only, and it reaches the NodeSpec."""

from __future__ import annotations

from typing import Any

from erigolem_desktop.ui.start_dialog import StartChoice, StartDialog


def test_warm_option_is_for_golem_erigon_nodes_only(qtbot: Any) -> None:
    dialog = StartDialog(golem_available=True, last=StartChoice("golem", "mainnet", "erigon"))
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.warm.isVisible()
    assert dialog.warm.isEnabled()
    assert dialog.spec().warm is False  # off unless asked for
    dialog.warm.setChecked(True)
    spec = dialog.spec()
    assert spec.warm is True
    assert spec.start_argument()["mode"] == "warm"
    dialog.chain_combo.setCurrentIndex(dialog.chain_combo.findData("dev"))  # anvil: no warm
    assert not dialog.warm.isEnabled()
    assert dialog.spec().warm is False
    dialog.backend_combo.setCurrentIndex(dialog.backend_combo.findData("local"))
    assert not dialog.warm.isVisible()
    assert dialog.spec().warm is False

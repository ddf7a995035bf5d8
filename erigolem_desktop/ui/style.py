"""Look and feel: icons from resources/icons, state colours, fonts and a small style sheet.

The theme follows the OS: we only use palette roles and a few accent colours that read well on
light and dark backgrounds.
"""

from __future__ import annotations

from functools import cache

from erigolem_desktop.core.paths import resources_dir
from erigolem_desktop.core.states import NodeState
from erigolem_desktop.ui.qt import QColor, QFont, QFontDatabase, QIcon, QLabel, QWidget

SPACING = 8
MARGIN = 12

STATE_COLOURS: dict[NodeState, str] = {
    NodeState.PENDING: "#d69a2f",
    NodeState.STARTING: "#d69a2f",
    NodeState.SYNCING: "#2f7fd6",
    NodeState.READY: "#2e9e5b",
    NodeState.STOPPING: "#8a8f98",
    NodeState.STOPPED: "#8a8f98",
    NodeState.FAILED: "#d0443e",
}

STATE_ICONS: dict[NodeState, str] = {
    NodeState.PENDING: "state-starting",
    NodeState.STARTING: "state-starting",
    NodeState.SYNCING: "state-syncing",
    NodeState.READY: "state-ready",
    NodeState.STOPPING: "state-stopped",
    NodeState.STOPPED: "state-stopped",
    NodeState.FAILED: "state-failed",
}

STYLE_SHEET = """
QLabel[role="title"] { font-size: 20pt; font-weight: 600; }
QLabel[role="subtitle"] { font-size: 11pt; }
QLabel[role="heading"] { font-size: 12pt; font-weight: 600; }
QLabel[role="muted"] { color: palette(placeholder-text); }
QLabel[role="error"] { color: #d0443e; }
QLabel[role="ok"] { color: #2e9e5b; }
QLabel[role="warning"] { color: #b8860b; }
QLabel[role="mnemonic"] { font-family: monospace; font-size: 11pt; padding: 4px 8px;
    border: 1px solid palette(mid); border-radius: 4px; }
QPushButton { padding: 5px 14px; }
QPushButton[role="primary"] { font-weight: 600; }
QFrame[role="card"] { border: 1px solid palette(mid); border-radius: 8px; }
QTableView { gridline-color: transparent; }
"""


def icon(name: str) -> QIcon:
    """The SVG icon `resources/icons/<name>.svg` (an empty icon when missing)."""
    return QIcon(_icon_path(name))


@cache
def _icon_path(name: str) -> str:
    path = resources_dir() / "icons" / f"{name}.svg"
    return str(path) if path.exists() else ""


def state_icon(state: NodeState) -> QIcon:
    return icon(STATE_ICONS.get(state, "state-starting"))


def state_colour(state: NodeState) -> QColor:
    return QColor(STATE_COLOURS.get(state, "#8a8f98"))


def mono_font() -> QFont:
    """The system fixed-width font, for URLs, hashes, JSON."""
    font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
    return font


def role(widget: QWidget, name: str) -> QWidget:
    """Tag a widget with a style-sheet role (title, heading, muted, error, primary, card)."""
    widget.setProperty("role", name)
    return widget


def label(
    text: str, role_name: str = "", *, wrap: bool = False, selectable: bool = False
) -> QLabel:
    """A QLabel with a role, optional word wrap and mouse/keyboard text selection."""
    lab = QLabel(text)
    if role_name:
        lab.setProperty("role", role_name)
    lab.setWordWrap(wrap)
    if selectable:
        from erigolem_desktop.ui.qt import Qt

        lab.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return lab


def set_message(lab: QLabel, text: str, role_name: str) -> None:
    """Update a status/error label's text and role, re-polishing so the colour follows."""
    lab.setText(text)
    lab.setProperty("role", role_name)
    lab.style().unpolish(lab)
    lab.style().polish(lab)
    lab.setVisible(bool(text))

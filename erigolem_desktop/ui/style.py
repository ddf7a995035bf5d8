"""Look and feel: icons from resources/icons, state colours, fonts and a small style sheet.

The theme follows the OS unless the user picks light or dark (View > Theme): the style sheet
uses palette roles and a few accent colours that read well on both, so a theme is a palette.
"""

from __future__ import annotations

from functools import cache

from erigolem_desktop.core.paths import resources_dir
from erigolem_desktop.core.states import NodeState
from erigolem_desktop.ui.qt import (
    QApplication,
    QColor,
    QFont,
    QFontDatabase,
    QIcon,
    QLabel,
    QPalette,
    Qt,
    QWidget,
)

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


_SYSTEM_LOOK: dict[str, object] = {}  # the style and palette the app started with ("system")


def dark_palette() -> QPalette:
    """A dark palette for the Fusion style (Qt has none built in)."""
    pal = QPalette()
    role, group = QPalette.ColorRole, QPalette.ColorGroup
    for name, colour in (
        (role.Window, "#2b2d31"),
        (role.WindowText, "#e6e6e6"),
        (role.Base, "#1f2023"),
        (role.AlternateBase, "#26282c"),
        (role.ToolTipBase, "#2b2d31"),
        (role.ToolTipText, "#e6e6e6"),
        (role.PlaceholderText, "#9a9ea6"),
        (role.Text, "#e6e6e6"),
        (role.Button, "#33363b"),
        (role.ButtonText, "#e6e6e6"),
        (role.BrightText, "#ff6b6b"),
        (role.Light, "#45484e"),
        (role.Midlight, "#3a3d42"),
        (role.Mid, "#55585e"),
        (role.Dark, "#1a1b1e"),
        (role.Shadow, "#000000"),
        (role.Highlight, "#2f7fd6"),
        (role.HighlightedText, "#ffffff"),
        (role.Link, "#6aa9ff"),
        (role.LinkVisited, "#b08cff"),
    ):
        pal.setColor(name, QColor(colour))
    for name in (role.WindowText, role.Text, role.ButtonText):
        pal.setColor(group.Disabled, name, QColor("#7a7d84"))
    return pal


def apply_theme(app: QApplication, theme: str) -> None:
    """Give the app the `theme` ("system", "light" or "dark") now.

    Light and dark use the Fusion style with an explicit palette, so they look the same on every
    platform and also where the platform has no colour-scheme setting (offscreen, bare X11);
    "system" restores the style and palette the app started with.
    """
    if not _SYSTEM_LOOK:
        _SYSTEM_LOOK["style"] = app.style().name()
        _SYSTEM_LOOK["palette"] = QPalette(app.palette())
    hints = app.styleHints()
    if theme == "system":
        hints.unsetColorScheme()
        app.setStyle(str(_SYSTEM_LOOK["style"]))
        palette = _SYSTEM_LOOK["palette"]
        assert isinstance(palette, QPalette)
        app.setPalette(palette)
        app.setStyleSheet(app.styleSheet())  # re-polish: the sheet's palette() roles follow
        return
    if theme not in ("light", "dark"):
        raise ValueError(f"unknown theme {theme!r}")
    dark = theme == "dark"
    hints.setColorScheme(Qt.ColorScheme.Dark if dark else Qt.ColorScheme.Light)
    app.setStyle("Fusion")
    app.setPalette(dark_palette() if dark else app.style().standardPalette())
    app.setStyleSheet(app.styleSheet())  # re-polish: the sheet's palette() roles follow

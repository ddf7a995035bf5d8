"""The tray icon and node notifications; the "keep nodes running in the background?" question.

Without a system tray (offscreen, some desktops) notifications go to the window's status bar.

Signals:
    show_requested: the user clicked the tray icon or "Show window".
    quit_requested: the user chose "Quit" in the tray menu.
"""

from __future__ import annotations

from erigolem_desktop.core.states import NodeState
from erigolem_desktop.ui import style
from erigolem_desktop.ui.nodes_model import NodeRow, restart_meaning
from erigolem_desktop.ui.qt import (
    QAction,
    QCheckBox,
    QMainWindow,
    QMenu,
    QMessageBox,
    QObject,
    QSystemTrayIcon,
    QWidget,
    Signal,
)


class Tray(QObject):
    """Owns the tray icon (when there is a tray) and turns state changes into notifications."""

    show_requested = Signal()
    quit_requested = Signal()

    def __init__(self, window: QMainWindow) -> None:
        super().__init__(window)
        self.window = window
        self._states: dict[str, NodeState] = {}
        self._restarts: dict[str, int] = {}
        self.notifications: list[str] = []  # what was announced (for tests and the log)
        self.icon: QSystemTrayIcon | None = None
        if QSystemTrayIcon.isSystemTrayAvailable():
            self.icon = QSystemTrayIcon(style.icon("app"), window)
            self.icon.setToolTip("Erigolem")
            menu = QMenu(window)
            show = QAction("Show window", menu)
            show.triggered.connect(self.show_requested.emit)
            quit_action = QAction("Quit (stop nodes)", menu)
            quit_action.triggered.connect(self.quit_requested.emit)
            menu.addAction(show)
            menu.addAction(quit_action)
            self.icon.setContextMenu(menu)
            self.icon.activated.connect(lambda _reason: self.show_requested.emit())
            self.icon.show()

    @property
    def available(self) -> bool:
        return self.icon is not None

    def observe(self, rows: list[NodeRow]) -> None:
        """Compare with the last states seen; announce nodes that became ready or failed, and
        client restarts (a restarted dev chain lost its state)."""
        for row in rows:
            seen = self._restarts.get(row.id)
            self._restarts[row.id] = row.restarts
            if seen is not None and row.restarts > seen:
                self.notify(
                    f"{row.name} was restarted",
                    restart_meaning(row.client, row.restarts),
                    error=True,
                )
            before = self._states.get(row.id)
            self._states[row.id] = row.state
            if before is None or before == row.state:
                continue
            if row.state is NodeState.READY:
                self.notify(f"{row.name} is ready", f"{row.chain} endpoint: {row.url}")
            elif row.state is NodeState.FAILED:
                reason = row.reason or "it stopped unexpectedly"
                self.notify(f"{row.name} failed", f"{reason}. Open it to see the log.", error=True)

    def notify(self, title: str, text: str, *, error: bool = False) -> None:
        self.notifications.append(f"{title}: {text}")
        if self.icon is not None:
            icon = (
                QSystemTrayIcon.MessageIcon.Warning
                if error
                else QSystemTrayIcon.MessageIcon.Information
            )
            self.icon.showMessage(title, text, icon, 8000)
        self.window.statusBar().showMessage(f"{title}: {text}", 10000)


def keep_running_box(
    parent: QWidget, running: int, *, tray: bool | None = None
) -> tuple[QMessageBox, QCheckBox]:
    """The "keep nodes running?" box (buttons: Keep running, Stop and quit, Cancel).

    `tray`: whether a system tray exists (None: ask Qt); without one the window is minimized
    instead, and the box says so rather than promising a tray icon.
    """
    if tray is None:
        tray = QSystemTrayIcon.isSystemTrayAvailable()
    box = QMessageBox(parent)
    one = running == 1
    box.setWindowTitle("A node is running" if one else "Nodes are running")
    box.setText("1 node is still running." if one else f"{running} nodes are still running.")
    it, them = ("it", "it") if one else ("they", "them")
    where = (
        "the app stays in the tray" if tray else "the window is minimized: there is no tray here"
    )
    box.setInformativeText(
        f"Keep {them} running in the background ({where}), or stop {them} and quit? Golem "
        f"providers are paid only while {it} {'runs' if one else 'run'}."
    )
    keep = box.addButton("Keep running", QMessageBox.ButtonRole.AcceptRole)
    box.addButton("Stop and quit", QMessageBox.ButtonRole.DestructiveRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    remember = QCheckBox("Don't ask again")
    box.setCheckBox(remember)
    box.setDefaultButton(keep)
    return box, remember


def ask_keep_running(parent: QWidget, running: int) -> tuple[bool, bool] | None:
    """Ask whether to keep `running` nodes going after the window closes.

    Returns (keep, remember) or None when the user cancelled closing.
    """
    box, remember = keep_running_box(parent, running)
    box.exec()
    role = box.buttonRole(box.clickedButton()) if box.clickedButton() else None
    if role == QMessageBox.ButtonRole.AcceptRole:
        return True, remember.isChecked()
    if role == QMessageBox.ButtonRole.DestructiveRole:
        return False, remember.isChecked()
    return None

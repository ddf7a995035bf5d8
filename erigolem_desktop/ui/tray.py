"""The tray icon and node notifications; the "keep nodes running in the background?" question.

Without a system tray (offscreen, some desktops) notifications go to the window's status bar.

Signals:
    show_requested: the user clicked the tray icon or "Show window".
    quit_requested: the user chose "Quit" in the tray menu.
"""

from __future__ import annotations

from erigolem_desktop.core.states import NodeState
from erigolem_desktop.ui import style
from erigolem_desktop.ui.nodes_model import NodeRow
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
        """Compare with the last states seen; announce nodes that became ready or failed."""
        for row in rows:
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


def keep_running_box(parent: QWidget, running: int) -> tuple[QMessageBox, QCheckBox]:
    """The "keep nodes running?" box (buttons: Keep running, Stop and quit, Cancel)."""
    box = QMessageBox(parent)
    box.setWindowTitle("Nodes are running")
    plural = "node is" if running == 1 else "nodes are"
    box.setText(f"{running} {plural} still running.")
    box.setInformativeText(
        "Keep them running in the background (the app stays in the tray), or stop them and "
        "quit? Golem providers are paid only while nodes run."
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

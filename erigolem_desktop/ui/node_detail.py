"""The detail pane of one node: endpoint and credentials, snippets, sync, peers, log tail.

The password is masked until revealed; copying always copies the real value. Snippets (curl,
web3.py, ethers.js, cast, a WebSocket subscription; `core.snippets`) carry the real URL and
user, and the password once revealed. The WebSocket URL shows when the runtime reports one.

Signals:
    open_console(str): the user wants the RPC console on this node (node id).
    restart_requested(str): start a new node like this stopped/failed one (node id).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from erigolem_runtime.api.files import atomic_write

from erigolem_desktop.core import units
from erigolem_desktop.core.snippets import MASK, SNIPPET_KINDS, snippet
from erigolem_desktop.core.states import NodeState
from erigolem_desktop.ui import forms, ops, style
from erigolem_desktop.ui.nodes_model import NodeRow, format_duration, restart_meaning
from erigolem_desktop.ui.ops import Op
from erigolem_desktop.ui.qt import (
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QGuiApplication,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QStackedWidget,
    Qt,
    QTabWidget,
    QTimer,
    QToolButton,
    QVBoxLayout,
    QWidget,
    Signal,
)

if TYPE_CHECKING:
    from erigolem_desktop.core.manager import NodeManager
    from erigolem_desktop.core.resources import ResourceSampler, Usage

LOG_LINES = 200
SAVED_LOG_LINES = 20_000  # "Save log…" keeps far more than the pane shows
RESOURCE_POLL_MS = 3000  # CPU / memory / disk of a local node, sampled in the executor
CLIPBOARD_CLEAR_MS = 30_000  # a copied password leaves the clipboard after this, if still ours


def current_stage(stages: tuple[tuple[str, int], ...]) -> tuple[int, str] | None:
    """(index, name) of the stage Erigon works on: the first behind the furthest one."""
    if not stages:
        return None
    top = max(block for _name, block in stages)
    for i, (name, block) in enumerate(stages):
        if block < top:
            return i, name
    return len(stages) - 1, stages[-1][0]


def _buddy(text: str, field: QWidget) -> QLabel:
    """A form label whose &-shortcut focuses `field`."""
    lab = QLabel(text)
    lab.setBuddy(field)
    return lab


class NodeDetail(QWidget):
    """Everything about the selected node, with its actions at the top: Console, Rotate, Stop
    for a running node; Restart and Remove for a stopped or failed one."""

    open_console = Signal(str)
    restart_requested = Signal(str)
    clipboard_clear_ms = CLIPBOARD_CLEAR_MS

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.manager: NodeManager | None = None
        self.row: NodeRow | None = None
        self._password = ""
        self._revealed = False
        self._snippet_key: tuple[str, str, str, str] | None = None

        self.title = style.label("", "heading")
        self.state_label = QLabel()
        self.phase = style.label("", "muted", wrap=True)
        self.error = style.label("", "error", wrap=True, selectable=True)
        self.error.hide()
        self.restarts = style.label("", "warning", wrap=True)  # client restarts, what they mean
        self.restarts.hide()

        # endpoint
        self.url_edit = QLineEdit()
        self.ws_edit = QLineEdit()
        self.user_edit = QLineEdit()
        self.password_edit = QLineEdit()
        for edit in (self.url_edit, self.ws_edit, self.user_edit, self.password_edit):
            edit.setReadOnly(True)
            edit.setFont(style.mono_font())
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.copy_url = forms.copy_button("Copy the URL")
        self.copy_ws = forms.copy_button("Copy the WebSocket URL")
        self.copy_user = forms.copy_button("Copy the user")
        self.copy_password = forms.copy_button("Copy the password")
        self.reveal = QToolButton()
        self.reveal.setIcon(style.icon("eye"))
        self.reveal.setCheckable(True)
        self.reveal.setToolTip("Show the password")
        self.reveal.setAccessibleName("Show the password")
        endpoint = QGroupBox("Endpoint")
        form = QFormLayout(endpoint)
        form.addRow(_buddy("&URL", self.url_edit), self._row(self.url_edit, self.copy_url))
        self.ws_label = _buddy("WebSoc&ket", self.ws_edit)
        self.ws_row = QWidget()
        self.ws_row.setLayout(self._row(self.ws_edit, self.copy_ws))
        form.addRow(self.ws_label, self.ws_row)
        form.addRow(_buddy("U&ser", self.user_edit), self._row(self.user_edit, self.copy_user))
        form.addRow(
            _buddy("Pass&word", self.password_edit),
            self._row(self.password_edit, self.reveal, self.copy_password),
        )

        # snippets
        self.snippets = QTabWidget()
        self.snippets.setFixedHeight(124)
        self.snippet_edits: dict[str, QPlainTextEdit] = {}
        for kind in SNIPPET_KINDS:
            snip = QPlainTextEdit()
            snip.setReadOnly(True)
            snip.setFont(style.mono_font())
            snip.setTabChangesFocus(True)
            snip.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
            self.snippet_edits[kind] = snip
            self.snippets.addTab(snip, kind)
        self.copy_snippet = QPushButton("Copy &snippet")
        self.copy_snippet.setIcon(style.icon("copy"))

        # sync
        self.sync_bar = QProgressBar()
        self.sync_bar.setRange(0, 1000)
        self.sync_bar.setFormat("%p%")
        self.stage_label = style.label("", "muted", wrap=True)
        self.block_label = QLabel()
        self.peers_label = QLabel()
        self.requests_label = QLabel()
        self.requests_label.setToolTip(
            "Requests the node answered through its endpoint (wrong credentials not counted); "
            "on Golem this is what the per-request price is charged on."
        )
        self.uptime_label = QLabel()
        sync_box = QGroupBox("Sync")
        sync_grid = QGridLayout(sync_box)  # two label/value pairs a row: fits 1280x800
        sync_grid.addWidget(QLabel("Progress"), 0, 0)
        sync_grid.addWidget(self.sync_bar, 0, 1, 1, 3)
        sync_grid.addWidget(QLabel("Stage"), 1, 0)
        sync_grid.addWidget(self.stage_label, 1, 1, 1, 3)
        for i, (text, value) in enumerate(
            (
                ("Block", self.block_label),
                ("Peers", self.peers_label),
                ("Requests", self.requests_label),
                ("Uptime", self.uptime_label),
            )
        ):
            sync_grid.addWidget(QLabel(text), 2 + i // 2, (i % 2) * 2)
            sync_grid.addWidget(value, 2 + i // 2, (i % 2) * 2 + 1)
        # resources of a node on this computer (CPU, memory, disk), sampled off the GUI thread
        self.cpu_label = QLabel()
        self.cpu_label.setToolTip("CPU of the node's processes: 100% is one core busy")
        self.memory_label = QLabel()
        self.memory_label.setToolTip("Resident memory of the node's processes")
        self.disk_label = style.label("", "", wrap=True)
        self.disk_label.setToolTip(
            "The node's data and work directories, the free space left on that disk, and how "
            "fast the data grows (Erigon: hundreds of GB as it syncs)"
        )
        self.resource_names = [QLabel("CPU"), QLabel("Memory"), QLabel("Disk")]
        sync_grid.addWidget(self.resource_names[0], 4, 0)
        sync_grid.addWidget(self.cpu_label, 4, 1)
        sync_grid.addWidget(self.resource_names[1], 4, 2)
        sync_grid.addWidget(self.memory_label, 4, 3)
        sync_grid.addWidget(self.resource_names[2], 5, 0)
        sync_grid.addWidget(self.disk_label, 5, 1, 1, 3)
        sync_grid.setColumnStretch(1, 1)
        sync_grid.setColumnStretch(3, 1)
        self._sampler: tuple[str, ResourceSampler | None] | None = None  # (node id, sampler)
        self._sampling = False
        self.usage: Usage | None = None
        self._resource_timer = QTimer(self)
        self._resource_timer.setInterval(RESOURCE_POLL_MS)
        self._resource_timer.timeout.connect(self.sample_resources)

        # logs
        self.logs = QPlainTextEdit()
        self.logs.setReadOnly(True)
        self.logs.setFont(style.mono_font())
        self.logs.setMaximumBlockCount(2000)
        self.logs.setTabChangesFocus(True)
        self.logs.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.logs.setMinimumHeight(90)
        self.refresh_logs = QToolButton()
        self.refresh_logs.setIcon(style.icon("refresh"))
        self.refresh_logs.setToolTip("Reload the log")
        self.refresh_logs.setAccessibleName("Reload the log")
        self.save_logs = QToolButton()
        self.save_logs.setIcon(style.icon("save"))
        self.save_logs.setToolTip("Save the log to a file (for a bug report or a provider)")
        self.save_logs.setAccessibleName("Save the log to a file")
        logs_box = QGroupBox("Log")
        logs_lay = QHBoxLayout(logs_box)  # tools beside the log, so the log gets the height
        logs_lay.addWidget(self.logs, 1)
        log_tools = QVBoxLayout()
        log_tools.addWidget(self.refresh_logs)
        log_tools.addWidget(self.save_logs)
        log_tools.addStretch(1)
        logs_lay.addLayout(log_tools)

        # actions
        self.console_button = QPushButton("&Console")
        self.console_button.setToolTip("Open this node in the RPC console")
        self.console_button.setIcon(style.icon("console"))
        self.rotate_button = QPushButton("&Rotate password")
        self.rotate_button.setToolTip("Give the node a new password; the old one stops at once")
        self.rotate_button.setIcon(style.icon("key"))
        self.stop_button = QPushButton("S&top")
        self.stop_button.setToolTip("Stop the node (Ctrl+Shift+S)")
        self.stop_button.setIcon(style.icon("stop"))
        self.restart_button = QPushButton("R&estart")
        self.restart_button.setIcon(style.icon("start"))
        self.restart_button.setToolTip("Start a new node with the same chain, client and name")
        self.remove_button = QPushButton("Re&move")
        self.remove_button.setToolTip("Remove this stopped node from the list")
        actions = QHBoxLayout()
        actions.addWidget(self.console_button)
        actions.addWidget(self.restart_button)
        actions.addStretch(1)
        actions.addWidget(self.rotate_button)
        actions.addWidget(self.stop_button)
        actions.addWidget(self.remove_button)

        header = QHBoxLayout()
        header.addWidget(self.title)
        header.addStretch(1)
        header.addWidget(self.state_label)

        self.content = QWidget()
        lay = QVBoxLayout(self.content)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(style.SPACING)
        lay.addLayout(header)
        lay.addLayout(actions)
        lay.addWidget(self.phase)
        lay.addWidget(self.error)
        lay.addWidget(self.restarts)
        lay.addWidget(endpoint)
        snip_box = QGroupBox("Connect from your code")
        snip_lay = QVBoxLayout(snip_box)
        self.snippets.setCornerWidget(self.copy_snippet)  # beside the tabs: no row of its own
        snip_lay.addWidget(self.snippets)
        lay.addWidget(snip_box)
        lay.addWidget(sync_box)
        lay.addWidget(logs_box, 1)

        self.empty = style.label(
            "Select a node to see its endpoint and credentials, ready-made snippets, its sync "
            "progress and its log.",
            "muted",
            wrap=True,
        )
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.pages = QStackedWidget()
        self.pages.addWidget(self.empty)
        self.pages.addWidget(self.content)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self.pages)

        self.copy_url.clicked.connect(lambda: self._copy(self.url_edit.text(), "URL"))
        self.copy_ws.clicked.connect(lambda: self._copy(self.ws_edit.text(), "WebSocket URL"))
        self.copy_user.clicked.connect(lambda: self._copy(self.user_edit.text(), "user"))
        self.copy_password.clicked.connect(
            lambda: self._copy(self._password, "password", secret=True)
        )
        self.reveal.toggled.connect(self._set_revealed)
        self.copy_snippet.clicked.connect(self._copy_snippet)
        self.refresh_logs.clicked.connect(self.load_logs)
        self.save_logs.clicked.connect(self.ask_save_logs)
        self.rotate_button.clicked.connect(self.rotate)
        self.stop_button.clicked.connect(self.stop)
        self.restart_button.clicked.connect(
            lambda: self.restart_requested.emit(self.row.id) if self.row else None
        )
        self.remove_button.clicked.connect(self.remove)
        self.console_button.clicked.connect(
            lambda: self.open_console.emit(self.row.id) if self.row else None
        )
        self._log_timer = QTimer(self)
        self._log_timer.setInterval(5000)
        self._log_timer.timeout.connect(self._auto_logs)
        self._loading_logs = False
        self.show_row(None)

    @staticmethod
    def _row(*widgets: QWidget, stretch_first: bool = False) -> QHBoxLayout:
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        if stretch_first:
            row.addStretch(1)
        for i, w in enumerate(widgets):
            row.addWidget(w, 1 if i == 0 and not stretch_first else 0)
        return row

    # --- showing a node ---------------------------------------------------------------------
    def show_row(self, row: NodeRow | None) -> None:
        """Show `row` (or nothing); called on selection and on every update of that node."""
        previous = self.row
        if row is not None and row == previous and self.pages.currentWidget() is self.content:
            return  # nothing new for this node
        self.row = row
        self.pages.setCurrentWidget(self.content if row is not None else self.empty)
        if row is None:
            self._log_timer.stop()
            self._resource_timer.stop()
            return
        new_node = previous is None or previous.id != row.id
        if new_node:
            self.reveal.setChecked(False)
            self.logs.clear()
        if new_node or (previous is not None and previous.url != row.url):
            self._load_password()
        self.title.setText(row.name)
        colour = style.STATE_COLOURS.get(row.state, "#8a8f98")
        self.state_label.setText(
            f"<span style='color:{colour}; font-weight:600'>{row.state.value.capitalize()}</span>"
            f" · {row.backend.capitalize()} · {row.chain} / {row.client}"
        )
        self.phase.setText(
            row.phase if row.state in (NodeState.PENDING, NodeState.STARTING) else ""
        )
        self.phase.setVisible(bool(self.phase.text()))
        if row.state is NodeState.FAILED:
            reason = row.reason or "The node stopped unexpectedly."
            style.set_message(
                self.error,
                f"{reason} See the log below; Restart starts it again.",
                "error",
            )
        else:
            style.set_message(self.error, "", "error")
        style.set_message(self.restarts, restart_meaning(row.client, row.restarts), "warning")
        active = row.state.active
        # a stopped node's URL and password no longer work: do not offer them
        self.url_edit.setText(row.url if active else "")
        self.url_edit.setPlaceholderText("" if active else "stopped: this URL no longer works")
        self.url_edit.setCursorPosition(0)
        self.ws_edit.setText(row.ws_url if active else "")
        self.ws_edit.setCursorPosition(0)
        for part in (self.ws_label, self.ws_row):
            part.setVisible(bool(row.ws_url) and active)
        self.user_edit.setText(row.user if active else "")
        if not active:
            self._password = ""
            self.password_edit.clear()
        for button in (
            self.copy_url,
            self.copy_ws,
            self.copy_user,
            self.copy_password,
            self.copy_snippet,
            self.reveal,
        ):
            button.setEnabled(active)
        self._update_snippets()
        self._update_sync(row)
        self.stop_button.setEnabled(active and row.state is not NodeState.STOPPING)
        self.rotate_button.setEnabled(active and bool(row.url))
        self.console_button.setEnabled(active and bool(row.url))
        for button in (self.console_button, self.rotate_button, self.stop_button):
            button.setVisible(active)
        for button in (self.restart_button, self.remove_button):
            button.setVisible(not active)
        if active:
            self._log_timer.start()
        else:
            self._log_timer.stop()
        self._follow_resources(row, new_node)
        ended = previous is not None and previous.state.active and not active
        if new_node or (ended and ops.loop_alive()):  # not while the app tears down
            self.load_logs()  # a node that just ended: its last lines say why (read from disk)

    # --- resources ---------------------------------------------------------------------
    def _follow_resources(self, row: NodeRow, new_node: bool) -> None:
        """Sample CPU, memory and disk while a running local node is shown."""
        local = row.backend == "local"
        for widget in (*self.resource_names, self.cpu_label, self.memory_label, self.disk_label):
            widget.setVisible(local)
        if new_node:
            self._sampler = None
            self.usage = None
            for lab in (self.cpu_label, self.memory_label, self.disk_label):
                lab.setText("–")
        if local and row.state.active:
            if not self._resource_timer.isActive():
                self._resource_timer.start()
                QTimer.singleShot(0, self.sample_resources)
        else:
            self._resource_timer.stop()
            if local and not row.state.active:
                self.cpu_label.setText("–")
                self.memory_label.setText("– (stopped)")

    def sample_resources(self) -> asyncio.Task[Any] | None:
        """Take one resource sample of the shown node in the executor, then show it."""
        row = self.row
        if row is None or self.manager is None or self._sampling or not row.state.active:
            return None
        if self._sampler is None or self._sampler[0] != row.id or self._sampler[1] is None:
            # asked again until the record knows the runtime's pid (not yet while starting)
            from erigolem_desktop.core.resources import sampler_for  # after the first paint

            record = self.manager.get(row.id)
            runtime = dict(record.runtime or {}) if record is not None else {}
            self._sampler = (row.id, sampler_for(row.backend, runtime))
        node_id, sampler = self._sampler
        if sampler is None:
            return None
        self._sampling = True

        def shown(usage: Usage | None) -> None:
            if self.row is not None and self.row.id == node_id:
                self._show_usage(usage)

        def done() -> None:
            self._sampling = False

        return (
            Op.cpu(sampler.sample, label="node resources")
            .success(shown)
            .failure(lambda _m, _h: None)
            .finally_(done)
            .run()
        )

    def _show_usage(self, usage: Usage | None) -> None:
        self.usage = usage
        if usage is None:
            self.cpu_label.setText("–")
            self.memory_label.setText("– (the runtime is gone)")
            return
        cpu = "measuring…" if usage.cpu_percent is None else f"{usage.cpu_percent:.0f}%"
        self.cpu_label.setText(cpu)
        procs = f"{usage.processes} process{'es' if usage.processes != 1 else ''}"
        self.memory_label.setText(f"{units.format_bytes(usage.memory)} ({procs})")
        if usage.disk is None:
            self.disk_label.setText("–")
            return
        text = f"{units.format_bytes(usage.disk)} used"
        if usage.disk_free is not None:
            text += f", {units.format_bytes(usage.disk_free)} free"
        if usage.growth_per_hour is not None:
            text += f", growing {units.format_bytes(int(max(0.0, usage.growth_per_hour)))}/h"
        self.disk_label.setText(text)

    def _update_sync(self, row: NodeRow) -> None:
        if row.state is NodeState.READY:
            self._set_progress(1000, "in sync")
        elif row.progress is not None:
            self._set_progress(int(row.progress * 1000), f"{row.progress * 100:.1f}%")
        else:
            self._set_progress(0, "waiting for the node" if row.state.active else "–")
        stage = current_stage(row.stages)
        if stage is None:
            self.stage_label.setText("in sync" if row.state is NodeState.READY else "–")
            self.stage_label.setToolTip("")
        else:
            index, name = stage
            top = max(b for _n, b in row.stages)
            self.stage_label.setText(
                f"{name} (stage {index + 1} of {len(row.stages)}) — block "
                f"{row.stages[index][1]:,} of {top:,}"
            )
            self.stage_label.setToolTip(
                "\n".join(f"{i + 1}. {n}: {b:,}" for i, (n, b) in enumerate(row.stages))
            )
        self.block_label.setText("–" if row.block is None else f"#{row.block:,}")
        self.peers_label.setText("–" if row.peers is None else str(row.peers))
        self.requests_label.setText("–" if row.requests is None else f"{row.requests:,}")
        self.tick()

    def _set_progress(self, value: int, text: str) -> None:
        """Set the sync bar without QProgressBar's synchronous repaint.

        `QProgressBar.setValue` calls `repaint()` (not `update()`) when the shown text changes:
        measured 9-12 ms of painting inside each poll update of the selected node. With
        updates off the repaint is skipped; turning them back on queues one ordinary update.
        """
        bar = self.sync_bar
        if bar.value() == value and bar.format() == text:
            return
        bar.setUpdatesEnabled(False)
        try:
            bar.setValue(value)
            bar.setFormat(text)
        finally:
            bar.setUpdatesEnabled(True)

    def tick(self) -> None:
        """Refresh the uptime (the window calls this once a second)."""
        row = self.row
        if row is not None and row.started_at is not None and row.state.active:
            self.uptime_label.setText(format_duration(time.time() - row.started_at))
        else:
            self.uptime_label.setText("–")

    def _load_password(self) -> None:
        self._password = ""
        if self.row is not None and self.manager is not None:
            try:
                self._password = self.manager.password(self.row.id) or ""
            except Exception as exc:
                style.set_message(
                    self.error,
                    f"Could not read this node's password from the keyring: {exc}. "
                    "Unlock the system keyring, then select the node again.",
                    "error",
                )
        self.password_edit.setText(self._password)

    def _set_revealed(self, on: bool) -> None:
        self._revealed = on
        self.password_edit.setEchoMode(
            QLineEdit.EchoMode.Normal if on else QLineEdit.EchoMode.Password
        )
        self.reveal.setToolTip("Hide the password" if on else "Show the password")
        self._update_snippets()

    def _update_snippets(self) -> None:
        row = self.row
        if row is None:
            return
        password = self._password if self._revealed else MASK
        url = row.url or "(no URL yet)"
        key = (url if row.state.active else "", row.user, password, row.ws_url)
        if key == self._snippet_key:
            return
        self._snippet_key = key
        for kind, edit in self.snippet_edits.items():
            if row.state.active:
                edit.setPlainText(snippet(kind, url, row.user, password, row.ws_url or None))
            else:
                edit.setPlainText("The node is stopped: its URL and password no longer work.")

    # --- actions -------------------------------------------------------------------------
    def _say(self, text: str, ms: int) -> None:
        """A short note in the window's status bar (when the pane sits in the main window)."""
        bar = getattr(self.window(), "statusBar", None)
        if bar is not None:
            bar().showMessage(text, ms)

    def _copy(self, text: str, what: str, *, secret: bool = False) -> None:
        """Put `text` on the clipboard; a `secret` is cleared after CLIPBOARD_CLEAR_MS if the
        clipboard still holds it (what the user copied since is left alone)."""
        clipboard = QGuiApplication.clipboard()
        clipboard.setText(text)
        if secret and text:
            seconds = self.clipboard_clear_ms // 1000
            self._say(f"Copied the {what}; it is cleared from the clipboard in {seconds} s.", 3000)

            def clear() -> None:
                if clipboard.text() == text:
                    clipboard.clear()

            QTimer.singleShot(self.clipboard_clear_ms, clear)
        else:
            self._say(f"Copied the {what}.", 3000)

    def _copy_snippet(self) -> None:
        if self.row is None:
            return
        kind = SNIPPET_KINDS[self.snippets.currentIndex()]
        self._copy(
            snippet(kind, self.row.url, self.row.user, self._password, self.row.ws_url or None),
            f"{kind} snippet",
            secret=bool(self._password),
        )

    def _auto_logs(self) -> None:
        if self.isVisible() and not self._loading_logs:
            self.load_logs()

    def load_logs(self) -> None:
        row, manager = self.row, self.manager
        if row is None or manager is None:
            return
        self._loading_logs = True
        node_id = row.id

        def shown(text: Any) -> None:
            if self.row is None or self.row.id != node_id:
                return
            display = str(text or "").rstrip("\n") or "(the log is empty so far)"
            if display != self.logs.toPlainText():
                bar = self.logs.verticalScrollBar()
                at_end = bar.value() >= bar.maximum() - 2
                self.logs.setPlainText(display)
                if at_end:
                    bar.setValue(bar.maximum())

        def failed(message: str, hint: str) -> None:
            if self.row is not None and self.row.id == node_id:
                self.logs.setPlainText(f"Could not read the log: {message} {hint}".strip())

        Op.coro(lambda: manager.logs(node_id, LOG_LINES), label="logs").success(shown).failure(
            failed
        ).finally_(lambda: setattr(self, "_loading_logs", False)).run()

    def ask_save_logs(self) -> None:
        """Ask where to save the node's log, then save it (see `save_logs_to`)."""
        if self.row is None:
            return
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path, _filter = QFileDialog.getSaveFileName(
            self,
            "Save the node's log",
            # the id, not the name: a user-chosen name may hold '/' or '..'
            str(Path.home() / f"erigolem-{self.row.id}-{stamp}.log"),
            "Log files (*.log *.txt);;All files (*)",
        )
        if path:
            self.save_logs_to(Path(path))

    def save_logs_to(self, path: Path) -> asyncio.Task[Any] | None:
        """Fetch up to SAVED_LOG_LINES lines and write them to `path` off the loop (0600)."""
        row, manager = self.row, self.manager
        if row is None or manager is None:
            return None
        node_id, name = row.id, row.name or row.id
        self.save_logs.setEnabled(False)

        async def fetch_and_write() -> int:
            text = str(await manager.logs(node_id, SAVED_LOG_LINES) or "")
            await asyncio.get_running_loop().run_in_executor(
                None, lambda: atomic_write(path, text, mode=0o600)
            )
            return text.count("\n")

        def saved(lines: int) -> None:
            if self.error.text().startswith("Could not save the log"):
                style.set_message(self.error, "", "error")
            self._say(f"Saved {lines:,} log lines of {name} to {path}.", 5000)

        return (
            Op.coro(fetch_and_write, label="save log")
            .success(saved)
            .failure(
                lambda m, h: style.set_message(
                    self.error, f"Could not save the log: {m} {h}".strip(), "error"
                )
            )
            .finally_(lambda: self.save_logs.setEnabled(True))
            .run()
        )

    def rotate(self) -> None:
        row, manager = self.row, self.manager
        if row is None or manager is None:
            return
        answer = QMessageBox.question(
            self,
            "Rotate credentials",
            f"Give {row.name} a new password? The old one stops working at once, so tools "
            "using it need the new one.",
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.rotate_node()

    def rotate_node(self) -> None:
        """Rotate without asking (after the confirmation, or from a test)."""
        row, manager = self.row, self.manager
        if row is None or manager is None:
            return
        self.rotate_button.setEnabled(False)
        node_id = row.id

        def done(_result: Any) -> None:
            if self.row is not None and self.row.id == node_id:
                self._load_password()
                self._update_snippets()
                self._say(f"{row.name} has a new password; the old one no longer works.", 5000)

        Op.coro(lambda: manager.rotate(node_id), label="rotate").success(done).failure(
            lambda m, h: style.set_message(self.error, f"Rotation failed: {m} {h}".strip(), "error")
        ).finally_(lambda: self.rotate_button.setEnabled(True)).run()

    def remove(self) -> None:
        """Remove the stopped/failed node's record (its log stays on disk until then)."""
        row, manager = self.row, self.manager
        if row is None or manager is None or row.state.active:
            return
        node_id, name = row.id, row.name
        Op.coro(lambda: manager.forget(node_id), label="remove").success(
            lambda _r: self._say(f"Removed {name}.", 4000)
        ).failure(
            lambda m, h: style.set_message(self.error, f"Removing failed: {m} {h}".strip(), "error")
        ).run()

    def stop(self) -> None:
        row, manager = self.row, self.manager
        if row is None or manager is None:
            return
        cost = (
            " Golem providers are paid for the time used so far." if row.backend == "golem" else ""
        )
        answer = QMessageBox.question(
            self, "Stop node", f"Stop {row.name}? Its URL stops working.{cost}"
        )
        if answer != QMessageBox.StandardButton.Yes:
            return
        self.stop_node()

    def stop_node(self) -> None:
        """Stop without asking (the confirmation already happened, or a test drives it)."""
        row, manager = self.row, self.manager
        if row is None or manager is None:
            return
        self.stop_button.setEnabled(False)
        node_id = row.id
        Op.coro(lambda: manager.stop(node_id), label="stop").failure(
            lambda m, h: style.set_message(self.error, f"Stopping failed: {m} {h}".strip(), "error")
        ).run()

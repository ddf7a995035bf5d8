"""The main window: welcome / unlock / workspace (nodes and console) on one stack, plus the tray.

The workspace is thin views over the core: the node table follows the manager's events, the
detail pane and the console talk to the manager and the node. The window owns the lock state:
the lock button (Ctrl+L) and the wallet's auto-lock bring back the unlock screen, while nodes
keep running.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from erigolem_desktop.core import updates
from erigolem_desktop.core.settings import THEMES
from erigolem_desktop.core.states import NodeState
from erigolem_desktop.core.txlog import TxLog
from erigolem_desktop.ui import ops, style
from erigolem_desktop.ui.console import RpcConsole
from erigolem_desktop.ui.context import AppContext
from erigolem_desktop.ui.gateway_view import GatewayPage
from erigolem_desktop.ui.help import HELP_TOPICS, AboutDialog, HelpDialog
from erigolem_desktop.ui.node_detail import NodeDetail
from erigolem_desktop.ui.nodes_model import ActiveFilter, NodeRow, NodesModel
from erigolem_desktop.ui.ops import Op
from erigolem_desktop.ui.qt import (
    QAbstractItemView,
    QAction,
    QActionGroup,
    QApplication,
    QCloseEvent,
    QEvent,
    QHBoxLayout,
    QHeaderView,
    QItemSelection,
    QKeySequence,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QObject,
    QPaintEvent,
    QPoint,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QStackedWidget,
    Qt,
    QTableView,
    QTabWidget,
    QTimer,
    QToolBar,
    QVBoxLayout,
    QWidget,
)
from erigolem_desktop.ui.start_dialog import StartChoice, StartDialog
from erigolem_desktop.ui.tray import Tray, ask_keep_running
from erigolem_desktop.ui.unlock import UnlockPage
from erigolem_desktop.ui.usage_view import UsagePage
from erigolem_desktop.ui.wallet_home import WalletPage
from erigolem_desktop.ui.welcome import WelcomePage

if TYPE_CHECKING:
    from erigolem_desktop.core.backends.base import NodeSpec
    from erigolem_desktop.core.manager import NodeManager
    from erigolem_desktop.ui.backup_dialog import BackupDialog
    from erigolem_desktop.ui.passphrase_dialog import PassphraseDialog
    from erigolem_desktop.ui.send_tx import SendTransactionDialog

log = logging.getLogger(__name__)

REFRESH_DEBOUNCE_MS = 100
ACTIVITY_THROTTLE_S = 5.0
AFTER_PAINT_LATEST_MS = 1000  # a shown window that never paints (minimized) waits no longer
MIN_WIDTH, MIN_HEIGHT = 960, 620  # the smallest window the screens are laid out (and shot) for
# what _build_workspace sets: asked for early (tests, a signal), they build the workspace then
_WORKSPACE_ATTRS = frozenset(
    {
        "active_model",
        "active_view",
        "banner",
        "clear_stopped_button",
        "console",
        "detail",
        "empty_hint",
        "gateway_page",
        "model",
        "start_button",
        "stopped_model",
        "stopped_view",
        "tabs",
        "txlog",
        "usage_page",
        "wallet_page",
        "wallet_tab",
    }
)


class _ActivityFilter(QObject):
    """Counts key presses and clicks anywhere in the app as wallet use (auto-lock idle timer)."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self._last = 0.0
        self.last_input = time.monotonic()  # the Usage tab's background import waits for idle

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() in (QEvent.Type.KeyPress, QEvent.Type.MouseButtonPress):
            now = self.last_input = time.monotonic()
            if now - self._last > ACTIVITY_THROTTLE_S:
                self._last = now
                self.window.user_active()
        return False


def _table(model: ActiveFilter) -> QTableView:
    view = QTableView()
    view.setModel(model)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.setSortingEnabled(True)
    view.setShowGrid(False)
    view.setAlternatingRowColors(True)
    view.verticalHeader().hide()
    view.setWordWrap(False)
    header = view.horizontalHeader()
    # Interactive, not ResizeToContents: that re-measures every row on every update (50 nodes
    # polling = a stalled loop); columns are fitted when rows arrive instead.
    header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    header.setStretchLastSection(True)
    model.rowsInserted.connect(lambda *_a: view.resizeColumnsToContents())
    header.setHighlightSections(False)
    view.resizeColumnsToContents()  # empty: fit the headers ("Provider", not "Provi…")
    return view


class MainWindow(QMainWindow):
    """The one window of the app.

    Attributes:
        on_quit: called when the app should end (QApplication.quit; tests replace it).
    """

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.on_quit: Callable[[], None] = QApplication.quit
        self._quitting = False
        self._events_task: asyncio.Task[Any] | None = None
        self._refresh_pending = False
        self._changed: dict[str, Any] = {}  # node id -> latest record from the manager's events
        self._removed: set[str] = set()  # node ids forgotten since the last flush
        self.passphrase_dialog: PassphraseDialog | None = None
        # update notices: where the signed manifest is and whose signature counts (tests point
        # them at a local server and a test key); the last answer's message box
        self.update_url = updates.MANIFEST_URL
        self.update_address = updates.RELEASE_ADDRESS
        self.update_box: QMessageBox | None = None
        self.backup_dialog: BackupDialog | None = None
        self._served: list[str] | None = None  # chains the local runtime can run
        self.setWindowTitle("Erigolem")
        self.setWindowIcon(style.icon("app"))
        self.setMinimumSize(MIN_WIDTH, MIN_HEIGHT)
        self.resize(1280, 800)

        self.stack = QStackedWidget()
        self.setCentralWidget(self.stack)
        self.welcome = WelcomePage(ctx.wallet)
        self.unlock_page = UnlockPage(ctx.wallet)
        # the page is here at once; its tabs are built after the first paint (or on first use)
        self.workspace = QWidget()
        self._workspace_lay = QVBoxLayout(self.workspace)
        self._workspace_lay.setContentsMargins(0, 0, 0, 0)
        self._workspace_built = False
        self._painted = False
        self._after_paint: list[Callable[[], None]] = []
        for page in (self.welcome, self.unlock_page, self.workspace):
            self.stack.addWidget(page)

        self.toolbar = self._build_toolbar()
        self._build_menus()
        self.account_label = QLabel()
        self.account_label.setFont(style.mono_font())
        self.statusBar().addPermanentWidget(self.account_label)
        # a message too long for the bar is cut before the account label: the whole text
        # stays readable as the bar's tooltip
        bar = self.statusBar()
        bar.messageChanged.connect(lambda text: bar.setToolTip(text))
        self.tray = Tray(self)
        self.tray.show_requested.connect(self.bring_to_front)
        self.tray.quit_requested.connect(self.quit_app)

        self.welcome.finished.connect(self.show_workspace)
        self.unlock_page.unlocked.connect(self._on_unlocked)
        self.unlock_page.add_account.connect(self._add_account)
        self.welcome.cancelled.connect(self._back_to_unlock)

        self._activity = _ActivityFilter(self)
        app = QApplication.instance()
        if app is not None:
            app.installEventFilter(self._activity)
        self._lock_timer = QTimer(self)
        self._lock_timer.setInterval(5000)
        self._lock_timer.timeout.connect(self._check_lock)
        self._tick = QTimer(self)
        self._tick.setInterval(1000)
        self._tick.timeout.connect(self._on_tick)
        self._apply_settings()
        if self.ctx.settings.theme != "system":
            app = QApplication.instance()
            if isinstance(app, QApplication):
                style.apply_theme(app, self.ctx.settings.theme)
        ops.set_default_error_sink(self.show_error)

    # --- construction ---------------------------------------------------------------------
    def __getattr__(self, name: str) -> Any:
        """A workspace widget asked for before it was built: build the workspace now."""
        if name in _WORKSPACE_ATTRS and not self.__dict__.get("_workspace_built", True):
            self.ensure_workspace()
            return self.__dict__[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def ensure_workspace(self) -> None:
        """Build the workspace's tabs (nodes, console, wallet, gateway, usage) once."""
        if self._workspace_built:
            return
        self._workspace_built = True
        self._workspace_lay.addWidget(self._build_workspace())

    def paintEvent(self, event: QPaintEvent) -> None:
        """After the first paint, on the loop's next turn: the work that waited for it."""
        super().paintEvent(event)
        if not self._painted:
            self._painted = True
            QTimer.singleShot(0, self._run_after_paint)

    def _run_after_paint(self) -> None:
        self.ensure_workspace()
        waiting, self._after_paint = self._after_paint, []
        for callback in waiting:
            callback()

    def after_first_paint(self, callback: Callable[[], None]) -> None:
        """Run `callback` once the window has painted (on the next turn if it is not shown)."""
        if self._painted or not self.isVisible():
            QTimer.singleShot(0, callback)
        else:
            self._after_paint.append(callback)
            QTimer.singleShot(AFTER_PAINT_LATEST_MS, self._run_after_paint)  # never painted

    def _build_toolbar(self) -> QToolBar:
        bar = QToolBar("Main")
        bar.setMovable(False)
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.addToolBar(bar)

        def action(text: str, icon: str, keys: str, slot: Callable[[], None]) -> QAction:
            act = QAction(style.icon(icon), text, self)
            act.setShortcut(QKeySequence(keys))
            act.setToolTip(f"{text.replace('&', '')} ({QKeySequence(keys).toString()})")
            act.triggered.connect(slot)
            self.addAction(act)
            return act

        self.start_action = action("&Start node…", "start", "Ctrl+N", self.open_start_dialog)
        self.stop_action = action("St&op node", "stop", "Ctrl+Shift+S", self.stop_selected)
        self.nodes_action = action(
            "&Nodes", "state-ready", "Ctrl+1", lambda: self.tabs.setCurrentIndex(0)
        )
        self.console_action = action("&Console", "console", "Ctrl+2", self.show_console)
        self.wallet_action = action("&Wallet", "key", "Ctrl+3", self.show_wallet)
        self.settings_action = action("Se&ttings…", "settings", "Ctrl+,", self.open_settings)
        self.lock_action = action("&Lock", "lock", "Ctrl+L", self.lock)
        self.passphrase_action = action(
            "Change &passphrase…", "lock", "Ctrl+Shift+P", self.open_passphrase_dialog
        )
        self.backup_action = action(
            "&Back up account…", "key", "Ctrl+Shift+B", self.open_backup_dialog
        )
        self.backup_action.setToolTip("Reveal the recovery phrase or export the keystore")
        self.quit_action = action("&Quit", "stop", "Ctrl+Q", self.quit_app)
        for act in (self.start_action, self.stop_action):
            bar.addAction(act)
        spacer = QWidget()
        spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        bar.addWidget(spacer)
        bar.addAction(self.settings_action)
        bar.addAction(self.passphrase_action)
        bar.addAction(self.lock_action)
        return bar

    def _build_menus(self) -> None:
        """File, View (pages, theme) and Help (README sections, About) in the menu bar."""
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addActions([self.start_action, self.stop_action])
        file_menu.addSeparator()
        file_menu.addActions(
            [self.settings_action, self.passphrase_action, self.backup_action, self.lock_action]
        )
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)

        view_menu = bar.addMenu("&View")
        view_menu.addActions([self.nodes_action, self.console_action, self.wallet_action])
        view_menu.addSeparator()
        self.theme_menu = view_menu.addMenu("&Theme")
        self.theme_group = QActionGroup(self)
        self.theme_actions: dict[str, QAction] = {}
        for name in THEMES:
            act = self.theme_menu.addAction(
                {"system": "&System", "light": "&Light", "dark": "&Dark"}.get(name, name)
            )
            act.setCheckable(True)
            act.setChecked(name == self.ctx.settings.theme)
            act.triggered.connect(lambda _c=False, n=name: self.set_theme(n))
            self.theme_group.addAction(act)
            self.theme_actions[name] = act

        help_menu = bar.addMenu("&Help")
        for topic in HELP_TOPICS:
            help_menu.addAction(topic).triggered.connect(
                lambda _c=False, t=topic: self.open_help(t)
            )
        help_menu.addSeparator()
        self.update_action = help_menu.addAction("Check for &updates…")
        self.update_action.triggered.connect(lambda: self.check_updates())
        self.about_action = help_menu.addAction("&About Erigolem")
        self.about_action.triggered.connect(self.open_about)

    def set_theme(self, theme: str) -> None:
        """Apply `theme` (system, light, dark) at once and keep it for the next start."""
        app = QApplication.instance()
        if isinstance(app, QApplication):
            style.apply_theme(app, theme)
        self.theme_actions[theme].setChecked(True)
        if self.ctx.settings.theme == theme:
            return
        self.ctx.settings.theme = theme
        try:
            self.ctx.settings_store.save(self.ctx.settings)
        except Exception as exc:
            self.show_error(*ops.describe_error(exc))

    def open_help(self, topic: str) -> HelpDialog:
        """Show the README section `topic` (returns the dialog, for tests)."""
        dialog = HelpDialog(topic, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        return dialog

    def check_updates(self, *, quiet: bool = False) -> asyncio.Task[updates.UpdateCheck | None]:
        """Fetch and verify the signed version manifest and tell the user; never downloads.

        Asked from the Help menu (`quiet=False`) the answer, good or bad, opens in a message box
        (kept in `update_box`, for tests). The daily check (`quiet=True`) only speaks up when a
        newer version exists, through the tray and the status bar; its failures go to the log.
        """
        self.update_action.setEnabled(False)

        def shown(result: updates.UpdateCheck) -> None:
            if quiet:
                if result.newer:
                    self.tray.notify("Update available", result.message().split("\n")[0])
                return
            self._update_message("Check for updates", result.message(), error=False)

        def failed(message: str, hint: str) -> None:
            if quiet:
                log.info("daily update check failed: %s %s", message, hint)
            else:
                self._update_message("Update check failed", f"{message}\n\n{hint}", error=True)

        return (
            Op.coro(
                lambda: updates.check(
                    self.update_url,
                    release_address=self.update_address,
                    state=updates.CheckState(),
                ),
                label="update check",
            )
            .finally_(lambda: self.update_action.setEnabled(True))
            .success(shown)
            .failure(failed)
            .run()
        )

    def check_updates_if_due(self) -> asyncio.Task[updates.UpdateCheck | None] | None:
        """The daily check: only when switched on in Settings and none succeeded in 24 h."""
        if not self.ctx.settings.update_check_daily or not updates.CheckState().due():
            return None
        return self.check_updates(quiet=True)

    def _update_message(self, title: str, text: str, *, error: bool) -> None:
        icon = QMessageBox.Icon.Warning if error else QMessageBox.Icon.Information
        box = QMessageBox(icon, title, text, QMessageBox.StandardButton.Ok, self)
        box.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.update_box = box
        box.open()

    def open_about(self) -> AboutDialog:
        """The About box with the versions of the parts (returns it, for tests)."""
        dialog = AboutDialog(self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def _build_workspace(self) -> QWidget:
        self.model = NodesModel(self)
        self.active_model = ActiveFilter(self.model, active=True, parent=self)
        self.stopped_model = ActiveFilter(self.model, active=False, parent=self)
        self.active_view = _table(self.active_model)
        self.stopped_view = _table(self.stopped_model)
        self.banner = style.label("", "error", wrap=True, selectable=True)
        self.banner.hide()
        self.empty_hint = style.label(
            "No node is running. Start one with Start node (Ctrl+N): on the Golem network, or "
            "on this computer for a dev chain.",
            "muted",
            wrap=True,
        )
        self.start_button = QPushButton("&Start a node…")
        self.start_button.setProperty("role", "primary")
        self.start_button.clicked.connect(self.open_start_dialog)

        left = QWidget()
        left_lay = QVBoxLayout(left)
        left_lay.setContentsMargins(0, 0, 0, 0)
        left_lay.setSpacing(style.SPACING)
        left_lay.addWidget(self.banner)
        left_lay.addWidget(style.label("Running", "heading"))
        left_lay.addWidget(self.active_view, 3)
        left_lay.addWidget(self.empty_hint)
        left_lay.addWidget(self.start_button, 0, Qt.AlignmentFlag.AlignLeft)
        self.clear_stopped_button = QPushButton("C&lear stopped")
        self.clear_stopped_button.setToolTip("Remove every stopped or failed node from the list")
        self.clear_stopped_button.setEnabled(False)
        self.clear_stopped_button.clicked.connect(self.clear_stopped)
        stopped_head = QHBoxLayout()
        stopped_head.addWidget(style.label("Stopped", "heading"))
        stopped_head.addStretch(1)
        stopped_head.addWidget(self.clear_stopped_button)
        left_lay.addLayout(stopped_head)
        left_lay.addWidget(self.stopped_view, 2)

        self.detail = NodeDetail()
        self.detail.open_console.connect(self.show_console)
        self.detail.restart_requested.connect(self.restart_node)
        for view in (self.active_view, self.stopped_view):
            view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
            view.customContextMenuRequested.connect(lambda pos, v=view: self._context_menu(v, pos))
        scroll = QScrollArea()
        scroll.setWidget(self.detail)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(420)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(scroll)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setSizes([700, 520])
        splitter.setChildrenCollapsible(False)
        nodes_page = QWidget()
        nodes_lay = QVBoxLayout(nodes_page)
        nodes_lay.setContentsMargins(style.MARGIN, style.MARGIN, style.MARGIN, style.MARGIN)
        nodes_lay.addWidget(splitter)

        self.console = RpcConsole()
        self.console.wallet = self.ctx.wallet
        console_page = QWidget()
        console_lay = QVBoxLayout(console_page)
        console_lay.setContentsMargins(style.MARGIN, style.MARGIN, style.MARGIN, style.MARGIN)
        console_lay.addWidget(self.console)

        self.txlog = TxLog()
        self.console.txlog = self.txlog
        self.console.send_dialog_opened.connect(self._follow_send_dialog)
        self.wallet_page = WalletPage(self.ctx.wallet, self.txlog)
        self.wallet_page.send_requested.connect(self.open_send_dialog)
        self.wallet_page.backup_requested.connect(self.open_backup_dialog)
        wallet_page = QWidget()
        wallet_lay = QVBoxLayout(wallet_page)
        wallet_lay.setContentsMargins(style.MARGIN, style.MARGIN, style.MARGIN, style.MARGIN)
        wallet_lay.addWidget(self.wallet_page)

        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(nodes_page, style.icon("state-ready"), "Nodes")
        self.tabs.addTab(console_page, style.icon("console"), "Console")
        self.tabs.addTab(wallet_page, style.icon("key"), "Wallet")
        self.wallet_tab = wallet_page  # by widget, not index: other pages may be added
        self.gateway_page = GatewayPage(self.ctx.settings, self.ctx.settings_store)
        self.gateway_page.message.connect(lambda text: self.statusBar().showMessage(text, 5000))
        self.gateway_page.notice.connect(self._gateway_notice)
        self.tabs.addTab(self.gateway_page, style.icon("send"), "Gateway")
        gateway = self.gateway_page
        self.usage_page = UsagePage(lambda: gateway.gateway.status() if gateway.gateway else None)
        self.tabs.addTab(self.usage_page, style.icon("state-syncing"), "Usage")

        for view in (self.active_view, self.stopped_view):
            view.selectionModel().selectionChanged.connect(
                lambda _s, _d, v=view: self._selection_changed(v)
            )
        return self.tabs

    # --- flow -----------------------------------------------------------------------------
    def start(self, *, attach_manager: bool = True) -> None:
        """Show the right first page: the welcome wizard, the unlock screen, or the workspace.

        Then (unless `attach_manager` is False) build the node manager on the loop.
        """
        wallet = self.ctx.wallet
        if not wallet.accounts():
            self.welcome.restart()
            self._show_page(self.welcome)
        elif wallet.is_unlocked:
            self.show_workspace()
        else:
            self.unlock_page.refresh()
            self._show_page(self.unlock_page)
        if attach_manager:
            self.after_first_paint(self._attach_manager)

    def _show_page(self, page: QWidget) -> None:
        self.stack.setCurrentWidget(page)
        in_workspace = page is self.workspace
        self.toolbar.setVisible(in_workspace)
        for act in (
            self.start_action,
            self.stop_action,
            self.lock_action,
            self.console_action,
            self.wallet_action,
        ):
            act.setEnabled(in_workspace)
        self.passphrase_action.setEnabled(in_workspace)
        self.backup_action.setEnabled(in_workspace)
        self._update_account()

    def show_workspace(self) -> None:
        self.ensure_workspace()
        self._show_page(self.workspace)
        self._lock_timer.start()
        self._tick.start()
        self.refresh()
        self.wallet_page.show_account()
        self.active_view.setFocus()

    def _on_unlocked(self) -> None:
        """Back from the unlock screen: the "wallet locked" notice no longer holds."""
        self.statusBar().clearMessage()
        self.show_workspace()

    def _add_account(self) -> None:
        self.welcome.restart()
        self._show_page(self.welcome)

    def _back_to_unlock(self) -> None:
        self.unlock_page.refresh()
        self._show_page(self.unlock_page)

    def lock(self) -> None:
        """Lock the wallet now (Ctrl+L); nodes keep running."""
        self.ctx.wallet.lock()
        self._lock_timer.stop()
        self.unlock_page.refresh()
        self._show_page(self.unlock_page)
        self.statusBar().showMessage("Wallet locked. Your nodes keep running.", 5000)

    def user_active(self) -> None:
        if self.stack.currentWidget() is self.workspace:
            self.ctx.wallet.touch()

    def _check_lock(self) -> None:
        if self.stack.currentWidget() is self.workspace and not self.ctx.wallet.is_unlocked:
            self.lock()
            self.statusBar().showMessage(
                "The wallet locked itself after a while without use.", 8000
            )

    def _update_account(self) -> None:
        address = self.ctx.wallet.unlocked_address
        if address:
            self.account_label.setText(f"Unlocked: {address[:8]}…{address[-6:]}")
            self.account_label.setToolTip(address)
        else:
            self.account_label.setText("Wallet locked")
            self.account_label.setToolTip("The wallet is locked")

    def _apply_settings(self) -> None:
        minutes = self.ctx.settings.auto_lock_minutes
        self.ctx.wallet.auto_lock_seconds = minutes * 60 if minutes else None

    # --- manager wiring ------------------------------------------------------------------------
    def _attach_manager(self) -> None:
        if self.ctx.manager is not None:
            self.use_manager(self.ctx.manager)
            return
        Op.coro(self.ctx.ensure_manager, label="start node manager").success(
            self.use_manager
        ).failure(lambda m, h: self.show_error(f"The node manager could not start: {m}", h)).run()

    def use_manager(self, manager: NodeManager) -> None:
        """Connect the views to `manager` and follow its events."""
        self.detail.manager = manager
        self.console.manager = manager
        self.wallet_page.manager = manager
        self.gateway_page.use_manager(manager)
        self.usage_page.preload_when_idle(lambda: self._activity.last_input)
        if self._events_task is None:
            self._events_task = ops.spawn(self._follow_events(manager), label="node events")
        self.refresh()

    async def _follow_events(self, manager: NodeManager) -> None:
        queue = manager.subscribe()
        try:
            while True:
                event = await queue.get()
                if event.kind == "removed":  # EventKind.REMOVED (core.manager loads lazily)
                    self._changed.pop(event.node_id, None)
                    self._removed.add(event.node_id)
                else:
                    self._removed.discard(event.node_id)
                    self._changed[event.node_id] = event.record
                self._schedule_flush()
        finally:
            manager.unsubscribe(queue)

    def _schedule_flush(self) -> None:
        if not self._refresh_pending:
            self._refresh_pending = True
            QTimer.singleShot(REFRESH_DEBOUNCE_MS, self._flush_changes)

    def _flush_changes(self) -> None:
        """Apply the records changed since the last flush (only those rows are touched)."""
        self._refresh_pending = False
        changed, self._changed = self._changed, {}
        removed, self._removed = self._removed, set()
        if removed:
            self.model.remove_ids(removed)
            self.usage_page.forget(removed)
        if changed:
            self.usage_page.set_records(changed.values())
            self.model.upsert_rows([NodeRow.from_record(r) for r in changed.values()])
        if changed or removed:
            self._rows_changed()

    def refresh(self) -> None:
        """Re-read the records from the manager into the table, detail, console and tray."""
        manager = self.ctx.manager
        if manager is None:
            return
        try:
            records = manager.list()
        except Exception as exc:
            self.show_error(*ops.describe_error(exc))
            return
        self.model.set_records(records)
        self.usage_page.set_records(records)
        self._rows_changed()

    def _rows_changed(self) -> None:
        """Let the tray, the console's picker and the detail pane follow the table."""
        rows = self.model.rows()
        self.tray.observe(rows)
        self.console.set_nodes(rows)
        self.wallet_page.set_nodes(rows)
        if self.detail.row is not None:
            self.detail.show_row(self.model.row_by_id(self.detail.row.id))
        self.clear_stopped_button.setEnabled(any(not r.state.active for r in rows))
        any_active = any(r.state.active for r in rows)
        self.empty_hint.setVisible(not any_active)
        self.start_button.setVisible(not any_active)
        self.stop_action.setEnabled(self.detail.row is not None and self.detail.row.state.active)
        self.gateway_page.nodes_changed()

    def _gateway_notice(self, kind: str, text: str) -> None:
        """A gateway notice: in the status bar; a node caught lying also as a notification."""
        self.statusBar().showMessage(text, 10000)
        if kind in ("lied", "disagree"):
            self.tray.notify("Erigolem", text)

    def _on_tick(self) -> None:
        self.model.tick()
        self.detail.tick()
        self._update_account()

    def _selection_changed(self, view: QTableView) -> None:
        indexes = view.selectionModel().selectedRows()
        if not indexes:
            return
        other = self.stopped_view if view is self.active_view else self.active_view
        other.selectionModel().blockSignals(True)
        other.clearSelection()
        other.selectionModel().blockSignals(False)
        node_id = indexes[0].data(Qt.ItemDataRole.UserRole)
        row = self.model.row_by_id(str(node_id))
        self.detail.show_row(row)
        self.stop_action.setEnabled(row is not None and row.state.active)

    def select_node(self, node_id: str) -> None:
        """Select `node_id` in whichever table shows it."""
        for view, proxy in (
            (self.active_view, self.active_model),
            (self.stopped_view, self.stopped_model),
        ):
            for r in range(proxy.rowCount()):
                index = proxy.index(r, 0)
                if index.data(Qt.ItemDataRole.UserRole) == node_id:
                    view.selectionModel().select(
                        QItemSelection(index, proxy.index(r, proxy.columnCount() - 1)),
                        view.selectionModel().SelectionFlag.ClearAndSelect,
                    )
                    view.setCurrentIndex(index)
                    return

    # --- actions -------------------------------------------------------------------------
    def show_error(self, message: str, hint: str = "") -> None:
        """Errors of background work: the banner on the nodes page and the status bar."""
        text = f"{message} {hint}".strip()
        style.set_message(self.banner, text, "error")
        self.statusBar().showMessage(message, 10000)

    def open_start_dialog(self) -> None:
        self.start_dialog()

    def start_dialog(self, last: StartChoice | None = None) -> StartDialog | None:
        """Open the Start node dialog (non-modal to the loop); returns it, for tests."""
        manager = self.ctx.manager
        if manager is None:
            self.show_error("The node manager is still starting.", "Try again in a moment.")
            return None
        taken = [r.name for r in self.model.rows() if r.state.active]
        golem = manager.backends.get("golem")
        settings = self.ctx.settings
        dialog = StartDialog(
            self,
            taken_names=taken,
            golem_available=golem is not None
            and bool(getattr(getattr(golem, "config", None), "app_key", None)),
            local_chains=self._local_chains(manager),
            last=last
            or StartChoice(settings.last_backend, settings.last_chain, settings.last_client),
            preflight=getattr(golem, "preflight", None),
        )
        dialog.accepted.connect(lambda: self._start_node(dialog))
        dialog.open()
        return dialog

    def _local_chains(self, manager: NodeManager) -> list[str] | None:
        """The chains this computer's runtime can run (read once), None when unknown."""
        if self._served is None:
            local = manager.backends.get("local")
            served = getattr(local, "served_chains", None)
            if served is None:
                return None
            try:
                self._served = list(served())
            except Exception as exc:
                log.warning("local chains unknown: %s", exc)
                return None
        return self._served

    def _remember_choice(self, choice: StartChoice) -> None:
        settings = self.ctx.settings
        if (settings.last_backend, settings.last_chain, settings.last_client) == (
            choice.backend,
            choice.chain,
            choice.client,
        ):
            return
        settings.last_backend, settings.last_chain, settings.last_client = (
            choice.backend,
            choice.chain,
            choice.client,
        )
        try:
            self.ctx.settings_store.save(settings)
        except Exception as exc:
            log.warning("could not save the start choices: %s", exc)

    def _start_node(self, dialog: StartDialog) -> None:
        self._remember_choice(dialog.choice())
        self.start_spec(dialog.spec(), dialog.backend())

    def start_spec(self, spec: NodeSpec, backend: str) -> None:
        """Start a node from `spec` on `backend` and select it (Start dialog, Restart)."""
        manager = self.ctx.manager
        if manager is None:
            return
        style.set_message(self.banner, "", "error")
        self.statusBar().showMessage(f"Starting {spec.name}…", 5000)

        def started(record: Any) -> None:
            self.refresh()
            self.select_node(str(record.id))

        Op.coro(lambda: manager.start(spec, backend=backend), label="start node").success(
            started
        ).failure(lambda m, h: self.show_error(f"{spec.name} could not start: {m}", h)).run()

    def _context_menu(self, view: QTableView, pos: QPoint) -> QMenu | None:
        """The node's actions on a right click (running: console, rotate, stop; stopped:
        restart, remove, clear stopped). Returns the menu (tests trigger its actions)."""
        index = view.indexAt(pos)
        if not index.isValid():
            return None
        view.selectRow(index.row())
        row = self.detail.row
        if row is None:
            return None
        menu = self.node_menu(row)
        menu.popup(view.viewport().mapToGlobal(pos))
        return menu

    def node_menu(self, row: NodeRow) -> QMenu:
        """The context menu of `row` (the detail pane's actions, shown selected)."""
        menu = QMenu(self)
        detail = self.detail
        if row.state.active:
            for text, slot, enabled in (
                ("Open in &console", lambda: self.show_console(row.id), bool(row.url)),
                ("&Rotate password…", detail.rotate, bool(row.url)),
                ("S&top node…", detail.stop, row.state is not NodeState.STOPPING),
            ):
                act = menu.addAction(text)
                act.setEnabled(enabled)
                act.triggered.connect(slot)
        else:
            menu.addAction("R&estart").triggered.connect(lambda: self.restart_node(row.id))
            menu.addAction("Re&move").triggered.connect(detail.remove)
            menu.addSeparator()
            menu.addAction("C&lear stopped").triggered.connect(self.clear_stopped)
        return menu

    def restart_node(self, node_id: str) -> StartDialog | None:
        """Start a node like the stopped `node_id` (same chain, client, name, warm mode).

        Local: at once. Golem: the Start dialog opens on those choices, for budget and
        duration (and the pre-flight check). Returns that dialog, for tests.
        """
        row = self.model.row_by_id(node_id)
        if row is None or row.state.active:
            return None
        from erigolem_desktop.core.backends.base import NodeSpec

        if row.backend != "golem":
            self.start_spec(NodeSpec(chain=row.chain, client=row.client, name=row.name), "local")
            return None
        dialog = self.start_dialog(last=StartChoice(row.backend, row.chain, row.client))
        if dialog is not None:
            dialog.name_edit.setText(row.name)
            dialog.warm.setChecked(row.warm)
        return dialog

    def clear_stopped(self) -> None:
        """Remove every stopped or failed node from the list (records and leftovers)."""
        manager = self.ctx.manager
        if manager is None:
            return
        ids = [r.id for r in self.model.rows() if not r.state.active]

        async def forget_all() -> int:
            for node_id in ids:
                await manager.forget(node_id)
            return len(ids)

        Op.coro(forget_all, label="clear stopped").success(
            lambda n: self.statusBar().showMessage(
                f"Removed {n} stopped node{'s' if n != 1 else ''}.", 4000
            )
        ).run()

    def stop_selected(self) -> None:
        if self.detail.row is not None and self.detail.row.state.active:
            self.detail.stop()

    def show_console(self, node_id: str | None = None) -> None:
        self.tabs.setCurrentIndex(1)
        if node_id:
            self.console.select_node(node_id)
        self.console.method_edit.setFocus()

    def show_wallet(self, node_id: str | None = None) -> None:
        """The wallet page (Ctrl+3), on `node_id`'s chain when given."""
        self.tabs.setCurrentWidget(self.wallet_tab)
        if node_id:
            self.wallet_page.select_node(node_id)

    def open_send_dialog(self, node_id: str) -> SendTransactionDialog | None:
        """Send from the unlocked account through `node_id` (returns the dialog, for tests)."""
        from erigolem_desktop.ui.send_tx import SendTransactionDialog

        row = self.model.row_by_id(node_id)
        client = self.wallet_page.client()
        if row is None or client is None:
            return None
        dialog = SendTransactionDialog(
            client, self.ctx.wallet, self, chain=row.chain, node_id=row.id, txlog=self.txlog
        )
        self._follow_send_dialog(dialog)
        dialog.open()
        return dialog

    def _follow_send_dialog(self, dialog: SendTransactionDialog) -> None:
        """What a send dialog sends shows up on the wallet page (pending, then mined)."""
        dialog.sent.connect(lambda _h: self.wallet_page.load_transactions())
        dialog.mined.connect(lambda _h: self._tx_mined())

    def _tx_mined(self) -> None:
        self.wallet_page.load_transactions()
        self.wallet_page.refresh()

    def open_passphrase_dialog(self) -> None:
        """Change the passphrase of the unlocked account (Ctrl+Shift+P)."""
        from erigolem_desktop.ui.passphrase_dialog import PassphraseDialog

        address = self.ctx.wallet.unlocked_address
        if address is None:
            return
        dialog = PassphraseDialog(self.ctx.wallet, address, self)
        dialog.accepted.connect(
            lambda: self.statusBar().showMessage(f"Passphrase of {address} changed.", 8000)
        )
        self.passphrase_dialog = dialog  # tests reach the open dialog here
        dialog.open()

    def open_backup_dialog(self) -> None:
        """Reveal the phrase or export the keystore of the unlocked account (Ctrl+Shift+B)."""
        from erigolem_desktop.ui.backup_dialog import BackupDialog

        address = self.ctx.wallet.unlocked_address
        if address is None:
            return
        dialog = BackupDialog(self.ctx.wallet, address, self)
        self.backup_dialog = dialog  # tests reach the open dialog here
        dialog.open()

    def open_settings(self) -> None:
        from erigolem_desktop.ui.settings_dialog import SettingsDialog

        dialog = SettingsDialog(self.ctx.settings_store, self.ctx.settings, self)

        def saved() -> None:
            if dialog.saved is not None:
                self.ctx.settings = dialog.saved
                self._apply_settings()
                self.set_theme(dialog.saved.theme)
                if self.ctx.apply_golem_settings():
                    text = "Settings saved. Golem changes apply to nodes started from now on."
                else:
                    text = "Settings saved. Golem nodes are running: restart the app to apply."
                self.statusBar().showMessage(text, 8000)

        dialog.accepted.connect(saved)
        dialog.open()

    def bring_to_front(self) -> None:
        self.showNormal()
        self.raise_()
        self.activateWindow()

    # --- closing -------------------------------------------------------------------------
    def running_count(self) -> int:
        return sum(1 for r in self.model.rows() if r.state.active)

    def closeEvent(self, event: QCloseEvent) -> None:
        if self._quitting:
            event.accept()
            return
        event.ignore()
        running = self.running_count()
        if running == 0:
            self.quit_app()
            return
        keep = self.ctx.settings.keep_running
        if keep is None:
            answer = ask_keep_running(self, running)
            if answer is None:
                return
            keep, remember = answer
            if remember:
                self.ctx.settings.keep_running = keep
                try:
                    self.ctx.settings_store.save(self.ctx.settings)
                except Exception as exc:
                    self.show_error(*ops.describe_error(exc))
        if keep:
            self.keep_in_background()
        else:
            self.quit_app()

    def keep_in_background(self) -> None:
        if self.tray.available:
            self.hide()
            self.tray.notify(
                "Erigolem keeps running", "Your nodes run on; the tray icon brings the window back."
            )
        else:
            self.showMinimized()
            self.statusBar().showMessage(
                "No system tray here: the window was minimized instead.", 8000
            )

    def quit_app(self) -> None:
        """Stop the nodes this app runs, then end the app."""
        if self._quitting:
            return
        self._quitting = True
        self.statusBar().showMessage("Stopping nodes…")
        ops.spawn(self._shutdown(), label="shutdown")

    async def _shutdown(self) -> None:
        try:
            self._lock_timer.stop()
            self._tick.stop()
            if self._events_task is not None:
                self._events_task.cancel()
            await self.console.close_client()
            await self.wallet_page.close_client()
            await self.gateway_page.shutdown()
            await self.ctx.close()
        finally:
            ops.set_default_error_sink(None)
            self.close()
            self.on_quit()

"""`run_app()`: QApplication + one qasync loop running Qt and asyncio together, then the window.

Heavy modules (eth_account, yapapi) are not imported here: the window paints first, and the
node manager with its backends is built on the loop right after.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from erigolem_desktop.ui import style
from erigolem_desktop.ui.qt import QApplication, QEventLoop, QMessageBox, QTimer

if TYPE_CHECKING:
    from erigolem_desktop.ui.main_window import MainWindow

log = logging.getLogger(__name__)


def make_application(argv: Sequence[str] | None = None) -> QApplication:
    """The QApplication (created once), named, with the app icon and the style sheet."""
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(list(argv or sys.argv))
    app.setApplicationName("Erigolem")
    app.setApplicationDisplayName("Erigolem")
    app.setOrganizationName("Erigolem")
    app.setDesktopFileName("erigolem")
    app.setWindowIcon(style.icon("app"))
    app.setStyleSheet(style.STYLE_SHEET)
    app.setQuitOnLastWindowClosed(False)  # the window decides (tray / keep running)
    return app


UPDATE_CHECK_DELAY_MS = 5000


def run_app(
    argv: Sequence[str] | None = None,
    *,
    on_shown: Callable[[MainWindow], None] | None = None,
) -> int:
    """Run the desktop app until the user quits; returns the process exit code.

    `on_shown` runs once on the loop right after the window is shown (`erigolem --smoke`).
    """
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    app = make_application(argv)
    loop = QEventLoop(app)
    asyncio.set_event_loop(loop)

    from erigolem_desktop.ui.context import AppContext
    from erigolem_desktop.ui.main_window import MainWindow

    try:
        ctx = AppContext.open()
    except Exception as exc:  # keyring unavailable, damaged wallet file: say so and how to fix
        message = exc.args[0] if exc.args else str(exc)
        hint = getattr(exc, "hint", "")
        QMessageBox.critical(None, "Erigolem cannot start", f"{message}\n\n{hint}".strip())
        return 1
    window = MainWindow(ctx)
    done = asyncio.Event()
    window.on_quit = done.set
    _quit_on_signals(window)
    gc_on_main_thread(window)
    window.show()  # shown first, so start() defers the workspace and the manager past the paint
    window.start()
    if on_shown is not None:
        QTimer.singleShot(0, lambda: on_shown(window))
    else:  # not in --smoke: the daily update notice, once the window has settled
        QTimer.singleShot(UPDATE_CHECK_DELAY_MS, window.check_updates_if_due)
    with loop:
        loop.run_until_complete(done.wait())
    return 0


def gc_on_main_thread(window: MainWindow) -> None:
    """Run Python's cycle collector only on the GUI thread, between events.

    Left automatic, a collection can start in an executor thread (scrypt, pretty-printing) and
    destroy Qt objects there, which Qt forbids. So automatic collection is off and a timer does
    what the thresholds would have done, generation by generation.
    """
    gc.disable()
    thresholds = gc.get_threshold()

    def freeze() -> None:
        # what start-up allocated (modules, widgets) stays: keep it out of every later scan
        gc.collect()
        gc.freeze()

    def collect() -> None:
        counts = gc.get_count()
        for generation in (2, 1, 0):
            if counts[generation] > thresholds[generation]:
                gc.collect(generation)
                return

    timer = QTimer(window)
    timer.setInterval(250)
    timer.timeout.connect(collect)
    timer.start()
    QTimer.singleShot(5000, freeze)


def _quit_on_signals(window: MainWindow) -> None:
    """Ctrl+C / SIGTERM stop the nodes and quit cleanly, like the Quit action.

    Python handles signals only when it runs, so a light timer hands it control twice a second
    while Qt waits for events.
    """
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda _signum, _frame: window.quit_app())
    timer = QTimer(window)
    timer.setInterval(500)
    timer.timeout.connect(lambda: None)
    timer.start()

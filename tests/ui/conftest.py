"""UI test setup: one qasync loop (Qt + asyncio) per test, a cheap-KDF wallet, a window factory.

pytest-asyncio asks this hook for the loop of every `@pytest.mark.asyncio` test under tests/ui,
so coroutines and Qt events run on the same loop as in the app (environment.md §6).
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
import qasync

from erigolem_desktop.ui.qt import QApplication


def _qapp() -> QApplication:
    app = QApplication.instance()
    if isinstance(app, QApplication):
        return app
    from erigolem_desktop.ui.app import make_application

    return make_application(["pytest"])


def pytest_asyncio_loop_factories(config: Any, item: Any) -> dict[str, Callable[[], Any]]:
    return {"qasync": lambda: qasync.QEventLoop(_qapp())}


@pytest.fixture(autouse=True)
def _cheap_kdf(monkeypatch: pytest.MonkeyPatch) -> None:
    """New keystores use scrypt N=2**12 so wallet tests take milliseconds, not seconds."""
    monkeypatch.setenv("ERIGOLEM_WALLET_SCRYPT_N", "4096")
    monkeypatch.setenv("ERIGOLEM_WALLET_INSECURE_TEST_KDF", "1")  # else the cheap N is refused


@pytest.fixture(autouse=True)
def _collect_qt_garbage() -> Iterator[None]:
    """Collect each test's reference cycles on the main thread.

    Otherwise a later test's worker thread (scrypt, pretty-printing) may run the collection and
    destroy a Qt object there ("QObject::~QObject: Timers cannot be stopped from another thread").
    """
    yield
    gc.collect()


@pytest.fixture
def wallet(memory_keyring: Any, erigolem_home: Path) -> Any:
    from erigolem_desktop.core.wallet import Wallet

    return Wallet.open(erigolem_home)


@pytest.fixture
def ctx(wallet: Any) -> Any:
    from erigolem_desktop.core.settings import SettingsStore
    from erigolem_desktop.ui.context import AppContext

    store = SettingsStore()
    return AppContext(wallet=wallet, settings_store=store, settings=store.load())


@pytest.fixture
def make_window(qtbot: Any, ctx: Any) -> Iterator[Callable[[], Any]]:
    """Build the main window around `ctx` (its manager, when set); quitting only records it."""
    from erigolem_desktop.ui import ops
    from erigolem_desktop.ui.app import make_application
    from erigolem_desktop.ui.main_window import MainWindow

    make_application(["pytest"])
    windows: list[Any] = []

    def build() -> Any:
        window = MainWindow(ctx)
        quit_calls: list[bool] = []
        window.quit_calls = quit_calls  # type: ignore[attr-defined]  # for the tests to read
        window.on_quit = lambda: quit_calls.append(True)
        windows.append(window)
        return window

    yield build
    for window in windows:
        # close without the "keep nodes running?" question (a modal box would block teardown)
        window._quitting = True
        window.close()
        window.deleteLater()
    ops.set_default_error_sink(None)


async def wait_until(predicate: Callable[[], object], limit: float = 10.0) -> None:
    """Await until `predicate()` is truthy, letting the loop (Qt and asyncio) run meanwhile.

    `qtbot.waitUntil` cannot be used inside an async test: it spins a nested Qt loop from within
    a running asyncio task, so other tasks never advance.
    """
    import asyncio

    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {limit} s")
        await asyncio.sleep(0.02)

"""Start-up order: the unlock screen paints first; the workspace and the node manager follow."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from erigolem_desktop.core.wallet import Wallet
from tests.ui.conftest import wait_until

GOOD = "correct horse battery staple 42"


@pytest.mark.asyncio
async def test_the_workspace_and_the_manager_wait_for_the_first_paint(
    make_window: Any, wallet: Wallet
) -> None:
    wallet.create(GOOD)
    wallet.lock()
    window = make_window()
    events: list[str] = []
    real_build, real_paint = window._build_workspace, window.paintEvent

    def build() -> Any:
        events.append("workspace")
        return real_build()

    def paint(event: Any) -> None:
        events.append("paint")
        real_paint(event)

    window._build_workspace = build
    window._attach_manager = lambda: events.append("manager")  # no manager in this test
    window.paintEvent = paint
    window.show()  # as run_app does: shown, then start()
    window.start()
    assert window.stack.currentWidget() is window.unlock_page
    assert events == []  # nothing heavy before the window has painted
    await wait_until(lambda: "manager" in events)
    assert events[0] == "paint"
    assert events.index("workspace") < events.index("manager")
    assert window.tabs.count() >= 5
    assert window.workspace.isAncestorOf(window.tabs)


def test_a_workspace_widget_asked_for_early_is_built_then(make_window: Any) -> None:
    window = make_window()
    assert not window._workspace_built
    assert window.console is not None  # built on first use, not an AttributeError
    assert window._workspace_built
    assert window.workspace.isAncestorOf(window.tabs)
    with pytest.raises(AttributeError, match="no_such_thing"):
        _ = window.no_such_thing


@pytest.mark.asyncio
async def test_the_usage_charts_import_in_the_background_only_when_idle(
    make_window: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gc
    import importlib
    import threading

    from erigolem_desktop.ui import usage_view

    monkeypatch.setattr(usage_view, "PRELOAD_IDLE_S", 0.3)
    window = make_window()
    page = window.usage_page
    page._preload_timer.setInterval(50)
    threads: list[str] = []
    real_import = importlib.import_module

    def recording(name: str, package: str | None = None) -> Any:
        if name == "pyqtgraph":
            threads.append(threading.current_thread().name)
        return real_import(name, package)

    monkeypatch.setattr(importlib, "import_module", recording)
    last_input = [float("inf")]  # input "now", for ever: never idle
    page.preload_when_idle(lambda: last_input[0])
    await asyncio.sleep(0.5)
    assert threads == []  # the user is busy: nothing imported
    last_input[0] = 0.0  # idle for long
    frozen = gc.get_freeze_count()
    await wait_until(lambda: page._module is not None, 30)
    assert threads
    assert threading.main_thread().name not in threads  # in the executor
    assert gc.get_freeze_count() > frozen  # its modules are kept out of later collections
    assert page.pg is None  # no plots until the tab is shown
    window.show()
    window.start(attach_manager=False)
    window.show_workspace()
    window.tabs.setCurrentWidget(page)
    assert page.pg is not None  # built at once on the first open: no import wait
    assert len(threads) == 1


def test_the_early_build_knows_every_workspace_attribute(make_window: Any) -> None:
    """_WORKSPACE_ATTRS must list what _build_workspace sets, or an early read would fail."""
    from erigolem_desktop.ui import main_window

    window = make_window()
    before = set(window.__dict__)
    window.ensure_workspace()
    assert set(window.__dict__) - before - {"_workspace_built"} == main_window._WORKSPACE_ATTRS

"""Start-up order: the unlock screen paints first; the workspace and the node manager follow."""

from __future__ import annotations

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

"""Restart of a stopped warm Golem node opens the Start dialog with Warm still ticked."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from erigolem_desktop.core.backends.golem.backend import GolemBackend
from erigolem_desktop.core.backends.golem.config import GolemConfig
from erigolem_desktop.core.manager import NodeManager
from erigolem_desktop.core.records import NodeRecord, NodeStore
from erigolem_desktop.core.secrets import SecretStore
from erigolem_desktop.core.states import NodeState


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.asyncio
async def test_restart_keeps_warm_ticked(make_window: Any, ctx: Any) -> None:
    store = NodeStore()
    for node_id, warm in (("a1b2c3d4e5f6", True), ("b1b2c3d4e5f6", False)):
        store.add(
            NodeRecord(
                id=node_id,
                name=f"main {node_id[:1]}",
                backend="golem",
                chain="mainnet",
                client="erigon",
                state=NodeState.STOPPED,
                warm=warm,
            )
        )
    # a real GolemBackend with an app key (so Golem is offered); its yagna URL answers nothing
    golem = GolemBackend(GolemConfig(api_url=f"http://127.0.0.1:{_closed_port()}", app_key="k"))
    manager = NodeManager(store, {"golem": golem}, SecretStore(choose_backend=False))
    try:
        ctx.manager = manager
        window = make_window()
        window.start()
        window.refresh()
        warm = window.restart_node("a1b2c3d4e5f6")
        assert warm is not None
        assert (warm.backend(), warm.chain_combo.currentData()) == ("golem", "mainnet")
        assert warm.warm.isChecked()
        assert warm.spec().warm is True
        warm.reject()
        private = window.restart_node("b1b2c3d4e5f6")
        assert private is not None
        assert not private.warm.isChecked()
        assert private.spec().warm is False
        private.reject()
    finally:
        await manager.close()

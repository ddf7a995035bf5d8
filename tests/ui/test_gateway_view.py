"""The Gateway tab on a real local dev node (erigolem-runtime + nginx + anvil on loopback): start
the gateway from the tab, read its URL and MetaMask fields, call through it with a real client,
see the per-method stats, a node taken out (its client killed) in the notices, stop it; a taken
port is a clear error; the setting starts it with the app. Screenshots at 1280x800."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from erigolem_desktop.core.backends.base import NodeSpec
from erigolem_desktop.core.backends.local import LocalBackend
from erigolem_desktop.core.manager import NodeManager
from erigolem_desktop.core.records import NodeStore
from erigolem_desktop.core.secrets import SecretStore
from erigolem_desktop.core.states import NodeState
from erigolem_desktop.ui.qt import QGuiApplication
from tests.support.binaries import free_port
from tests.support.gateway_nodes import kill_client
from tests.ui.conftest import wait_until

pytestmark = [pytest.mark.integration]

PASSPHRASE = "correct horse battery staple 42"
FUNDED = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"  # anvil's account #0
SHOTS_ENV = "ERIGOLEM_SCREENSHOTS_DIR"  # set it to keep the pictures (tmp_path otherwise)


@contextlib.asynccontextmanager
async def dev_node(home: Path) -> AsyncIterator[tuple[NodeManager, Any]]:
    mgr = NodeManager(
        NodeStore(),
        {"local": LocalBackend(home)},
        SecretStore(choose_backend=False),
        poll_interval=0.3,
    )
    try:
        rec = await mgr.start(NodeSpec("dev", "anvil", "gw-node"), wait=True)
        assert rec.state is NodeState.READY, rec.reason
        assert rec.url is not None
        assert rec.user is not None
        # block 1: anvil's genesis commits to an empty state root, so proofs start at block 1
        auth = {"Authorization": aiohttp.encode_basic_auth(rec.user, mgr.password(rec.id) or "")}
        body = {"jsonrpc": "2.0", "id": 1, "method": "evm_mine", "params": []}
        async with aiohttp.ClientSession(headers=auth) as s, s.post(rec.url, json=body) as resp:
            assert "result" in await resp.json()
        yield mgr, rec
    finally:
        await asyncio.wait_for(mgr.close(), 30)


async def call(url: str, method: str, params: list[Any]) -> dict[str, Any]:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    async with aiohttp.ClientSession() as s, s.post(url, json=body) as resp:
        return dict(await resp.json(content_type=None))


def save_shot(window: Any, tmp_path: Path, name: str) -> Path:
    out = Path(os.environ.get(SHOTS_ENV) or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.png"
    image = window.grab()
    assert image.width() == 1280
    assert image.height() == 800
    assert image.save(str(path))
    return path


def card_nodes(card: Any) -> list[list[str]]:
    tree = card.nodes
    return [
        [tree.topLevelItem(i).text(c) for c in range(tree.columnCount())]
        for i in range(tree.topLevelItemCount())
    ]


@pytest.mark.asyncio
async def test_gateway_tab_serves_the_ready_node_and_shows_what_happens(
    make_window: Any,
    ctx: Any,
    erigolem_home: Path,
    anvil_bin: Path,
    nginx_bin: Path,
    tmp_path: Path,
) -> None:
    info, _phrase = ctx.wallet.create(PASSPHRASE)
    ctx.wallet.unlock(info.address, PASSPHRASE)  # the workspace (with its tabs) shows
    port = free_port()
    ctx.settings.gateway_port = port
    async with dev_node(erigolem_home) as (manager, rec):
        ctx.manager = manager
        window = make_window()
        window.resize(1280, 800)
        window.show()
        window.start()
        page = window.gateway_page
        window.tabs.setCurrentWidget(page)
        await wait_until(lambda: page.toggle_button.isEnabled(), 20)
        assert page.gateway is None
        assert "off" in page.state_label.text()
        hint = page.empty_hint.text()
        assert f"http://127.0.0.1:{port}/<chain>" in hint
        assert "Ready now: dev (1 node)" in hint
        assert window.stack.currentWidget() is window.workspace
        save_shot(window, tmp_path, "gateway_off")

        page.toggle_button.click()
        await wait_until(lambda: "dev" in page.cards, 20)
        card = page.cards["dev"]
        url = f"http://127.0.0.1:{port}/dev"
        await wait_until(lambda: card.chain_id_edit.text() == "31337", 10)
        assert card.url_edit.text() == url
        assert card.ws_edit.text() == f"ws://127.0.0.1:{port}/dev"
        assert card.network_name.text() == "Erigolem dev"
        assert f"127.0.0.1:{port}" in page.state_label.text()
        assert page.toggle_button.text() == "Stop &gateway"
        assert card_nodes(card)[0][:2] == ["gw-node", "in"]
        card.copy_url.click()
        assert QGuiApplication.clipboard().text() == url
        card.copy_chain_id.click()
        assert QGuiApplication.clipboard().text() == "31337"
        card.copy_hint.click()
        hint = QGuiApplication.clipboard().text()
        assert url in hint
        assert "Chain ID 31337" in hint
        assert "MetaMask" in hint
        # the run file lets `erigolem node list` / `gateway status` find this gateway (no secrets)
        run = json.loads((erigolem_home / "gateway.json").read_text())
        assert run["port"] == port
        assert run["chains"] == {"dev": [rec.id]}
        password = manager.password(rec.id)
        assert password
        assert password not in json.dumps(run)

        # a real client through the gateway: answered without credentials, checked, counted;
        # one node alone cannot have its block agreed, so the answer comes marked unverified
        answer = await call(url, "eth_getBalance", [FUNDED, "latest"])
        assert int(answer["result"], 16) > 0
        assert answer["erigolem"]["verified"] is False, answer
        assert "only one node" in answer["erigolem"]["reason"]
        assert (await call(url, "eth_chainId", []))["result"] == "0x7a69"

        def stats_row(method: str) -> list[str] | None:
            tree = page.stats
            for i in range(tree.topLevelItemCount()):
                item = tree.topLevelItem(i)
                if item.text(0) == method:
                    return [item.text(c) for c in range(tree.columnCount())]
            return None

        await wait_until(lambda: stats_row("eth_getBalance") is not None, 5)
        row = stats_row("eth_getBalance")
        assert row is not None
        assert row[1:5] == ["1", "0", "0", "0/1"]
        assert stats_row("eth_chainId") is not None
        save_shot(window, tmp_path, "gateway_serving")

        # the node's client dies: it is shown out with the reason, and a notice is listed
        emitted: list[tuple[str, str]] = []
        page.notice.connect(lambda kind, text: emitted.append((kind, text)))
        kill_client(rec.runtime["runtime_pid"])
        await wait_until(lambda: card_nodes(card)[0][1] == "out", 10)
        assert card_nodes(card)[0][4]  # the reason
        await wait_until(lambda: page.notices.topLevelItemCount() > 0, 5)
        first = page.notices.topLevelItem(0)
        assert first.text(1) == "dev"
        assert first.text(2) == "gw-node"
        assert first.text(3) == "out"
        assert emitted[0][0] == "out"
        assert emitted[0][1].startswith("Gateway dev/gw-node: ")
        save_shot(window, tmp_path, "gateway_node_out")
        # the runtime restarts the client: the node is back in
        await wait_until(lambda: card_nodes(card)[0][1] == "in", 30)

        # the node stops: its chain leaves the gateway (the URL answers 404 for it)
        await manager.stop(rec.id)
        await wait_until(lambda: "dev" not in page.cards, 10)
        assert not page.empty_hint.isHidden()
        async with aiohttp.ClientSession() as s, s.post(url, json={}) as resp:
            assert resp.status == 404
        await asyncio.sleep(0.3)  # the window's debounced row update runs while the loop does

        # stop: the URL no longer answers, the run file is gone
        task = page.stop_gateway()
        assert task is not None
        await task
        assert page.gateway is None
        assert not page.cards
        assert not (erigolem_home / "gateway.json").exists()
        with pytest.raises(aiohttp.ClientConnectionError):
            await call(url, "eth_chainId", [])
        assert "off" in page.state_label.text()
        await window.console.close_client()


@pytest.mark.asyncio
async def test_a_taken_port_is_a_clear_error_and_the_setting_starts_it_with_the_app(
    make_window: Any, ctx: Any, erigolem_home: Path, anvil_bin: Path, nginx_bin: Path
) -> None:
    ctx.wallet.create(PASSPHRASE)
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    taken = blocker.getsockname()[1]
    try:
        async with dev_node(erigolem_home) as (manager, rec):
            ctx.manager = manager
            ctx.settings.gateway_port = taken
            window = make_window()
            window.start()
            page = window.gateway_page
            await wait_until(lambda: page.toggle_button.isEnabled(), 20)
            task = page.start_gateway()
            assert task is not None
            await task
            assert page.gateway is None
            text = page.error_label.text()
            assert f"cannot listen on 127.0.0.1:{taken}" in text
            assert "pick another port" in text
            assert page.toggle_button.isEnabled()

            # the settings are saved from the tab; autostart starts it when the manager comes
            free = free_port()
            page.port_spin.setValue(free)
            page.autostart_check.setChecked(True)
            saved = ctx.settings_store.load()
            assert saved.gateway_port == free
            assert saved.gateway_autostart is True
            again = make_window()
            again.start()
            await wait_until(lambda: "dev" in again.gateway_page.cards, 20)
            assert again.gateway_page.cards["dev"].url_edit.text() == f"http://127.0.0.1:{free}/dev"
            await again.gateway_page.shutdown()
            await manager.stop(rec.id)
            await asyncio.sleep(0.3)  # the windows' debounced row updates run while the loop does
            for w in (window, again):
                await w.console.close_client()
    finally:
        blocker.close()


@pytest.mark.asyncio
async def test_a_lying_node_is_flagged_in_the_tab_and_as_a_notification(
    make_window: Any,
    ctx: Any,
    erigolem_home: Path,
    anvil_bin: Path,
    nginx_bin: Path,
    tmp_path: Path,
) -> None:
    from erigolem_desktop.core.gateway import ChainRoute, UpstreamSpec
    from tests.support.lying_node import LyingNode

    info, _phrase = ctx.wallet.create(PASSPHRASE)
    ctx.wallet.unlock(info.address, PASSPHRASE)
    ctx.settings.gateway_port = free_port()
    async with dev_node(erigolem_home) as (manager, rec):
        ctx.manager = manager
        window = make_window()
        window.resize(1280, 800)
        window.show()
        window.start()
        page = window.gateway_page
        window.tabs.setCurrentWidget(page)
        await wait_until(lambda: page.toggle_button.isEnabled(), 20)
        task = page.start_gateway()
        assert task is not None
        await task
        gateway = page.gateway
        assert gateway is not None
        assert gateway.service is not None
        honest = gateway.service.routes["dev"].upstreams[0]
        async with LyingNode(honest.url, honest.user, honest.password, "balance") as liar:
            # a second provider of the chain that lies about balances, first in line
            await gateway.service.update_routes(
                [ChainRoute("dev", (UpstreamSpec("liar", liar.url), honest))]
            )
            await wait_until(
                lambda: "dev" in page.cards and len(card_nodes(page.cards["dev"])) == 2, 10
            )
            await wait_until(lambda: all(r[1] == "in" for r in card_nodes(page.cards["dev"])), 10)
            answer = await call(gateway.url("dev"), "eth_getBalance", [FUNDED, "latest"])
            truth = int(answer["result"], 16)
            assert answer["erigolem"]["node"] == honest.name, (
                answer
            )  # the liar's answer is not passed on
            assert liar.lies_told > 0
            await wait_until(lambda: card_nodes(page.cards["dev"])[0][1] == "OUT — caught lying", 5)
            row = card_nodes(page.cards["dev"])[0]
            assert row[0] == "liar"
            assert "failed verification on eth_getBalance" in row[4]
            notices = page.notices
            await wait_until(lambda: notices.topLevelItemCount() > 0, 5)
            assert [notices.topLevelItem(0).text(c) for c in (2, 3)] == ["liar", "lied"]
            assert any("Gateway dev/liar" in n for n in window.tray.notifications)
            assert truth == 10_000 * 10**18  # anvil's funded account, as the honest node says
            save_shot(window, tmp_path, "gateway_liar_flagged")
            await page.shutdown()
        await manager.stop(rec.id)
        await asyncio.sleep(0.3)  # the window's debounced row update runs while the loop does
        await window.console.close_client()

"""The Usage tab on a real local dev node (erigolem-runtime + nginx + anvil on loopback): the
requests a client makes appear in the chart's data and the per-node table (401s and the app's
own status polls do not), per-method counts come from the gateway when calls go through it;
pyqtgraph loads off the GUI thread. Screenshot at 1280x800."""

from __future__ import annotations

import asyncio
import importlib
import math
import threading
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from erigolem_runtime.api import UsageBucket, UsageStats

from erigolem_desktop.ui.usage_view import UsagePage, series
from tests.support.binaries import free_port
from tests.ui.conftest import wait_until
from tests.ui.test_gateway_view import PASSPHRASE, call, dev_node, save_shot


def test_series_fills_the_buckets_without_traffic_up_to_now() -> None:
    usage = UsageStats(
        bucket_sec=10,
        buckets=(UsageBucket(100.0, 3, 1, 1.0, 2.0), UsageBucket(130.0, 1, 0, 4.0, 4.0)),
    )
    s = series("n", usage, now=155.0, min_buckets=1)
    assert s.x == [100.0, 110.0, 120.0, 130.0, 140.0, 150.0]
    assert s.requests == [3.0, 0.0, 0.0, 1.0, 0.0, 0.0]
    assert s.errors == [1.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    assert s.p95[0] == 2.0
    assert math.isnan(s.p95[1])
    assert series("n", UsageStats(bucket_sec=10), now=155.0).x == []
    ten_minutes = series("n", usage, now=1000.0)  # at least the last 60 buckets
    assert len(ten_minutes.x) == 91
    assert ten_minutes.x[-1] == 1000.0


def rows(tree: Any) -> list[list[str]]:
    return [
        [tree.topLevelItem(i).text(c) for c in range(tree.columnCount())]
        for i in range(tree.topLevelItemCount())
    ]


def charted(page: UsagePage) -> float:
    """Requests in the chart's own curve data (what pyqtgraph draws)."""
    total = 0.0
    for key, (_plot, curve) in page._curves.items():
        if "\0req\0" in key:
            _x, y = curve.getData()
            total += float(sum(y)) if y is not None else 0.0
    return total


@pytest.mark.asyncio
@pytest.mark.slow
async def test_usage_tab_counts_a_clients_requests_and_the_gateways_methods(
    make_window: Any,
    ctx: Any,
    erigolem_home: Path,
    anvil_bin: Path,
    nginx_bin: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    info, _phrase = ctx.wallet.create(PASSPHRASE)
    ctx.wallet.unlock(info.address, PASSPHRASE)
    ctx.settings.gateway_port = free_port()
    threads: list[str] = []
    real_import = importlib.import_module

    def recording(name: str, package: str | None = None) -> Any:
        if name == "pyqtgraph":
            threads.append(threading.current_thread().name)
        return real_import(name, package)

    monkeypatch.setattr(importlib, "import_module", recording)
    async with dev_node(erigolem_home) as (manager, rec):
        ctx.manager = manager
        window = make_window()
        window.resize(1280, 800)
        window.show()
        window.start()
        page = window.usage_page
        window.tabs.setCurrentWidget(page)
        await wait_until(lambda: page.pg is not None, 30)
        assert threads
        assert threading.main_thread().name not in threads  # imported in the executor
        # the fixture's evm_mine: a status polled before nginx logged it still says 0 (seen when
        # pyqtgraph was imported already, so the charts were up before that poll)
        await wait_until(lambda: rec.id in page.usage and page.usage[rec.id].requests >= 1, 10)
        before = page.usage[rec.id].requests
        assert before >= 1

        assert rec.url is not None
        password = manager.password(rec.id) or ""
        auth = {"Authorization": aiohttp.encode_basic_auth(rec.user or "", password)}
        wrong = {"Authorization": aiohttp.encode_basic_auth(rec.user or "", "x" * 24)}
        body = {"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []}
        async with aiohttp.ClientSession() as s:
            for _ in range(6):
                async with s.post(rec.url, json=body, headers=auth) as resp:
                    assert resp.status == 200
            for _ in range(4):
                async with s.post(rec.url, json=body, headers=wrong) as resp:
                    assert resp.status == 401
            async with s.get(rec.url, headers=auth) as resp:  # anvil answers GET with 4xx
                get_status = resp.status
        expected = before + 7
        await wait_until(lambda: page.usage[rec.id].requests == expected, 15)
        await wait_until(lambda: charted(page) == expected, 5)
        usage = page.usage[rec.id]
        assert usage.errors == (1 if get_status >= 400 else 0)
        table = rows(page.nodes)
        assert table[0][:3] == ["gw-node", str(expected), str(usage.errors)]
        assert "200: " in table[0][5]
        assert f"{expected} requests" in page.summary.text()
        # the app's status polls (every 0.3 s here) go through the runtime: nothing more counted
        await asyncio.sleep(1.5)
        assert page.usage[rec.id].requests == expected
        # one node picked: its errors and latency curves too
        page.picker.setCurrentIndex(page.picker.findData(rec.id))
        page.redraw()
        kinds = {key.split("\0")[1] for key in page._curves}
        assert kinds == {"req", "err", "p50", "p95"}
        assert "p95" in page.summary.text()

        # per-method counts: none until calls go through the gateway
        assert "gateway is off" in page.methods_label.text()
        gw = window.gateway_page
        window.tabs.setCurrentWidget(gw)
        gw.toggle_button.click()
        await wait_until(lambda: "dev" in gw.cards, 20)
        url = f"http://127.0.0.1:{ctx.settings.gateway_port}/dev"
        for _ in range(3):
            assert "result" in await call(url, "eth_chainId", [])
        window.tabs.setCurrentWidget(page)
        await wait_until(lambda: any(r[0] == "eth_chainId" for r in rows(page.methods)), 10)
        method = next(r for r in rows(page.methods) if r[0] == "eth_chainId")
        assert int(method[1]) >= 3
        assert "measured at the local gateway" in page.methods_label.text()
        window.resize(1280, 800)
        shot = save_shot(window, tmp_path, "usage_tab")
        assert shot.stat().st_size > 10_000
        await gw.shutdown()

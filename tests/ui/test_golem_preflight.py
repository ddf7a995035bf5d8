"""The Start dialog's Golem pre-flight against a real yagna (PyPI golem-node) on loopback.

The requestor daemon of the shared Golem arrangement holds 100 tGLM and 10 tETH on its hoodi
payment chain (an anvil with the real payment contracts); gftp is the test stand-in on PATH.
The funds come from the real `yagna payment status` CLI over the daemon's GSB.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from erigolem_desktop.core.backends.golem.backend import GolemBackend
from erigolem_desktop.core.backends.golem.config import GolemConfig
from erigolem_desktop.core.backends.golem.preflight import Outcome
from erigolem_desktop.ui.qt import QDialogButtonBox
from erigolem_desktop.ui.start_dialog import StartDialog
from tests.support.golem.arrangement import REQUESTOR_KEY, GolemNet, golem_net
from tests.ui.conftest import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GolemNet]:
    with golem_net(tmp_path_factory.mktemp("golem-preflight"), providers=0) as running:
        yield running


@pytest.fixture
def on_path(net: GolemNet, monkeypatch: pytest.MonkeyPatch) -> None:
    """yagna's CLI finds the test daemon over its GSB; the gftp stand-in is on PATH."""
    monkeypatch.setenv("PATH", f"{net.bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("GSB_URL", f"tcp://127.0.0.1:{net.requestor.gsb_port}")


def _config(net: GolemNet, **kw: Any) -> GolemConfig:
    return GolemConfig(api_url=net.requestor.api_url, app_key=REQUESTOR_KEY, **kw)


@pytest.mark.asyncio
async def test_a_funded_yagna_passes_and_start_turns_on(
    qtbot: Any, net: GolemNet, on_path: None
) -> None:
    backend = GolemBackend(_config(net, budget_glm=Decimal("5")))
    report = await backend.preflight()
    assert report.ready, report
    assert report.identity == net.requestor.identity
    funds = next(c for c in report.checks if c.name == "funds")
    assert funds.outcome is Outcome.OK
    assert "100 tGLM free on hoodi" in funds.text
    assert "10 tETH" in funds.text

    dialog = StartDialog(golem_available=True, preflight=backend.preflight)
    qtbot.addWidget(dialog)
    dialog.show()
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    await wait_until(lambda: ok.isEnabled(), 30)
    assert not ok.toolTip()
    assert "✓ funds" in dialog.checks.text()
    accepted: list[bool] = []
    dialog.accepted.connect(lambda: accepted.append(True))
    ok.click()
    assert accepted


@pytest.mark.asyncio
async def test_too_little_glm_and_a_wrong_key_are_said_with_what_to_do(
    net: GolemNet, on_path: None
) -> None:
    poor = await GolemBackend(_config(net, budget_glm=Decimal("1000"))).preflight()
    assert not poor.ready
    (failure,) = poor.failures()
    assert failure.name == "funds"
    assert "yagna has 100 tGLM free on hoodi" in failure.text
    assert "reserves 1000 tGLM" in failure.text
    assert "yagna payment fund --network hoodi" in failure.text

    wrong = GolemConfig(api_url=net.requestor.api_url, app_key="not-the-key-0123456789")
    report = await GolemBackend(wrong).preflight()
    assert [c.name for c in report.failures()] == ["app key"]
    assert "refused the app key" in report.failures()[0].text
    assert "yagna app-key create" in report.failures()[0].text


@pytest.mark.asyncio
async def test_no_gftp_and_no_yagna_cli_are_separate_lines(
    net: GolemNet, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # neither gftp nor the yagna CLI
    report = await GolemBackend(_config(net)).preflight()
    by_name = {c.name: c for c in report.checks}
    assert by_name["yagna"].outcome is Outcome.OK
    assert by_name["app key"].outcome is Outcome.OK
    assert by_name["funds"].outcome is Outcome.UNKNOWN
    assert "yagna program is not on PATH" in by_name["funds"].text
    assert by_name["gftp"].failed
    assert "gftp" in by_name["gftp"].text
    assert [c.name for c in report.failures()] == ["gftp"]

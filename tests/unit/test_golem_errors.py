"""Each way the yagna connection fails gives a BackendError with the way out.

Real parts: a closed port, the real yagna daemon (golem-node) with a wrong app key, the same
yagna refusing the allocation because its payment chain RPC is unreachable, and a PATH without
`gftp` (the gftp stand-in from tests/support/golem/gftp_stub.py is used where gftp must exist).
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from erigolem_desktop.core.backends.base import NodeSpec
from erigolem_desktop.core.backends.golem import errors
from erigolem_desktop.core.backends.golem.backend import GolemBackend
from erigolem_desktop.core.backends.golem.config import GolemConfig
from erigolem_desktop.core.backends.golem.service_manager import ServiceStatus
from tests.support.binaries import free_port, yagna_path
from tests.support.golem import gftp_stub
from tests.support.golem.yagna import YagnaDaemon, start_yagna

APPKEY = "erigolem-test-key-0123456789"


@pytest.fixture(scope="module")
def lone_yagna(tmp_path_factory: pytest.TempPathFactory) -> Iterator[YagnaDaemon]:
    """One real yagna whose payment chain RPC points at a closed port."""
    binary = yagna_path()
    if binary is None:
        pytest.fail("yagna not found: `uv sync --group dev` installs golem-node")
    root = tmp_path_factory.mktemp("yagna-errors")
    daemon = start_yagna(
        binary,
        "lone",
        root,
        hub_port=None,
        payment_rpc=f"http://127.0.0.1:{free_port()}",
        appkey=APPKEY,
    )
    try:
        yield daemon
    finally:
        daemon.stop()


@pytest.fixture
def gftp_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    gftp_stub.install(bin_dir)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    return bin_dir


def _spec() -> NodeSpec:
    return NodeSpec(chain="dev", client="anvil", name="t", budget_glm=Decimal("0.1"))


@pytest.mark.asyncio
async def test_yagna_not_running_closed_port(gftp_on_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    backend = GolemBackend(GolemConfig(api_url=url, app_key=APPKEY))
    with pytest.raises(errors.YagnaNotRunning) as info:
        await backend.start("n1", _spec(), lambda _m: None)
    assert url in str(info.value)
    assert "yagna service run" in info.value.hint
    await backend.close()


@pytest.mark.asyncio
async def test_real_engine_on_closed_port_maps_to_yagna_not_running(gftp_on_path: Path) -> None:
    """Skip the pre-flight check: yapapi's own failure is mapped the same way."""
    url = f"http://127.0.0.1:{free_port()}"
    backend = GolemBackend(GolemConfig(api_url=url, app_key=APPKEY))
    handle = backend._manager.create_service(object)
    assert await handle.wait_finished(20)
    assert handle.status is ServiceStatus.FAILED
    assert isinstance(handle.error, errors.YagnaNotRunning), handle.reason
    await backend.close()


@pytest.mark.asyncio
async def test_no_app_key_configured() -> None:
    backend = GolemBackend(GolemConfig(api_url="http://127.0.0.1:1", app_key=None))
    with pytest.raises(errors.MissingAppKey, match="No yagna app key"):
        await backend.check_connection()


@pytest.mark.asyncio
async def test_wrong_app_key_real_yagna_401(lone_yagna: YagnaDaemon, gftp_on_path: Path) -> None:
    backend = GolemBackend(GolemConfig(api_url=lone_yagna.api_url, app_key="not-the-key"))
    with pytest.raises(errors.WrongAppKey) as info:
        await backend.start("n1", _spec(), lambda _m: None)
    assert "401" in str(info.value)
    assert "yagna app-key create" in info.value.hint
    assert (
        await GolemBackend(
            GolemConfig(api_url=lone_yagna.api_url, app_key=APPKEY)
        ).check_connection()
        == lone_yagna.identity
    )


@pytest.mark.asyncio
async def test_gftp_missing(
    lone_yagna: YagnaDaemon, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty dir: no gftp
    backend = GolemBackend(GolemConfig(api_url=lone_yagna.api_url, app_key=APPKEY))
    with pytest.raises(errors.GftpMissing) as info:
        await backend.start("n1", _spec(), lambda _m: None)
    assert "gftp" in str(info.value)
    assert "PATH" in info.value.hint
    assert not backend.is_running("n1")


@pytest.mark.asyncio
async def test_allocation_refused_real_yagna(lone_yagna: YagnaDaemon, gftp_on_path: Path) -> None:
    """yagna cannot read the balance (payment chain unreachable) and refuses the allocation."""
    backend = GolemBackend(
        GolemConfig(api_url=lone_yagna.api_url, app_key=APPKEY, offer_timeout=_secs(20))
    )
    progress: list[str] = []
    with pytest.raises(errors.NoFunds) as info:
        await backend.start("n1", _spec(), progress.append)
    assert "erc20-hoodi-tglm" in str(info.value)  # hoodi is the default testnet now
    assert "yagna payment status --network hoodi" in info.value.hint
    assert "yagna payment fund --network hoodi" in info.value.hint
    assert progress[0] == "Connecting to yagna…"
    assert not backend.is_running("n1")
    await backend.close()


def test_http_errors_mapped() -> None:
    assert isinstance(errors.from_status("u", 401, ""), errors.WrongAppKey)
    funds = errors.from_status("u", 500, "Error while validating allocation: balance", platform="p")
    assert isinstance(funds, errors.NoFunds)
    assert "p" in str(funds)
    other = errors.from_status("u", 503, "busy")
    assert type(other) is errors.GolemError
    assert "503" in str(other)
    assert other.hint


def _secs(n: float):  # type: ignore[no-untyped-def]
    from datetime import timedelta

    return timedelta(seconds=n)

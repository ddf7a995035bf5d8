"""yagna failures turned into BackendErrors that say what happened and the way out."""

from __future__ import annotations

import shutil
from collections.abc import Mapping

from erigolem_desktop.core.backends.base import BackendError


class GolemError(BackendError):
    """Base class of every Golem backend failure (a BackendError with a hint)."""


class YagnaNotRunning(GolemError):
    def __init__(self, api_url: str, detail: str = "") -> None:
        extra = f" ({detail})" if detail else ""
        super().__init__(
            f"Cannot reach the yagna daemon at {api_url}{extra}.",
            "Start it with `yagna service run` (or check the yagna API URL in Settings / "
            "YAGNA_API_URL), then try again.",
        )


class WrongAppKey(GolemError):
    def __init__(self, api_url: str) -> None:
        super().__init__(
            f"yagna at {api_url} refused the app key (HTTP 401).",
            "Create one with `yagna app-key create erigolem` and put it in Settings or "
            "YAGNA_APPKEY.",
        )


class MissingAppKey(GolemError):
    def __init__(self) -> None:
        super().__init__(
            "No yagna app key is configured.",
            "Create one with `yagna app-key create erigolem` and put it in Settings or "
            "YAGNA_APPKEY.",
        )


class NoFunds(GolemError):
    def __init__(self, platform: str, detail: str) -> None:
        # the platform is driver-network-token, e.g. erc20-hoodi-tglm
        parts = platform.split("-")
        network = parts[1] if len(parts) == 3 else "hoodi"
        fund = (
            "buy GLM and ETH for gas"
            if network in ("mainnet", "polygon")
            else f"`yagna payment fund --network {network}`"
        )
        super().__init__(
            f"yagna refused to reserve the budget on {platform}: {detail}",
            f"Check the balance with `yagna payment status --network {network}` and top it up "
            f"({fund}), or lower the budget; make sure the {network} network's Ethereum RPC is "
            "reachable.",
        )


class GftpMissing(GolemError):
    def __init__(self) -> None:
        super().__init__(
            "The `gftp` program is not on PATH; the Golem engine needs it to start.",
            "Install yagna's full bundle (it ships gftp next to yagna) or add its folder to PATH.",
        )


class NoOffers(GolemError):
    """No agreement within the wait: either no offer came at all, or offers came and were
    refused (above the price caps, excluded, unknown counters) - the message says which."""

    def __init__(
        self,
        runtime: str,
        chain: str,
        waited: float,
        *,
        subnet: str = "",
        offers: int = 0,
        refused: list[str] | None = None,
    ) -> None:
        refused = refused or []
        where = f" on subnet {subnet}" if subnet else ""
        if not offers:
            super().__init__(
                f"No provider offered the `{runtime}` runtime for chain {chain}{where} within "
                f"{waited:.0f} s: no offer arrived at all (no provider runs this runtime for "
                "this chain on this subnet, or none is online).",
                "Try again later, pick another chain, or check the subnet (Settings / "
                "YAGNA_SUBNET).",
            )
        else:
            shown = "; ".join(refused[:3]) + (
                f"; and {len(refused) - 3} more" if len(refused) > 3 else ""
            )
            super().__init__(
                f"{offers} offer(s) for the `{runtime}` runtime for chain {chain}{where} arrived "
                f"within {waited:.0f} s, but none was taken: {shown or 'none fit'}.",
                "Raise the price caps in Settings if the prices are acceptable, or try again "
                "later.",
            )


class ProviderFailed(GolemError):
    def __init__(self, reason: str, attempts: int) -> None:
        super().__init__(
            f"The node could not be started on a provider after {attempts} attempt(s): {reason}",
            "Try again; another provider may be chosen. Check the price caps if few offers match.",
        )


class NodeLost(GolemError):
    def __init__(self, node_id: str, reason: str) -> None:
        super().__init__(
            f"Node {node_id} is no longer running on its provider: {reason}",
            "Start a new node; payment for the time used is settled automatically.",
        )


class UnknownNode(GolemError):
    def __init__(self, node_id: str) -> None:
        super().__init__(
            f"The Golem backend does not hold node {node_id}.",
            "It may have been stopped or the app restarted; start a new node.",
        )


def check_gftp(env: Mapping[str, str] | None = None) -> None:
    """Raise GftpMissing when `gftp` is not on PATH (yapapi spawns `gftp server` at start)."""
    path = None if env is None else env.get("PATH")
    if shutil.which("gftp", path=path) is None:
        raise GftpMissing()


def from_status(api_url: str, status: int, body: str, *, platform: str = "") -> GolemError:
    """Map an HTTP error answer of yagna to the error a user can act on."""
    if status == 401:
        return WrongAppKey(api_url)
    lowered = body.lower()
    if "allocation" in lowered or "balance" in lowered or "insufficient" in lowered:
        return NoFunds(platform or "the payment platform", body.strip()[:300])
    return GolemError(
        f"yagna at {api_url} answered HTTP {status}: {body.strip()[:300]}",
        "See yagna's log for details; restarting yagna often helps.",
    )

"""Where yagna is and how to pay: from settings, else the environment, else yagna's defaults."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

DEFAULT_API_URL = "http://127.0.0.1:7465"
DEFAULT_SUBNET = "public"
DEFAULT_DRIVER = "erc20"
DEFAULT_NETWORK = "hoodi"  # yagna 0.17.6's default testnet; holesky was shut down in 2025
MAINNET_NETWORKS = frozenset({"mainnet", "polygon"})


@dataclass(frozen=True)
class GolemConfig:
    """Connection, market and money settings of the Golem backend.

    Args:
        api_url: yagna's REST root (no trailing slash).
        app_key: yagna app key (a secret: never logged, `repr` hides it).
        activity_url: optional override of the activity API base (YAGNA_ACTIVITY_URL, for users
            whose activity API sits elsewhere).
        budget_glm: the most the whole app may spend (one allocation per engine).
        node_budget_glm: default cap per node when the NodeSpec gives none.
        max_price_duration: GLM per second of `golem.usage.duration_sec` at most.
        max_price_requests: GLM per request of `golem.usage.erigon.requests` at most.
        max_start_price: the most the fixed (initial) price may be.
        default_duration: agreement length when the NodeSpec gives none.
        offer_timeout: how long to wait for an agreement before giving up.
        start_timeout: how long a whole start (agreement, deploy, start) may take.
        start_attempts: providers tried before a start counts as failed.
        status_interval: seconds between `run status` polls of a running node.
    """

    api_url: str = DEFAULT_API_URL
    app_key: str | None = field(default=None, repr=False)
    activity_url: str | None = None
    subnet: str = DEFAULT_SUBNET
    payment_driver: str = DEFAULT_DRIVER
    payment_network: str = DEFAULT_NETWORK
    budget_glm: Decimal = Decimal("5")
    node_budget_glm: Decimal = Decimal("1")
    max_price_duration: Decimal = Decimal("0.001")
    max_price_requests: Decimal = Decimal("0.0001")
    max_start_price: Decimal = Decimal("0.1")
    default_duration: timedelta = timedelta(hours=24)
    offer_timeout: timedelta = timedelta(minutes=5)
    start_timeout: timedelta = timedelta(minutes=15)
    start_attempts: int = 3
    status_interval: float = 15.0

    @property
    def payment_token(self) -> str:
        return "glm" if self.payment_network in MAINNET_NETWORKS else "tglm"

    @property
    def payment_platform(self) -> str:
        return f"{self.payment_driver}-{self.payment_network}-{self.payment_token}"

    @classmethod
    def load(
        cls, settings: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None
    ) -> GolemConfig:
        """Settings (keys named like the fields) win over the environment, which wins over defaults.

        Environment: YAGNA_API_URL, YAGNA_APPKEY, YAGNA_ACTIVITY_URL, YAGNA_SUBNET,
        YAGNA_PAYMENT_DRIVER, YAGNA_PAYMENT_NETWORK, ERIGOLEM_GOLEM_BUDGET.
        """
        s = dict(settings or {})
        e = os.environ if env is None else env
        env_map = {
            "api_url": e.get("YAGNA_API_URL"),
            "app_key": e.get("YAGNA_APPKEY"),
            "activity_url": e.get("YAGNA_ACTIVITY_URL"),
            "subnet": e.get("YAGNA_SUBNET"),
            "payment_driver": e.get("YAGNA_PAYMENT_DRIVER"),
            "payment_network": e.get("YAGNA_PAYMENT_NETWORK"),
            "budget_glm": e.get("ERIGOLEM_GOLEM_BUDGET"),
        }
        values: dict[str, Any] = {k: v for k, v in env_map.items() if v}
        values.update(
            {k: v for k, v in s.items() if v is not None and k in cls.__dataclass_fields__}
        )
        for key in (
            "budget_glm",
            "node_budget_glm",
            "max_price_duration",
            "max_price_requests",
            "max_start_price",
        ):
            if key in values:
                values[key] = _decimal(key, values[key])
        for key in ("default_duration", "offer_timeout", "start_timeout"):
            if key in values and not isinstance(values[key], timedelta):
                values[key] = timedelta(seconds=float(values[key]))
        for key in ("payment_driver", "payment_network"):
            if key in values:
                values[key] = str(values[key]).lower()
        if "api_url" in values:
            values["api_url"] = str(values["api_url"]).rstrip("/")
        return cls(**values)


def _decimal(key: str, value: Any) -> Decimal:
    try:
        result = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"Setting {key}={value!r} is not a number of GLM.") from None
    if not result.is_finite() or result < 0:
        raise ValueError(f"Setting {key}={value!r} must be a non-negative number of GLM.")
    return result

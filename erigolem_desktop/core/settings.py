"""The app's small settings store: a JSON file under data_dir(), the Golem app key in the keyring.

Non-secret settings (yagna API URL, subnet, payment network, budget, auto-lock, whether to keep
nodes running when the window closes) live in `settings.json` (0600). The yagna app key is a
secret: it is kept in the OS keyring, never in the file.
"""

from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import asdict, dataclass, fields
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from erigolem_runtime.api.files import atomic_write

from erigolem_desktop.core.errors import HintedError
from erigolem_desktop.core.paths import data_dir

log = logging.getLogger(__name__)

KEYRING_SERVICE = "erigolem-desktop"
APP_KEY_USER = "golem-app-key"
FILE_NAME = "settings.json"
PAYMENT_NETWORKS = ("hoodi", "sepolia", "polygon", "mainnet")  # testnet first: yagna's default
THEMES = ("system", "light", "dark")
GATEWAY_VERIFY = ("mark", "refuse", "off")


class SettingsError(HintedError):
    """A setting that cannot be used: the message names it, `hint` says what to enter."""


@dataclass
class Settings:
    """Every setting with its default. `keep_running` is None until the user has answered."""

    yagna_api_url: str = "http://127.0.0.1:7465"
    subnet: str = "public"
    payment_network: str = "hoodi"
    budget_glm: str = "5"
    auto_lock_minutes: int = 15
    keep_running: bool | None = None
    # the Start dialog's last choices (it opens on them); "" = never started from the window
    last_backend: str = ""
    last_chain: str = ""
    last_client: str = ""
    theme: str = "system"  # light, dark or system (View menu)
    # the local gateway (Gateway tab): start it with the app, its port, its verification policy
    gateway_autostart: bool = False
    gateway_port: int = 8545
    gateway_verify: str = "mark"  # off, mark or refuse (see core.gateway.config.VerifyMode)
    # update notices (core.updates): look for a signed newer-version notice at most once a day
    update_check_daily: bool = True

    def validate(self) -> None:
        """Raise SettingsError naming the first bad value."""
        if not self.yagna_api_url.startswith(("http://", "https://")):
            raise SettingsError(
                f"The yagna API URL {self.yagna_api_url!r} is not an http(s) URL.",
                "Enter something like http://127.0.0.1:7465.",
            )
        if not self.subnet or not all(c.isalnum() or c in "-_." for c in self.subnet):
            raise SettingsError(
                f"The subnet {self.subnet!r} is not valid.",
                "Use letters, digits, '-', '_' or '.', e.g. public.",
            )
        if self.payment_network == "holesky":
            raise SettingsError(
                "The payment network holesky was shut down in 2025; yagna pays on hoodi now.",
                "Choose hoodi (the testnet) in Settings, then fund it with "
                "`yagna payment fund --network hoodi`.",
            )
        if self.payment_network not in PAYMENT_NETWORKS:
            raise SettingsError(
                f"Unknown payment network {self.payment_network!r}.",
                f"Choose one of {', '.join(PAYMENT_NETWORKS)}.",
            )
        try:
            budget = Decimal(self.budget_glm)
        except InvalidOperation as exc:
            raise SettingsError(
                f"The budget {self.budget_glm!r} is not a number.", "Enter an amount in GLM."
            ) from exc
        if not budget.is_finite() or budget <= 0:
            raise SettingsError("The budget must be more than 0 GLM.", "Enter an amount in GLM.")
        if self.theme not in THEMES:
            raise SettingsError(
                f"Unknown theme {self.theme!r}.", f"Choose one of {', '.join(THEMES)}."
            )
        if not 1 <= self.gateway_port <= 65535:
            raise SettingsError(
                f"The gateway port {self.gateway_port} is not a TCP port.",
                "Pick a port from 1024 to 65535 (8545 is what wallets expect).",
            )
        if self.gateway_verify not in GATEWAY_VERIFY:
            raise SettingsError(
                f"Unknown gateway verification {self.gateway_verify!r}.",
                f"Choose one of {', '.join(GATEWAY_VERIFY)}.",
            )
        if not 0 <= self.auto_lock_minutes <= 24 * 60:
            raise SettingsError(
                "Auto-lock must be between 0 (never) and 1440 minutes.", "Pick a number of minutes."
            )


class SettingsStore:
    """Loads and saves Settings; reads and writes the app key through the keyring."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or data_dir() / FILE_NAME

    def load(self) -> Settings:
        """The saved settings; defaults for anything missing, unknown or unreadable."""
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return Settings()
        except (OSError, ValueError) as exc:
            log.warning("settings file %s unreadable (%s); using defaults", self.path, exc)
            return Settings()
        if not isinstance(raw, dict):
            return Settings()
        known = {f.name for f in fields(Settings)}
        values: dict[str, Any] = {k: v for k, v in raw.items() if k in known}
        settings = Settings()
        for key, value in values.items():
            default = getattr(settings, key)
            if default is None or value is None or isinstance(value, type(default)):
                setattr(settings, key, value)
        try:
            settings.validate()
        except SettingsError as exc:
            log.warning("settings file %s: %s; using defaults", self.path, exc)
            return Settings(keep_running=settings.keep_running)
        return settings

    def save(self, settings: Settings) -> None:
        """Validate and write atomically, 0600."""
        settings.validate()
        atomic_write(self.path, json.dumps(asdict(settings), indent=2), mode=0o600)

    @staticmethod
    def app_key() -> str | None:
        """The yagna app key from the keyring, or None when not set."""
        import keyring

        return keyring.get_password(KEYRING_SERVICE, APP_KEY_USER)

    @staticmethod
    def set_app_key(value: str | None) -> None:
        """Store (or with None/empty, forget) the yagna app key in the keyring."""
        import keyring
        from keyring.errors import PasswordDeleteError

        if value:
            keyring.set_password(KEYRING_SERVICE, APP_KEY_USER, value)
            return
        with contextlib.suppress(PasswordDeleteError):
            keyring.delete_password(KEYRING_SERVICE, APP_KEY_USER)

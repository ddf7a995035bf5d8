"""The one factory of the NodeManager, for the window, the CLI and the REST server.

Local is always there. Golem joins when asked (`golem=True`), or, with `golem=None`, when yagna
settings are present: an app key in the settings' keyring entry or in `YAGNA_APPKEY`. The window
builds its backends off the loop and passes them in (`open_manager(backends=...)`); the Golem
settings are read by `golem_settings` alone.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from erigolem_desktop.core.backends.base import Backend
    from erigolem_desktop.core.manager import NodeManager
    from erigolem_desktop.core.settings import Settings, SettingsStore

log = logging.getLogger(__name__)


def golem_settings(
    store: SettingsStore | None = None, settings: Settings | None = None
) -> dict[str, Any]:
    """The Golem backend's settings (GolemConfig field names) from the app's settings store.

    `settings`: the values in use (the window's, defaults included). Without them, only what the
    user saved counts: with no settings file, the environment (YAGNA_*) keeps its say.
    """
    from erigolem_desktop.core.settings import SettingsStore

    store = SettingsStore() if store is None else store
    try:
        app_key = store.app_key()
    except Exception:  # a keyring that cannot be read: the environment may still have a key
        log.warning("could not read the yagna app key from the keyring", exc_info=True)
        app_key = None
    values: dict[str, Any] = {"app_key": app_key}
    if settings is None and store.path.exists():
        settings = store.load()
    if settings is not None:
        values.update(
            api_url=settings.yagna_api_url,
            subnet=settings.subnet,
            payment_network=settings.payment_network,
            budget_glm=settings.budget_glm,
        )
    return values


def golem_configured(settings: dict[str, Any] | None = None) -> bool:
    """True when a yagna app key is known (settings or `YAGNA_APPKEY`): Golem can be used."""
    values = golem_settings() if settings is None else settings
    return bool(values.get("app_key") or os.environ.get("YAGNA_APPKEY"))


def golem_backend(settings: dict[str, Any] | None = None) -> Backend:
    """A GolemBackend configured from the settings (then the environment, then defaults)."""
    # yapapi imports pkg_resources, which warns on every run; not the user's concern.
    warnings.filterwarnings("ignore", "pkg_resources is deprecated", UserWarning)
    from erigolem_desktop.core.backends.golem.backend import GolemBackend
    from erigolem_desktop.core.backends.golem.config import GolemConfig

    values = golem_settings() if settings is None else settings
    return GolemBackend(GolemConfig.load(values))


def try_golem_backend(settings: dict[str, Any]) -> Backend | None:
    """`golem_backend`, or None (logged) when this build lacks it or it cannot be set up."""
    try:
        return golem_backend(settings)
    except ImportError:
        log.info("the Golem backend is not available in this build")
    except Exception:
        log.warning("the Golem backend could not be set up", exc_info=True)
    return None


def build_backends(*, golem: bool | None = False) -> dict[str, Backend]:
    """Backends by kind: "local", plus "golem" when `golem` is True (or None and configured)."""
    from erigolem_desktop.core.backends.local import LocalBackend

    backends: dict[str, Backend] = {"local": LocalBackend()}
    if golem is None:
        settings = golem_settings()
        if golem_configured(settings):
            try:
                backends["golem"] = golem_backend(settings)
            except ImportError:
                log.info("the Golem backend is not available in this build")
    elif golem:
        backends["golem"] = golem_backend()
    return backends


def open_manager(
    *,
    backends: Mapping[str, Backend] | None = None,
    golem: bool | None = False,
    poll_interval: float = 5.0,
    owner_kind: str | None = None,
) -> NodeManager:
    """The manager of this data directory (NodeStore, keyring SecretStore).

    `backends`: exactly these (``{}`` for a reader that only needs records and passwords, e.g.
    `erigolem rpc`); None builds them with `build_backends(golem=golem)`.
    """
    from erigolem_desktop.core.manager import NodeManager
    from erigolem_desktop.core.records import NodeStore
    from erigolem_desktop.core.secrets import SecretStore

    secrets = SecretStore()  # chooses the keyring before the settings read the app key
    return NodeManager(
        NodeStore(),
        build_backends(golem=golem) if backends is None else backends,
        secrets,
        poll_interval=poll_interval,
        owner_kind=owner_kind,
    )

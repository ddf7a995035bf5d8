"""What the window works with: the wallet, the node manager and the settings, built lazily.

The manager (and through it the backends, yapapi included) is built after the first window is
painted, so a cold start does not pay for modules the unlock screen does not need.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from erigolem_desktop.core.paths import data_dir
from erigolem_desktop.core.settings import Settings, SettingsStore

if TYPE_CHECKING:
    from erigolem_desktop.core.manager import NodeManager
    from erigolem_desktop.core.wallet import Wallet

log = logging.getLogger(__name__)


def _import_core() -> None:
    """Import the node manager and the Local backend (aiohttp, the runtime client)."""
    import erigolem_desktop.core.backends.local
    import erigolem_desktop.core.manager
    import erigolem_desktop.core.records
    import erigolem_desktop.core.secrets  # noqa: F401


def _import_golem() -> bool:
    """Import the Golem backend's modules (yapapi); False when they are not installed."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # yapapi's pkg_resources deprecation notice
            import erigolem_desktop.core.backends.golem.backend  # noqa: F401
    except ImportError:
        log.info("Golem backend not available in this build", exc_info=True)
        return False
    return True


@dataclass
class AppContext:
    """The core objects the views share. Tests build one around their own manager/backends."""

    wallet: Wallet
    settings_store: SettingsStore = field(default_factory=SettingsStore)
    settings: Settings = field(default_factory=Settings)
    manager: NodeManager | None = None
    backends: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def open(cls) -> AppContext:
        """Open the wallet and settings of data_dir() (cheap: no keystore is decrypted)."""
        from erigolem_desktop.core.keyring_setup import ensure_keyring
        from erigolem_desktop.core.wallet import Wallet

        ensure_keyring()
        store = SettingsStore()
        return cls(wallet=Wallet.open(data_dir()), settings_store=store, settings=store.load())

    async def ensure_manager(self) -> NodeManager:
        """Build the NodeManager with the Local backend (and Golem when it can be built)."""
        if self.manager is not None:
            return self.manager
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, _import_core)  # first use: off the loop
        from erigolem_desktop.core.app_context import open_manager
        from erigolem_desktop.core.backends.local import LocalBackend
        from erigolem_desktop.core.manager import OWNER_APP

        backends: dict[str, Any] = dict(self.backends)
        backends.setdefault("local", LocalBackend(data_dir()))
        if "golem" not in backends:
            # yapapi takes about a second to import: do it off the loop, build on the loop
            available = await loop.run_in_executor(None, _import_golem)
            golem = self._golem_backend() if available else None
            if golem is not None:
                backends["golem"] = golem
        self.backends = backends
        # OWNER_APP: `erigolem node stop` in a terminal must not signal the window
        manager = open_manager(backends=backends, owner_kind=OWNER_APP)
        await manager.recover()
        self.manager = manager
        return manager

    def _golem_backend(self) -> Any:
        """A Golem backend from the settings in use, or None when it cannot be built."""
        from erigolem_desktop.core.app_context import golem_settings, try_golem_backend

        return try_golem_backend(golem_settings(self.settings_store, self.settings))

    def apply_golem_settings(self) -> bool:
        """Rebuild the Golem backend from the saved settings when it runs no node yet.

        Returns False when nodes run on the old one (the new settings then apply after a restart).
        """
        manager = self.manager
        if manager is None:
            return True
        old = manager.backends.get("golem")
        if old is not None and any(old.is_running(r.id) for r in manager.list(active_only=True)):
            return False
        new = self._golem_backend()
        if new is not None:
            manager.backends["golem"] = new
            self.backends["golem"] = new
        return True

    async def close(self) -> None:
        """Stop what the manager runs (app exit)."""
        if self.manager is not None:
            await self.manager.close()

"""Where setup writes things: every path of a provider setup, redirectable under a test root.

With ``root`` set, each absolute default path is re-rooted under it (``/etc/nginx`` becomes
``<root>/etc/nginx``), so tests and dry runs never touch the real system.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from erigolem_runtime.api.paths import (
    CONFIG_ENV,
    IncludeLayout,
    data_home,
    default_config_path,
)
from erigolem_runtime.api.paths import (
    runtime_data_dir as default_runtime_data_dir,
)

#: File names setup owns (one of each).
SERVER_BLOCK_NAME = "erigolem-provider.conf"
DESCRIPTOR_NAME = "ya-runtime-erigon.json"
MANIFEST_NAME = "setup-manifest.json"


def reroot(path: Path, root: Path | None) -> Path:
    """``path`` placed under ``root`` (unchanged when root is None)."""
    if root is None:
        return path
    return root / str(path.resolve() if not path.is_absolute() else path).lstrip("/")


def default_plugins_dir(home: Path) -> Path:
    """yagna's plugin lookup order (runtime-protocol.md §2): next to ya-provider, golemsp, system."""
    ya_provider = shutil.which("ya-provider")
    if ya_provider:
        beside = Path(ya_provider).resolve().parent / "plugins"
        if beside.is_dir():
            return beside
    golemsp = home / ".local/lib/yagna/plugins"
    if golemsp.is_dir():
        return golemsp
    if Path("/usr/lib/yagna/plugins").is_dir():
        return Path("/usr/lib/yagna/plugins")
    return golemsp


def default_runtime_path() -> str:
    """The installed ``erigolem-runtime`` executable (next to this interpreter, else on PATH)."""
    beside = Path(sys.executable).parent / "erigolem-runtime"
    if beside.exists():
        return str(beside)
    found = shutil.which("erigolem-runtime")
    return found or str(beside)


@dataclass(frozen=True)
class Layout:
    """All paths setup reads or writes. Build with :meth:`for_root`."""

    root: Path | None
    home: Path
    plugins_dir: Path
    ya_provider_data_dir: Path
    nginx_conf_dir: Path
    runtime_config_path: Path
    runtime_data_dir: Path
    state_dir: Path

    @classmethod
    def for_root(
        cls,
        root: Path | None = None,
        *,
        plugins_dir: Path | None = None,
        ya_provider_data_dir: Path | None = None,
        nginx_conf_dir: Path | None = None,
    ) -> Layout:
        """Default locations (optionally overridden), re-rooted under ``root`` when given.

        The runtime's config path and data dir come from the runtime's own definition
        (``api.paths``: ``ERIGOLEM_RUNTIME_CONFIG``, else under ``$XDG_DATA_HOME``), so setup
        writes the config where the runtime reads it. Under a test root the environment's
        ``ERIGOLEM_RUNTIME_CONFIG`` is ignored (it names a file outside the root).
        """
        home = Path.home()
        env: dict[str, str] = dict(os.environ)
        if root is not None:
            env.pop(CONFIG_ENV, None)
        share = data_home(home, env)
        env_data = env.get("DATA_DIR")
        # ya-provider's own default: DATA_DIR, else its data dir under the XDG data home
        ya_data = ya_provider_data_dir or (Path(env_data) if env_data else share / "ya-provider")
        return cls(
            root=root,
            home=reroot(home, root),
            plugins_dir=_place(plugins_dir, root)
            if plugins_dir is not None
            else (
                reroot(home / ".local/lib/yagna/plugins", root)
                if root is not None
                else default_plugins_dir(home)
            ),
            ya_provider_data_dir=_place(ya_data, root),
            nginx_conf_dir=_place(nginx_conf_dir or Path("/etc/nginx"), root),
            runtime_config_path=reroot(default_config_path(home, env), root),
            runtime_data_dir=reroot(default_runtime_data_dir(home, env), root),
            state_dir=reroot(share / "erigolem-provider", root),
        )

    @property
    def nginx_main_conf(self) -> Path:
        return self.nginx_conf_dir / "nginx.conf"

    @property
    def server_block_path(self) -> Path:
        return self.nginx_conf_dir / "conf.d" / SERVER_BLOCK_NAME

    @property
    def nginx_erigolem_dir(self) -> Path:
        return self.nginx_conf_dir / "erigolem"

    @property
    def include(self) -> IncludeLayout:
        """The runtime's files below the include dir (``http/``, ``server/``; runtime-defined)."""
        return IncludeLayout(self.nginx_erigolem_dir)

    @property
    def htpasswd_dir(self) -> Path:
        return self.nginx_erigolem_dir / "htpasswd"

    @property
    def descriptor_path(self) -> Path:
        return self.plugins_dir / DESCRIPTOR_NAME

    @property
    def presets_path(self) -> Path:
        return self.ya_provider_data_dir / "presets.json"

    @property
    def manifest_path(self) -> Path:
        return self.state_dir / MANIFEST_NAME

    @property
    def backup_dir(self) -> Path:
        return self.state_dir / "backups"


def _under(path: Path, root: Path | None) -> bool:
    return root is not None and (path == root or root in path.parents)


def _place(path: Path, root: Path | None) -> Path:
    """An explicitly given path already under root stays; anything else is re-rooted."""
    return path if _under(path, root) else reroot(path, root)

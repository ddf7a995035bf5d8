"""Where the runtime's files live: its config file and the nginx include-dir layout.

One definition for the runtime (config.py, nginx), the desktop's Local backend and the
provider tools (setup writes the nginx server block that includes what the runtime writes).

Config: `ERIGOLEM_RUNTIME_CONFIG` if set, else
`$XDG_DATA_HOME/erigolem-runtime/erigolem-runtime.json` (`~/.local/share/...` by default, the
ya-runtime-sdk convention).

nginx, below the include dir (`nginx.include_dir`; in private mode `<prefix>/conf/erigolem`):
  http/_erigolem.conf    maps + log format        (included in nginx's `http` context)
  http/<id>.conf         upstream erigolem-<id>   (keep-alive connections to the client)
  server/_erigolem.conf  the plain-text 401 page  (included in the `server` context)
  server/<id>.conf       location /<id>/ -> the instance's RPC port, auth_basic, access log
Extending: add a property to `IncludeLayout` rather than joining these names elsewhere.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

CONFIG_ENV = "ERIGOLEM_RUNTIME_CONFIG"
CONFIG_FILE_NAME = "erigolem-runtime.json"
DATA_DIR_NAME = "erigolem-runtime"
COMMON = "_erigolem.conf"  # '_' cannot start an instance id, so this never collides

# private mode: below nginx.prefix
PRIVATE_INCLUDE_DIR = Path("conf") / "erigolem"
PRIVATE_HTPASSWD_DIR = Path("htpasswd")
PRIVATE_LOG_DIR = Path("logs")
PRIVATE_REGISTRY_DIR = Path("registry")
# system mode: below the runtime's state_dir
SYSTEM_LOG_DIR = "access-logs"
SYSTEM_REGISTRY_DIR = "nginx-registry"


def data_home(home: Path | None = None, env: Mapping[str, str] | None = None) -> Path:
    """`$XDG_DATA_HOME`, else `<home>/.local/share`."""
    env = os.environ if env is None else env
    xdg = env.get("XDG_DATA_HOME")
    if xdg:
        return Path(xdg)
    return (home if home is not None else Path.home()) / ".local" / "share"


def runtime_data_dir(home: Path | None = None, env: Mapping[str, str] | None = None) -> Path:
    """The runtime's data directory under the data home (holds the default config)."""
    return data_home(home, env) / DATA_DIR_NAME


def default_config_path(home: Path | None = None, env: Mapping[str, str] | None = None) -> Path:
    """`ERIGOLEM_RUNTIME_CONFIG` if set, else the ya-runtime-sdk location under the data home.

    `home`/`env` default to this process's; the provider tools pass a re-rooted home.
    """
    env = os.environ if env is None else env
    configured = env.get(CONFIG_ENV)
    if configured:
        return Path(configured).expanduser()
    return runtime_data_dir(home, env) / CONFIG_FILE_NAME


@dataclass(frozen=True)
class IncludeLayout:
    """The files the runtime writes below an nginx include dir (see the module docstring)."""

    include_dir: Path

    @property
    def http_dir(self) -> Path:
        """Included in nginx's `http` context: `include <http_dir>/*.conf;`."""
        return self.include_dir / "http"

    @property
    def server_dir(self) -> Path:
        """Included in the `server` context: `include <server_dir>/*.conf;`."""
        return self.include_dir / "server"

    @property
    def http_common(self) -> Path:
        return self.http_dir / COMMON

    @property
    def server_common(self) -> Path:
        return self.server_dir / COMMON

    def upstream_file(self, iid: str) -> Path:
        return self.http_dir / f"{iid}.conf"

    def location_file(self, iid: str) -> Path:
        return self.server_dir / f"{iid}.conf"

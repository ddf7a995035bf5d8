"""Every path the nginx front touches, derived once from the runtime config."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from erigolem_runtime.api.paths import PRIVATE_REGISTRY_DIR, SYSTEM_REGISTRY_DIR, IncludeLayout
from erigolem_runtime.config import RuntimeConfig


@dataclass(frozen=True)
class NginxLayout(IncludeLayout):
    """The include dir (api.paths) plus password files, access logs and the registry."""

    htpasswd_dir: Path
    log_dir: Path
    registry_dir: Path
    prefix: Path | None  # the private master's prefix; None in system mode

    @property
    def lock_path(self) -> Path:
        return self.registry_dir / ".lock"

    def htpasswd_file(self, iid: str) -> Path:
        return self.htpasswd_dir / f"{iid}.htpasswd"

    def log_file(self, iid: str) -> Path:
        return self.log_dir / f"{iid}.access.log"

    def record_file(self, iid: str) -> Path:
        return self.registry_dir / f"{iid}.json"


def layout_for(config: RuntimeConfig) -> NginxLayout:
    n = config.nginx
    if n.mode == "private":
        assert n.prefix is not None
        registry, prefix = n.prefix / PRIVATE_REGISTRY_DIR, n.prefix
    else:
        registry, prefix = config.state_dir / SYSTEM_REGISTRY_DIR, None
    return NginxLayout(
        include_dir=n.resolved_include_dir(),
        htpasswd_dir=n.resolved_htpasswd_dir(),
        log_dir=n.resolved_log_dir(config.state_dir),
        registry_dir=registry,
        prefix=prefix,
    )

"""Where the requestor keeps its data: ERIGOLEM_HOME when set, else the platform's data dir."""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "erigolem"


def data_dir() -> Path:
    """The app's data directory, created with owner-only permissions on first use."""
    env = os.environ.get("ERIGOLEM_HOME")
    if env:
        path = Path(env).expanduser()
    else:
        from platformdirs import user_data_dir

        path = Path(user_data_dir(APP_NAME, appauthor=False))
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def resources_dir() -> Path:
    """The `resources/` folder: in the repository, or bundled into the wheel as `_resources`."""
    here = Path(__file__).resolve().parent.parent
    bundled = here / "_resources"
    return bundled if bundled.is_dir() else here.parent / "resources"

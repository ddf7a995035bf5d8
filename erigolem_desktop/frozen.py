"""How the app re-runs itself, frozen (PyInstaller bundle) or not.

A frozen bundle has no Python interpreter to run `-m erigolem_runtime` or `-m erigolem_desktop`
with: `sys.executable` is the bundle's `erigolem` binary. So the binary also answers a hidden
first argument, `__runtime__`, by running the runtime's CLI (`erigolem-runtime`), and re-runs
itself for the CLI without `-m`.
"""

from __future__ import annotations

import sys

#: Hidden first argument: `erigolem __runtime__ ARGS` == `erigolem-runtime ARGS`.
RUNTIME_ARG = "__runtime__"


def is_frozen() -> bool:
    """True inside a PyInstaller (or similar) bundle, where sys.executable is the app itself."""
    return bool(getattr(sys, "frozen", False))


def app_command() -> list[str]:
    """argv prefix that runs `erigolem` (add the subcommand): the bundle binary, or `python -m`."""
    if is_frozen():
        return [sys.executable]
    return [sys.executable, "-m", "erigolem_desktop"]


def runtime_command() -> list[str]:
    """argv prefix that runs `erigolem-runtime` with this installation's code."""
    if is_frozen():
        return [sys.executable, RUNTIME_ARG]
    return [sys.executable, "-m", "erigolem_runtime"]

"""Before the window starts: say in plain words why Qt cannot (no display, a missing system
library) instead of Qt's abort ("could not load the Qt platform plugin") or an ImportError.

No Qt is imported here: the check loads the chosen platform plugin's shared object with the
system loader (ctypes), which names the first missing library; the package that provides it
comes from scripts/debian-packages.txt when the app runs from a checkout.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import re
import socket
import sys
from collections.abc import Mapping
from pathlib import Path

PACKAGE_LIST = Path(__file__).resolve().parents[1] / "scripts" / "debian-packages.txt"
FIX_HINT = (
    "On Debian/Ubuntu, scripts/bootstrap installs the system libraries Qt needs "
    "(listed in scripts/debian-packages.txt)."
)


def qt_platform(env: Mapping[str, str]) -> str | None:
    """The platform plugin Qt will use on Linux: QT_QPA_PLATFORM's first choice, else wayland
    or xcb by the display variables; None when there is no display at all."""
    chosen = env.get("QT_QPA_PLATFORM", "").split(";")[0].split(":")[0].strip()
    if chosen:
        return chosen
    if env.get("WAYLAND_DISPLAY"):
        return "wayland"
    if env.get("DISPLAY"):
        return "xcb"
    return None


def library_packages(path: Path = PACKAGE_LIST) -> dict[str, str]:
    """soname -> Debian package, from the `lib:` probes of the system package list."""
    found: dict[str, str] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return found  # an installed or frozen app has no checkout next to it
    for line in lines:
        fields = line.split()
        if len(fields) >= 2 and not fields[0].startswith("#") and fields[1].startswith("lib:"):
            found[fields[1].removeprefix("lib:")] = fields[0]
    return found


def describe_load_error(error: OSError, platform: str, packages: Mapping[str, str]) -> str:
    """One message for a failed dlopen: which library, which package, what to do."""
    text = str(error)
    head, _, reason = text.partition(": ")
    soname = Path(head).name if head else text
    package = packages.get(soname)
    where = f" (Debian/Ubuntu package {package})" if package else ""
    return (
        f"Qt cannot start its '{platform}' platform: the system library {soname}{where} "
        f"could not be loaded ({reason.strip() or text}). {FIX_HINT}"
    )


def x_server_missing(display: str) -> bool:
    """True when DISPLAY names a local X server (`:N`) and nothing listens on its socket
    (file or abstract); remote or unusual forms are left to Qt."""
    match = re.fullmatch(r"(?:unix)?:(\d+)(?:\.\d+)?", display)
    if match is None:
        return False
    path = f"/tmp/.X11-unix/X{match.group(1)}"  # noqa: S108 - the X11 socket, fixed by X
    for address in (path, "\0" + path):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(1.0)
            try:
                sock.connect(address)
            except OSError:
                continue
            return False
    return True


def _plugin_file(platform: str) -> Path | None:
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    plugins = Path(next(iter(spec.submodule_search_locations))) / "Qt" / "plugins" / "platforms"
    candidate = plugins / f"libq{platform}.so"
    return candidate if candidate.exists() else None


def qt_problem(env: Mapping[str, str] | None = None) -> str | None:
    """Why the window cannot start here, as a sentence with the fix; None when it can."""
    if not sys.platform.startswith("linux"):
        return None
    env = os.environ if env is None else env
    platform = qt_platform(env)
    if platform is None or (platform == "xcb" and not env.get("DISPLAY")):
        return (
            "No display: DISPLAY (X11) and WAYLAND_DISPLAY are not set, so there is nowhere to "
            "open the window. Run it from a desktop session, use the CLI (`erigolem --help`), "
            "or check the window headless with `QT_QPA_PLATFORM=offscreen erigolem --smoke`."
        )
    if platform == "xcb" and x_server_missing(env.get("DISPLAY", "")):
        return (
            f"No X server answers on DISPLAY={env.get('DISPLAY')}: start one (or fix DISPLAY), "
            "or check the window headless with `QT_QPA_PLATFORM=offscreen erigolem --smoke`."
        )
    if importlib.util.find_spec("PySide6") is None:
        return "PySide6 is not installed in this environment: run scripts/bootstrap."
    plugin = _plugin_file(platform)
    if plugin is None:
        return None  # an unusual platform name or a frozen layout: let Qt speak for itself
    try:
        ctypes.CDLL(str(plugin))
    except OSError as exc:
        return describe_load_error(exc, platform, library_packages())
    return None

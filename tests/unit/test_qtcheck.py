"""The Qt pre-check: no display and a library the loader cannot load give one clear sentence
(and exit 1), never Qt's abort or a traceback. Runs the real `erigolem` in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from erigolem_desktop.qtcheck import (
    PACKAGE_LIST,
    describe_load_error,
    library_packages,
    qt_platform,
    qt_problem,
    x_server_missing,
)

ERIGOLEM = Path(sys.executable).with_name("erigolem")


def _run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ERIGOLEM), "--smoke"], env=env, capture_output=True, text=True, timeout=120
    )


def _env_without_display(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DISPLAY", "WAYLAND_DISPLAY"}}
    env.pop("QT_QPA_PLATFORM", None)
    env.update(extra)
    return env


def test_platform_choice() -> None:
    assert qt_platform({"QT_QPA_PLATFORM": "offscreen"}) == "offscreen"
    assert qt_platform({"QT_QPA_PLATFORM": "xcb;offscreen", "DISPLAY": ":0"}) == "xcb"
    assert qt_platform({"WAYLAND_DISPLAY": "wayland-0", "DISPLAY": ":0"}) == "wayland"
    assert qt_platform({"DISPLAY": ":0"}) == "xcb"
    assert qt_platform({}) is None


def test_no_display_is_a_sentence() -> None:
    problem = qt_problem({})
    assert problem is not None
    assert "No display" in problem
    assert "QT_QPA_PLATFORM=offscreen" in problem


def test_offscreen_loads_here() -> None:
    assert qt_problem({"QT_QPA_PLATFORM": "offscreen"}) is None


def test_display_without_x_server() -> None:
    unused = next(n for n in range(90, 200) if not Path(f"/tmp/.X11-unix/X{n}").exists())
    assert x_server_missing(f":{unused}")
    assert not x_server_missing("remote.example:0")  # left to Qt
    problem = qt_problem({"DISPLAY": f":{unused}"})
    assert problem is not None
    assert f"DISPLAY=:{unused}" in problem


def test_package_list_names_the_qt_libraries() -> None:
    packages = library_packages()
    assert PACKAGE_LIST.exists()
    assert packages["libxkbcommon.so.0"] == "libxkbcommon0"
    assert packages["libxcb-icccm.so.4"] == "libxcb-icccm4"
    assert library_packages(PACKAGE_LIST.with_name("no-such-list.txt")) == {}


def test_load_error_names_library_and_package() -> None:
    error = OSError("libEGL.so.1: cannot open shared object file: No such file or directory")
    message = describe_load_error(error, "offscreen", {"libEGL.so.1": "libegl1"})
    assert "libEGL.so.1" in message
    assert "package libegl1" in message
    assert "cannot open shared object file" in message
    assert "scripts/bootstrap" in message
    unknown = describe_load_error(OSError("libfoo.so.9: nope"), "xcb", {})
    assert "libfoo.so.9" in unknown
    assert "package" not in unknown.split("(")[0]


def test_cli_without_display_exits_1_with_the_sentence() -> None:
    done = _run(_env_without_display())
    assert done.returncode == 1
    assert "erigolem: No display" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the loader check is Linux's")
def test_cli_with_a_broken_qt_library_exits_1_naming_it(tmp_path: Path) -> None:
    # A library the loader finds first but cannot load stands for a missing package.
    (tmp_path / "libxkbcommon.so.0").write_bytes(b"")
    done = _run(_env_without_display(QT_QPA_PLATFORM="offscreen", LD_LIBRARY_PATH=str(tmp_path)))
    assert done.returncode == 1
    assert "libxkbcommon.so.0 (Debian/Ubuntu package libxkbcommon0)" in done.stderr
    assert "Traceback" not in done.stderr

"""The .deb's recipe (packaging/linux/deb): a well-formed control file whose Depends cover what
the bundle loads from the system, a launcher that runs the bundle, maintainer scripts that leave
the user's data alone; and, when a package was built, its file list."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.binaries import REPO

DEB_DIR = REPO / "packaging" / "linux" / "deb"
BUNDLE = REPO / "dist" / "erigolem" / "_internal"
TEST_TOOLS = ("pytest", "hypothesis", "ruff", "mypy", "pytest_qt", "golem-node", "web3")


def control() -> dict[str, str]:
    """The fields of control.in (continuation lines joined)."""
    fields: dict[str, str] = {}
    key = ""
    for line in (DEB_DIR / "control.in").read_text(encoding="utf-8").splitlines():
        if line.startswith(" "):
            fields[key] += "\n" + line
            continue
        key, _, value = line.partition(":")
        assert key, f"bad control line {line!r}"
        assert value.startswith(" "), f"bad control line {line!r}"
        fields[key] = value.strip()
    return fields


def depends() -> set[str]:
    """Every package named in Depends (each alternative counts)."""
    names = set()
    for group in control()["Depends"].split(","):
        for alt in group.split("|"):
            names.add(alt.split("(")[0].strip())
    return names


def test_control_has_the_required_fields_and_no_test_tools() -> None:
    f = control()
    for name in (
        "Package",
        "Version",
        "Architecture",
        "Maintainer",
        "Installed-Size",
        "Description",
    ):
        assert name in f, name
    assert f["Package"] == "erigolem"
    assert f["Version"] == "@VERSION@"  # filled in from the bundle's metadata by build-deb.sh
    assert re.fullmatch(r"[a-z0-9][a-z0-9+.-]+", f["Package"])
    assert "nginx-light | nginx" in f["Depends"]
    assert {"libegl1", "libgl1", "libxcb1"} <= depends()
    text = (DEB_DIR / "control.in").read_text(encoding="utf-8")
    for tool in TEST_TOOLS:
        assert tool not in text, tool


@pytest.mark.skipif(
    not BUNDLE.is_dir() or shutil.which("dpkg") is None,
    reason="needs a built bundle (scripts/package) on a Debian host",
)
def test_depends_cover_what_the_bundle_loads_from_the_system() -> None:
    """ldd on every library of the bundle: each one found outside it comes from a Depends package
    (or its own dependencies, e.g. libglvnd0 of libgl1); libraries only optional plugins need
    (wayland cursor/egl, gtk3) are Recommends/Suggests."""
    env = {**os.environ, "LD_LIBRARY_PATH": f"{BUNDLE}:{BUNDLE / 'PySide6/Qt/lib'}"}
    system: set[str] = set()
    for lib in BUNDLE.rglob("*.so*"):
        if not lib.is_file():
            continue
        out = subprocess.run(["ldd", str(lib)], capture_output=True, text=True, env=env).stdout
        for m in re.finditer(r"=> (/\S+)", out):
            if not m.group(1).startswith(str(BUNDLE)):
                system.add(m.group(1))
    owners = set()
    for path in sorted(system):
        # merged /usr: dpkg knows each file under one of /lib and /usr/lib, by the name or target
        real = os.path.realpath(path)
        tries = {path, real, *(p.removeprefix("/usr") for p in (path, real))}
        found = ""
        for cand in sorted(tries):
            out = subprocess.run(["dpkg", "-S", cand], capture_output=True, text=True).stdout
            if out:
                found = out.split(":")[0]
                break
        assert found, f"no Debian package owns {path}"
        owners.add(found)
    implied = {"libglvnd0", "libglx0"}  # pulled in by libgl1 / libegl1
    assert owners - depends() - implied == set()


def test_launcher_runs_the_bundle_with_anvil_after_the_users_path() -> None:
    text = (DEB_DIR / "erigolem.sh").read_text(encoding="utf-8")
    assert text.startswith("#!/bin/sh\n")
    assert 'exec /opt/erigolem/erigolem "$@"' in text
    assert 'PATH="${PATH:-/usr/bin:/bin}:/usr/sbin:/opt/erigolem/bin"' in text


def test_purge_leaves_the_data_folder_and_says_so(tmp_path: Path) -> None:
    home = tmp_path / "home"
    data = home / ".local" / "share" / "erigolem"
    data.mkdir(parents=True)
    (data / "wallet.json").write_text("{}")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home)}
    for action in ("remove", "purge"):
        out = subprocess.run(
            ["sh", str(DEB_DIR / "postrm"), action], capture_output=True, text=True, env=env
        )
        assert out.returncode == 0, out.stderr
    assert "left in place" in out.stdout
    assert (data / "wallet.json").exists()
    assert "rm " not in (DEB_DIR / "postrm").read_text(encoding="utf-8")


def _built() -> list[Path]:
    return sorted((REPO / "dist").glob("erigolem_*_amd64.deb"))


@pytest.mark.skipif(
    not _built() or shutil.which("dpkg-deb") is None,
    reason="no package built (packaging/linux/build-deb.sh)",
)
def test_a_built_package_holds_the_app_launcher_desktop_entry_and_nothing_of_the_tests() -> None:
    deb = _built()[-1]
    listing = subprocess.run(
        ["dpkg-deb", "-c", str(deb)], capture_output=True, text=True, check=True
    )
    paths = {line.split()[-1].removeprefix(".") for line in listing.stdout.splitlines()}
    for wanted in (
        "/opt/erigolem/erigolem",
        "/opt/erigolem/bin/anvil",
        "/usr/bin/erigolem",
        "/usr/share/applications/erigolem.desktop",
        "/usr/share/icons/hicolor/scalable/apps/erigolem.svg",
        "/usr/share/doc/erigolem/copyright",
    ):
        assert wanted in paths, wanted
    for path in paths:
        assert "/tests/" not in path, path
        assert not any(f"/{tool}" in path for tool in TEST_TOOLS), path
    info = subprocess.run(
        ["dpkg-deb", "-f", str(deb), "Version", "Depends"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "@" not in info.stdout
    assert f"Depends: {control()['Depends']}" in info.stdout  # built from this recipe

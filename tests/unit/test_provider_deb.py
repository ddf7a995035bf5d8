"""The provider tools' .deb (packaging/linux/build-provider-deb.sh): built into a temp dir (~3 s),
its control fields and file list, and its lib dir importable by the system python3 alone."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.binaries import REPO

SCRIPT = REPO / "packaging" / "linux" / "build-provider-deb.sh"
SYSTEM_PYTHON = Path("/usr/bin/python3")

pytestmark = pytest.mark.skipif(
    shutil.which("dpkg-deb") is None, reason="Debian's dpkg-deb builds the package"
)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the .deb, its staging root), built by the script into a temp dir."""
    tmp = tmp_path_factory.mktemp("provider-deb")
    env = {"OUT": str(tmp / "out"), "WORKDIR": str(tmp / "work")}
    subprocess.run([str(SCRIPT)], env={**os.environ, **env}, check=True, capture_output=True)
    (deb,) = (tmp / "out").glob("erigolem-provider_*_all.deb")
    (stage,) = (tmp / "work").glob("erigolem-provider_*_all")
    return deb, stage


def _field(deb: Path, name: str) -> str:
    return subprocess.run(
        ["dpkg-deb", "-f", str(deb), name], capture_output=True, text=True, check=True
    ).stdout.strip()


def test_control_names_python3_and_nginx_and_is_architecture_all(built: tuple[Path, Path]) -> None:
    deb, _ = built
    assert _field(deb, "Package") == "erigolem-provider"
    assert _field(deb, "Architecture") == "all"
    depends = _field(deb, "Depends")
    assert depends.startswith("python3 (>= 3.11)")
    assert "nginx-light | nginx" in depends
    assert "qt" not in depends.lower()
    assert "pyside" not in depends.lower()


def test_file_list_is_the_two_commands_and_pure_python(built: tuple[Path, Path]) -> None:
    deb, _ = built
    listing = subprocess.run(
        ["dpkg-deb", "-c", str(deb)], capture_output=True, text=True, check=True
    ).stdout
    files = [line.split()[-1].removeprefix(".") for line in listing.splitlines()]
    files = [f for f in files if not f.endswith("/")]
    outside = [
        f
        for f in files
        if not f.startswith(("/opt/erigolem-provider/lib/", "/usr/share/doc/erigolem-provider/"))
    ]
    assert sorted(outside) == ["/usr/bin/erigolem-provider", "/usr/bin/erigolem-runtime"]
    assert [f for f in files if f.endswith((".so", ".pyc"))] == []
    for tool in ("PySide6", "shiboken6", "pytest", "hypothesis", "mypy", "ruff"):
        assert [f for f in files if f"/{tool}" in f] == [], tool
    for package in ("erigolem_provider/cli.py", "erigolem_runtime/cli.py", "passlib/apache.py"):
        assert f"/opt/erigolem-provider/lib/{package}" in files


@pytest.mark.skipif(not SYSTEM_PYTHON.exists(), reason="a system python3 (Debian's)")
def test_the_system_python_runs_both_commands_from_the_lib_alone(built: tuple[Path, Path]) -> None:
    _, stage = built
    lib = stage / "opt" / "erigolem-provider" / "lib"
    for module in ("erigolem_provider.cli", "erigolem_runtime.cli"):
        code = f"import sys; sys.path.insert(0, {str(lib)!r}); sys.argv[1:] = ['--help']; "
        code += f"from {module} import main; sys.exit(main())"
        proc = subprocess.run(
            [str(SYSTEM_PYTHON), "-I", "-c", code], capture_output=True, text=True, check=False
        )
        assert proc.returncode == 0, proc.stderr[-1500:]
        assert "usage:" in proc.stdout
    launcher = (stage / "usr" / "bin" / "erigolem-provider").read_text()
    assert launcher.startswith("#!/usr/bin/python3 -s\n")
    assert "from erigolem_provider.cli import main" in launcher

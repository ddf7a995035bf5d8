"""Packaging checks that need no PyInstaller: the spec's lists name real things, the .desktop
file is well formed, and the frozen-app dispatch (`erigolem __runtime__`, `--smoke`) works."""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from erigolem_desktop import frozen
from erigolem_desktop.__main__ import main
from erigolem_desktop.core.backends.local import LocalBackend
from tests.support.binaries import REPO

sys.path.insert(0, str(REPO / "packaging"))
import bundle

SPEC = REPO / "packaging" / "erigolem.spec"
DESKTOP = REPO / "resources" / "erigolem.desktop"


# ----------------------------------------------------------------- the spec and its lists


def test_spec_is_python_and_uses_the_bundle_lists() -> None:
    tree = ast.parse(SPEC.read_text(encoding="utf-8"))
    names = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    assert {"ENTRY_SCRIPT", "DATA_DIRS", "METADATA_OF", "HIDDEN_IMPORTS", "EXCLUDES"} <= names
    calls = {
        n.func.id
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
    }
    assert {"Analysis", "PYZ", "EXE", "COLLECT"} <= calls


def test_entry_script_runs_the_console_scripts_main() -> None:
    text = bundle.ENTRY_SCRIPT.read_text(encoding="utf-8")
    assert "from erigolem_desktop.__main__ import main" in text
    ep = importlib.metadata.entry_points(group="console_scripts", name="erigolem")
    assert [e.value for e in ep] == ["erigolem_desktop.__main__:main"]


def test_data_dirs_exist_and_land_where_resources_dir_looks() -> None:
    for src, dest in bundle.DATA_DIRS:
        assert src.is_dir(), src
        assert (src / "methods.json").is_file()
        assert (src / "icons" / "app.svg").is_file()
        # paths.resources_dir() checks <erigolem_desktop>/_resources first
        assert dest == "erigolem_desktop/_resources"


def test_eth_account_word_lists_are_package_data() -> None:
    spec = importlib.util.find_spec("eth_account")
    assert spec is not None
    assert spec.origin is not None
    words = Path(spec.origin).parent / "hdaccount" / "wordlist" / "english.txt"
    assert "eth_account" in bundle.DATA_PACKAGES
    assert len(words.read_text(encoding="utf-8").split()) == 2048


@pytest.mark.parametrize("dist", bundle.METADATA_OF)
def test_metadata_distributions_are_installed(dist: str) -> None:
    assert importlib.metadata.distribution(dist).version


@pytest.mark.parametrize("name", bundle.HIDDEN_IMPORTS + bundle.ALL_SUBMODULES_OF)
def test_hidden_imports_are_importable_modules(name: str) -> None:
    assert importlib.util.find_spec(name) is not None, f"{name} is not importable"


def _imported_names(root: Path) -> set[str]:
    names: set[str] = set()
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_excluded_modules_are_not_imported_by_the_app() -> None:
    used = _imported_names(REPO / "erigolem_desktop") | _imported_names(
        REPO / "runtime" / "erigolem_runtime"
    )
    clash = {
        name for name in used for ex in bundle.EXCLUDES if name == ex or name.startswith(ex + ".")
    }
    assert not clash, f"the bundle excludes modules the app imports: {sorted(clash)}"


# ----------------------------------------------------------------- the .desktop file


def _parse_desktop(text: str) -> dict[str, dict[str, str]]:
    """A strict reader of the Desktop Entry format: groups, key=value, comments."""
    groups: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = groups.setdefault(line[1:-1], {})
            continue
        if current is None or "=" not in line:
            raise ValueError(f"line {number}: not a group header or key=value: {line!r}")
        key, value = (part.strip() for part in line.split("=", 1))
        if key in current:
            raise ValueError(f"line {number}: duplicate key {key}")
        current[key] = value
    return groups


def test_desktop_file_is_valid() -> None:
    entry = _parse_desktop(DESKTOP.read_text(encoding="utf-8"))["Desktop Entry"]
    assert entry["Type"] == "Application"
    assert entry["Name"] == "Erigolem"
    assert entry["Exec"].split()[0] == "erigolem"
    assert entry["Icon"] == "erigolem"  # installed as erigolem.svg (AppImage, hicolor)
    assert entry["Terminal"] in ("true", "false")
    for key in ("Categories", "Keywords"):
        assert entry[key].endswith(";"), f"{key} must end with ';'"
    main_categories = {"AudioVideo", "Development", "Education", "Game", "Graphics"}
    main_categories |= {"Network", "Office", "Science", "Settings", "System", "Utility"}
    assert main_categories & set(entry["Categories"].split(";"))


def test_installer_recipes_point_at_the_bundle() -> None:
    apprun = (REPO / "packaging" / "linux" / "AppRun").read_text(encoding="utf-8")
    assert '"$HERE/usr/lib/erigolem/erigolem"' in apprun
    assert os.access(REPO / "packaging" / "linux" / "AppRun", os.X_OK)
    nsi = (REPO / "packaging" / "windows" / "erigolem.nsi").read_text(encoding="utf-8")
    assert '!define BUNDLE "..\\..\\dist\\erigolem"' in nsi
    assert 'WriteUninstaller "$INSTDIR\\Uninstall.exe"' in nsi
    recipe = (REPO / "packaging" / "linux" / "build-appimage.sh").read_text(encoding="utf-8")
    assert "resources/erigolem.desktop" in recipe
    assert "resources/icons/app.svg" in recipe


def test_desktop_parser_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="line 1"):
        _parse_desktop("Name=before any group\n")
    with pytest.raises(ValueError, match="duplicate"):
        _parse_desktop("[Desktop Entry]\nName=a\nName=b\n")


# ----------------------------------------------------------------- frozen dispatch


def test_commands_unfrozen_use_this_python(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(sys, "frozen", raising=False)
    assert frozen.app_command() == [sys.executable, "-m", "erigolem_desktop"]
    assert frozen.runtime_command() == [sys.executable, "-m", "erigolem_runtime"]


def test_commands_frozen_use_the_bundle_binary(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", "/opt/erigolem/erigolem")
    assert frozen.app_command() == ["/opt/erigolem/erigolem"]
    assert frozen.runtime_command() == ["/opt/erigolem/erigolem", frozen.RUNTIME_ARG]
    assert LocalBackend().runtime_command == ["/opt/erigolem/erigolem", "__runtime__"]
    assert LocalBackend(runtime_command=["x"]).runtime_command == ["x"]


def test_runtime_arg_runs_the_runtime_cli(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([frozen.RUNTIME_ARG, "offer-template"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert "golem.usage.erigon.requests" in out["properties"]["golem.com.usage.vector"]


def test_runtime_arg_with_bad_usage_fails_like_the_runtime(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main([frozen.RUNTIME_ARG]) == 2  # no subcommand: the runtime's usage error
    assert "missing subcommand" in capsys.readouterr().err


def _python_env() -> dict[str, str]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    env.pop("PYTHON_KEYRING_BACKEND", None)
    return env


def test_smoke_option_paints_the_window_and_quits() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "erigolem_desktop", "--smoke"],
        env=_python_env(),
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["smoke"] == "ok"
    assert report["size"][0] > 100
    assert report["size"][1] > 100
    assert report["title"] == "Erigolem"


def test_smoke_usage_switch_draws_the_usage_charts() -> None:
    """ERIGOLEM_SMOKE_USAGE=1 (what packaging/smoke.py sets for the bundle) draws the charts."""
    proc = subprocess.run(
        [sys.executable, "-m", "erigolem_desktop", "--smoke"],
        env={**_python_env(), "ERIGOLEM_SMOKE_USAGE": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["usage"]["charts"] == "ok"
    assert report["usage"]["series"] == 1


def test_the_bundle_takes_what_pyqtgraph_imports_by_name() -> None:
    """pyqtgraph is imported with importlib (the Usage tab), and imports QtOpenGL(Widgets) so:
    PyInstaller sees none of them; without these the frozen charts fail (found by the smoke)."""
    for name in ("pyqtgraph", "PySide6.QtOpenGL", "PySide6.QtOpenGLWidgets"):
        assert name in bundle.HIDDEN_IMPORTS
        assert name not in bundle.EXCLUDES


# ----------------------------------------------------------------- size: what is left out


def test_left_out_keeps_every_plugin_the_app_loads() -> None:
    """X11, Wayland and offscreen platforms, the SVG icon engine and image format, input methods
    stay; translations, framebuffer/VNC/EGL-device platforms, other image formats go."""
    kept = [
        "PySide6/Qt/plugins/platforms/libqxcb.so",
        "PySide6/Qt/plugins/platforms/libqwayland.so",
        "PySide6/Qt/plugins/platforms/libqoffscreen.so",
        "PySide6/Qt/plugins/imageformats/libqsvg.so",
        "PySide6/Qt/plugins/iconengines/libqsvgicon.so",
        "PySide6/Qt/plugins/platforminputcontexts/libibusplatforminputcontextplugin.so",
        "PySide6/Qt/plugins/xcbglintegrations/libqxcb-glx-integration.so",
        "libQt6Gui.so.6",
        "libicudata.so.73",
        "erigolem_desktop/_resources/icons/app.svg",
    ]
    gone = [
        "PySide6/Qt/translations/qtbase_de.qm",
        "PySide6/Qt/plugins/platforms/libqvnc.so",
        "PySide6/Qt/plugins/imageformats/libqjpeg.so",
        "PySide6/Qt/plugins/platformthemes/libqgtk3.so",
        "libcairo.so.2",
    ]
    assert [p for p in kept if bundle.left_out(p)] == []
    assert [p for p in gone if not bundle.left_out(p)] == []


BUILT = REPO / "dist" / "erigolem" / "_internal"


@pytest.mark.skipif(not BUILT.is_dir(), reason="no bundle built (scripts/package)")
def test_a_built_bundle_lacks_what_is_left_out_and_resolves_every_library() -> None:
    """Every library a kept file needs is in the bundle or on the system, but those of optional
    Wayland plugins (the .deb's Recommends)."""
    files = [p for p in BUILT.rglob("*") if p.is_file()]
    present = [
        str(p.relative_to(BUILT)) for p in files if bundle.left_out(str(p.relative_to(BUILT)))
    ]
    assert present == []
    env = {**os.environ, "LD_LIBRARY_PATH": f"{BUILT}:{BUILT / 'PySide6/Qt/lib'}"}
    missing = set()
    for lib in files:
        if ".so" not in lib.name:
            continue
        out = subprocess.run(["ldd", str(lib)], capture_output=True, text=True, env=env).stdout
        missing |= {line.split()[0] for line in out.splitlines() if "not found" in line}
    assert missing <= {"libwayland-cursor.so.0", "libwayland-egl.so.1"}


def test_a_built_bundle_fits_in_150_mb() -> None:
    """Issue 17's limit, on disk as `du -s` counts it (MiB, as packaging/README.md reports)."""
    if not (BUILT.parent / "erigolem").is_file():
        pytest.skip("no bundle built (scripts/package)")
    files = [p for p in BUILT.parent.rglob("*") if p.is_file() and not p.is_symlink()]
    size = sum(p.stat().st_blocks * 512 for p in files)
    assert size <= 150 * 2**20, f"{size / 2**20:.1f} MiB"


def test_stand_ins_exist_and_refuse_use_with_a_reason() -> None:
    """Each stand-in module is a file; QtOpenGL's refuses any name and says it is left out."""
    if not bundle.STAND_INS:
        pytest.skip("stand-ins are used on Linux only")
    import importlib.util

    for module, source in bundle.STAND_INS.items():
        assert source.is_file(), module
        assert module in bundle.HIDDEN_IMPORTS  # its real one would be taken otherwise
    spec = importlib.util.spec_from_file_location(
        "qtopengl_stand_in", bundle.STAND_INS["PySide6.QtOpenGL"]
    )
    assert spec is not None
    assert spec.loader is not None
    stand_in = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(stand_in)
    with pytest.raises(ImportError, match="left out of the Erigolem bundle"):
        stand_in.QOpenGLBuffer  # noqa: B018 - the attribute access is the test

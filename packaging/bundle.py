"""What goes into the PyInstaller bundle, as plain data (read by `erigolem.spec` and the tests).

Kept apart from the spec so `tests/unit/test_packaging.py` can check every name without
PyInstaller installed: each module importable, each distribution's metadata present, each data
path existing.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

#: The script PyInstaller freezes: the same `main()` as the `erigolem` console script.
ENTRY_SCRIPT = REPO / "packaging" / "erigolem_entry.py"

#: (source in the repository, destination in the bundle). resources/ lands where
#: `erigolem_desktop.core.paths.resources_dir()` looks first (`<package>/_resources`, as in the
#: wheel), so the frozen app needs no extra branch there.
DATA_DIRS: tuple[tuple[Path, str], ...] = ((REPO / "resources", "erigolem_desktop/_resources"),)

#: Single files bundled beside the resources: the README is the Help menu's text.
DATA_FILES: tuple[tuple[Path, str], ...] = (
    (REPO / "README.md", "erigolem_desktop/_resources/manual"),
)

#: Packages whose data files are needed at run time (eth_account: the BIP-39 word lists).
DATA_PACKAGES: tuple[str, ...] = ("eth_account",)

#: Distributions whose metadata is read at run time: keyring backends are found through entry
#: points; yapapi calls pkg_resources.get_distribution on import; the version strings of the
#: runtime and the REST server come from importlib.metadata.
METADATA_OF: tuple[str, ...] = (
    "keyring",
    "keyrings.alt",
    "yapapi",
    "ya-aioclient",
    "eth-account",
    "erigolem-desktop",
    "erigolem-runtime",
)

#: Packages taken whole (every submodule), because they are imported by name at run time:
#: the CLI's command modules (importlib), keyring's and keyrings.alt's backends (entry points),
#: the runtime (`erigolem __runtime__`).
ALL_SUBMODULES_OF: tuple[str, ...] = (
    "erigolem_desktop",
    "erigolem_runtime",
    "keyring.backends",
    "keyrings.alt",
)

#: Single modules imported by name (PYTHON_KEYRING_BACKEND may name any of these).
HIDDEN_IMPORTS: tuple[str, ...] = (
    "erigolem_desktop.core.keyring_setup",
    "erigolem_runtime.cli",
    "keyrings.alt.file",
    "pyqtgraph",  # the Usage tab's charts: imported with importlib in the executor
    "PySide6.QtOpenGL",  # pyqtgraph imports these two with importlib (PColorMeshItem,
    "PySide6.QtOpenGLWidgets",  # OpenGLHelpers) whenever it is imported
)

#: Not used by the app: kept out (Qt modules worth tens of MB, test tools, the provider tools,
#: which ship as their own distribution).
EXCLUDES: tuple[str, ...] = (
    "tkinter",
    "pytest",
    "_pytest",
    "pytestqt",
    "hypothesis",
    "mypy",
    "IPython",
    "erigolem_provider",
    "tests",
    "PySide6.QtWebEngineCore",
    "PySide6.QtWebEngineWidgets",
    "PySide6.QtQml",
    "PySide6.QtQuick",
    "PySide6.QtQuickWidgets",
    "PySide6.Qt3DCore",
    "PySide6.QtMultimedia",
    "PySide6.QtPdf",
    "PySide6.QtCharts",
    "PySide6.QtDesigner",
    "PySide6.QtSql",
    "PySide6.QtTest",
    "PySide6.QtNetwork",
    # pyqtgraph's parts the Usage tab's 2-D plots never import (measured: sys.modules after the
    # tab drew) and numpy's random generators (only pyqtgraph's pseudoScatter shuffles)
    "pyqtgraph.examples",
    "pyqtgraph.opengl",
    "pyqtgraph.jupyter",
    "pyqtgraph.flowchart",
    "pyqtgraph.dockarea",
    "pyqtgraph.console",
    "numpy.random",
)

#: Files of the collected packages the app never loads, left out of the bundle (by their path
#: inside it; measured on Linux, see packaging/README.md "Size"). Qt's translations (the app is
#: English only), platform plugins for framebuffers, EGL full-screen devices and VNC, evdev input
#: plugins (a desktop session gives Qt its input through X11/Wayland), image formats the app has no
#: files in (it ships SVG and PNG only), and the GTK3 theme plugin: its GTK is not bundled, so it
#: cannot load the bundled cairo/pango/atk stack that only it pulls in (`GTK_STACK`).
LEAVE_OUT_DIRS: tuple[str, ...] = (
    "pyqtgraph/icons/peegee/",  # pyqtgraph's own logo (mkQApp's window icon; the app has its own)
    "PySide6/Qt/translations/",
    "PySide6/Qt/plugins/egldeviceintegrations/",
    "PySide6/Qt/plugins/generic/",
    "PySide6/Qt/plugins/platformthemes/libqgtk3.so",
    "PySide6/Qt/plugins/platforms/libqeglfs.so",
    "PySide6/Qt/plugins/platforms/libqlinuxfb.so",
    "PySide6/Qt/plugins/platforms/libqminimalegl.so",
    "PySide6/Qt/plugins/platforms/libqvkkhrdisplay.so",
    "PySide6/Qt/plugins/platforms/libqvnc.so",
    *(
        f"PySide6/Qt/plugins/imageformats/libq{fmt}.so"
        for fmt in ("gif", "icns", "ico", "jpeg", "tga", "tiff", "wbmp", "webp")
    ),
)
#: Libraries only the plugins above need (found with `readelf -d`: reachable from them, not from
#: anything kept); `tests/unit/test_packaging.py` checks a built bundle still resolves everything.
GTK_STACK: tuple[str, ...] = (
    "libQt6EglFSDeviceIntegration.so.6",
    "libQt6EglFsKmsSupport.so.6",
    "libQt6Network.so.6",
    "libXext.so.6",
    "libXrender.so.1",
    "libatk-1.0.so.0",
    "libblkid.so.1",
    "libcairo-gobject.so.2",
    "libcairo.so.2",
    "libcom_err.so.2",
    "libdatrie.so.1",
    "libfribidi.so.0",
    "libgdk_pixbuf-2.0.so.0",
    "libgio-2.0.so.0",
    "libgmodule-2.0.so.0",
    "libgobject-2.0.so.0",
    "libgraphite2.so.3",
    "libgssapi_krb5.so.2",
    "libharfbuzz.so.0",
    "libjpeg.so.62",
    "libk5crypto.so.3",
    "libkeyutils.so.1",
    "libkrb5.so.3",
    "libkrb5support.so.0",
    "libmount.so.1",
    "libpango-1.0.so.0",
    "libpangocairo-1.0.so.0",
    "libpangoft2-1.0.so.0",
    "libpixman-1.so.0",
    "libselinux.so.1",
    "libthai.so.0",
)
#: Strip symbol tables from the collected shared libraries (Linux: ~48 MB of 222 MB; the dynamic
#: symbols stay, so nothing stops loading). Not on macOS (it would break code signatures).
STRIP = sys.platform.startswith("linux")
#: Linux: PySide6's ICU data library is swapped for one without other languages' locale data,
#: legacy-charset tables and transliterations (31 -> 7 MB; packaging/icu_trim.py says why).
TRIM_ICU = sys.platform.startswith("linux")
#: Linux: numpy's OpenBLAS (23 MB + the Fortran runtime) is swapped for packaging/linux/blas_shim.c:
#: numpy serves only pyqtgraph's plots here, which never multiply big matrices.
SHIM_BLAS = sys.platform.startswith("linux")


#: Modules replaced by a small stand-in in the bundle (module -> source; each one says why).
#: Linux only, like the other swaps (elsewhere the extension file is named differently).
STAND_INS: dict[str, Path] = (
    {"PySide6.QtOpenGL": REPO / "packaging" / "stand_ins" / "QtOpenGL.py"}
    if sys.platform.startswith("linux")
    else {}
)


def left_out(dest: str) -> bool:
    """True for a bundle path in LEAVE_OUT_DIRS or a top-level library of GTK_STACK."""
    return dest.startswith(LEAVE_OUT_DIRS) or dest in GTK_STACK

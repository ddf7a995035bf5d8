"""What goes into the PyInstaller bundle, as plain data (read by `erigolem.spec` and the tests).

Kept apart from the spec so `tests/unit/test_packaging.py` can check every name without
PyInstaller installed: each module importable, each distribution's metadata present, each data
path existing.
"""

from __future__ import annotations

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
    "PySide6.QtOpenGL",
    "PySide6.QtOpenGLWidgets",
    "PySide6.QtNetwork",
)

"""Bundle stand-in for PySide6.QtOpenGL (8.9 MB): pyqtgraph imports it when it is imported.

Only pyqtgraph's PColorMeshItem uses its classes, and only when drawing with OpenGL; the Usage
tab's plots never do. Any use says plainly that the module is not in this build.
"""

from __future__ import annotations

from typing import NoReturn


def __getattr__(name: str) -> NoReturn:
    """Refuse every QtOpenGL name, with what is missing and why."""
    raise ImportError(
        f"PySide6.QtOpenGL.{name}: Qt's OpenGL module is left out of the Erigolem bundle "
        "(the app's charts draw without it); run the app from source to use it"
    )

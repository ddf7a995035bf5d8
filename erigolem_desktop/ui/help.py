"""The Help menu's screens: a README section in a reader, and About (versions of the parts).

The README is the manual: Help shows its sections in the app (offline, the same text as on the
project page) instead of a second copy of the documentation that would drift from it.
"""

from __future__ import annotations

import platform
import sys
from pathlib import Path

from erigolem_desktop.core import about
from erigolem_desktop.ui import forms, style
from erigolem_desktop.ui.ops import Op
from erigolem_desktop.ui.qt import (
    QDesktopServices,
    QDialog,
    QLabel,
    QPushButton,
    Qt,
    QTextBrowser,
    QUrl,
    QVBoxLayout,
    QWidget,
    qVersion,
)

#: The README sections the Help menu offers, in menu order (titles as in README.md).
HELP_TOPICS = ("Quick start (Debian / Ubuntu)", "The desktop app", "Golem", "Where data lives")


def _readme() -> tuple[Path | None, list[about.HelpSection]]:
    path = about.readme_path()
    if path is None:
        return None, []
    return path, about.readme_sections(path.read_text(encoding="utf-8"))


class HelpDialog(QDialog):
    """One README section, rendered; links open in the system browser or file viewer."""

    def __init__(self, topic: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Help: {topic}")
        self.resize(720, 560)
        self.path, sections = _readme()
        self.section = next((s for s in sections if s.title == topic), None)
        self.browser = QTextBrowser()
        self.browser.setOpenLinks(False)
        self.browser.anchorClicked.connect(self._open_link)
        if self.section is not None:
            self.browser.setMarkdown(self.section.markdown)
        else:
            self.browser.setPlainText(
                f"The README section {topic!r} is not part of this installation. "
                "Read it on the project page or in README.md of the source."
            )
        close = QPushButton("&Close")
        close.clicked.connect(self.accept)
        lay = QVBoxLayout(self)
        lay.addWidget(self.browser)
        lay.addLayout(forms.button_row(right=[close]))

    def _open_link(self, url: QUrl) -> None:
        if url.isRelative() and self.path is not None:
            url = QUrl.fromLocalFile(str(self.path.parent / url.path()))
        QDesktopServices.openUrl(url)


def versions() -> list[tuple[str, str]]:
    """(part, version) for the About box; yagna is added later (it is asked as a process)."""
    import PySide6

    return [
        ("Erigolem Desktop", about.package_version("erigolem-desktop")),
        ("erigolem-runtime", about.package_version("erigolem-runtime")),
        ("Qt", qVersion()),
        ("PySide6", PySide6.__version__),
        ("Python", f"{platform.python_version()} ({sys.platform})"),
    ]


class AboutDialog(QDialog):
    """Versions of the app, the runtime, Qt/PySide6, Python, and of yagna when it is found."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About Erigolem")
        self.rows = versions()
        self.text = QLabel()
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.text.setTextFormat(Qt.TextFormat.RichText)
        self.yagna = "looking…"
        self._render()
        close = QPushButton("&Close")
        close.setDefault(True)
        close.clicked.connect(self.accept)
        lay = QVBoxLayout(self)
        lay.setSpacing(style.SPACING * 2)
        lay.addWidget(style.label("Erigolem Desktop", "title"))
        lay.addWidget(
            style.label(
                "Rent Ethereum nodes on the Golem network, or run one on this computer.",
                "muted",
                wrap=True,
            )
        )
        lay.addWidget(self.text)
        lay.addLayout(forms.button_row(right=[close]))
        self.lookup = (
            Op.coro(about.yagna_version, label="yagna version")
            .success(self._yagna_found)
            .failure(lambda _m, _h: self._yagna_found(None))
            .run()
        )
        self.finished.connect(lambda _r: self.lookup.cancel())  # no answer into a closed box

    def _yagna_found(self, version: str | None) -> None:
        self.yagna = version or "not found on PATH (needed for Golem nodes)"
        self._render()

    def _render(self) -> None:
        cells = "".join(
            f"<tr><td style='padding-right:16px'>{name}</td><td><tt>{value}</tt></td></tr>"
            for name, value in [*self.rows, ("yagna", self.yagna)]
        )
        self.text.setText(f"<table>{cells}</table>")

    def plain_text(self) -> str:
        """The versions as lines (what a bug report needs)."""
        return "\n".join(f"{n}: {v}" for n, v in [*self.rows, ("yagna", self.yagna)])

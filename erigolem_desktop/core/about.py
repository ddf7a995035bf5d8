"""What the Help and About screens show: versions of the parts, and the README cut into sections.

Qt-free, so the CLI or a test can ask the same questions; the Qt versions are added by the view.
"""

from __future__ import annotations

import asyncio
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from erigolem_runtime.api.process import child_environment

from erigolem_desktop.core.paths import resources_dir

YAGNA_VERSION_TIMEOUT = 5.0
_HEADING = re.compile(r"^(#{2,3}) (.+)$")


def package_version(name: str) -> str:
    """The installed version of distribution `name`, or "not installed"."""
    from importlib import metadata  # only when About opens: it is slow to import

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


async def yagna_version(binary: str | None = None) -> str | None:
    """`yagna --version`'s first line, or None when yagna is not on PATH or does not answer."""
    path = binary or shutil.which("yagna")
    if path is None:
        return None
    try:
        proc = await asyncio.create_subprocess_exec(
            path,
            "--version",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            env=child_environment(),  # the app's secrets stay in the app
        )
    except OSError:
        return None
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), YAGNA_VERSION_TIMEOUT)
    except TimeoutError:
        proc.kill()  # our own child, started just above
        await proc.wait()
        return None
    line = out.decode("utf-8", "replace").strip().splitlines()
    return line[0] if proc.returncode == 0 and line else None


def readme_path() -> Path | None:
    """The project README: `_resources/manual/` in a wheel or bundle, beside `resources/` in
    the repository (resources/README.md is another file: it describes that folder)."""
    base = resources_dir()
    for path in (base / "manual" / "README.md", base.parent / "README.md"):
        if path.is_file():
            return path
    return None


@dataclass(frozen=True)
class HelpSection:
    """One `##`/`###` section of the README: its title, its anchor, its markdown."""

    title: str
    anchor: str
    markdown: str


def anchor_of(title: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes."""
    text = re.sub(r"[^\w\- ]", "", title.strip().lower())
    return text.replace(" ", "-")


def readme_sections(text: str) -> list[HelpSection]:
    """The README's `##` and `###` sections in order (a `##` one includes its `###` ones)."""
    lines = text.splitlines()
    heads: list[tuple[int, int, str]] = []  # (line, level, title)
    fence = False
    for i, line in enumerate(lines):
        if line.startswith("```"):
            fence = not fence
        m = None if fence else _HEADING.match(line)
        if m:
            heads.append((i, len(m.group(1)), m.group(2).strip()))
    sections: list[HelpSection] = []
    for k, (start, level, title) in enumerate(heads):
        end = len(lines)
        for later, later_level, _t in heads[k + 1 :]:
            if later_level <= level:
                end = later
                break
        body = "\n".join(lines[start:end]).strip()
        sections.append(HelpSection(title, anchor_of(title), body))
    return sections

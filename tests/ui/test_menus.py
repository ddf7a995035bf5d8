"""The menu bar: File/View/Help, the theme choice (applied at once, kept for the next start),
Help showing the README's sections, About with the versions of the real installed parts."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from erigolem_desktop.core import about
from erigolem_desktop.core.settings import SettingsStore
from erigolem_desktop.ui import style
from erigolem_desktop.ui.help import HELP_TOPICS
from erigolem_desktop.ui.qt import QApplication, QPalette
from tests.ui.conftest import wait_until

GOOD = "correct horse battery staple 42"


@pytest.fixture
def restore_theme() -> Any:
    """Themes change the whole QApplication: give the next test the system look back."""
    yield
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    style.apply_theme(app, "system")


def _menu_titles(window: Any) -> list[str]:
    return [a.text() for a in window.menuBar().actions()]


def _window_lightness() -> int:
    return QApplication.palette().color(QPalette.ColorRole.Window).lightness()


@pytest.mark.asyncio
async def test_menu_bar_has_file_view_help_with_quit(make_window: Any) -> None:
    window = make_window()
    assert _menu_titles(window) == ["&File", "&View", "&Help"]
    view_menu = window.menuBar().actions()[1].menu()
    assert window.wallet_action in view_menu.actions()
    file_menu = window.menuBar().actions()[0].menu()
    assert window.quit_action in file_menu.actions()
    help_texts = [a.text() for a in window.menuBar().actions()[2].menu().actions()]
    assert help_texts[: len(HELP_TOPICS)] == list(HELP_TOPICS)
    assert "&About Erigolem" in help_texts
    window.quit_action.trigger()
    await wait_until(lambda: window.quit_calls, 10)


def test_theme_applies_at_once_and_persists(make_window: Any, ctx: Any, restore_theme: Any) -> None:
    window = make_window()
    assert window.theme_actions["system"].isChecked()
    window.theme_actions["dark"].trigger()
    assert window.theme_actions["dark"].isChecked()
    assert _window_lightness() < 80
    # the widgets follow too (the style sheet is re-polished), not only the app's palette
    text = window.welcome.palette().color(QPalette.ColorRole.WindowText)
    assert text.lightness() > 180
    assert SettingsStore().load().theme == "dark"
    window.theme_actions["light"].trigger()
    assert _window_lightness() > 180
    assert SettingsStore().load().theme == "light"

    # the next start opens in the saved theme
    style.apply_theme(QApplication.instance(), "system")  # type: ignore[arg-type]
    ctx.settings = SettingsStore().load()
    ctx.settings.theme = "dark"
    again = make_window()
    assert again.theme_actions["dark"].isChecked()
    assert _window_lightness() < 80


def test_help_shows_each_readme_section(make_window: Any) -> None:
    window = make_window()
    readme = about.readme_path()
    assert readme is not None
    sections = {s.title: s for s in about.readme_sections(readme.read_text(encoding="utf-8"))}
    for topic in HELP_TOPICS:
        assert topic in sections, f"README has no section {topic!r} (Help menu)"
        dialog = window.open_help(topic)
        text = dialog.browser.toPlainText()
        assert topic in text
        # only that section, not the whole README
        assert len(text) < len(readme.read_text(encoding="utf-8")) / 2
        dialog.close()


def test_readme_sections_nest_and_skip_code_fences() -> None:
    text = "# T\n\n## A\na\n```sh\n## not a heading\n```\n### A1\nx\n## B\nb\n"
    got = about.readme_sections(text)
    assert [s.title for s in got] == ["A", "A1", "B"]
    assert "### A1" in got[0].markdown
    assert "## not a heading" in got[0].markdown
    assert "## B" not in got[0].markdown
    assert about.anchor_of("Quick start (Debian / Ubuntu)") == "quick-start-debian--ubuntu"


def test_help_for_a_missing_section_says_where_to_read_it(make_window: Any) -> None:
    dialog = make_window().open_help("No such section")
    assert "not part of this installation" in dialog.browser.toPlainText()
    dialog.close()


@pytest.mark.asyncio
async def test_about_shows_the_versions_of_the_parts(make_window: Any) -> None:
    import PySide6

    window = make_window()
    dialog = window.open_about()
    text = dialog.plain_text()
    assert f"Erigolem Desktop: {about.package_version('erigolem-desktop')}" in text
    assert "erigolem-runtime: 0." in text
    assert f"PySide6: {PySide6.__version__}" in text
    await wait_until(lambda: dialog.yagna != "looking…", 10)
    if shutil.which("yagna"):  # the dev environment has golem-node's real yagna
        assert dialog.yagna.startswith("yagna 0.")
    dialog.close()


@pytest.mark.asyncio
async def test_yagna_version_none_when_missing_or_failing(tmp_path: Path) -> None:
    assert await about.yagna_version(str(tmp_path / "nope")) is None
    failing = tmp_path / "yagna"
    failing.write_text("#!/bin/sh\nexit 3\n")
    failing.chmod(0o700)
    assert await about.yagna_version(str(failing)) is None


def test_settings_offers_the_theme_and_lines_up_its_fields(
    qtbot: Any, make_window: Any, ctx: Any, restore_theme: Any
) -> None:
    from erigolem_desktop.ui.settings_dialog import SettingsDialog

    dialog = SettingsDialog(ctx.settings_store, ctx.settings)
    qtbot.addWidget(dialog)
    dialog.show()
    # the Golem and App groups' fields start at one x
    x_golem = dialog.api_url.mapTo(dialog, dialog.api_url.rect().topLeft()).x()
    x_app = dialog.auto_lock.mapTo(dialog, dialog.auto_lock.rect().topLeft()).x()
    assert x_golem == x_app
    dialog.theme.setCurrentIndex(dialog.theme.findData("dark"))
    dialog._save()
    assert dialog.saved is not None
    assert dialog.saved.theme == "dark"
    assert SettingsStore().load().theme == "dark"

    window = make_window()  # the window applies what Settings saved
    window.open_settings()
    settings = window.findChildren(SettingsDialog)[-1]
    settings.theme.setCurrentIndex(settings.theme.findData("dark"))
    settings._save()
    assert window.theme_actions["dark"].isChecked()
    assert _window_lightness() < 80

"""The one NodeManager factory and the one reader of the Golem settings (core/app_context)."""

from __future__ import annotations

import dataclasses

from erigolem_desktop.core.app_context import golem_settings, open_manager
from erigolem_desktop.core.settings import Settings, SettingsStore
from tests.support.memkeyring import MemoryKeyring


def test_without_a_settings_file_only_the_app_key_is_given(memory_keyring: MemoryKeyring) -> None:
    """No file: the environment (YAGNA_*) keeps its say, so no defaults are passed on."""
    store = SettingsStore()
    store.set_app_key("key-1")
    assert not store.path.exists()
    assert golem_settings(store) == {"app_key": "key-1"}


def test_saved_settings_are_read_from_the_file(memory_keyring: MemoryKeyring) -> None:
    store = SettingsStore()
    store.save(dataclasses.replace(Settings(), subnet="team-a", budget_glm="7"))
    values = golem_settings(store)
    assert values["subnet"] == "team-a"
    assert values["budget_glm"] == "7"
    assert values["app_key"] is None


def test_the_windows_settings_in_use_win_over_the_file(memory_keyring: MemoryKeyring) -> None:
    """The window passes what it holds (edited in the dialog, defaults included)."""
    store = SettingsStore()
    store.save(dataclasses.replace(Settings(), subnet="saved"))
    values = golem_settings(store, dataclasses.replace(Settings(), subnet="in-use"))
    assert values["subnet"] == "in-use"
    assert values["api_url"] == Settings().yagna_api_url


class _BrokenKeyring(MemoryKeyring):
    def get_password(self, service: str, username: str) -> str | None:
        raise RuntimeError("keyring locked")


def test_an_unreadable_keyring_leaves_the_key_to_the_environment() -> None:
    import keyring

    previous = keyring.get_keyring()
    keyring.set_keyring(_BrokenKeyring())
    try:
        assert golem_settings(SettingsStore()) == {"app_key": None}
    finally:
        keyring.set_keyring(previous)


def test_open_manager_uses_exactly_the_backends_given(memory_keyring: MemoryKeyring) -> None:
    assert open_manager(backends={}).backends == {}
    built = open_manager()
    assert sorted(built.backends) == ["local"]

"""The one atomic-write implementation: permissions from the first byte, no debris, no parents."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest
from erigolem_runtime.api.files import atomic_write


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_writes_text_and_bytes_with_the_given_mode(tmp_path: Path) -> None:
    secret = tmp_path / "deep" / "secret.json"
    atomic_write(secret, "ключ\n")
    assert secret.read_text(encoding="utf-8") == "ключ\n"
    assert _mode(secret) == 0o600
    public = tmp_path / "public.conf"
    atomic_write(public, b"\x00\x01", mode=0o644, fsync=False)
    assert public.read_bytes() == b"\x00\x01"
    assert _mode(public) == 0o644


def test_replaces_an_existing_file_and_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "f.txt"
    target.write_text("old")
    target.chmod(0o666)
    atomic_write(target, "new")
    assert target.read_text() == "new"
    assert _mode(target) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.txt"]


def test_missing_parent_is_an_error_without_parents(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        atomic_write(tmp_path / "absent" / "f.txt", "x", parents=False)
    assert not (tmp_path / "absent").exists()


def test_a_failed_write_keeps_the_old_file_and_removes_the_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "f.txt"
    target.write_text("old")
    not_text: Any = 42
    with pytest.raises(TypeError):
        atomic_write(target, not_text)
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.txt"]

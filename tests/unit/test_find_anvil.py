"""find_anvil finds the npm anvil wherever npm left it: the platform package's binary, or (with
a Node < 20, when npm skips that package) the copy the wrapper's postinstall writes."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from erigolem_runtime.localconfig import _platform_tag, find_anvil


def _executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\necho anvil\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_postinstall_copy_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = _executable(tmp_path / "node_modules/@foundry-rs/anvil/anvil")
    monkeypatch.chdir(tmp_path)
    assert find_anvil() == str(copy)


def test_platform_binary_wins_over_the_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _executable(tmp_path / "node_modules/@foundry-rs/anvil/anvil")
    binary = _executable(tmp_path / f"node_modules/@foundry-rs/anvil-{_platform_tag()}/bin/anvil")
    monkeypatch.chdir(tmp_path)
    assert find_anvil() == str(binary)


def test_a_copy_that_is_not_executable_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "node_modules/@foundry-rs/anvil").mkdir(parents=True)
    (tmp_path / "node_modules/@foundry-rs/anvil/anvil").write_text("not executable")
    monkeypatch.chdir(tmp_path)
    assert find_anvil() != str(tmp_path / "node_modules/@foundry-rs/anvil/anvil")

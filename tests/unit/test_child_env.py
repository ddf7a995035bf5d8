"""`child_environment`: what a child keeps, and that a secret never passes (issue 11 item 8)."""

from __future__ import annotations

import pytest
from erigolem_runtime.api.process import MARKER_ENV, child_environment

from erigolem_desktop.cli.node_cmd import _owner_environment

PARENT = {
    "PATH": "/usr/bin",
    "HOME": "/home/u",
    "LC_ALL": "C.UTF-8",
    "ERIGOLEM_HOME": "/data",
    "ERIGOLEM_PASSPHRASE": "pp",
    "ERIGOLEM_KEYSTORE_PASSWORD": "kp",
    "ERIGOLEM_GOLEM_BUDGET": "1",
    "YAGNA_APPKEY": "ak",
    "YAGNA_API_URL": "http://127.0.0.1:7465",
    "GITHUB_TOKEN": "gh",
    "AWS_SECRET_ACCESS_KEY": "aws",
    "EDITOR": "vi",
}


def test_a_child_gets_the_base_and_what_it_asks_for() -> None:
    env = child_environment(env=PARENT, extra={"X": "1"})
    assert env == {
        "PATH": "/usr/bin",
        "HOME": "/home/u",
        "LC_ALL": "C.UTF-8",
        "ERIGOLEM_HOME": "/data",
        "X": "1",
    }
    wide = child_environment(env=PARENT, keep_prefixes=("ERIGOLEM_", "YAGNA_", "AWS_"))
    assert wide["ERIGOLEM_GOLEM_BUDGET"] == "1"
    assert wide["YAGNA_API_URL"] == "http://127.0.0.1:7465"
    for secret in ("ERIGOLEM_PASSPHRASE", "ERIGOLEM_KEYSTORE_PASSWORD", "YAGNA_APPKEY"):
        assert secret not in wide
    assert "AWS_SECRET_ACCESS_KEY" not in wide  # a family kept, its secret-looking names not
    named = child_environment(env=PARENT, keep=("YAGNA_APPKEY", "ERIGOLEM_PASSPHRASE"))
    assert named["YAGNA_APPKEY"] == "ak"  # named on purpose: kept
    assert "ERIGOLEM_PASSPHRASE" not in named  # the wallet's secrets: never


def test_the_detached_owner_gets_the_app_key_only_for_golem(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("YAGNA_APPKEY", "ak")
    monkeypatch.setenv("ERIGOLEM_PASSPHRASE", "pp")
    local, golem = _owner_environment(False), _owner_environment(True)
    assert "YAGNA_APPKEY" not in local
    assert golem["YAGNA_APPKEY"] == "ak"
    assert "ERIGOLEM_PASSPHRASE" not in local
    assert "ERIGOLEM_PASSPHRASE" not in golem
    assert local[MARKER_ENV] != golem[MARKER_ENV]

"""`erigolem rpc` argument parsing: JSON params and batch files are checked before any call."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from erigolem_desktop.cli import common
from erigolem_desktop.cli.rpc_cmd import _load_batch, parse_param

ANVIL0 = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"


def test_parse_param_keeps_plain_strings_and_json() -> None:
    assert parse_param("latest") == "latest"
    assert parse_param(ANVIL0) == ANVIL0
    assert parse_param("0x1") == "0x1"
    assert parse_param("12") == 12
    assert parse_param("true") is True
    assert parse_param('{"to": "0x1"}') == {"to": "0x1"}
    assert parse_param(' ["a", 1]') == ["a", 1]
    assert parse_param("not {json") == "not {json"  # only a leading brace means JSON


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (f'{{"to": "{ANVIL0}"', "line 1 column 52"),
        ('  {"to": 0x1}', "line 1 column 11"),
        ("[latest]", "line 1 column 2"),
        ('{\n"a": 1,\n}', "line 3 column 1"),
    ],
)
def test_parse_param_rejects_broken_json(text: str, where: str) -> None:
    with pytest.raises(common.UsageError) as info:
        parse_param(text, 3)
    assert info.value.exit_code == common.EXIT_USAGE
    assert "Parameter 3" in str(info.value)
    assert where in str(info.value)


def test_batch_errors_name_stdin_or_the_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("nope"))
    with pytest.raises(common.UsageError, match="The batch on stdin is not JSON"):
        _load_batch("-")
    monkeypatch.setattr(sys, "stdin", io.StringIO("[1]"))
    with pytest.raises(common.UsageError, match="Item 0 of the batch on stdin is not a call"):
        _load_batch("-")
    path = tmp_path / "b.json"
    path.write_text("{}")
    with pytest.raises(common.UsageError, match=f"The batch file {path} must hold"):
        _load_batch(str(path))
    path.write_text('[{"method": "eth_chainId"}, ["net_version", []]]')
    assert _load_batch(str(path)) == [("eth_chainId", []), ("net_version", [])]


def _erigolem(home: Path, *argv: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "erigolem_desktop", *argv],
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, "ERIGOLEM_HOME": str(home)},
        timeout=60,
        check=False,
    )


def test_cli_refuses_broken_json_before_looking_up_the_node(erigolem_home: Path) -> None:
    """No node exists here: a parse error must come first, so nothing is ever sent."""
    broken = _erigolem(erigolem_home, "rpc", "nonode", "eth_call", f'{{"to": "{ANVIL0}"', "latest")
    assert broken.returncode == 2, broken.stderr
    assert "Parameter 1" in broken.stderr
    assert "line 1 column" in broken.stderr
    batch = _erigolem(erigolem_home, "rpc", "nonode", "--batch", "-", stdin="nope")
    assert batch.returncode == 2
    assert "batch on stdin" in batch.stderr
    # Good params get past parsing and fail on the missing node instead (not a usage error).
    fine = _erigolem(erigolem_home, "rpc", "nonode", "eth_getBalance", ANVIL0, "latest")
    assert fine.returncode == 1, fine.stderr
    assert "Parameter" not in fine.stderr

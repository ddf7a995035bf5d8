"""The `erigolem-runtime` command line as exe-unit and ya-provider call it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from erigolem_runtime.api.client import RuntimeClient, RuntimeClientError
from erigolem_runtime.cli import run_cli, split_argv

from tests.support.binaries import REPO, free_port

CONFIG_ENV = "ERIGOLEM_RUNTIME_CONFIG"


def _config(tmp_path: Path) -> Path:
    """A valid runtime config (private nginx on loopback; nothing is started by these tests)."""
    base = tmp_path / "rt"
    port = free_port()
    data = {
        "public_url": f"http://127.0.0.1:{port}",
        "nginx": {
            "mode": "private",
            "binary": "/usr/sbin/nginx",
            "prefix": str(base / "nginx"),
            "listen": f"127.0.0.1:{port}",
        },
        "ports": {"first": 41000, "last": 41100},
        "state_dir": str(base / "state"),
        "data_dir": str(base / "data"),
    }
    path = tmp_path / "erigolem-runtime.json"
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["deploy", "--"], ([], "deploy", ["--"])),
        (["--workdir", "/w", "deploy", "--"], (["--workdir", "/w"], "deploy", ["--"])),
        (["-w", "/w", "start", '{"a":1}'], (["-w", "/w"], "start", ['{"a":1}'])),
        (["-w/w", "--mem-gib=2", "test"], (["-w/w", "--mem-gib=2"], "test", [])),
        (
            ["--workdir", "/w", "--cpu-cores", "2", "--mem-gib", "1.5", "--storage-gib", "10",
             "--unknown", "val", "--flag", "deploy", "--"],
            (["--workdir", "/w", "--cpu-cores", "2", "--mem-gib", "1.5", "--storage-gib", "10",
              "--unknown", "val", "--flag"], "deploy", ["--"]),
        ),
        # an unknown flag right before the subcommand does not swallow it
        (["--new-flag", "start", "{}"], (["--new-flag"], "start", ["{}"])),
        (["--volume-override", '{"/in":"x"}', "--hostname", "h", "deploy"],
         (["--volume-override", '{"/in":"x"}', "--hostname", "h"], "deploy", [])),
        # a known option's value may even look like a subcommand
        (["--hostname", "test", "offer-template"], (["--hostname", "test"], "offer-template", [])),
        (["--version"], (["--version"], None, [])),
    ],
)  # fmt: skip
def test_split_argv_tolerates_unknown_options(
    argv: list[str], expected: tuple[list[str], str | None, list[str]]
) -> None:
    assert split_argv(argv) == expected


def test_deploy_prints_exactly_one_json_object(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(CONFIG_ENV, str(_config(tmp_path)))
    work = tmp_path / "work"
    argv = ["--workdir", str(work), "--task-package", "pkg", "--cpu-cores", "2", "--mem-gib",
            "1.5", "--future-option", "value", "--future-flag", "deploy", "--"]  # fmt: skip
    assert run_cli(argv) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    deploy = json.loads(out)
    assert deploy["startMode"] == "blocking"
    assert deploy["vols"] == []
    assert "Ok" in deploy["valid"]
    # the requestor reads this message: no path of the provider's machine in it
    assert str(tmp_path) not in deploy["valid"]["Ok"]
    assert "/" not in deploy["valid"]["Ok"]
    assert (work / "logs").is_dir()


@pytest.mark.parametrize(
    ("content", "fragment"),
    [(None, "no runtime config"), ("{not json", "not valid JSON"), ("{}", "public_url")],
)
def test_deploy_fails_with_a_message_on_bad_config(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    content: str | None,
    fragment: str,
) -> None:
    path = tmp_path / "bad.json"
    if content is not None:
        path.write_text(content)
    monkeypatch.setenv(CONFIG_ENV, str(path))
    assert run_cli(["--workdir", str(tmp_path / "w"), "deploy", "--"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert fragment in captured.err


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli([]) == 2
    assert "missing subcommand" in capsys.readouterr().err
    assert run_cli(["--workdir", "/w", "frobnicate"]) == 2
    assert "unknown subcommand 'frobnicate'" in capsys.readouterr().err
    assert run_cli(["start", "{}"]) == 2
    assert "start needs --workdir" in capsys.readouterr().err


def test_run_outside_service_mode_explains_itself(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["--workdir", "/w", "run", "--entrypoint", "status", "--"]) == 2
    assert "Runtime API" in capsys.readouterr().err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["--version"]) == 0
    assert capsys.readouterr().out.startswith("erigolem-runtime ")


def test_offer_template_works_without_workdir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(CONFIG_ENV, str(_config(tmp_path)))
    assert run_cli(["offer-template"]) == 0
    template = json.loads(capsys.readouterr().out)
    assert set(template) >= {"properties", "constraints"}
    assert "golem.usage.erigon.requests" in template["properties"]["golem.com.usage.vector"]
    # a broken config still gives a template (exe-unit would otherwise fall back to defaults)
    monkeypatch.setenv(CONFIG_ENV, str(tmp_path / "missing.json"))
    assert run_cli(["offer-template"]) == 0
    captured = capsys.readouterr()
    assert "properties" in json.loads(captured.out)
    assert "warning" in captured.err


def test_self_test_fails_on_a_missing_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(CONFIG_ENV, str(tmp_path / "missing.json"))
    assert run_cli(["test"]) == 1
    assert "no runtime config" in capsys.readouterr().err


def test_local_config_prints_the_path_last_and_test_passes_with_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(["local-config", str(tmp_path / "local")]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) > 1  # what was found, then the path
    path = Path(lines[-1])
    assert path.is_file()
    assert "password" not in "\n".join(lines).lower()
    monkeypatch.setenv(CONFIG_ENV, str(path))
    code = run_cli(["test"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "OK" in captured.out


def test_python_dash_m_entry_point() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "erigolem_runtime", "--version"],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=REPO,
        check=False,
    )
    assert proc.returncode == 0
    assert proc.stdout.startswith("erigolem-runtime ")


@pytest.mark.asyncio
async def test_client_deploy_runs_the_real_cli(tmp_path: Path) -> None:
    client = RuntimeClient(tmp_path / "work", config_path=_config(tmp_path))
    deploy = await client.deploy()
    assert deploy["startMode"] == "blocking"
    bad = RuntimeClient(tmp_path / "work2", config_path=tmp_path / "missing.json")
    with pytest.raises(
        RuntimeClientError, match=r"deploy failed with exit code 1: .*no runtime config"
    ):
        await bad.deploy()


@pytest.mark.asyncio
async def test_start_with_a_bad_config_fails_the_hello_with_the_reason(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    client = RuntimeClient(tmp_path / "work", config_path=bad)
    with pytest.raises(RuntimeClientError, match=r"start failed: .*not valid JSON"):
        await client.start({"chain": "dev", "client": "anvil"}, timeout=30)
    assert client.returncode == 1
    assert not client.running


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ('{"url": "http://h/x/", "auth": {"user": "u", "password": "s3cr3t-pw"}}', "s3cr3t-pw"),
        ("password=s3cr3t-pw other=1", "s3cr3t-pw"),
        ("Authorization: Basic dXNlcjpzM2NyM3Q=", "dXNlcjpzM2NyM3Q="),
        ("curl http://user:s3cr3t-pw@127.0.0.1:8080/", "s3cr3t-pw"),
    ],
)
def test_log_redaction_masks_secrets(text: str, secret: str) -> None:
    from erigolem_runtime.logsetup import redact

    cleaned = redact(text)
    assert secret not in cleaned
    assert "***" in cleaned

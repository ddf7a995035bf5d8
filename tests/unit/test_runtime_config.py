"""Runtime config: loading, defaults, round trip, and errors that name the key."""

from __future__ import annotations

import copy
import json
import stat
from pathlib import Path
from typing import Any

import pytest
from erigolem_runtime.api.paths import CONFIG_ENV, default_config_path
from erigolem_runtime.config import (
    ConfigError,
    load_config,
    parse_config,
    save_config,
)

GOOD: dict[str, Any] = {
    "public_url": "https://node.example.org:8545/",
    "nginx": {
        "mode": "system",
        "include_dir": "/etc/nginx/erigolem",
        "htpasswd_dir": "/etc/nginx/erigolem-htpasswd",
        "reload_command": ["sudo", "-n", "/usr/sbin/nginx", "-s", "reload"],
        "htpasswd_group": "www-data",
    },
    "ports": {"first": 30000, "last": 30199},
    "state_dir": "state",
    "data_dir": "/data/erigolem",
    "clients": {"erigon": {"binary": "/usr/local/bin/erigon", "prune_mode": "archive"}},
    "chains": ["sepolia", "holesky"],
    "keep_datadirs": {"sepolia": "/data/kept/sepolia"},
    "_comment": "keys starting with _ are ignored",
}


def _write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "erigolem-runtime.json"
    path.write_text(json.dumps(data))
    return path


def test_good_config_loads_with_defaults_and_relative_paths(tmp_path: Path) -> None:
    cfg = load_config(_write(tmp_path, GOOD))
    assert cfg.public_url == "https://node.example.org:8545"
    assert cfg.instance_url("abc") == "https://node.example.org:8545/abc/"
    assert cfg.state_dir == tmp_path.resolve() / "state"
    assert cfg.nginx.mode == "system"
    assert cfg.nginx.hash_scheme == "ssha"
    assert cfg.nginx.reload_command == ("sudo", "-n", "/usr/sbin/nginx", "-s", "reload")
    assert cfg.clients.erigon.prune_mode == "archive"
    assert cfg.clients.anvil.binary is None
    assert cfg.keep_datadirs == {"sepolia": Path("/data/kept/sepolia")}
    assert cfg.max_instances == 4
    assert cfg.restart.max_restarts == 3
    assert len(cfg.ports) == 200
    assert cfg.source == tmp_path / "erigolem-runtime.json"


def test_save_roundtrip_is_atomic_and_private(tmp_path: Path) -> None:
    cfg = load_config(_write(tmp_path, GOOD))
    out = save_config(cfg, tmp_path / "sub" / "copy.json")
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    again = load_config(out)
    assert again == cfg
    assert [p.name for p in out.parent.iterdir()] == ["copy.json"]


def test_env_variable_selects_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path, GOOD)
    monkeypatch.setenv(CONFIG_ENV, str(path))
    assert default_config_path() == path
    assert load_config().public_url == "https://node.example.org:8545"
    monkeypatch.delenv(CONFIG_ENV)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    assert default_config_path() == tmp_path / ".local/share/erigolem-runtime/erigolem-runtime.json"


def test_missing_file_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="local-config"):
        load_config(tmp_path / "nope.json")


def test_bad_json_gives_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text('{"public_url": ,}')
    with pytest.raises(ConfigError, match=r"not valid JSON.*line 1"):
        load_config(path)


def _mutate(path: str, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(GOOD)
    *parents, last = path.split(".")
    node = data
    for p in parents:
        node = node.setdefault(p, {})
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return data


_DELETE = object()

BAD_CASES = [
    ("public_url", _DELETE, "'public_url' is missing"),
    ("public_url", 42, "'public_url' must be a non-empty string"),
    ("public_url", "ftp://x", "'public_url' is 'ftp://x'"),
    ("public_url", "http://x/$host", "'public_url'"),
    ("nginx", _DELETE, "'nginx' is missing"),
    ("nginx.mode", "docker", "'nginx.mode' is 'docker'"),
    ("nginx.reload_command", _DELETE, "'nginx.reload_command' is missing"),
    ("nginx.reload_command", "nginx -s reload", "'nginx.reload_command' must be a non-empty list"),
    ("nginx.include_dir", "/etc/nginx/x;y", "'nginx.include_dir' contains characters"),
    ("nginx.htpasswd_dir", '/etc/"x', "'nginx.htpasswd_dir' contains characters"),
    ("nginx.hash_scheme", "bcrypt", "'nginx.hash_scheme' is 'bcrypt'"),
    ("nginx.htpasswd_group", "www data", "'nginx.htpasswd_group'"),
    ("nginx.colour", "red", "'nginx.colour' is not a known key"),
    ("ports", _DELETE, "'ports' is missing"),
    ("ports.first", _DELETE, "'ports.first' is missing"),
    ("ports.first", "30000", "'ports.first' must be an integer"),
    ("ports.first", True, "'ports.first' must be an integer"),
    ("ports.last", 70000, "'ports.last' is 70000, must be between"),
    ("ports.last", 29000, "'ports.last'.*below ports.first"),
    ("state_dir", _DELETE, "'state_dir' is missing"),
    ("data_dir", ["a"], "'data_dir' must be a non-empty string"),
    ("clients.erigon.prune_mode", "tiny", "'clients.erigon.prune_mode' is 'tiny'"),
    ("clients.erigon.extra_args", "--foo", "'clients.erigon.extra_args' must be a list"),
    ("clients.geth", {}, "'clients.geth' is not a known key"),
    ("chains", [], "'chains' must be a non-empty list"),
    ("chains", ["Main Net"], "'chains' has an invalid chain name"),
    ("keep_datadirs", {"../x": "/d"}, "'keep_datadirs.../x' is not a valid chain name"),
    ("max_instances", 0, "'max_instances' is 0"),
    ("restart.backoff_sec", "2s", "'restart.backoff_sec' must be a number"),
    ("restart.max_restart", 2, "'restart.max_restart' is not a known key"),
    ("surprise", 1, "'surprise' is not a known key"),
]


@pytest.mark.parametrize(("key", "value", "message"), BAD_CASES)
def test_bad_config_names_the_key(tmp_path: Path, key: str, value: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        load_config(_write(tmp_path, _mutate(key, value)))
    assert str(tmp_path) in str(info.value)  # says which file


def test_private_mode_needs_prefix_and_loopback_listen(tmp_path: Path) -> None:
    base: dict[str, Any] = {
        "public_url": "http://127.0.0.1:8080",
        "nginx": {"mode": "private", "prefix": str(tmp_path / "ng"), "listen": "127.0.0.1:8080"},
        "ports": {"first": 30000, "last": 30010},
        "state_dir": str(tmp_path / "s"),
        "data_dir": str(tmp_path / "d"),
    }
    cfg = parse_config(base)
    assert cfg.nginx.listen_port == 8080
    assert cfg.nginx.resolved_include_dir() == tmp_path / "ng/conf/erigolem"
    for listen in ("0.0.0.0:8080", "127.0.0.1", "127.0.0.1:99999", "localhost:80"):
        bad = copy.deepcopy(base)
        bad["nginx"]["listen"] = listen
        with pytest.raises(ConfigError, match=r"'nginx\.listen'"):
            parse_config(bad)
    bad = copy.deepcopy(base)
    del bad["nginx"]["prefix"]
    with pytest.raises(ConfigError, match=r"'nginx\.prefix' is missing"):
        parse_config(bad)


def test_top_level_must_be_an_object() -> None:
    with pytest.raises(ConfigError, match="must be a JSON object"):
        parse_config([1, 2])


# ------------------------------------------------------------------ local-config


def test_local_config_is_complete_and_kept(tmp_path: Path) -> None:
    from erigolem_runtime.localconfig import write_local_config

    path = write_local_config(tmp_path / "lc")
    cfg = load_config(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert cfg.nginx.mode == "private"
    assert cfg.nginx.prefix == (tmp_path / "lc/nginx").resolve()
    assert cfg.public_url == f"http://127.0.0.1:{cfg.nginx.listen_port}"
    assert len(cfg.ports) == 200
    assert cfg.nginx.listen_port not in range(cfg.ports.first, cfg.ports.last + 1)
    assert cfg.state_dir.is_relative_to(tmp_path)
    assert cfg.data_dir.is_relative_to(tmp_path)
    assert cfg.clients.anvil.binary is not None
    assert Path(cfg.clients.anvil.binary).name == "anvil"
    assert "dev" in cfg.chains
    first = path.read_text()
    assert write_local_config(tmp_path / "lc") == path
    assert path.read_text() == first  # same URL across restarts


def test_local_config_moves_off_a_taken_listen_port(tmp_path: Path) -> None:
    import socket

    from erigolem_runtime.localconfig import write_local_config

    path = write_local_config(tmp_path / "lc")
    old = load_config(path)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", old.nginx.listen_port))
        squatter.listen()
        new = load_config(write_local_config(tmp_path / "lc"))
    assert new.nginx.listen_port != old.nginx.listen_port
    assert new.public_url.endswith(str(new.nginx.listen_port))


def test_local_config_replaces_a_broken_file(tmp_path: Path) -> None:
    from erigolem_runtime.localconfig import write_local_config

    (tmp_path / "lc").mkdir()
    (tmp_path / "lc/erigolem-runtime.json").write_text('{"public_url": 1}')
    path = write_local_config(tmp_path / "lc")
    assert load_config(path).nginx.mode == "private"
    assert (tmp_path / "lc/erigolem-runtime.json.invalid").exists()


def test_runtime_config_fixture(runtime_config_path: Path) -> None:
    import os

    assert os.environ[CONFIG_ENV] == str(runtime_config_path)
    assert load_config().source == runtime_config_path


def test_erigon_nat_key_is_validated_and_round_trips(tmp_path: Path) -> None:
    data = copy.deepcopy(GOOD)
    data["clients"] = {"erigon": {"binary": "/opt/erigon", "nat": "extip:203.0.113.7"}}
    config = parse_config(data, base=tmp_path)
    assert config.clients.erigon.nat == "extip:203.0.113.7"
    assert parse_config(config.to_json(), base=tmp_path) == config
    data["clients"]["erigon"]["nat"] = "extip:not-an-ip"
    with pytest.raises(ConfigError, match=r"'clients\.erigon\.nat' is 'extip:not-an-ip'.*IP"):
        parse_config(data, base=tmp_path)

"""Warm mode: config section, start-argument mode, rpcdaemon argv and the offer property."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from erigolem_runtime import offer, warm
from erigolem_runtime.api import ErrorKind, ServiceError
from erigolem_runtime.config import ConfigError, RuntimeConfig, parse_config
from erigolem_runtime.datadirs import dead_datadirs

from tests.support import fake_erigon, fake_rpcdaemon
from tests.support.binaries import free_port


def make_config(tmp_path: Path, **overrides: Any) -> RuntimeConfig:
    data: dict[str, Any] = {
        "public_url": "http://127.0.0.1:18080",
        "nginx": {"mode": "private", "prefix": str(tmp_path / "ng"), "listen": "127.0.0.1:18080"},
        "ports": {"first": 30000, "last": 30099},
        "state_dir": str(tmp_path / "state"),
        "data_dir": str(tmp_path / "data"),
        "clients": {"erigon": {"binary": "/opt/erigon/erigon"}},
        "chains": ["mainnet", "sepolia"],
    }
    data.update(overrides)
    return parse_config(data, base=tmp_path)


def warm_section(datadir: Path, addr: str = "127.0.0.1:9090") -> dict[str, Any]:
    return {
        "rpcdaemon": "/opt/erigon/rpcdaemon",
        "chains": {"mainnet": {"private_api": addr, "datadir": str(datadir)}},
    }


def test_warm_section_parses_and_round_trips(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, warm=warm_section(tmp_path / "mainnet"))
    assert cfg.warm.rpcdaemon == "/opt/erigon/rpcdaemon"
    assert cfg.warm.chains["mainnet"] == warm.WarmChain("127.0.0.1:9090", tmp_path / "mainnet")
    again = parse_config(cfg.to_json(), base=tmp_path)
    assert again.warm == cfg.warm
    assert "warm" not in make_config(tmp_path).to_json()  # absent = off, and not written


@pytest.mark.parametrize(
    ("section", "match"),
    [
        ({"chains": {"mainnet": {"private_api": "127.0.0.1:9090", "datadir": "/d"}}}, "rpcdaemon"),
        (
            {
                "rpcdaemon": "r",
                "chains": {"mainnet": {"private_api": "0.0.0.0:9090", "datadir": "/d"}},
            },
            "loopback",
        ),
        ({"rpcdaemon": "r", "chains": {"mainnet": {"private_api": "127.0.0.1:9090"}}}, "datadir"),
        ({"rpcdaemon": "r", "chains": {"Main Net": {}}}, "not a valid chain name"),
        (
            {
                "rpcdaemon": "r",
                "chains": {"mainnet": {"private_api": "127.0.0.1:1", "datadir": "/d", "http": 1}},
            },
            "not a known key",
        ),
        ({"rpcdaemon": "r", "nodes": {}}, "not a known key"),
    ],
)
def test_bad_warm_section_says_what_to_fix(
    tmp_path: Path, section: dict[str, Any], match: str
) -> None:
    with pytest.raises(ConfigError, match=match):
        make_config(tmp_path, warm=section)


def test_warm_datadir_cannot_also_be_a_kept_datadir(tmp_path: Path) -> None:
    dd = tmp_path / "mainnet"
    with pytest.raises(ConfigError, match="second Erigon on the warm node's datadir"):
        make_config(tmp_path, warm=warm_section(dd), keep_datadirs={"mainnet": str(dd)})


def test_mode_argument() -> None:
    assert warm.parse_mode(None, "erigon") == "private"
    assert warm.parse_mode("warm", "erigon") == "warm"
    with pytest.raises(ServiceError, match="needs client erigon") as err:
        warm.parse_mode("warm", "anvil")
    assert err.value.kind is ErrorKind.BAD_ARGUMENT
    with pytest.raises(ServiceError, match="invalid mode 'hot': use one of private, warm"):
        warm.parse_mode("hot", "erigon")


def test_no_warm_node_for_chain_is_a_clear_refusal(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, warm=warm_section(tmp_path / "mainnet"))
    with pytest.raises(
        ServiceError, match=r"no warm Erigon for sepolia \(warm chains: mainnet\)"
    ) as e:
        warm.warm_chain_for(cfg.warm, "sepolia")
    assert e.value.kind is ErrorKind.CHAIN_NOT_OFFERED
    with pytest.raises(ServiceError, match=r"no warm Erigon for mainnet \(no warm chains\)"):
        warm.warm_chain_for(make_config(tmp_path).warm, "mainnet")


def test_rpcdaemon_argv_is_accepted_by_rpcdaemon_and_read_only(tmp_path: Path) -> None:
    node = warm.WarmChain("127.0.0.1:9090", tmp_path / "mainnet")
    argv = warm.rpcdaemon_argv("/opt/erigon/rpcdaemon", node, [31000])
    flags = fake_rpcdaemon.parse_args(argv[1:])  # FlagError on anything rpcdaemon does not define
    assert flags["--datadir"] == str(tmp_path / "mainnet")
    assert flags["--private.api.addr"] == flags["--txpool.api.addr"] == "127.0.0.1:9090"
    assert flags["--http.addr"] == "127.0.0.1"
    assert flags["--http.port"] == "31000"
    assert flags["--ws"] == "true"
    apis = set(flags["--http.api"].split(","))
    assert apis.isdisjoint({"admin", "engine", "db", "internal"})  # nothing that steers the node
    assert {"eth", "net", "web3", "debug", "trace"} <= apis
    assert flags["--log.dir.disable"] == "true"  # no log files in the shared datadir
    assert int(flags["--rpc.batch.limit"]) > 0


def test_rpcdaemon_stand_in_refuses_erigon_only_flags() -> None:
    with pytest.raises(fake_erigon.FlagError, match="not defined: --chain"):
        fake_rpcdaemon.parse_args(["--chain=mainnet"])
    with pytest.raises(fake_erigon.FlagError, match="API"):
        fake_rpcdaemon.parse_args(["--http.api=eth,personal"])


def test_offer_lists_warm_chains_only_when_servable(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, warm=warm_section(tmp_path / "mainnet"))
    props = offer.offer_template(cfg)["properties"]
    assert props["golem.runtime.erigon.warm-chains"] == ["mainnet"]
    not_offered = make_config(tmp_path, chains=["sepolia"], warm=warm_section(tmp_path / "m"))
    assert offer.offer_template(not_offered)["properties"]["golem.runtime.erigon.warm-chains"] == []
    assert (
        offer.offer_template(make_config(tmp_path))["properties"][
            "golem.runtime.erigon.warm-chains"
        ]
        == []
    )


def test_warm_datadir_in_data_dir_is_never_reaped(tmp_path: Path) -> None:
    dd = tmp_path / "data" / "0123456789abcdef"  # looks like a dead instance's datadir
    (dd / "chaindata").mkdir(parents=True)
    assert dead_datadirs(make_config(tmp_path)) == [dd]
    assert dead_datadirs(make_config(tmp_path, warm=warm_section(dd))) == []


def test_check_warns_about_a_warm_chain_that_would_fail(tmp_path: Path) -> None:
    erigon = tmp_path / "erigon"
    erigon.write_text("#!/bin/sh\necho 'erigon version 3.1.0'\n")
    erigon.chmod(0o755)
    dd = tmp_path / "warm"
    section = warm_section(dd, f"127.0.0.1:{free_port()}")  # nothing listens there
    section["rpcdaemon"] = str(tmp_path / "no-rpcdaemon")
    cfg = make_config(tmp_path, clients={"erigon": {"binary": str(erigon)}}, warm=section)
    rep = offer.check_config(cfg, create_dirs=False)
    text = "\n".join(rep.warnings)
    assert "set warm.rpcdaemon in the runtime config" in text
    assert "has no chaindata" in text
    assert "does not answer on 127.0.0.1:" in text
    assert not [e for e in rep.errors if "warm" in e]  # private rentals still work: no error


def test_check_is_quiet_about_a_healthy_warm_chain(tmp_path: Path) -> None:
    erigon = tmp_path / "erigon"
    erigon.write_text("#!/bin/sh\necho 'erigon version 3.1.0'\n")
    erigon.chmod(0o755)
    rpcd = tmp_path / "rpcdaemon"
    rpcd.write_text("#!/bin/sh\n")
    rpcd.chmod(0o755)
    (tmp_path / "warm" / "chaindata").mkdir(parents=True)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        section = warm_section(tmp_path / "warm", f"127.0.0.1:{listener.getsockname()[1]}")
        section["rpcdaemon"] = str(rpcd)
        cfg = make_config(tmp_path, clients={"erigon": {"binary": str(erigon)}}, warm=section)
        assert warm.warm_problems(cfg.warm, ["mainnet"]) == []

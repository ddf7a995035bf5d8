"""Offer template, plugin descriptor and self-test of the runtime."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

from erigolem_runtime import offer
from erigolem_runtime.api import DURATION_COUNTER, REQUESTS_COUNTER
from erigolem_runtime.config import RuntimeConfig, parse_config

from tests.support.binaries import anvil_path, nginx_path


def make_config(tmp_path: Path, **overrides: Any) -> RuntimeConfig:
    data: dict[str, Any] = {
        "public_url": "http://127.0.0.1:18080",
        "nginx": {
            "mode": "private",
            "binary": str(nginx_path() or "nginx"),
            "prefix": str(tmp_path / "nginx"),
            "listen": "127.0.0.1:18080",
        },
        "ports": {"first": 30000, "last": 30099},
        "state_dir": str(tmp_path / "state"),
        "data_dir": str(tmp_path / "data"),
        "clients": {"anvil": {"binary": str(anvil_path() or "anvil")}},
        "chains": ["dev"],
    }
    data.update(overrides)
    return parse_config(data, base=tmp_path)


def test_offer_template_shape(tmp_path: Path) -> None:
    kept = tmp_path / "sepolia-dd"
    kept.mkdir()
    erigon = tmp_path / "erigon"
    erigon.write_text("#!/bin/sh\n")
    cfg = make_config(
        tmp_path,
        clients={"anvil": {"binary": "/x/anvil"}, "erigon": {"binary": str(erigon)}},
        chains=["sepolia", "dev", "mainnet"],
        keep_datadirs={"sepolia": str(kept)},
    )
    tpl = offer.offer_template(cfg)
    assert set(tpl) == {"properties", "constraints"}
    assert tpl["constraints"] == ""
    props = tpl["properties"]
    assert props["golem.com.usage.vector"] == [DURATION_COUNTER, REQUESTS_COUNTER]
    assert props["golem.runtime.erigon.chains"] == ["sepolia", "dev", "mainnet"]
    assert props["golem.runtime.erigon.clients"] == ["erigon", "anvil"]
    assert props["golem.runtime.erigon.chain-ids"] == [1, 1337, 31337, 11155111]
    assert props["golem.runtime.erigon.synced-chains"] == ["sepolia"]
    assert props["golem.runtime.erigon.prune-mode"] == "full"
    assert "trace" in props["golem.runtime.erigon.apis"]
    json.dumps(tpl)  # one JSON object, printable as-is


def test_offer_template_only_advertises_what_can_run(tmp_path: Path) -> None:
    # mainnet is listed but no erigon binary: not advertised
    cfg = make_config(tmp_path, chains=["dev", "mainnet"])
    props = offer.offer_template(cfg)["properties"]
    assert props["golem.runtime.erigon.chains"] == ["dev"]
    assert props["golem.runtime.erigon.clients"] == ["anvil"]
    assert props["golem.runtime.erigon.chain-ids"] == [31337]


def test_offer_template_without_config() -> None:
    tpl = offer.offer_template(None)
    assert tpl["properties"]["golem.com.usage.vector"] == [DURATION_COUNTER, REQUESTS_COUNTER]
    assert tpl["properties"]["golem.runtime.erigon.chains"] == []


def test_plugin_descriptor_shape() -> None:
    desc = offer.plugin_descriptor("erigolem-runtime/erigolem-runtime", "1.2.3")
    assert isinstance(desc, list)
    assert len(desc) == 1
    d = desc[0]
    assert d["name"] == "erigon"
    assert d["version"] == "1.2.3"
    assert d["supervisor-path"] == "exe-unit"
    assert d["runtime-path"] == "erigolem-runtime/erigolem-runtime"
    assert d["extra-args"] == ["--runtime-managed-image"]
    assert d["description"]
    counters = d["config"]["counters"]
    assert counters[DURATION_COUNTER] == {
        "name": "duration",
        "description": "Duration",
        "price": True,
    }
    assert counters[REQUESTS_COUNTER]["name"] == "requests"
    assert counters[REQUESTS_COUNTER]["price"] is True


def test_write_plugin_descriptor_atomic(tmp_path: Path) -> None:
    plugins = tmp_path / "plugins"
    path = offer.write_plugin_descriptor(plugins, "/opt/erigolem/erigolem-runtime")
    assert path == plugins / "ya-runtime-erigon.json"
    data = json.loads(path.read_text())
    assert data[0]["runtime-path"] == "/opt/erigolem/erigolem-runtime"
    assert data[0]["version"] == offer.runtime_version()
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    # rewriting replaces it, leaving no temporary file behind
    offer.write_plugin_descriptor(plugins, "/other")
    assert [p.name for p in plugins.iterdir()] == ["ya-runtime-erigon.json"]
    assert json.loads(path.read_text())[0]["runtime-path"] == "/other"


def test_runtime_version_is_semver() -> None:
    parts = offer.runtime_version().split(".")
    assert len(parts) >= 3
    assert all(p.isdigit() for p in parts[:2])


def test_self_test_ok_with_real_binaries(tmp_path: Path, anvil_bin: Path, nginx_bin: Path) -> None:
    assert offer.self_test(make_config(tmp_path)) == []


def test_self_test_reports_problems(tmp_path: Path) -> None:
    broken = tmp_path / "erigon"
    broken.write_text("#!/bin/sh\necho boom >&2\nexit 3\n")
    broken.chmod(0o755)
    kept = tmp_path / "missing-dd"
    cfg = make_config(
        tmp_path,
        nginx={
            "mode": "private",
            "binary": str(tmp_path / "no-nginx"),
            "prefix": str(tmp_path / "nginx"),
            "listen": "127.0.0.1:30002",
        },
        clients={
            "anvil": {"binary": str(tmp_path / "no-anvil")},
            "erigon": {"binary": str(broken)},
        },
        chains=["dev", "sepolia"],
        keep_datadirs={"sepolia": str(kept)},
        ports={"first": 30000, "last": 30004},
    )
    problems = "\n".join(offer.self_test(cfg))
    assert "clients.anvil.binary" in problems
    assert "exited with code 3: boom" in problems
    assert "nginx" in problems
    assert "keep_datadirs.sepolia" in problems
    assert "one instance needs 11" in problems
    assert "inside ports.first..ports.last" in problems


def test_self_test_no_client(tmp_path: Path, nginx_bin: Path) -> None:
    cfg = make_config(tmp_path, clients={})
    problems = offer.self_test(cfg)
    assert any("no Ethereum client configured" in p for p in problems)
    assert any("chain dev is offered but no configured client" in p for p in problems)

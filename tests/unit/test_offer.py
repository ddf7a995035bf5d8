"""Offer template, plugin descriptor and self-test of the runtime."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from erigolem_runtime import offer
from erigolem_runtime.api import DURATION_COUNTER, REQUESTS_COUNTER
from erigolem_runtime.config import RuntimeConfig, parse_config
from erigolem_runtime.version import is_semver, runtime_version, semver_of

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
    assert data[0]["version"] == runtime_version()
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    # rewriting replaces it, leaving no temporary file behind
    offer.write_plugin_descriptor(plugins, "/other")
    assert [p.name for p in plugins.iterdir()] == ["ya-runtime-erigon.json"]
    assert json.loads(path.read_text())[0]["runtime-path"] == "/other"


def test_runtime_version_is_semver() -> None:
    assert is_semver(runtime_version()), runtime_version()


@pytest.mark.parametrize(
    ("pep440", "semver"),
    [
        ("0.1.0", "0.1.0"),
        ("0.1.0.dev1", "0.1.0-dev.1"),
        ("1.2", "1.2.0"),
        ("2", "2.0.0"),
        ("1.0.0rc2", "1.0.0-rc.2"),
        ("1.0.0a1.dev3", "1.0.0-alpha.1.dev.3"),
        ("1.0.0.post2", "1.0.0+post2"),
        ("1.2.3.4", "1.2.3+r4"),
        ("0.1.0.dev1+g1234.dirty", "0.1.0-dev.1+g1234-dirty"),
        ("0.1.0+local.7", "0.1.0+local.7"),
        ("1.0.0b1", "1.0.0-beta.1"),
        ("not a version", "0.0.0+unknown"),
    ],
)
def test_pep440_versions_become_semver(pep440: str, semver: str) -> None:
    assert semver_of(pep440) == semver
    assert is_semver(semver_of(pep440))


def test_descriptor_version_is_semver_whatever_the_package_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ya-provider drops the whole descriptor file when `version` is not SemVer."""
    from importlib import metadata

    monkeypatch.setattr(metadata, "version", lambda _name: "0.1.0.dev1")
    assert runtime_version() == "0.1.0-dev.1"
    path = offer.write_plugin_descriptor(tmp_path / "plugins", "/opt/erigolem-runtime")
    assert json.loads(path.read_text())[0]["version"] == "0.1.0-dev.1"
    assert offer.plugin_descriptor("x", "2.0.dev0")[0]["version"] == "2.0.0-dev.0"


def test_version_fallback_is_one_value(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hello reply and the descriptor share one fallback (they were 0.0.0 and 0.1.0)."""
    from importlib import metadata

    def missing(_name: str) -> str:
        raise metadata.PackageNotFoundError("erigolem-runtime")

    monkeypatch.setattr(metadata, "version", missing)
    assert runtime_version() == "0.0.0"
    assert offer.plugin_descriptor("x", runtime_version())[0]["version"] == "0.0.0"


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
    assert "binary" in problems
    assert "exited with code 3: boom" in problems
    assert "nginx" in problems
    assert "keep_datadirs.sepolia" in problems
    assert "one instance needs 11" in problems
    assert "inside ports.first..ports.last" in problems


def test_self_test_no_client(tmp_path: Path, nginx_bin: Path) -> None:
    cfg = make_config(tmp_path, clients={})
    problems = offer.self_test(cfg)
    assert any("no Ethereum client configured" in p for p in problems)
    warnings = offer.check_config(cfg).warnings
    assert any("chain dev is listed but no configured client serves it" in w for w in warnings)


def test_test_fails_only_for_what_stops_serving(tmp_path: Path, anvil_bin: Path) -> None:
    """ya-provider aborts start-up when `test` fails: an unused anvil or a tight port range
    are warnings (they stop nothing being served), not errors."""
    erigon = tmp_path / "erigon"
    erigon.write_text("#!/bin/sh\necho 'erigon version 3.1.0'\n")
    erigon.chmod(0o755)
    cfg = make_config(
        tmp_path,
        clients={"anvil": {"binary": str(anvil_bin)}, "erigon": {"binary": str(erigon)}},
        chains=["hoodi"],
        ports={"first": 30000, "last": 30011},
        max_instances=3,
    )
    report = offer.check_config(cfg)
    assert report.errors == []
    assert offer.self_test(cfg) == []
    warnings = "\n".join(report.warnings)
    assert "anvil is configured but none of its chains (dev) is in chains" in warnings
    assert "3 instances (max_instances) need up to 33" in warnings


def test_test_fails_when_no_offered_chain_can_be_served(tmp_path: Path, anvil_bin: Path) -> None:
    cfg = make_config(tmp_path, clients={"anvil": {"binary": str(anvil_bin)}}, chains=["hoodi"])
    errors = offer.self_test(cfg)
    assert any("no offered chain can be served" in e for e in errors), errors


def test_unused_broken_client_is_a_warning(tmp_path: Path) -> None:
    """A broken anvil when dev is not offered stops nothing: warning; offered: error."""
    erigon = tmp_path / "erigon"
    erigon.write_text("#!/bin/sh\necho 'erigon version 3.1.0'\n")
    erigon.chmod(0o755)
    clients = {"anvil": {"binary": "/bin/false"}, "erigon": {"binary": str(erigon)}}
    report = offer.check_config(make_config(tmp_path, clients=clients, chains=["sepolia"]))
    assert report.errors == []
    assert any("anvil binary /bin/false does not run" in w for w in report.warnings)
    cfg = make_config(tmp_path, clients=clients, chains=["dev", "sepolia"])
    assert any("anvil binary /bin/false does not run" in e for e in offer.self_test(cfg))


def test_check_config_without_creating_dirs_writes_nothing(tmp_path: Path, anvil_bin: Path) -> None:
    cfg = make_config(tmp_path)
    assert offer.check_config(cfg, create_dirs=False).errors == []
    assert not (tmp_path / "state").exists()
    assert not (tmp_path / "data").exists()
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    cfg = make_config(tmp_path, state_dir=str(ro / "state"))
    errors = offer.check_config(cfg, create_dirs=False).errors
    if os.geteuid() != 0:  # root writes anywhere
        assert any("state_dir" in e and "not writable" in e for e in errors), errors


def test_check_config_refuses_prune_blocks_on_erigon_3_0(tmp_path: Path) -> None:
    """`test` (ya-provider's start-up check) and setup's review refuse what 3.0 runs as archive."""
    from tests.support.binaries import fake_erigon_binary

    def report(version: str) -> offer.ConfigReport:
        binary = fake_erigon_binary(tmp_path / version, version)
        clients = {"erigon": {"binary": str(binary), "prune_mode": "blocks"}}
        return offer.check_config(make_config(tmp_path, clients=clients, chains=["sepolia"]))

    assert any(
        "Erigon 3.0.4 does not know --prune.mode=blocks" in e for e in report("3.0.4").errors
    )
    assert not any("prune.mode" in e for e in report("3.1.2").errors)

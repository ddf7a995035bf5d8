"""Setup coexists with golemsp: presets.json shaped as golemsp leaves it, its "set up" test,
its re-pricing of every runtime, and the old `golemsp settings set` that updated all presets.

ya-provider and golemsp are not installable here; tests/support/ya_provider_rules.py restates
the rules they apply (read from golemfactory/yagna), and these tests hold the setup to them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from erigolem_provider.checks import _check_presets
from erigolem_provider.layout import Layout
from erigolem_provider.pricing import DEFAULT_PRESET, Pricing, merged_presets
from erigolem_runtime.api import DURATION_COUNTER, REQUESTS_COUNTER, RUNTIME_NAME
from erigolem_runtime.offer import offer_template, plugin_descriptor

from tests.support.ya_provider_rules import (
    YaProviderError,
    apply_prices,
    classic_preset,
    golemsp_configured,
    golemsp_presets_json,
    golemsp_run_setup,
    offer_coefficients,
)

VM_DESCRIPTOR: dict[str, Any] = {"name": "vm"}  # no config: ya-provider's default counters
VM_DESCRIPTOR["config"] = {
    "counters": {
        "golem.usage.duration_sec": {"name": "duration", "description": "", "price": True},
        "golem.usage.cpu_sec": {"name": "cpu", "description": "", "price": True},
    }
}


def golemsp_node(tmp_path: Path) -> Path:
    """presets.json after `golemsp run` set up vm and wasmtime (default deactivated)."""
    path = tmp_path / "presets.json"
    path.write_text(
        golemsp_presets_json(
            [
                classic_preset("default", "wasmtime", 0.1),
                classic_preset("vm", "vm", 0.025),
                classic_preset("wasmtime", "wasmtime", 0.025),
            ],
            ["vm", "wasmtime"],
        )
    )
    return path


def ours() -> dict[str, Any]:
    return plugin_descriptor("/opt/erigolem-runtime", "0.1.0")[0]


def test_setup_leaves_golemsp_seeing_a_configured_node(tmp_path: Path) -> None:
    path = golemsp_node(tmp_path)
    before = json.loads(path.read_text())
    after = json.loads(merged_presets(path, Pricing(per_hour=0.36, per_1k_requests=0.5)))
    assert golemsp_configured(["vm", "wasmtime", RUNTIME_NAME], after)
    assert not golemsp_configured(["vm", "wasmtime", RUNTIME_NAME], before)
    assert after["active"] == ["vm", "wasmtime", RUNTIME_NAME]
    assert [p for p in after["presets"] if p["name"] != RUNTIME_NAME] == before["presets"]
    (preset,) = [p for p in after["presets"] if p["name"] == RUNTIME_NAME]
    assert preset["exeunit-name"] == RUNTIME_NAME
    assert DEFAULT_PRESET == RUNTIME_NAME


def test_golemsp_re_pricing_every_runtime_keeps_the_erigon_offer_valid(tmp_path: Path) -> None:
    """A runtime without its preset (a new vm) makes `golemsp run` push CPU/Duration/Init price
    to every runtime: the push must resolve for ours, and our offer must still be priced."""
    path = golemsp_node(tmp_path)
    data = json.loads(merged_presets(path, Pricing(initial=1.0, per_1k_requests=0.5)))
    data["presets"] = [p for p in data["presets"] if p["name"] != "vm"]
    data["active"].remove("vm")
    assert not golemsp_configured(["vm", "wasmtime", RUNTIME_NAME], data)
    repriced = golemsp_run_setup(
        data, {"vm": VM_DESCRIPTOR, "wasmtime": VM_DESCRIPTOR, RUNTIME_NAME: ours()}, 0.025
    )
    assert golemsp_configured(["vm", "wasmtime", RUNTIME_NAME], repriced)
    (preset,) = [p for p in repriced["presets"] if p["name"] == RUNTIME_NAME]
    vector = offer_template(None)["properties"]["golem.com.usage.vector"]
    coeffs = offer_coefficients(preset, vector)
    assert coeffs == [pytest.approx(0.025 / 3600 / 5), pytest.approx(0.5 / 1000), 0.0]
    assert sorted(k for k in preset["usage-coeffs"] if k in vector) == sorted(
        [DURATION_COUNTER, REQUESTS_COUNTER]
    )


def test_old_golemsp_settings_price_update_of_all_presets_resolves_for_ours() -> None:
    """Older golemsp ran `ya-provider preset update --all --price CPU=… Duration=… "Init
    price"=…`; an unknown name fails the whole command, for every runtime."""
    preset = Pricing().preset()
    apply_prices(preset, ours(), {"CPU": 0.1, "Duration": 0.2, "Init price": 0.3})
    assert preset["initial-price"] == 0.3
    assert preset["usage-coeffs"][DURATION_COUNTER] == 0.2
    with pytest.raises(YaProviderError, match="invalid coefficient name = GPU"):
        apply_prices(Pricing().preset(), ours(), {"GPU": 1.0})


def test_the_descriptor_names_the_prices_golemsp_sets() -> None:
    names = {c["name"] for c in ours()["config"]["counters"].values()}
    assert {"duration", "requests", "cpu"} <= names
    # CPU is accepted but never charged: it is not in the usage vector
    assert "golem.usage.cpu_sec" not in offer_template(None)["properties"]["golem.com.usage.vector"]


def test_check_flags_a_preset_not_named_after_the_runtime(tmp_path: Path) -> None:
    layout = Layout.for_root(tmp_path, ya_provider_data_dir=tmp_path / "ya")
    layout.presets_path.parent.mkdir(parents=True)
    preset = {**Pricing().preset(), "name": "my-erigon"}
    layout.presets_path.write_text(golemsp_presets_json([preset], ["my-erigon"]))
    (finding,) = _check_presets(layout)
    assert finding.level == "error"
    assert "golemsp then treats the node as not set up" in finding.message
    layout.presets_path.write_text(merged_presets(layout.presets_path, Pricing()))
    (finding,) = _check_presets(layout)
    assert finding.level == "ok", finding


def test_preset_name_is_not_asked_any_more() -> None:
    """The name is fixed: a chosen name would break golemsp's set-up test."""
    from erigolem_provider.answers import FIELDS
    from erigolem_provider.cli import build_parser

    assert "preset_name" not in FIELDS
    with pytest.raises(SystemExit):
        build_parser().parse_args(["setup", "--preset-name", "x"])

"""Stand-in for the parts of ya-provider and golemsp that touch this runtime's preset.

Neither ya-provider nor golemsp can be installed here (no registry ships them), so the rules
they apply are restated from reading golemfactory/yagna (``agent/provider`` and ``golem_cli``):

- presets.json V1: ``{"ver": "V1", "active": [names], "presets": [{name, exeunit-name,
  pricing-model, initial-price, usage-coeffs}]}``, presets sorted by name, written with
  two-space indentation and no trailing newline; every active name must exist.
- A ``--price NAME=VALUE`` resolves ``NAME`` against the runtime descriptor's
  ``config.counters``: an exact usage-property key, else a counter whose ``name`` equals
  ``NAME`` ignoring ASCII case; ``Init price`` (or ``initial``, any case) sets the fixed price;
  anything else fails the whole command.
- golemsp counts a node as set up only when every runtime has a preset named after the runtime
  with that runtime as its exe-unit; otherwise ``golemsp run`` creates or updates, for every
  runtime, a preset of the runtime's name with ``CPU``, ``Duration`` and ``Init price`` prices,
  and activates it.
- An offer keeps the preset coefficients whose keys are in the runtime template's usage vector;
  none left is an error ("Unsupported coefficients").
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any


class YaProviderError(Exception):
    """What ya-provider would exit non-zero with."""


def golemsp_presets_json(presets: Sequence[Mapping[str, Any]], active: Sequence[str]) -> str:
    """presets.json as ya-provider writes it on golemsp's behalf (sorted, 2-space, no newline)."""
    ordered = sorted(presets, key=lambda p: str(p["name"]))
    return json.dumps({"ver": "V1", "active": list(active), "presets": ordered}, indent=2)


def classic_preset(name: str, exeunit: str, per_hour: float) -> dict[str, Any]:
    """A preset as golemsp creates it for a vm/wasmtime runtime."""
    return {
        "name": name,
        "exeunit-name": exeunit,
        "pricing-model": "linear",
        "initial-price": 0.0,
        "usage-coeffs": {
            "golem.usage.cpu_sec": per_hour / 3600.0,
            "golem.usage.duration_sec": per_hour / 3600.0 / 5.0,
        },
    }


def resolve_price(descriptor: Mapping[str, Any], name: str) -> str | None:
    """The usage property ``name`` prices (None for the fixed price); YaProviderError if none."""
    if name == "Init price" or name.lower() == "initial":
        return None
    counters: Mapping[str, Any] = (descriptor.get("config") or {}).get("counters") or {}
    if name in counters:
        return name
    for prop, definition in counters.items():
        if str(definition.get("name", "")).lower() == name.lower():
            return str(prop)
    raise YaProviderError(f"invalid coefficient name = {name}")


def apply_prices(
    preset: dict[str, Any], descriptor: Mapping[str, Any], prices: Mapping[str, float]
) -> None:
    """``ya-provider preset create/update --price NAME=VALUE ...`` on one preset (all or none)."""
    resolved = [(resolve_price(descriptor, n), v) for n, v in prices.items()]
    for prop, value in resolved:
        if prop is None:
            preset["initial-price"] = value
        else:
            preset.setdefault("usage-coeffs", {})[prop] = value


def golemsp_configured(runtimes: Sequence[str], presets: Mapping[str, Any]) -> bool:
    """golemsp's "is this node set up" test."""
    by_name = {str(p.get("name")): p.get("exeunit-name") for p in presets.get("presets", [])}
    return all(by_name.get(r) == r for r in runtimes)


def golemsp_run_setup(
    presets: dict[str, Any], descriptors: Mapping[str, Mapping[str, Any]], glm_per_hour: float
) -> dict[str, Any]:
    """What ``golemsp run`` does to presets.json on a node it counts as not set up."""
    prices = {
        "CPU": glm_per_hour / 3600.0,
        "Duration": glm_per_hour / 3600.0 / 5.0,
        "Init price": 0.0,
    }
    out: dict[str, Any] = json.loads(json.dumps(presets))
    for runtime, descriptor in descriptors.items():
        found = [p for p in out["presets"] if p.get("name") == runtime]
        if found:
            preset = found[0]
        else:
            preset = {
                "name": runtime,
                "exeunit-name": runtime,
                "pricing-model": "linear",
                "initial-price": 0.0,
                "usage-coeffs": {},
            }
            out["presets"].append(preset)
        preset["exeunit-name"] = runtime
        apply_prices(preset, descriptor, prices)
        if runtime not in out["active"]:
            out["active"].append(runtime)
    if "default" in out["active"]:
        out["active"].remove("default")
    return out


def offer_coefficients(preset: Mapping[str, Any], usage_vector: Sequence[str]) -> list[float]:
    """``golem.com.pricing.model.linear.coeffs`` of the offer built from ``preset``."""
    coeffs = preset.get("usage-coeffs") or {}
    kept = sorted(k for k in coeffs if k in usage_vector)
    if not kept:
        raise YaProviderError("Unsupported coefficients")
    return [float(coeffs[k]) for k in kept] + [float(preset.get("initial-price", 0.0))]

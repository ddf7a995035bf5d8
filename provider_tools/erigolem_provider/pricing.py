"""The pricing preset for runtime ``erigon``: coefficients, presets.json V1, ya-provider commands.

Prices are entered the way providers think (GLM to start, per hour, per 1000 requests) and
turned into linear-model coefficients per counter (per second, per request).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from erigolem_runtime.api import DURATION_COUNTER, REQUESTS_COUNTER, RUNTIME_NAME

DEFAULT_PRESET = RUNTIME_NAME
"""golemsp treats a node as configured only when every runtime has a preset *named after it*
(with that runtime as its exe-unit); otherwise ``golemsp run`` re-prices every runtime. So the
preset is always called ``erigon``."""


class PresetsError(Exception):
    """presets.json exists but cannot be merged; the message says what to do."""


@dataclass(frozen=True)
class Pricing:
    """Prices in GLM: fixed start price, per hour of running, per 1000 requests served."""

    initial: float = 0.0
    per_hour: float = 0.1
    per_1k_requests: float = 0.01

    def problems(self) -> list[tuple[str, str]]:
        """(field, message) for each invalid price."""
        out: list[tuple[str, str]] = []
        for name, value in (
            ("initial_price", self.initial),
            ("price_per_hour", self.per_hour),
            ("price_per_1k_requests", self.per_1k_requests),
        ):
            if not math.isfinite(value) or value < 0:
                out.append((name, f"{name.replace('_', ' ')} must be a number >= 0 (GLM)"))
        return out

    @property
    def preset_name(self) -> str:
        """Always the runtime's name (see DEFAULT_PRESET)."""
        return DEFAULT_PRESET

    def coeffs(self) -> dict[str, float]:
        return {
            DURATION_COUNTER: round(self.per_hour / 3600.0, 12),
            REQUESTS_COUNTER: round(self.per_1k_requests / 1000.0, 12),
        }

    def preset(self) -> dict[str, Any]:
        """This preset in presets.json V1 form."""
        return {
            "name": self.preset_name,
            "exeunit-name": RUNTIME_NAME,
            "pricing-model": "linear",
            "initial-price": float(self.initial),
            "usage-coeffs": self.coeffs(),
        }


def merged_presets(path: Path, pricing: Pricing) -> str:
    """presets.json (V1) with our preset added or replaced and activated; others untouched."""
    data: dict[str, Any]
    if path.exists():
        try:
            data = json.loads(path.read_text())
        except ValueError as exc:
            raise PresetsError(
                f"{path} is not valid JSON ({exc}): fix or remove it, then run setup again"
            ) from exc
        if not isinstance(data, dict) or not isinstance(data.get("presets"), list):
            raise PresetsError(f"{path} has no presets list: fix or remove it")
        if data.get("ver") != "V1":
            raise PresetsError(
                f'{path} is in an old format (no "ver": "V1"): run `ya-provider preset list` '
                "once so ya-provider upgrades it, then run setup again"
            )
    else:
        data = {"ver": "V1", "active": [], "presets": []}
    ours = pricing.preset()
    presets = [
        p for p in data["presets"] if not (isinstance(p, dict) and p.get("name") == ours["name"])
    ]
    index = next(
        (
            i
            for i, p in enumerate(data["presets"])
            if isinstance(p, dict) and p.get("name") == ours["name"]
        ),
        len(presets),
    )
    presets.insert(index, ours)
    active = list(data.get("active") or [])
    if ours["name"] not in active:
        active.append(ours["name"])
    out = {**data, "ver": "V1", "active": active, "presets": presets}
    return json.dumps(out, indent=2) + "\n"


def preset_matches(path: Path, pricing: Pricing) -> bool:
    """True when presets.json already holds exactly our preset, active."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    if not isinstance(data, dict):
        return False
    ours = pricing.preset()
    found = [
        p for p in data.get("presets", []) if isinstance(p, dict) and p.get("name") == ours["name"]
    ]
    return bool(found) and found[0] == ours and ours["name"] in (data.get("active") or [])


def ya_provider_commands(ya_provider: str, pricing: Pricing, exists: bool) -> list[list[str]]:
    """The ``ya-provider preset`` command lines that create (or replace) and activate our preset.

    Price names are the descriptor's counter names (``duration``, ``requests``); ``Init price``
    sets the fixed price (runtime-protocol.md §3).
    """
    c = pricing.coeffs()
    cmds: list[list[str]] = []
    if exists:
        cmds.append([ya_provider, "preset", "remove", pricing.preset_name])
    cmds.append(
        [
            ya_provider,
            "preset",
            "create",
            "--no-interactive",
            "--preset-name",
            pricing.preset_name,
            "--exe-unit",
            RUNTIME_NAME,
            "--pricing",
            "linear",
            "--price",
            f"duration={_num(c[DURATION_COUNTER])}",
            "--price",
            f"requests={_num(c[REQUESTS_COUNTER])}",
            "--price",
            f"Init price={_num(pricing.initial)}",
        ]
    )
    cmds.append([ya_provider, "preset", "activate", pricing.preset_name])
    return cmds


def preset_exists(path: Path, name: str) -> bool:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and any(
        isinstance(p, dict) and p.get("name") == name for p in data.get("presets", [])
    )


def _num(x: float) -> str:
    return format(x, ".12g")

"""The JSON-RPC method catalog (`resources/methods.json`): names, parameters, one-line help.

Used by the console (completion, parameter templates) and the CLI. `filter_modules()` narrows it
to the modules a node actually serves, as reported by its `rpc_modules` call.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from erigolem_desktop.core.paths import resources_dir


class CatalogError(Exception):
    """The catalog file is missing or malformed (a packaging bug): the message names the file."""


@dataclass(frozen=True)
class Param:
    """One positional parameter: its name, JSON-RPC type name and an example value."""

    name: str
    type: str
    example: Any
    optional: bool = False


@dataclass(frozen=True)
class Method:
    """A JSON-RPC method of the catalog."""

    name: str
    module: str
    description: str
    params: tuple[Param, ...]

    def template(self, include_optional: bool = False) -> list[Any]:
        """Example params, ready to edit: the required ones (and the optional ones if asked)."""
        return [p.example for p in self.params if include_optional or not p.optional]

    def signature(self) -> str:
        """`name(a, b, [c])` for help text and completion popups."""
        parts = [f"[{p.name}]" if p.optional else p.name for p in self.params]
        return f"{self.name}({', '.join(parts)})"


class Catalog:
    """An immutable collection of methods, searchable by name, prefix and module."""

    def __init__(self, methods: Iterable[Method], modules: Mapping[str, str]) -> None:
        self._methods = {m.name: m for m in methods}
        self.modules: dict[str, str] = dict(modules)

    def __len__(self) -> int:
        return len(self._methods)

    def __contains__(self, name: object) -> bool:
        return name in self._methods

    def get(self, name: str) -> Method | None:
        """The method called `name`, or None."""
        return self._methods.get(name)

    def methods(self) -> list[Method]:
        """All methods sorted by name."""
        return sorted(self._methods.values(), key=lambda m: m.name)

    def names(self) -> list[str]:
        return [m.name for m in self.methods()]

    def complete(self, prefix: str) -> list[str]:
        """Method names starting with `prefix` (case-insensitive), sorted."""
        low = prefix.lower()
        return [n for n in self.names() if n.lower().startswith(low)]

    def by_module(self, module: str) -> list[Method]:
        return [m for m in self.methods() if m.module == module]

    def filter_modules(self, rpc_modules: Mapping[str, Any] | Iterable[str]) -> Catalog:
        """Only the methods of modules the node serves (`rpc_modules` result or a list of names).

        `rpc_modules` itself is always kept: it is how the modules are found out.
        """
        served = set(rpc_modules.keys() if isinstance(rpc_modules, Mapping) else rpc_modules)
        served.add("rpc")
        keep = [m for m in self._methods.values() if m.module in served]
        return Catalog(keep, {k: v for k, v in self.modules.items() if k in served})


def _parse(data: Any, source: str) -> Catalog:
    try:
        modules = {str(k): str(v) for k, v in data["modules"].items()}
        methods = []
        for raw in data["methods"]:
            params = tuple(
                Param(str(p["name"]), str(p["type"]), p["example"], bool(p.get("optional", False)))
                for p in raw.get("params", [])
            )
            methods.append(
                Method(str(raw["name"]), str(raw["module"]), str(raw["description"]), params)
            )
    except (KeyError, TypeError, AttributeError) as exc:
        raise CatalogError(f"The method catalog {source} is malformed ({exc!r}).") from exc
    return Catalog(methods, modules)


def load_catalog(path: Path | None = None) -> Catalog:
    """Load the catalog from `path` (default: the bundled `resources/methods.json`)."""
    if path is None:
        return _default_catalog()
    return _load(path)


def _load(path: Path) -> Catalog:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CatalogError(
            f"Could not read the method catalog {path}: {exc}. Reinstall the app."
        ) from exc
    return _parse(data, str(path))


@lru_cache(maxsize=1)
def _default_catalog() -> Catalog:
    return _load(resources_dir() / "methods.json")

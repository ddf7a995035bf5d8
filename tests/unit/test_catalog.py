"""The method catalog: real method names and parameter shapes, lookup, templates, module filter."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from erigolem_desktop.core.catalog import Catalog, CatalogError, load_catalog

REQUIRED_MODULES = {"eth", "net", "web3", "erigon", "trace", "debug", "txpool"}


def test_bundled_catalog_covers_the_modules() -> None:
    cat = load_catalog()
    assert set(cat.modules) >= REQUIRED_MODULES
    for module in REQUIRED_MODULES:
        assert cat.by_module(module), module
    assert len(cat) >= 60
    for m in cat.methods():
        assert m.name.startswith(m.module + "_")
        assert m.description
        assert "\n" not in m.description
        # optional params only at the end (positional JSON-RPC)
        flags = [p.optional for p in m.params]
        assert flags == sorted(flags), m.name


def test_lookup_and_templates() -> None:
    cat = load_catalog()
    assert "eth_chainId" in cat
    assert cat.get("eth_nope") is None
    bal = cat.get("eth_getBalance")
    assert bal is not None
    assert bal.template() == ["0x742d35Cc6634C0532925a3b844Bc454e4438f44e", "latest"]
    assert bal.signature() == "eth_getBalance(address, block)"
    call = cat.get("eth_call")
    assert call is not None
    assert len(call.template()) == 2
    assert len(call.template(include_optional=True)) == 3
    assert call.signature().endswith("[stateOverrides])")
    tx = cat.get("debug_traceTransaction")
    assert tx is not None
    assert tx.template(include_optional=True)[1] == {"tracer": "callTracer"}
    assert cat.get("eth_chainId").template() == []  # type: ignore[union-attr]
    # Templates are JSON values, ready to send
    for m in cat.methods():
        json.dumps(m.template(include_optional=True))


def test_complete_is_prefix_and_case_insensitive() -> None:
    cat = load_catalog()
    names = cat.complete("eth_getB")
    assert "eth_getBalance" in names
    assert "eth_getBlockByNumber" in names
    assert all(n.startswith("eth_getB") for n in names)
    assert cat.complete("TXPOOL_") == cat.complete("txpool_")
    assert cat.complete("zzz") == []


def test_filter_by_rpc_modules() -> None:
    cat = load_catalog()
    # what anvil reports for rpc_modules is not standard; Erigon reports a mapping like this:
    served = cat.filter_modules({"eth": "1.0", "net": "1.0", "web3": "1.0"})
    modules = {m.module for m in served.methods()}
    assert modules == {"eth", "net", "web3", "rpc"}
    assert "debug_traceTransaction" not in served
    assert "rpc_modules" in served
    assert set(served.modules) == {"eth", "net", "web3", "rpc"}
    assert {m.module for m in cat.filter_modules(["trace"]).methods()} == {"trace", "rpc"}


def test_malformed_catalog_is_reported(tmp_path: Path) -> None:
    bad = tmp_path / "methods.json"
    bad.write_text('{"modules": {}, "methods": [{"name": "x"}]}')
    with pytest.raises(CatalogError, match="malformed"):
        load_catalog(bad)
    bad.write_text("not json")
    with pytest.raises(CatalogError, match="Could not read"):
        load_catalog(bad)
    with pytest.raises(CatalogError, match="Could not read"):
        load_catalog(tmp_path / "missing.json")


def test_empty_catalog() -> None:
    cat = Catalog([], {})
    assert len(cat) == 0
    assert cat.complete("") == []

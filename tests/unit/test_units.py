"""hex/decimal and wei/ether conversions: exact, and bad input rejected with a clear message."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from erigolem_desktop.core import units
from erigolem_desktop.core.units import UnitError


def test_hex_roundtrip_basics() -> None:
    assert units.to_hex(0) == "0x0"
    assert units.to_hex(26) == "0x1a"
    assert units.from_hex("0x1a") == 26
    assert units.from_hex("0X1A") == 26
    assert units.from_hex("0x") == 0


@given(st.integers(min_value=0, max_value=2**256))
def test_hex_roundtrip_property(n: int) -> None:
    assert units.from_hex(units.to_hex(n)) == n


@pytest.mark.parametrize("bad", ["1a", "0xzz", "", "0x1 2", "ether"])
def test_from_hex_rejects(bad: str) -> None:
    with pytest.raises(UnitError, match="not a hex number"):
        units.from_hex(bad)


def test_to_hex_rejects_negative() -> None:
    with pytest.raises(UnitError, match="negative"):
        units.to_hex(-1)


def test_parse_int() -> None:
    assert units.parse_int("26") == 26
    assert units.parse_int(" 0x1a ") == 26
    assert units.parse_int("1_000") == 1000
    with pytest.raises(UnitError, match="not an integer"):
        units.parse_int("1.5")


def test_wei_conversions_are_exact() -> None:
    assert units.to_wei("0.1", "ether") == 10**17
    assert units.to_wei(Decimal("1.5"), "ether") == 1_500_000_000_000_000_000
    assert units.to_wei(20, "gwei") == 20_000_000_000
    assert units.from_wei(10**17) == Decimal("0.1")
    assert units.from_wei(1) == Decimal("0.000000000000000001")
    assert str(units.from_wei(10 * 10**18)) == "10"  # not 1E+1
    assert units.from_wei(123_456_789, "gwei") == Decimal("0.123456789")


@given(st.integers(min_value=0, max_value=10**40))
def test_wei_ether_roundtrip_property(wei: int) -> None:
    assert units.to_wei(units.from_wei(wei, "ether"), "ether") == wei
    assert units.to_wei(units.from_wei(wei, "gwei"), "gwei") == wei


def test_to_wei_rejects_fractional_wei_and_unknown_units() -> None:
    with pytest.raises(UnitError, match="whole number of wei"):
        units.to_wei("0.5", "wei")
    with pytest.raises(UnitError, match="Unknown unit 'bitcoin'"):
        units.to_wei("1", "bitcoin")
    with pytest.raises(UnitError, match="not a number"):
        units.to_wei("abc", "ether")
    with pytest.raises(UnitError, match="finite"):
        units.to_wei("Infinity", "ether")


@pytest.mark.parametrize(
    ("text", "wei"),
    [
        ("1.5 ether", 1_500_000_000_000_000_000),
        ("1.5ether", 1_500_000_000_000_000_000),
        ("20 gwei", 20_000_000_000),
        ("20 GWEI", 20_000_000_000),
        ("0x1a", 26),
        ("100", 100),
        ("1e18", 10**18),
        ("1_000 wei", 1000),
        (".5 eth", 5 * 10**17),
    ],
)
def test_parse_amount(text: str, wei: int) -> None:
    assert units.parse_amount(text) == wei


def test_parse_amount_default_unit() -> None:
    assert units.parse_amount("2", default_unit="ether") == 2 * 10**18


@pytest.mark.parametrize("bad", ["", "ether", "1.5 bananas", "-1 ether", "1..5", "+", "0.1 wei"])
def test_parse_amount_rejects(bad: str) -> None:
    with pytest.raises(UnitError):
        units.parse_amount(bad)


def test_format() -> None:
    assert units.format_wei(15 * 10**17) == "1.5 ether"
    assert units.format_ether(0) == "0 ether"
    assert units.format_ether(5) == "5 wei"
    assert units.format_ether(20 * 10**9) == "20 gwei"
    assert units.format_ether(2 * 10**18) == "2 ether"

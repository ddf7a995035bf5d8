"""Exact hex/decimal and wei/gwei/ether conversions for the console and the CLI (like `cast`).

Everything is integer or `Decimal` arithmetic: no floats, so "0.1 ether" is exactly 10**17 wei.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation, localcontext

WEI_PER_UNIT: dict[str, int] = {
    "wei": 1,
    "kwei": 10**3,
    "babbage": 10**3,
    "mwei": 10**6,
    "lovelace": 10**6,
    "gwei": 10**9,
    "shannon": 10**9,
    "szabo": 10**12,
    "microether": 10**12,
    "finney": 10**15,
    "milliether": 10**15,
    "ether": 10**18,
    "eth": 10**18,
}

_AMOUNT = re.compile(r"^\s*([+-]?(?:\d[\d_]*)?(?:\.\d+)?(?:[eE][+-]?\d+)?)\s*([A-Za-z]*)\s*$")
_HEX = re.compile(r"^0[xX][0-9a-fA-F]*$")


class UnitError(ValueError):
    """Input that is not a number, amount or hex quantity; the message says what is accepted."""


def to_hex(value: int) -> str:
    """An int as a JSON-RPC QUANTITY (`0x` + lowercase hex, no leading zeros; 0 -> `0x0`)."""
    if value < 0:
        raise UnitError(f"{value} is negative; JSON-RPC quantities are never negative.")
    return hex(value)


def from_hex(text: str) -> int:
    """A `0x…` quantity or data string as an int (`0x` alone is 0)."""
    if not isinstance(text, str) or not _HEX.match(text.strip()):
        raise UnitError(f"{text!r} is not a hex number; write it like 0x1a.")
    digits = text.strip()[2:]
    return int(digits, 16) if digits else 0


def parse_int(text: str) -> int:
    """An integer from decimal (`26`, `1_000`) or hex (`0x1a`) text."""
    s = text.strip()
    if _HEX.match(s):
        return from_hex(s)
    try:
        return int(s.replace("_", ""), 10)
    except ValueError:
        raise UnitError(f"{text!r} is not an integer; write it like 26 or 0x1a.") from None


def _unit_factor(unit: str) -> int:
    try:
        return WEI_PER_UNIT[unit.lower()]
    except KeyError:
        known = ", ".join(sorted(set(WEI_PER_UNIT)))
        raise UnitError(f"Unknown unit {unit!r}; use one of: {known}.") from None


def to_wei(amount: Decimal | int | str, unit: str = "ether") -> int:
    """`amount` of `unit` in wei, exactly; raises UnitError if that is not a whole number of wei."""
    factor = _unit_factor(unit)
    try:
        dec = Decimal(str(amount).replace("_", "")) if not isinstance(amount, Decimal) else amount
    except InvalidOperation:
        raise UnitError(f"{amount!r} is not a number.") from None
    if not dec.is_finite():
        raise UnitError(f"{amount!r} is not a finite number.")
    with localcontext() as ctx:
        ctx.prec = 200
        wei = dec * factor
    if wei != wei.to_integral_value():
        raise UnitError(f"{amount} {unit} is not a whole number of wei (too many decimals).")
    return int(wei)


def from_wei(wei: int, unit: str = "ether") -> Decimal:
    """`wei` expressed in `unit`, exact (trailing zeros removed, never in exponent form)."""
    factor = _unit_factor(unit)
    with localcontext() as ctx:
        ctx.prec = 200
        value = Decimal(wei) / Decimal(factor)
        return _plain(value)


def _plain(value: Decimal) -> Decimal:
    """Normalize without exponent notation (Decimal('1E+1') -> Decimal('10')); needs high prec."""
    if value == value.to_integral_value():
        return Decimal(int(value))
    return value.normalize()


def parse_amount(text: str, default_unit: str = "wei") -> int:
    """User input like "1.5 ether", "20 gwei", "0x1a", "1e18" or "100" as a number of wei.

    A bare number is in `default_unit`; hex is always wei.
    """
    s = text.strip()
    if _HEX.match(s):
        return from_hex(s)
    match = _AMOUNT.match(s)
    if not match or not match.group(1) or match.group(1) in "+-":
        raise UnitError(
            f"{text!r} is not an amount; write it like 1.5 ether, 20 gwei, 100 or 0x1a."
        )
    number, unit = match.group(1), match.group(2) or default_unit
    wei = to_wei(number, unit)
    if wei < 0:
        raise UnitError(f"{text!r} is negative; amounts are never negative.")
    return wei


def format_wei(wei: int, unit: str = "ether") -> str:
    """`wei` as a human string in `unit`, e.g. `1.5 ether`."""
    return f"{from_wei(wei, unit)} {unit}"


def format_ether(wei: int) -> str:
    """`wei` as ether with the most natural unit for small values (wei, gwei, ether)."""
    if wei != 0 and abs(wei) < 10**6:
        return format_wei(wei, "wei")
    if wei != 0 and abs(wei) < 10**15:
        return format_wei(wei, "gwei")
    return format_wei(wei, "ether")


def format_bytes(n: int) -> str:
    """A byte count in the largest unit that keeps it >= 1 (KB = 1024 bytes)."""
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.2f} TB"

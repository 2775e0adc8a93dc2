"""Money: every amount is a :class:`decimal.Decimal` built and rounded here, nowhere else."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

ZERO = Decimal("0.00")
CENT = Decimal("0.01")

# X12 "R" (decimal number) syntax: optional minus, digits with an optional decimal point.
# Decimal() alone would also take "NaN", "Infinity" and exponents, which X12 forbids.
_X12_DECIMAL = re.compile(r"-?(?:\d+\.?\d*|\.\d+)\Z")


def ascii_digits(text: str) -> bool:
    """Whether ``text`` is ASCII digits, one or more: ``str.isdigit()`` also takes "\u00b2",
    which ``int()`` refuses, and ``int()`` reads a fullwidth or Arabic-Indic digit as its value;
    neither is a digit of X12 or of a number a user types."""
    return text.isascii() and text.isdigit()


def money(value: str | int | Decimal) -> Decimal:
    """Build an amount from text, an int or a Decimal, rounded to the cent."""
    return round_money(Decimal(value))


def round_money(value: Decimal) -> Decimal:
    """The one rounding rule: half up to two places."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


# Charges and units repeat: each text is parsed once (up to 65,536 of them).
_DECIMALS: dict[str, Decimal] = {}


def parse_x12_decimal(text: str) -> Decimal | None:
    """An X12 ``R`` element as a Decimal, or ``None`` when it is not valid ``R`` syntax."""
    d = _DECIMALS.get(text)
    if d is None:
        if not _X12_DECIMAL.match(text):
            return None
        d = Decimal(text)
        if len(_DECIMALS) < 65536:
            _DECIMALS[text] = d
    return d


def format_x12_amount(value: Decimal) -> str:
    """An amount as X12 writes it: no trailing zeros after the point, no exponent.

    ``Decimal("40.00")`` becomes ``"40"``, ``Decimal("40.50")`` becomes ``"40.5"``.
    """
    q = round_money(value)
    text = format(q, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if text in ("-0", ""):
        text = "0"
    return text


def x12_number_length(number: str) -> int:
    """The length of an X12 number (R) as the guides count it: its digits, without sign or
    decimal point."""
    return len(number) - number.count("-") - number.count(".")


def format_x12_number(value: Decimal) -> str:
    """A quantity (units) as X12 writes it: plain notation, no trailing zeros."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"

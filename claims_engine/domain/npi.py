"""The National Provider Identifier check digit (Luhn over the ``80840`` prefix)."""

from __future__ import annotations

from claims_engine.domain.money import ascii_digits


def npi_check_digit(first_nine: str) -> str:
    """The check digit for the first nine digits of an NPI."""
    total = 0
    for i, ch in enumerate(reversed("80840" + first_nine)):
        d = int(ch)
        if i % 2 == 0:  # rightmost payload digit is doubled: the check digit is not there yet
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


# A payer sees the same providers over and over: each answer is kept (up to 65,536 NPIs).
_VALID: dict[str, bool] = {}


def npi_is_valid(npi: str) -> bool:
    """Ten digits (ASCII: str.isdigit() also takes "²", which int() refuses) with a correct
    check digit."""
    valid = _VALID.get(npi)
    if valid is None:
        valid = len(npi) == 10 and ascii_digits(npi) and npi_check_digit(npi[:9]) == npi[9]
        if len(_VALID) < 65536:
            _VALID[npi] = valid
    return valid

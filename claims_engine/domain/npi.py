"""The National Provider Identifier check digit (Luhn over the ``80840`` prefix)."""

from __future__ import annotations

from functools import lru_cache

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


@lru_cache(maxsize=65536)  # a payer sees the same providers over and over
def npi_is_valid(npi: str) -> bool:
    """Ten digits (ASCII: str.isdigit() also takes "²", which int() refuses) with a correct
    check digit."""
    return len(npi) == 10 and ascii_digits(npi) and npi_check_digit(npi[:9]) == npi[9]

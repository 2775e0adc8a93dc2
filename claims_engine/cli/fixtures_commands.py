"""The edge of ``claims-engine fixtures generate``: files and terminal.

The generator itself is pure (:mod:`claims_engine.synthetic.generator`); this module loads the
reference data, opens files, reads the clock and prints.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from claims_engine.domain.errors import ConfigurationError, InputFileError
from claims_engine.domain.reference_data import load_members, load_providers
from claims_engine.runtime import PROJECT_ROOT
from claims_engine.synthetic.generator import generate_claims
from claims_engine.x12.tokenizer import Delimiters
from claims_engine.x12.writer837 import write_837

FIXTURES = PROJECT_ROOT / "fixtures"
DEMO_BATCH_CLAIMS = 2000
DEMO_SEED = 20261101
# --as-of: dates of service go back from it (90 days, longer stays) and members' ages are
# counted to it from birth dates of the last century; these are the dates that leaves room for
AS_OF_FIRST = date(1900, 1, 1)
AS_OF_LAST = date(2099, 12, 31)


def generate_file(
    out: Path,
    *,
    claims: int,
    seed: int,
    mix: dict[str, int],
    delimiters: tuple[str, str, str, str],
    as_of: date,
    created: datetime,
    reference: Path,
) -> int:
    """Write ``claims`` generated claims to ``out``; returns how many were written. ``as_of``
    is refused outside ``AS_OF_FIRST`` to ``AS_OF_LAST``."""
    if not AS_OF_FIRST <= as_of <= AS_OF_LAST:
        raise ConfigurationError(
            f"--as-of {as_of.isoformat()} is out of range: dates of service go back 90 days "
            "and more before it, and members' ages are counted to it: give a date from "
            f"{AS_OF_FIRST.isoformat()} to {AS_OF_LAST.isoformat()}"
        )
    members = load_members(reference / "members.csv")
    providers = load_providers(reference / "providers.csv")
    element, repetition, component, terminator = delimiters
    try:
        fh = out.open("w", encoding="ascii", newline="")
    except OSError as exc:
        raise InputFileError(f"cannot write {out}: {exc.strerror or exc}") from exc
    with fh:
        try:
            summary = write_837(
                generate_claims(seed, members, providers, as_of=as_of, count=claims, mix=mix),
                fh,
                delimiters=Delimiters(element, repetition, component, terminator),
                interchange_control=seed % 1_000_000_000 or 1,
                created=created,
                sender_id="SUBMITTER01",
                receiver_id="CLAIMSENGINE",
            )
        except ValueError as exc:
            raise ConfigurationError(f"cannot generate: {exc}") from exc
    return summary.claims

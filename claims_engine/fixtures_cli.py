"""The edge of ``claims-engine fixtures generate``: files and terminal.

The generator itself is pure (:mod:`claims_engine.generator`); this module loads the reference
data, opens files, reads the clock and prints.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from claims_engine.errors import ConfigurationError, InputFileError
from claims_engine.generator import generate_claims
from claims_engine.reference import load_members, load_providers
from claims_engine.x12.tokenizer import Delimiters
from claims_engine.x12.writer837 import write_837

PROJECT_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = PROJECT_ROOT / "fixtures"
DEMO_BATCH_CLAIMS = 2000
DEMO_SEED = 20261101


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
    """Write ``claims`` generated claims to ``out``; returns how many were written."""
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
